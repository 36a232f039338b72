"""Quality review: the review forms (versioned), the supervisors' reviews of recorded calls,
the agents' acknowledgement; every write audited.

* A form is a list of criteria, each with a maximum score and a weight. Saving a form adds a
  version (``qa_forms`` keeps every one); a review points at the version it was scored on, so
  old reviews keep their criteria when the form changes. Reviews are scored on the newest
  version of a form only.
* A review scores one agent's leg of a call (an agent in the contact's ``agent_connected``
  events) that has a call recording with its file; one review per reviewer and leg. Its total
  is the weighted score out of 100: ``100 * sum(weight * score / max) / sum(weight)``.
* Supervisors and admins review (not a call they took themselves); agents and experts read
  the reviews of their own legs only, and acknowledge them (the first acknowledgement's time
  is kept; an edit of the review asks for a new one).

Refusals are :class:`QualityError` (422 bad scores or forms, 409 conflicts) and
:class:`QualityRefused` (403), with the reason in Chinese.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.auth.models import Role, User
from callcenter.auth.services import AuthUser, audit
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.errors import DomainError, NotFound
from callcenter.quality.models import Review, ReviewForm
from callcenter.recordings.models import RecordingKind
from callcenter.recordings.services import RecordingService
from ivr.clock import Clock

REVIEWERS = frozenset({Role.SUPERVISOR, Role.ADMIN})
CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_CRITERIA = 20
MAX_SCORE = 100
MAX_WEIGHT = 100.0
MAX_COMMENT = 2000


class QualityError(DomainError, ValueError):
    """A form or scores that cannot be taken (422; 409 for a conflict), reason in Chinese."""

    default_status = 422


class QualityRefused(DomainError, PermissionError):
    """The user may not do this with this review (403), reason in Chinese."""

    default_status = 403


@dataclass(frozen=True)
class Criterion:
    key: str
    title: str
    max_score: int
    weight: float

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "max_score": self.max_score,
                "weight": self.weight}


@dataclass(frozen=True)
class FormView:
    id: int
    name: str
    version: int
    title: str
    criteria: list[Criterion]
    created_at: datetime
    created_by: str
    latest: bool

    @classmethod
    def of(cls, row: ReviewForm, latest: bool) -> FormView:
        return cls(id=row.id, name=row.name, version=row.version, title=row.title,
                   criteria=criteria_of(row), created_at=row.created_at,
                   created_by=row.created_by, latest=latest)


@dataclass(frozen=True)
class ScoredCriterion:
    key: str
    title: str
    max_score: int
    weight: float
    score: int


@dataclass(frozen=True)
class ReviewView:
    """A review as people read it: its form version's criteria with the scores, names."""

    id: int
    form_id: int
    form_name: str
    form_version: int
    form_title: str
    contact_id: int
    linkedid: str
    agent: str
    agent_name: str
    reviewer: str
    reviewer_name: str
    criteria: list[ScoredCriterion]
    total: float
    comment: str
    call_at: datetime
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None


def criteria_of(form: ReviewForm) -> list[Criterion]:
    return [Criterion(key=str(c["key"]), title=str(c["title"]), max_score=int(c["max_score"]),
                      weight=float(c["weight"])) for c in form.criteria]


def weighted_total(criteria: Sequence[Criterion], scores: Mapping[str, int]) -> float:
    """The weighted score out of 100 (one decimal): each criterion's share of its maximum,
    weighted."""
    weights = sum(c.weight for c in criteria)
    if weights <= 0:
        return 0.0
    earned = sum(c.weight * scores[c.key] / c.max_score for c in criteria)
    return round(100 * earned / weights, 1)


