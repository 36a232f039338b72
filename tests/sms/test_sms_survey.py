"""The satisfaction survey by text after a phone call, on both databases: which calls get it
(once), the reply landing on the call's contact as the phone survey's rating, late, repeated
and unknown replies, 退订, and a FAQ offer made after the survey taking the 1 or 2."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select

from callcenter.contacts.models import Contact, ContactEventRow
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.sms.models import (
    SmsDeliveryReport,
    SmsMessage,
    SmsOptOut,
    SmsSurvey,
)
from callcenter.sms.parsing import ConfirmReply, SurveyReply, parse
from callcenter.sms.services import HELP, SmsService
from callcenter.sms.survey import (
    SURVEY_ALREADY,
    SURVEY_LATE,
    SURVEY_TEXT,
    SURVEY_THANKS,
    SurveyPolicy,
)
from ivr.clock import FixedClock
from ivr.events import EventKind
from ivr.ports import ContactEvent
from knowledge_base.models import Decision, DecisionKind, FaqEntry, SearchResult
from tests.sms.fakes import SentTexts

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
PHONE = "13800138000"
S = timedelta(seconds=1)


@pytest.fixture
def sms(database: Database) -> tuple[SmsService, FixedClock, SentTexts]:
    with database.transaction() as session:
        for table in (SmsSurvey, SmsDeliveryReport, SmsMessage, SmsOptOut, ContactEventRow,
                      Contact):
            session.execute(delete(table))
    clock, sender = FixedClock(NOW), SentTexts()
    return SmsService(database, clock, kb=None, tickets=None, sender=sender,
                      survey=SurveyPolicy()), clock, sender


def call(db: Database, linkedid: str, caller: str, *, how: str, at: datetime) -> None:
    """A phone call that ended: ``answered`` by an agent, ``self_service``, or ``abandoned``
    in the menu."""
    contacts = ContactService(db)
    events: list[tuple[EventKind, dict[str, Any]]] = [
        (EventKind.CALL_STARTED, {"caller": caller, "channel": "PJSIP/x-1"})]
    if how == "answered":
        events += [(EventKind.QUEUE_JOINED, {"queue": "general"}),
                   (EventKind.AGENT_CONNECTED, {"queue": "general", "agent": "PJSIP/8001"})]
    elif how == "self_service":
        events.append((EventKind.SELF_SERVICE, {"node": "faq", "service": "faq",
                                                "detail": "x"}))
    events.append((EventKind.CALL_ENDED, {"cause": 16}))
    for n, (kind, data) in enumerate(events):
        contacts.apply(ContactEvent.parse(linkedid, kind, data, at=at - 60 * S + n * S))


def contact(db: Database, linkedid: str) -> Contact:
    row = ContactService(db).get_by_linkedid(linkedid)
    assert row is not None
    return row


def reply(service: SmsService, text: str, number: str = PHONE) -> str:
    _mo, replies = asyncio.run(service.receive(number, text))
    return replies[0].text


def test_parsing_of_ratings() -> None:
    assert parse("1") == ConfirmReply(1)
    assert parse("3") == SurveyReply(3)
    assert parse("不满意") == SurveyReply(3)
    assert parse("基本满意。") == SurveyReply(2)
    assert parse("满意") == SurveyReply(1)


def test_served_calls_get_one_survey_and_others_none(
        sms: tuple[SmsService, FixedClock, SentTexts]) -> None:
    service, _clock, sender = sms
    db = service.db
    call(db, "c-agent", PHONE, how="answered", at=NOW)
    call(db, "c-self", "13900139000", how="self_service", at=NOW)
    call(db, "c-gone", "13700137000", how="abandoned", at=NOW)
    call(db, "c-fixed", "02012345678", how="answered", at=NOW)  # no mobile: no text
    call(db, "c-old", "13600136000", how="answered", at=NOW - timedelta(hours=2))
    assert asyncio.run(service.send_surveys()) == 2
    assert sorted(sender.texts) == [(PHONE, SURVEY_TEXT), ("13900139000", SURVEY_TEXT)]
    # only one survey text per call: the next sweeps send nothing
    assert asyncio.run(service.send_surveys()) == 0
    assert asyncio.run(service.send_surveys()) == 0
    assert len(sender.texts) == 2
    assert len(SURVEY_TEXT) <= 70  # one segment
    assert "回复1满意、2基本满意、3不满意" in SURVEY_TEXT


def test_a_reply_lands_on_the_calls_contact(
        sms: tuple[SmsService, FixedClock, SentTexts]) -> None:
    service, clock, _sender = sms
    call(service.db, "c-1", PHONE, how="answered", at=NOW)
    asyncio.run(service.send_surveys())
    clock.advance(timedelta(minutes=5))
    assert reply(service, "2") == SURVEY_THANKS
    rated = contact(service.db, "c-1")
    assert rated.survey_score == 2
    survey_events = [r for r in rated.events if r.kind == "survey"]
    assert [(e.data["score"], e.data["node"]) for e in survey_events] == [(2, "sms")]
    # a second reply changes nothing
    assert reply(service, "3") == SURVEY_ALREADY
    assert contact(service.db, "c-1").survey_score == 2
    # the reply text is its own contact (medium sms) naming the call
    with service.db.session() as session:
        texts = list(session.scalars(select(Contact).where(Contact.medium == "sms")))
    assert len(texts) == 2


def test_a_late_reply_and_a_reply_with_no_survey_get_a_reply(
        sms: tuple[SmsService, FixedClock, SentTexts]) -> None:
    service, clock, _sender = sms
    assert reply(service, "3") == HELP  # no survey ever went to this number
    assert reply(service, "1") == HELP
    call(service.db, "c-1", PHONE, how="self_service", at=NOW)
    asyncio.run(service.send_surveys())
    clock.advance(timedelta(hours=24, seconds=1))
    assert reply(service, "不满意") == SURVEY_LATE
    assert contact(service.db, "c-1").survey_score is None


def test_no_survey_to_a_number_that_opted_out_nor_after_a_phone_rating(
        sms: tuple[SmsService, FixedClock, SentTexts]) -> None:
    service, _clock, sender = sms
    service.opt_out(PHONE, "TD")
    call(service.db, "c-1", PHONE, how="answered", at=NOW)
    call(service.db, "c-2", "13900139000", how="answered", at=NOW)
    ContactService(service.db).apply(ContactEvent.parse(
        "c-2", EventKind.SURVEY, {"score": 1, "node": "survey"}, at=NOW))
    assert asyncio.run(service.send_surveys()) == 0
    assert sender.texts == []


def test_the_latest_survey_takes_the_reply_and_each_call_keeps_its_own(
        sms: tuple[SmsService, FixedClock, SentTexts]) -> None:
    service, clock, _sender = sms
    call(service.db, "c-1", PHONE, how="answered", at=NOW)
    asyncio.run(service.send_surveys())
    assert reply(service, "1") == SURVEY_THANKS
    clock.advance(timedelta(minutes=30))
    call(service.db, "c-2", PHONE, how="self_service", at=clock())
    asyncio.run(service.send_surveys())
    assert reply(service, "3") == SURVEY_THANKS
    assert (contact(service.db, "c-1").survey_score,
            contact(service.db, "c-2").survey_score) == (1, 3)


class OfferKb:
    def __init__(self) -> None:
        self.entry = FaqEntry(id="a", category="iit", question="个税汇算什么时候开始？",
                              similar=(), keywords=(), answer="3月1日至6月30日。",
                              effective_from=NOW.date(), effective_to=None, source="test")

    def decide(self, query: str, top: int = 3) -> Decision:
        return Decision(query, DecisionKind.CONFIRM, (SearchResult("a", 0.6, "q"),), 0.6, 0.1)

    def get(self, entry_id: str) -> FaqEntry:
        return self.entry


def test_a_question_offered_after_the_survey_takes_the_1(
        sms: tuple[SmsService, FixedClock, SentTexts]) -> None:
    service, _clock, _sender = sms
    service.kb = OfferKb()
    call(service.db, "c-1", PHONE, how="answered", at=NOW)
    asyncio.run(service.send_surveys())
    assert "回复1确认" in reply(service, "个税汇算")
    assert reply(service, "1") == "3月1日至6月30日。"  # the offer, not the survey
    assert contact(service.db, "c-1").survey_score is None
    assert reply(service, "1") == SURVEY_THANKS  # now the survey is the open question
    assert contact(service.db, "c-1").survey_score == 1


def test_surveys_can_be_turned_off(database: Database,
                                   sms: tuple[SmsService, FixedClock, SentTexts]) -> None:
    _service, clock, sender = sms
    off = SmsService(database, clock, kb=None, tickets=None, sender=sender,
                     survey=SurveyPolicy(enabled=False))
    call(database, "c-1", PHONE, how="answered", at=NOW)
    assert asyncio.run(off.send_surveys()) == 0
