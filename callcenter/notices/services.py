"""Notices to staff by text (issue 12, "notices to staff"): a supervisor or admin sends a short
notice to all agents and experts, to one queue's agents (those with the queue's skill) or to
chosen users; each active recipient with a mobile on their user record (``users.mobile``) gets
it through the SMS service (Kannel, the sending limits: held, not lost, when over them; its
delivery reports), the others are recorded as having none. The notice, its recipients and
each text's delivery status are kept and shown; the sending is audited (``notice.send``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.auth.models import User
from callcenter.auth.services import audit
from callcenter.db import Database
from callcenter.errors import DomainError, NotFound
from callcenter.notices.models import StaffNotice, StaffNoticeRecipient
from callcenter.queues.models import AgentSkill, QueueConfig
from callcenter.sms.models import SmsMessage
from callcenter.sms.services import SmsService
from ivr.clock import Clock

PREFIX = "【12366内部通知】"
MAX_CHARS = 300
MAX_USERS = 200
SEATS = ("agent", "expert")  # "all": every active agent and expert
AUDIENCES = ("all", "queue", "users")
NO_MOBILE = "no_mobile"     # a recipient's status when no text could go


@dataclass(frozen=True)
class RecipientView:
    """A recipient as the API shows it: ``number`` masked (138****8000; None: no mobile on
    the user record), ``status`` the text's (queued, smsc, delivered, failed, buffered, held,
    suppressed) or no_mobile."""

    username: str
    display_name: str
    number: str | None
    status: str


@dataclass(frozen=True)
class NoticeView:
    id: int
    created_at: datetime
    sent_by: str
    text: str
    audience: str
    queue: str | None
    recipients: tuple[RecipientView, ...]


class NoticeError(DomainError, ValueError):
    """A notice refused; ``detail`` is shown in the console (422 unless said otherwise)."""

    default_status = 422


def masked(number: str) -> str:
    return f"{number[:3]}****{number[-4:]}"


class NoticeService:
    def __init__(self, db: Database, clock: Clock, sms: SmsService) -> None:
        self.db = db
        self.clock = clock
        self.sms = sms

    async def send(self, by: str, text: str, audience: str, *, queue: str | None = None,
                   usernames: Sequence[str] = ()) -> NoticeView:
        """Record the notice and text it to every recipient with a mobile."""
        body = " ".join((text or "").split())
        if not body:
            raise NoticeError("请填写通知内容")
        if len(body) > MAX_CHARS:
            raise NoticeError(f"通知最多{MAX_CHARS}字，当前{len(body)}字")
        notice_id, targets = await asyncio.to_thread(self._record, by, body, audience, queue,
                                                     list(usernames))
        for row_id, number in targets:
            mt = await self.sms.send(number, PREFIX + body, "", "staff_notice")
            await asyncio.to_thread(self._sent, row_id, mt.id)
        return await asyncio.to_thread(self.notice, notice_id)

    def _recipients(self, session: Session, audience: str, queue: str | None,
                    usernames: list[str]) -> list[User]:
        active = select(User).where(User.active.is_(True))
        if audience == "all":
            return list(session.scalars(active.where(User.role.in_(SEATS))
                                        .order_by(User.username)))
        if audience == "queue":
            config = session.get(QueueConfig, queue) if queue else None
            if config is None:
                raise NoticeError(f"队列“{queue or ''}”不存在")
            members = select(AgentSkill.username).where(AgentSkill.skill == config.skill)
            return list(session.scalars(active.where(User.role.in_(SEATS),
                                                     User.username.in_(members))
                                        .order_by(User.username)))
        if audience == "users":
            wanted = list(dict.fromkeys(u.strip() for u in usernames if u.strip()))
            if not wanted:
                raise NoticeError("请选择接收通知的员工")
            if len(wanted) > MAX_USERS:
                raise NoticeError(f"一次最多通知{MAX_USERS}人")
            found = list(session.scalars(active.where(User.username.in_(wanted))
                                         .order_by(User.username)))
            unknown = sorted(set(wanted) - {u.username for u in found})
            if unknown:
                raise NoticeError(f"用户不存在或已停用：{'、'.join(unknown)}")
            return found
        raise NoticeError("接收范围须为 all、queue 或 users")

    def _record(self, by: str, text: str, audience: str, queue: str | None,
                usernames: list[str]) -> tuple[int, list[tuple[int, str]]]:
        now = self.clock()
        with self.db.transaction() as session:
            users = self._recipients(session, audience, queue, usernames)
            if not users:
                raise NoticeError("没有符合条件的员工")
            notice = StaffNotice(created_at=now, sent_by=by[:64], text=text, audience=audience,
                                 queue=queue if audience == "queue" else None)
            session.add(notice)
            session.flush()
            targets: list[tuple[int, str]] = []
            for user in users:
                row = StaffNoticeRecipient(notice_id=notice.id, username=user.username,
                                           number=user.mobile)
                session.add(row)
                session.flush()
                if user.mobile:
                    targets.append((row.id, user.mobile))
            audit(session, by, "notice.send", str(notice.id), at=now, audience=audience,
                  queue=notice.queue, recipients=len(users), texts=len(targets))
            return notice.id, targets

    def _sent(self, row_id: int, message_id: int) -> None:
        with self.db.transaction() as session:
            row = session.get(StaffNoticeRecipient, row_id)
            if row is not None:
                row.message_id = message_id

    # -- views ---------------------------------------------------------------------------------

    def notices(self, limit: int = 20) -> list[NoticeView]:
        """The latest notices, newest first, with each recipient's status."""
        with self.db.session() as session:
            ids = list(session.scalars(select(StaffNotice.id)
                                       .order_by(StaffNotice.id.desc()).limit(limit)))
        return [self.notice(i) for i in ids]

    def notice(self, notice_id: int) -> NoticeView:
        with self.db.session() as session:
            notice = session.get(StaffNotice, notice_id)
            if notice is None:
                raise NotFound(f"通知 {notice_id} 不存在")
            rows = session.execute(
                select(StaffNoticeRecipient, SmsMessage.status, User.display_name)
                .outerjoin(SmsMessage, SmsMessage.id == StaffNoticeRecipient.message_id)
                .outerjoin(User, User.username == StaffNoticeRecipient.username)
                .where(StaffNoticeRecipient.notice_id == notice_id)
                .order_by(StaffNoticeRecipient.id)).all()
            return NoticeView(
                notice.id, notice.created_at, notice.sent_by, notice.text, notice.audience,
                notice.queue, tuple(
                    RecipientView(r.username, name or r.username,
                                  masked(r.number) if r.number else None,
                                  status or ("queued" if r.number else NO_MOBILE))
                    for r, status, name in rows))
