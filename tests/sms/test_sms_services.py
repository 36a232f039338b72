"""What 12366 answers a text (the SMS service over a real database, a recording sender and a
stub knowledge base whose decision each test sets), and the delivery reports' record."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import delete, select

from callcenter.contacts.models import Contact, ContactEventRow
from callcenter.db import Database
from callcenter.invoices.models import Invoice, InvoiceStatus
from callcenter.invoices.services import InvoiceService
from callcenter.notify.messages import ConsultationSubmitted
from callcenter.notify.services import Notifier
from callcenter.sms.codec import segments
from callcenter.sms.models import SmsDeliveryReport, SmsMessage, SmsOptOut
from callcenter.sms.services import HELP, MENU, OPT_OUT_DONE, SmsService
from callcenter.tickets.models import Ticket, TicketStatusChange
from callcenter.tickets.services import TicketService
from ivr.calendar import OpeningHours, ServiceCalendar
from ivr.clock import FixedClock
from knowledge_base.models import Decision, DecisionKind, FaqEntry, SearchResult
from tests.sms.fakes import SentTexts

CALENDAR = ServiceCalendar((OpeningHours((1, 2, 3, 4, 5), time(8, 30), time(17, 30)),))
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai
PHONE = "13800138000"
LONG_ANSWER = "综合所得年度汇算的办理时间，是取得所得的次年3月1日至6月30日。" * 3


def entry(faq_id: str, question: str, answer: str) -> FaqEntry:
    return FaqEntry(id=faq_id, category="iit", question=question, similar=(), keywords=(),
                    answer=answer, effective_from=date(2026, 1, 1), effective_to=None,
                    source="test")


class StubKb:
    """A FaqSource whose next decision the test sets."""

    def __init__(self) -> None:
        self.entries = {e.id: e for e in (
            entry("a", "个人所得税综合所得年度汇算的办理时间是什么？", LONG_ANSWER),
            entry("b", "小规模纳税人增值税征收率是多少？", "短答案。"))}
        self.kind = DecisionKind.ANSWER
        self.ids = ["a"]

    def decide(self, query: str, top: int = 3) -> Decision:
        results = tuple(SearchResult(i, 0.9, self.entries[i].question) for i in self.ids)
        return Decision(query, self.kind, results if self.kind is not DecisionKind.DECLINE
                        else (), 0.9, 0.1)

    def get(self, entry_id: str) -> FaqEntry:
        return self.entries[entry_id]


@pytest.fixture
def sms(database: Database) -> tuple[SmsService, StubKb, SentTexts]:
    with database.transaction() as session:
        for table in (SmsDeliveryReport, SmsMessage, SmsOptOut, ContactEventRow, Contact,
                      TicketStatusChange, Ticket, Invoice):
            session.execute(delete(table))
    kb, sender = StubKb(), SentTexts()
    tickets = TicketService(database, CALENDAR, {"consult": 3}, clock=FixedClock(NOW))
    return SmsService(database, FixedClock(NOW), kb=kb, tickets=tickets, sender=sender), kb, sender


def text_to(service: SmsService, text: str) -> str:
    _mo, replies = asyncio.run(service.receive(PHONE, text))
    assert len(replies) == 1
    return replies[0].text


def test_an_answer_is_the_entry_and_its_segments_are_recorded(
        sms: tuple[SmsService, StubKb, SentTexts]) -> None:
    service, _kb, sender = sms
    assert text_to(service, "个税汇算什么时候开始") == LONG_ANSWER
    assert sender.sent[0][:2] == (PHONE, LONG_ANSWER)
    with service.db.session() as session:
        mt = session.scalar(select(SmsMessage).where(SmsMessage.direction == "mt"))
        assert mt is not None
        assert mt.segments == segments(LONG_ANSWER) == 2
        contact = session.scalar(select(Contact))
        assert contact is not None
        assert (contact.medium, contact.outcome, contact.caller_number) == (
            "sms", "self_service", PHONE)


def test_confirm_then_1_answers_and_2_offers_the_next(
        sms: tuple[SmsService, StubKb, SentTexts]) -> None:
    service, kb, _sender = sms
    kb.kind, kb.ids = DecisionKind.CONFIRM, ["b", "a"]
    offer = text_to(service, "小规模增值税")
    assert offer.startswith("您想咨询的是：小规模纳税人增值税征收率是多少？")
    assert "回复1确认" in offer
    assert "回复2" in offer
    second = text_to(service, "2")
    assert "个人所得税综合所得年度汇算" in second
    assert "回复2" not in second
    assert text_to(service, "1") == LONG_ANSWER
    assert text_to(service, "1") == HELP  # the offer was taken


def test_a_decline_is_a_consult_ticket_with_its_deadline(
        sms: tuple[SmsService, StubKb, SentTexts]) -> None:
    service, kb, _sender = sms
    kb.kind, kb.ids = DecisionKind.DECLINE, []
    reply = text_to(service, "明天北京会下雨吗")
    with service.db.session() as session:
        ticket = session.scalar(select(Ticket))
        assert ticket is not None
        assert (ticket.kind, ticket.caller) == ("consult", PHONE)
        assert "明天北京会下雨吗" in ticket.summary
        contact = session.scalar(select(Contact))
        assert contact is not None
        assert contact.outcome == "message_left"
    assert ticket.ticket_no in reply
    assert "12月4日17:30前" in reply  # three working days, at closing time


async def test_a_declined_text_is_announced_as_a_new_consultation(
        sms: tuple[SmsService, StubKb, SentTexts]) -> None:
    service, kb, _sender = sms
    kb.kind, kb.ids = DecisionKind.DECLINE, []
    bus = Notifier(service.clock)
    listener = bus.subscribe("consult")
    service.notifier = bus
    await service.receive(PHONE, "明天北京会下雨吗")
    note = (await listener.get(1)).notification()
    assert isinstance(note, ConsultationSubmitted)
    assert (note.channel, note.question, note.number_masked) == (
        "sms", "明天北京会下雨吗", f"{PHONE[:3]}****{PHONE[-4:]}")


def test_invoice_results(sms: tuple[SmsService, StubKb, SentTexts]) -> None:
    service, _kb, _sender = sms
    invoices = InvoiceService(service.db)
    invoices.add("", "26442000000012345678", 113000, date(2026, 11, 2))
    invoices.add("", "26442000000099999999", 5000, date(2026, 11, 2), status=InvoiceStatus.RED)
    assert "查验一致" in text_to(service, "发票 26442000000012345678 1130")
    assert "开票日期2026年11月2日" in text_to(service, "发票 26442000000012345678 1130.00")
    assert "不一致" in text_to(service, "发票 26442000000012345678 1131")
    assert "已红冲" in text_to(service, "发票 26442000000099999999 50")
    assert "未查到" in text_to(service, "发票 26442000000000000000 50")
    assert "20位" in text_to(service, "发票 123 50")


def test_opt_out_confirms_and_stops_reminders(sms: tuple[SmsService, StubKb, SentTexts]) -> None:
    service, _kb, _sender = sms
    assert service.reminder_recipients([PHONE, "13900139000"]) == [PHONE, "13900139000"]
    assert text_to(service, "退订") == OPT_OUT_DONE
    assert text_to(service, "TD") == OPT_OUT_DONE  # twice: still one opt-out, confirmed again
    assert service.opted_out(PHONE)
    assert service.reminder_recipients([PHONE, "13900139000"]) == ["13900139000"]


@pytest.mark.parametrize("text", ["", "hello", "???", "\ufffd", "1", "12345"])
def test_anything_else_gets_the_help_text(sms: tuple[SmsService, StubKb, SentTexts],
                                          text: str) -> None:
    assert text_to(sms[0], text) == HELP


def test_help_lists_every_command(sms: tuple[SmsService, StubKb, SentTexts]) -> None:
    menu = text_to(sms[0], "帮助")
    assert menu == MENU
    assert segments(menu) == 2
    for command in ("发票", "查询", "预约", "取消预约", "订阅", "TD"):
        assert command in menu


def test_a_failure_inside_still_replies(sms: tuple[SmsService, StubKb, SentTexts]) -> None:
    service, kb, _sender = sms
    kb.ids = ["missing"]  # get() raises KeyError
    assert text_to(service, "个税汇算什么时候开始") == HELP


def test_delivery_reports_only_move_a_text_forward(
        sms: tuple[SmsService, StubKb, SentTexts]) -> None:
    service, _kb, sender = sms
    text_to(service, "退订")
    message_id = sender.sent[0][2]
    assert service.record_dlr(message_id, 1, "")
    assert service.record_dlr(message_id, 8, "ACK/")  # the SMSC's ack after the delivery
    assert not service.record_dlr(message_id + 999, 1)
    with service.db.session() as session:
        message = session.get(SmsMessage, message_id)
        assert message is not None
        assert message.status == "delivered"
        assert [r.dlr_type for r in session.scalars(
            select(SmsDeliveryReport).order_by(SmsDeliveryReport.id))] == [1, 8]


def test_a_text_the_gateway_refuses_is_failed(sms: tuple[SmsService, StubKb, SentTexts]) -> None:
    service, _kb, sender = sms
    sender.refuse = True
    text_to(service, "TD")
    with service.db.session() as session:
        statuses = list(session.scalars(select(SmsMessage.status)
                                        .where(SmsMessage.direction == "mt")))
    assert statuses == ["failed"]


def test_texts_are_not_calls_in_the_telephone_statistics(
        sms: tuple[SmsService, StubKb, SentTexts]) -> None:
    from callcenter.settings import Settings
    from callcenter.stats.models import StatsContactRollup, StatsDirtyBucket
    from callcenter.stats.services import stats_service_for

    service, _kb, _sender = sms
    text_to(service, "个税汇算什么时候开始")
    with service.db.session() as session:
        contact = session.scalar(select(Contact))
        assert contact is not None
        assert contact.outcome == "self_service"  # served, and logged...
    stats = stats_service_for(service.db, Settings(), FixedClock(NOW))
    stats.rebuild()
    report = stats.summary(stats.range("2026-12-01", "2026-12-01", "day"))
    assert sum(row["contacts"] for row in report["series"]) == 0  # ...but not as a call
    with service.db.transaction() as session:
        session.execute(delete(StatsContactRollup))
        session.execute(delete(StatsDirtyBucket))
