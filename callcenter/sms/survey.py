"""The satisfaction survey by text after a phone call.

When a phone contact has ended served (outcome ``answered``: an agent talked to the caller,
or ``self_service``: the menu served them; ``HOTLINE_SMS_SURVEY_OUTCOMES``), the SMS worker
sends the caller's mobile number :data:`SURVEY_TEXT` once for that call (``sms_surveys`` has
one row per contact: the row is claimed before the text goes, so two workers or a restart
never send a second one). Not to a number that texted 退订/TD, not when the caller already
rated the call in the phone survey, not to a number that is no mobile number, and not for a
call that ended more than ``HOTLINE_SMS_SURVEY_LOOKBACK_MINUTES`` ago (a server started after
a day off does not survey the day before).

A reply ``1``/``2``/``3`` (or 满意/基本满意/不满意) within ``HOTLINE_SMS_SURVEY_REPLY_HOURS`` of
the number's latest survey records the same rating the phone survey does: a ``survey`` event
(``score`` 1..3, ``node`` ``sms``) on that call's contact, through the contact service, which
sets ``contacts.survey_score``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.contacts.models import Contact, Outcome
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.sms.models import SmsOptOut, SmsSurvey, SurveyStatus
from ivr.clock import Clock
from ivr.events import EventKind
from ivr.ports import ContactEvent

SURVEY_TEXT = "您刚才致电12366，请评价本次服务：回复1满意、2基本满意、3不满意。"
SURVEY_THANKS = "感谢您的评价！12366祝您办税顺利。"
SURVEY_ALREADY = "您已评价过本次服务，感谢您的反馈！"
SURVEY_LATE = "本次服务评价已结束，感谢您的关注。如需咨询，请直接发送问题。"
SCORES = {1: "满意", 2: "基本满意", 3: "不满意"}
MAX_CALL = timedelta(hours=12)
# a mainland mobile number, with or without the country code
MOBILE = re.compile(r"^(?:\+?86)?1[3-9][0-9]{9}$")


@dataclass(frozen=True)
class SurveyPolicy:
    """Which calls get the survey text and how long a reply counts (settings ``sms_survey_*``)."""

    enabled: bool = True
    outcomes: tuple[str, ...] = (Outcome.ANSWERED, Outcome.SELF_SERVICE)
    lookback: timedelta = timedelta(hours=1)
    reply_window: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Due:
    survey_id: int
    number: str
    linkedid: str


@dataclass(frozen=True)
class Rated:
    """What a reply did: ``answered`` (the score recorded), ``already`` (answered before),
    ``late`` (the window closed) or ``none`` (no survey went to that number)."""

    result: str
    linkedid: str = ""
    score: int | None = None


class SurveyBook:
    """The survey's record (``sms_surveys``) and its rating on the call's contact."""

    def __init__(self, db: Database, clock: Clock, contacts: ContactService,
                 policy: SurveyPolicy) -> None:
        self.db = db
        self.clock = clock
        self.contacts = contacts
        self.policy = policy

    def claim_due(self, limit: int = 100) -> list[Due]:
        """The calls that get a survey now, each claimed (its row stored) so that no other
        sweep sends it again."""
        if not self.policy.enabled:
            return []
        now = self.clock()
        with self.db.session() as session:
            rows = session.execute(
                select(Contact.id, Contact.linkedid, Contact.caller_number)
                .where(Contact.medium == "phone",
                       # on contacts.started_at's index: no call lasts half a day
                       Contact.started_at >= now - self.policy.lookback - MAX_CALL,
                       Contact.ended_at.is_not(None),
                       Contact.ended_at >= now - self.policy.lookback, Contact.ended_at <= now,
                       Contact.outcome.in_([str(o) for o in self.policy.outcomes]),
                       Contact.survey_score.is_(None),
                       ~exists().where(SmsSurvey.contact_id == Contact.id),
                       ~exists().where(SmsOptOut.number == Contact.caller_number))
                .order_by(Contact.ended_at).limit(limit)).all()
        due: list[Due] = []
        for contact_id, linkedid, number in rows:
            if not MOBILE.match(number or ""):
                continue
            try:
                with self.db.transaction() as session:
                    survey = SmsSurvey(contact_id=contact_id, linkedid=linkedid, number=number,
                                       sent_at=now, status=str(SurveyStatus.SENT))
                    session.add(survey)
                    session.flush()
                    due.append(Due(survey.id, number, linkedid))
            except IntegrityError:
                continue  # another worker claimed it
        return due

    def sent(self, survey_id: int, message_id: int) -> None:
        with self.db.transaction() as session:
            survey = session.get(SmsSurvey, survey_id)
            if survey is not None:
                survey.message_id = message_id

    @staticmethod
    def _latest(session: Session, number: str, lock: bool = False) -> SmsSurvey | None:
        query = (select(SmsSurvey).where(SmsSurvey.number == number)
                 .order_by(SmsSurvey.id.desc()).limit(1))
        return session.scalar(query.with_for_update() if lock else query)

    def ever_sent(self, number: str) -> bool:
        with self.db.session() as session:
            return self._latest(session, number) is not None

    def rate(self, number: str, score: int) -> Rated:
        """Record ``score`` (1..3) for the number's latest survey."""
        now = self.clock()
        with self.db.transaction() as session:
            survey = self._latest(session, number, lock=True)
            if survey is None:
                return Rated("none")
            if survey.sent_at < now - self.policy.reply_window:
                return Rated("late", survey.linkedid)
            if survey.status == SurveyStatus.ANSWERED:
                return Rated("already", survey.linkedid, survey.score)
            survey.status, survey.score, survey.answered_at = (
                str(SurveyStatus.ANSWERED), score, now)
            linkedid = survey.linkedid
        # the same rating the phone survey records, on the call's contact
        self.contacts.apply(ContactEvent.parse(
            linkedid, EventKind.SURVEY, {"score": score, "node": "sms", "key": str(score)},
            at=now, key=f"sms-survey-{linkedid}"))
        return Rated("answered", linkedid, score)