def check_scores(criteria: Sequence[Criterion], scores: Mapping[str, Any]) -> dict[str, int]:
    """``scores`` as the form's criteria want them: every criterion once, whole numbers from
    0 to its maximum; else :class:`QualityError` naming the criterion."""
    keys = {c.key for c in criteria}
    unknown = sorted(set(scores) - keys)
    if unknown:
        raise QualityError(f"评分表中没有评分项：{'、'.join(unknown)}")
    missing = [c.title for c in criteria if c.key not in scores]
    if missing:
        raise QualityError(f"缺少评分项：{'、'.join(missing)}")
    out: dict[str, int] = {}
    for c in criteria:
        value = scores[c.key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise QualityError(f"“{c.title}”的得分须为整数")
        if value < 0:
            raise QualityError(f"“{c.title}”的得分不能为负数")
        if value > c.max_score:
            raise QualityError(f"“{c.title}”的得分 {value} 超过满分 {c.max_score}")
        out[c.key] = value
    return out


def check_form(name: str, title: str, criteria: Iterable[Mapping[str, Any]]) -> list[Criterion]:
    """A form's criteria, checked (reasons in Chinese)."""
    if not CODE.match(name):
        raise QualityError("评分表代码须为小写字母开头的小写字母、数字或下划线（至多32个字符）")
    if not title.strip() or len(title) > 64:
        raise QualityError("评分表名称不能为空，且至多64个字符")
    out: list[Criterion] = []
    for n, raw in enumerate(criteria, 1):
        key, label = str(raw.get("key", "")), str(raw.get("title", "")).strip()
        max_score, weight = raw.get("max_score"), raw.get("weight")
        if not CODE.match(key):
            raise QualityError(f"第{n}个评分项的代码须为小写字母开头的小写字母、数字或下划线")
        if not label or len(label) > 32:
            raise QualityError(f"第{n}个评分项的名称不能为空，且至多32个字符")
        if isinstance(max_score, bool) or not isinstance(max_score, int) \
                or not 1 <= max_score <= MAX_SCORE:
            raise QualityError(f"“{label}”的满分须为1到{MAX_SCORE}之间的整数")
        if isinstance(weight, bool) or not isinstance(weight, int | float) \
                or not math.isfinite(weight) or not 0 < weight <= MAX_WEIGHT:
            raise QualityError(f"“{label}”的权重须大于0且不超过{MAX_WEIGHT:g}")
        out.append(Criterion(key=key, title=label, max_score=max_score, weight=float(weight)))
    if not out:
        raise QualityError("评分表至少需要一个评分项")
    if len(out) > MAX_CRITERIA:
        raise QualityError(f"评分表至多{MAX_CRITERIA}个评分项")
    for attr, what in (("key", "代码"), ("title", "名称")):
        values = [getattr(c, attr) for c in out]
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise QualityError(f"评分项{what}重复：{'、'.join(twice)}")
    return out


def display_names(session: Session, usernames: Iterable[str]) -> dict[str, str]:
    """username -> display name (the username where none is set or the user is gone)."""
    wanted = set(usernames)
    names = {u: u for u in wanted}
    if wanted:
        for username, name in session.execute(
                select(User.username, User.display_name).where(User.username.in_(wanted))):
            names[username] = name or username
    return names


class QualityService:
    def __init__(self, db: Database, clock: Clock, recordings: RecordingService,
                 contacts: ContactService) -> None:
        self.db = db
        self.clock = clock
        self.recordings = recordings
        self.contacts = contacts

    # -- forms ----------------------------------------------------------------------------

    def forms(self, all_versions: bool = False) -> list[FormView]:
        """The newest version of every form (every version, newest first, with
        ``all_versions``), by name."""
        with self.db.session() as session:
            latest = self._latest_ids(session)
            query = select(ReviewForm).order_by(ReviewForm.name, ReviewForm.version.desc())
            if not all_versions:
                query = query.where(ReviewForm.id.in_(latest))
            rows = session.scalars(query).all()
        return [FormView.of(row, row.id in latest) for row in rows]

    def form(self, form_id: int) -> FormView:
        with self.db.session() as session:
            row = session.get(ReviewForm, form_id)
            if row is None:
                raise NotFound(f"评分表 {form_id} 不存在")
            return FormView.of(row, row.id in self._latest_ids(session))

    def save_form(self, name: str, title: str, criteria: Iterable[Mapping[str, Any]], *,
                  actor: str) -> FormView:
        """Save form ``name``: a new version, unless title and criteria are those of its
        newest one (then that one is returned)."""
        checked = check_form(name, title, criteria)
        stored = [c.as_dict() for c in checked]
        try:
            with self.db.transaction() as session:
                current = session.scalar(select(ReviewForm).where(ReviewForm.name == name)
                                         .order_by(ReviewForm.version.desc()).limit(1))
                if current is not None and current.title == title.strip() \
                        and [c.as_dict() for c in criteria_of(current)] == stored:
                    return FormView.of(current, True)
                row = ReviewForm(name=name, version=(current.version + 1) if current else 1,
                                 title=title.strip(), criteria=stored, created_at=self.clock(),
                                 created_by=actor)
                session.add(row)
                session.flush()
                audit(session, actor, "quality.form.save", f"{name}@{row.version}",
                      at=self.clock(), title=row.title, criteria=stored)
                return FormView.of(row, True)
        except IntegrityError as exc:  # another admin saved the same form at the same moment
            raise QualityError("评分表刚被他人修改，请刷新后重试", status=409) from exc

    @staticmethod
    def _latest_ids(session: Session) -> set[int]:
        newest = (select(ReviewForm.name, func.max(ReviewForm.version).label("v"))
                  .group_by(ReviewForm.name).subquery())
        return set(session.scalars(
            select(ReviewForm.id).join(newest, (ReviewForm.name == newest.c.name)
                                       & (ReviewForm.version == newest.c.v))))

    # -- reviews --------------------------------------------------------------------------

    def create_review(self, user: AuthUser, *, contact_id: int, agent: str, form_id: int,
                      scores: Mapping[str, Any], comment: str = "") -> ReviewView:
        """``user`` scores ``agent``'s leg of contact ``contact_id`` on form ``form_id``."""
        if user.role not in REVIEWERS:
            raise QualityRefused("坐席和专家不能评分：只有班长和管理员可以质检评分")
        contact = self.contacts.get(contact_id)
        if contact is None:
            raise NotFound(f"来电 {contact_id} 不存在")
        legs = contact.agents()
        if user.username in legs:
            raise QualityRefused("不能评价本人接听的通话")
        if agent not in legs:
            raise QualityError(f"坐席 {agent} 没有接听这通来电")
        if not any(r.kind == RecordingKind.CALL and r.available
                   for r in self.recordings.of_contact(contact.linkedid)):
            raise QualityError("这通来电没有通话录音，无法评分", status=409)
        form = self.form(form_id)
        if not form.latest:
            raise QualityError(f"评分表“{form.title}”已有新版本，请刷新后按新版评分",
                               status=409)
        checked = check_scores(form.criteria, scores)
        now = self.clock()
        row = Review(form_id=form.id, contact_id=contact.id, linkedid=contact.linkedid,
                     agent=agent, reviewer=user.username, scores=checked,
                     total=weighted_total(form.criteria, checked),
                     comment=_comment(comment), call_at=contact.started_at, created_at=now,
                     updated_at=now, acknowledged_at=None)
        try:
            with self.db.transaction() as session:
                session.add(row)
                session.flush()
                audit(session, user.username, "quality.review.create", str(row.id), at=now,
                      role=str(user.role), linkedid=contact.linkedid, agent=agent,
                      form=f"{form.name}@{form.version}", total=row.total)
                review_id = row.id
        except IntegrityError as exc:
            raise QualityError("您已评价过该坐席在这通来电中的服务，请修改原评分",
                               status=409) from exc
        return self.review(user, review_id)

    def update_review(self, user: AuthUser, review_id: int, *, scores: Mapping[str, Any],
                      comment: str = "") -> ReviewView:
        """The reviewer changes scores and comment (on the review's own form version); the
        agent's acknowledgement is cleared: the changed review is to be read again."""
        if user.role not in REVIEWERS:
            raise QualityRefused("坐席和专家不能修改评分：只有班长和管理员可以质检评分")
        now = self.clock()
        with self.db.transaction() as session:
            row = self._row(session, review_id)
            if row.reviewer != user.username:
                raise QualityRefused("只能修改本人作出的评分")
            form = session.get(ReviewForm, row.form_id)
            assert form is not None  # a foreign key
            checked = check_scores(criteria_of(form), scores)
            before = row.total
            row.scores = checked
            row.total = weighted_total(criteria_of(form), checked)
            row.comment = _comment(comment)
            row.updated_at = now
            row.acknowledged_at = None
            audit(session, user.username, "quality.review.update", str(row.id), at=now,
                  role=str(user.role), linkedid=row.linkedid, agent=row.agent,
                  total_before=before, total=row.total)
        return self.review(user, review_id)

    def acknowledge(self, user: AuthUser, review_id: int) -> ReviewView:
        """The reviewed agent has read the review (the first time is kept)."""
        with self.db.transaction() as session:
            row = self._row(session, review_id)
            if row.agent != user.username:
                raise QualityRefused("只有被评价的坐席本人可以确认评分")
            if row.acknowledged_at is None:
                row.acknowledged_at = self.clock()
                audit(session, user.username, "quality.review.ack", str(row.id),
                      at=row.acknowledged_at, linkedid=row.linkedid, total=row.total)
        return self.review(user, review_id)

    def review(self, user: AuthUser, review_id: int) -> ReviewView:
        with self.db.session() as session:
            row = self._row(session, review_id)
            if user.role not in REVIEWERS and row.agent != user.username:
                raise QualityRefused("只能查看本人通话的质检评分")
            return self._views(session, [row])[0]

    def reviews(self, user: AuthUser, *, contact_id: int | None = None,
                agent: str | None = None, limit: int = 100) -> list[ReviewView]:
        """Reviews, newest call first: supervisors and admins any (by contact, by agent);
        agents and experts their own only."""
        if user.role not in REVIEWERS:
            if agent is not None and agent != user.username:
                raise QualityRefused("只能查看本人通话的质检评分")
            agent = user.username
        query = select(Review).order_by(Review.call_at.desc(), Review.id.desc()).limit(limit)
        if contact_id is not None:
            query = query.where(Review.contact_id == contact_id)
        if agent is not None:
            query = query.where(Review.agent == agent)
        with self.db.session() as session:
            return self._views(session, session.scalars(query).all())

    @staticmethod
    def _row(session: Session, review_id: int) -> Review:
        row = session.get(Review, review_id)
        if row is None:
            raise NotFound(f"评分 {review_id} 不存在")
        return row

    @staticmethod
    def _views(session: Session, rows: Sequence[Review]) -> list[ReviewView]:
        forms = {f.id: f for f in session.scalars(
            select(ReviewForm).where(ReviewForm.id.in_({r.form_id for r in rows})))}
        names = display_names(session, [n for r in rows for n in (r.agent, r.reviewer)])
        out: list[ReviewView] = []
        for r in rows:
            form = forms[r.form_id]
            out.append(ReviewView(
                id=r.id, form_id=form.id, form_name=form.name, form_version=form.version,
                form_title=form.title, contact_id=r.contact_id, linkedid=r.linkedid,
                agent=r.agent, agent_name=names[r.agent], reviewer=r.reviewer,
                reviewer_name=names[r.reviewer],
                criteria=[ScoredCriterion(key=c.key, title=c.title, max_score=c.max_score,
                                          weight=c.weight, score=int(r.scores.get(c.key, 0)))
                          for c in criteria_of(form)],
                total=r.total, comment=r.comment, call_at=r.call_at, created_at=r.created_at,
                updated_at=r.updated_at, acknowledged_at=r.acknowledged_at))
        return out


def _comment(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_COMMENT:
        raise QualityError(f"评语至多{MAX_COMMENT}个字符")
    return text
