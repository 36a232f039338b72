"""The sending limits: the pure slot rule, and the service holding, releasing and cutting texts
on both databases, every moment from one injected clock."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from callcenter.contacts.models import Contact, ContactEventRow
from callcenter.db import Database
from callcenter.sms.models import SmsDeliveryReport, SmsMessage, SmsOptOut
from callcenter.sms.services import SmsService
from callcenter.sms.throttle import Limits, next_slot, window_slot
from ivr.clock import FixedClock
from tests.sms.fakes import SentTexts

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
PHONE = "13800138000"
OTHER = "13900139000"
S = timedelta(seconds=1)


# -- the rule --------------------------------------------------------------------------------


def test_a_window_with_room_lets_a_text_go_now() -> None:
    assert window_slot(NOW, [NOW - 10 * S, NOW - 5 * S], timedelta(minutes=1), 3) == NOW


def test_a_full_window_waits_for_its_oldest_text_to_leave() -> None:
    sent = [NOW - 50 * S, NOW - 20 * S, NOW - 5 * S]
    assert window_slot(NOW, sent, timedelta(minutes=1), 3) == NOW + 10 * S
    assert window_slot(NOW, sent, timedelta(minutes=1), 2) == NOW + 40 * S
    # a text that left the window no longer counts
    assert window_slot(NOW, [NOW - 61 * S, *sent[1:]], timedelta(minutes=1), 3) == NOW


def test_the_hour_and_the_total_limits() -> None:
    limits = Limits(per_number_minute=3, per_number_hour=4, total_per_second=2)
    hour = [NOW - timedelta(minutes=m) for m in (50, 40, 30, 20)]
    assert next_slot(NOW, hour, [], limits) == NOW + timedelta(minutes=10)
    # the total: two texts already went this second
    assert next_slot(NOW, [], [NOW - S / 2, NOW], limits) == NOW + S / 2
    assert next_slot(NOW, [], [NOW], limits) == NOW


@pytest.mark.parametrize("field", ["per_number_minute", "per_number_hour", "total_per_second",
                                   "storm_backlog"])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Limits(**{field: 0})


# -- the service -----------------------------------------------------------------------------


@pytest.fixture
def service(database: Database) -> tuple[SmsService, FixedClock, SentTexts]:
    with database.transaction() as session:
        for table in (SmsDeliveryReport, SmsMessage, SmsOptOut, ContactEventRow, Contact):
            session.execute(delete(table))
    clock, sender = FixedClock(NOW), SentTexts()
    limits = Limits(per_number_minute=2, per_number_hour=5, total_per_second=3,
                    storm_backlog=2)
    return SmsService(database, clock, kb=None, tickets=None, sender=sender,
                      limits=limits), clock, sender


def statuses(service: SmsService) -> list[tuple[str, str]]:
    with service.db.session() as session:
        return [(m.text, m.status) for m in session.scalars(
            select(SmsMessage).where(SmsMessage.direction == "mt").order_by(SmsMessage.id))]


def test_a_text_over_the_minute_limit_is_held_and_sent_later(
        service: tuple[SmsService, FixedClock, SentTexts]) -> None:
    sms, clock, sender = service
    for n in range(3):
        asyncio.run(sms.send(PHONE, f"t{n}"))
    assert sender.texts == [(PHONE, "t0"), (PHONE, "t1")]
    assert statuses(sms)[2] == ("t2", "held")
    assert sms.next_due() == NOW + timedelta(minutes=1)
    # not yet: nothing goes
    clock.advance(timedelta(seconds=59))
    assert asyncio.run(sms.dispatch_due()) == 0
    clock.advance(S)
    assert asyncio.run(sms.dispatch_due()) == 1
    assert sender.texts[-1] == (PHONE, "t2")
    assert [s for _t, s in statuses(sms)] == ["queued"] * 3
    assert sms.next_due() is None


def test_other_numbers_are_not_held_by_one_numbers_limit(
        service: tuple[SmsService, FixedClock, SentTexts]) -> None:
    sms, _clock, sender = service
    for n in range(3):
        asyncio.run(sms.send(PHONE, f"p{n}"))
    asyncio.run(sms.send(OTHER, "o0"))
    assert sender.texts[-1] == (OTHER, "o0")


def test_the_total_per_second_holds_every_number(
        service: tuple[SmsService, FixedClock, SentTexts]) -> None:
    sms, clock, sender = service
    numbers = [f"1380000000{n}" for n in range(5)]
    for number in numbers:
        asyncio.run(sms.send(number, "hi"))
    assert [n for n, _t in sender.texts] == numbers[:3]
    clock.advance(S)
    assert asyncio.run(sms.dispatch_due()) == 2
    assert [n for n, _t in sender.texts] == numbers


def test_held_texts_keep_their_order_and_a_storm_is_cut_with_a_log_line(
        service: tuple[SmsService, FixedClock, SentTexts],
        caplog: pytest.LogCaptureFixture) -> None:
    sms, clock, sender = service
    with caplog.at_level(logging.WARNING, logger="callcenter.sms.services"):
        for n in range(6):
            asyncio.run(sms.send(PHONE, f"t{n}"))
    # two went, two wait (the backlog), the rest of the storm is cut: recorded, logged
    assert [s for _t, s in statuses(sms)] == ["queued", "queued", "held", "held",
                                              "suppressed", "suppressed"]
    cut = [r.getMessage() for r in caplog.records if "reply storm" in r.getMessage()]
    assert len(cut) == 2
    assert "***8000" in cut[0]
    assert PHONE not in cut[0]
    clock.advance(timedelta(minutes=1))
    assert asyncio.run(sms.dispatch_due()) == 2
    assert [t for _n, t in sender.texts] == ["t0", "t1", "t2", "t3"]


def test_the_hour_limit_holds_past_the_minute(
        service: tuple[SmsService, FixedClock, SentTexts]) -> None:
    sms, clock, sender = service
    for _ in range(5):  # 2 a minute, 5 an hour
        asyncio.run(sms.send(PHONE, "x"))
        asyncio.run(sms.dispatch_due())
        clock.advance(timedelta(minutes=1))
    assert len(sender.texts) == 5
    asyncio.run(sms.send(PHONE, "sixth"))
    assert statuses(sms)[-1] == ("sixth", "held")
    assert sms.next_due() == NOW + timedelta(hours=1)
    clock.set(NOW + timedelta(hours=1))
    assert asyncio.run(sms.dispatch_due()) == 1
    assert sender.texts[-1] == (PHONE, "sixth")


def test_a_held_text_waits_again_when_its_slot_was_taken(
        service: tuple[SmsService, FixedClock, SentTexts]) -> None:
    sms, clock, _sender = service
    for n in range(3):
        asyncio.run(sms.send(PHONE, f"t{n}"))
    clock.advance(timedelta(minutes=1))
    # another process (or a text right now) used the number's slots first
    asyncio.run(sms.send(OTHER, "o"))
    with sms.db.transaction() as session:
        for message in session.scalars(select(SmsMessage).where(SmsMessage.number == PHONE)):
            if message.status == "queued":
                message.sent_at = clock() - S
    assert asyncio.run(sms.dispatch_due()) == 0
    assert sms.next_due() == clock() + timedelta(seconds=59)
    assert statuses(sms)[2] == ("t2", "held")
