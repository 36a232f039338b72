"""Statistics by channel (phone, sms, web) against figures counted by hand, on SQLite and
PostgreSQL: contacts and how they were served, texts delivered (from the delivery reports the
SMS service records), tickets replied within their deadline; the channel filter, its bad input
(422 with the reason in Chinese), the exports and the wallboard."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from callcenter.app import create_app
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.settings import Settings
from callcenter.sms.models import SmsDeliveryReport, SmsMessage
from callcenter.sms.services import SmsService
from callcenter.stats.ranges import Channel, StatsInputError, parse_channel
from callcenter.stats.services import StatsService
from callcenter.tickets.models import Ticket, TicketStatusChange
from callcenter.tickets.reporting import TicketTableSource
from ivr.clock import FixedClock
from ivr.ports import EventKind
from tests.callcenter.util import bearer, token_for
from tests.stats.conftest import REPORT_CLOCK, Step, local, play
from tests.support import SUITE_CLOCK

E = EventKind
DAY = {"from": "2026-11-27", "to": "2026-11-27", "interval": "hour"}


class Gateway:
    """smsbox's sendsms as the SMS service sees it: accepts, or refuses when told to."""

    def __init__(self) -> None:
        self.refuse = False

    async def send(self, number: str, text: str, message_id: int) -> str | None:
        return "refused" if self.refuse else None


def start(medium: str | None = None) -> Step:
    data: dict[str, object] = {"caller": "13800000000", "channel": "PJSIP/caller-1"}
    if medium:
        data.update(medium=medium, channel="SMS/12366")
    return (0, E.CALL_STARTED, data)


def end(at: float) -> Step:
    return (at, E.CALL_ENDED, {"cause": 16, "cause_txt": "Normal Clearing"})


def sms_answer(faq: str) -> list[Step]:
    return [(0, E.FAQ_PLAYED, {"node": "sms", "faq_id": faq, "question": "问？", "score": 0.9,
                               "category": "个税", "via": "text"}),
            (0, E.SELF_SERVICE, {"node": "sms", "service": "faq", "detail": faq})]


def sms_declined(ticket_no: str) -> list[Step]:
    return [(0, E.ESCALATED, {"node": "sms", "faq_id": None, "queue": "consult",
                              "reason": "declined"}),
            (0, E.TICKET, {"ticket_no": ticket_no, "type": "consult"}),
            (0, E.OUTCOME, {"outcome": "message_left"})]


def ticket(database: Database, no: str, kind: str, linkedid: str, created: str, due: str,
           settled: str | None) -> None:
    status = "answered" if settled else "open"
    with database.transaction() as session:
        t = Ticket(ticket_no=no, kind=kind, status=status, linkedid=linkedid,
                   created_at=local(created), due_at=local(due), updated_at=local(created))
        session.add(t)
        session.flush()
        if settled:
            session.add(TicketStatusChange(ticket_id=t.id, at=local(settled),
                                           from_status="open", to_status=status))


def clear(database: Database) -> None:
    with database.transaction() as session:
        for table in (SmsDeliveryReport, SmsMessage, TicketStatusChange, Ticket):
            session.execute(delete(table))


def build_channels(contacts: ContactService, database: Database) -> None:
    """2026-11-27 (Shanghai): two calls, three texts to 12366, four texts sent, three tickets.

    phone: P1 self-service 09:05; P2 answered by agent1 at 09:10, its complaint ticket
           answered on time.
    sms:   S1 10:00 answered from the knowledge base; S2 10:05 and S3 10:10 declined -> consult
           tickets: S2's past its due time unanswered (late), S3's answered on time.
    texts sent at 10:00: delivered (DLR 8 then 1), failed (DLR 16), pending (DLR 8 only),
           refused by the gateway (failed, no DLR); one more on the 28th (another day).
    web:   nothing.
    """
    clear(database)
    play(contacts, "P1", local("2026-11-27 09:05:00"), [
        start(), (1, E.MENU_NODE, {"node": "welcome"}),
        (9, E.FAQ_PLAYED, {"node": "faq_vat_law", "faq_id": "vat.law.effective_date",
                           "question": "增值税法？", "score": 1.0, "category": "增值税",
                           "via": "key"}),
        (30, E.SELF_SERVICE, {"node": "faq", "service": "faq", "detail": None}), end(40)])
    play(contacts, "P2", local("2026-11-27 09:10:00"), [
        start(), (9, E.TRANSFER, {"node": "agent", "queue": "consult"}),
        (10, E.QUEUE_JOINED, {"queue": "consult", "position": 1}),
        (17, E.AGENT_CONNECTED, {"queue": "consult", "agent": "agent1", "hold_time": 7,
                                 "ring_time": 1}),
        (117, E.AGENT_COMPLETED, {"queue": "consult", "agent": "agent1", "talk_time": 100,
                                  "hold_time": 7, "reason": "caller"}), end(120)])
    play(contacts, "sms-S1", local("2026-11-27 10:00:00"),
         [start("sms"), *sms_answer("iit.annual.period"), end(0)])
    play(contacts, "sms-S2", local("2026-11-27 10:05:00"),
         [start("sms"), *sms_declined("T-S2"), end(0)])
    play(contacts, "sms-S3", local("2026-11-27 10:10:00"),
         [start("sms"), *sms_declined("T-S3"), end(0)])
    ticket(database, "T-P2", "complaint", "P2", "2026-11-27 09:12:00", "2026-11-29 17:00:00",
           "2026-11-28 10:00:00")
    ticket(database, "T-S2", "consult", "sms-S2", "2026-11-27 10:05:00", "2026-11-27 12:00:00",
           None)
    ticket(database, "T-S3", "consult", "sms-S3", "2026-11-27 10:10:00", "2026-11-30 17:00:00",
           "2026-11-28 09:00:00")

    gateway = Gateway()
    texts = SmsService(database, FixedClock(local("2026-11-27 10:00:00")), kb=None,
                       tickets=None, sender=gateway)

    def send() -> int:
        return asyncio.run(texts.send("13800000000", "答复", "sms-S1")).id

    delivered, failed, pending = send(), send(), send()
    assert texts.record_dlr(delivered, 8)
    assert texts.record_dlr(delivered, 1)
    assert texts.record_dlr(failed, 16)
    assert texts.record_dlr(pending, 8)
    gateway.refuse = True
    send()
    later = SmsService(database, FixedClock(local("2026-11-28 10:00:00")), kb=None,
                       tickets=None, sender=Gateway())
    assert later.record_dlr(asyncio.run(later.send("13800000000", "次日", "")).id, 1)


@pytest.fixture
def by_channel(stats: StatsService, contacts: ContactService,
               database: Database) -> Iterator[StatsService]:
    build_channels(contacts, database)
    yield StatsService(database, stats.thresholds, tickets=TicketTableSource(database),
                       clock=REPORT_CLOCK)
    clear(database)


def test_parse_channel() -> None:
    assert parse_channel(None) is Channel.PHONE
    assert parse_channel("", None) is None
    assert parse_channel(" SMS ") is Channel.SMS
    with pytest.raises(StatsInputError, match="未知的渠道：'fax'"):
        parse_channel("fax")


def test_every_channel_side_by_side(by_channel: StatsService) -> None:
    report = by_channel.channels(by_channel.range("2026-11-27", "2026-11-27", "hour"))
    items = {i["channel"]: i for i in report["items"]}
    assert list(items) == ["phone", "sms", "web"]
    assert items["phone"] == {
        "channel": "phone", "contacts": 2, "self_service": 1, "answered": 1, "other": 0,
        "self_service_rate": 0.5, "outcomes": {"answered": 1, "self_service": 1},
        "tickets": 1, "tickets_due": 1, "tickets_on_time": 1, "reply_on_time_rate": 1.0}
    assert items["sms"] == {
        "channel": "sms", "contacts": 3, "self_service": 1, "answered": 0, "other": 2,
        "self_service_rate": 0.3333, "outcomes": {"message_left": 2, "self_service": 1},
        "tickets": 2, "tickets_due": 2, "tickets_on_time": 1, "reply_on_time_rate": 0.5,
        "texts_sent": 4, "segments_sent": 4, "delivered": 1, "delivery_failed": 2,
        "delivery_pending": 1, "delivery_rate": 0.3333}
    assert items["web"]["contacts"] == 0
    assert items["web"]["self_service_rate"] is None  # no data, never 0
    assert items["web"]["reply_on_time_rate"] is None
    assert "delivery_rate" not in items["web"]
    series = {(row["start"][11:13], row["channel"]): row for row in report["series"]}
    assert sorted(series) == [("09", "phone"), ("10", "sms")]
    assert series[("10", "sms")]["texts_sent"] == 4
    only_sms = by_channel.channels(by_channel.range("2026-11-27", "2026-11-27", "day"),
                                   Channel.SMS)
    assert [i["channel"] for i in only_sms["items"]] == ["sms"]
    # the next day: only the text sent then (delivered)
    next_day = by_channel.channels(by_channel.range("2026-11-28", "2026-11-28", "day"))
    sms = next(i for i in next_day["items"] if i["channel"] == "sms")
    assert (sms["contacts"], sms["texts_sent"], sms["delivery_rate"]) == (0, 1, 1.0)


def test_summary_is_the_telephone_unless_asked(by_channel: StatsService) -> None:
    rng = by_channel.range("2026-11-27", "2026-11-27", "day")
    phone = by_channel.summary(rng)
    assert phone["channel"] == "phone"
    assert (phone["total"]["contacts"], phone["total"]["automatic_voice"],
            phone["total"]["manual"]) == (2, 1, 1)
    assert phone["channels"]["sms"]["contacts"] == 3
    assert phone["channels"]["sms"]["delivery_rate"] == 0.3333
    sms = by_channel.summary(rng, Channel.SMS)
    assert sms["channel"] == "sms"
    assert (sms["total"]["contacts"], sms["total"]["offered"],
            sms["total"]["answer_rate"]) == (3, 0, None)
    assert sms["total"]["outcomes"] == {"message_left": 2, "self_service": 1}
    web = by_channel.summary(rng, Channel.WEB)
    assert web["total"]["contacts"] == 0
    # the daily rollups (whole days by day) agree with the 15-minute ones
    assert by_channel.summary(by_channel.range("2026-11-27", "2026-11-27", "hour"),
                              Channel.SMS)["total"]["contacts"] == 3


def test_faqs_nodes_and_tickets_by_channel(by_channel: StatsService) -> None:
    rng = by_channel.range("2026-11-27", "2026-11-27", "day")
    assert [i["faq_id"] for i in by_channel.faqs(rng)["items"]] == ["vat.law.effective_date"]
    sms_faqs = by_channel.faqs(rng, Channel.SMS)
    assert sms_faqs["channel"] == "sms"
    # declined questions went to an agent without an FAQ id: escalations under ""
    assert [(i["faq_id"], i["played"], i["escalated"]) for i in sms_faqs["items"]] == [
        ("iit.annual.period", 1, 0), ("", 0, 2)]
    assert by_channel.menu_nodes(rng, Channel.SMS)["items"] == []
    every = by_channel.tickets(rng)
    assert every["channel"] is None
    assert {c["channel"]: (c["created"], c["due"], c["on_time"], c["on_time_rate"])
            for c in every["channels"]} == {"phone": (1, 1, 1, 1.0), "sms": (2, 2, 1, 0.5),
                                            "web": (0, 0, 0, None)}
    sms_tickets = by_channel.tickets(rng, Channel.SMS)
    assert [(i["type"], i["created"], i["on_time_rate"]) for i in sms_tickets["items"]] == [
        ("consult", 2, 0.5)]
    with pytest.raises(StatsInputError, match="只统计电话"):
        by_channel.queues(rng, Channel.SMS)
    with pytest.raises(StatsInputError, match="只统计电话"):
        by_channel.agents(rng, Channel.WEB)


def test_contact_export_rows_carry_the_channel(by_channel: StatsService) -> None:
    rng = by_channel.range("2026-11-27", "2026-11-27", "day")
    rows = list(by_channel.contact_rows(rng))
    assert sorted(str(r[-1]) for r in rows) == ["phone", "phone", "sms", "sms", "sms"]
    assert [r[1] for r in by_channel.contact_rows(rng, Channel.PHONE)] == ["P1", "P2"]


def test_wallboard_shows_today_by_channel(by_channel: StatsService) -> None:
    live = by_channel.live(now=local("2026-11-27 12:00:00"))
    assert live["today"]["contacts"] == 2  # the telephone's figures, as before
    channels = live["channels"]
    assert (channels["phone"]["contacts"], channels["sms"]["contacts"],
            channels["web"]["contacts"]) == (2, 3, 0)
    assert channels["sms"]["texts_sent"] == 4
    assert channels["sms"]["delivery_rate"] == 0.3333
    assert channels["sms"]["open"] == 0


# -- over HTTP ---------------------------------------------------------------------------


@pytest.fixture
def client(db_url: str, by_channel: StatsService) -> Iterator[TestClient]:
    settings = Settings(database_url=db_url, ami_enabled=False, kb_enabled=False,
                        stats_wallboard_interval_s=0)
    with TestClient(create_app(settings, SUITE_CLOCK)) as test_client:
        yield test_client


@pytest.fixture
def supervisor(database: Database) -> dict[str, str]:
    return bearer(token_for(database, "channel-supervisor", "supervisor"))


def test_channels_over_http(client: TestClient, supervisor: dict[str, str]) -> None:
    body = client.get("/api/v1/stats/channels", params=DAY, headers=supervisor).json()
    assert {i["channel"]: i["contacts"] for i in body["items"]} == {
        "phone": 2, "sms": 3, "web": 0}
    sms = client.get("/api/v1/stats/summary", params={**DAY, "channel": "sms"},
                     headers=supervisor).json()
    assert (sms["channel"], sms["total"]["contacts"]) == ("sms", 3)
    faqs = client.get("/api/v1/stats/faqs", params={**DAY, "channel": "sms"},
                      headers=supervisor).json()
    assert [i["faq_id"] for i in faqs["items"]] == ["iit.annual.period", ""]


@pytest.mark.parametrize(("path", "params", "reason"), [
    ("summary", {"channel": "fax"}, "未知的渠道：'fax'"),
    ("channels", {"channel": "email"}, "未知的渠道"),
    ("tickets", {"channel": "电话"}, "未知的渠道"),
    ("nodes", {"channel": "PHONE1"}, "未知的渠道"),
    ("queues", {"channel": "sms"}, "队列与坐席报表只统计电话"),
    ("agents", {"channel": "web"}, "队列与坐席报表只统计电话"),
    ("export", {"channel": "fax", "report": "contacts"}, "未知的渠道"),
    ("export", {"channel": "sms", "report": "queues"}, "只统计电话"),
])
def test_bad_channel_is_a_422_with_the_reason(client: TestClient, supervisor: dict[str, str],
                                              path: str, params: dict[str, str],
                                              reason: str) -> None:
    response = client.get(f"/api/v1/stats/{path}", params={**DAY, **params}, headers=supervisor)
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]


def test_a_too_long_channel_is_refused(client: TestClient, supervisor: dict[str, str]) -> None:
    response = client.get("/api/v1/stats/summary", params={**DAY, "channel": "x" * 17},
                          headers=supervisor)
    assert response.status_code == 422


def test_exports_by_channel(client: TestClient, supervisor: dict[str, str]) -> None:
    response = client.get("/api/v1/stats/export",
                          params={**DAY, "report": "channels", "format": "csv"},
                          headers=supervisor)
    assert response.status_code == 200, response.text
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header = rows[0]
    assert header[:3] == ["时段开始", "渠道", "联系总量"]
    assert "送达率" in header
    assert "按期答复率" in header
    sms_row = next(r for r in rows[1:] if r[1] == "短信")
    assert sms_row[header.index("送达率")] == "0.3333"
    response = client.get("/api/v1/stats/export",
                          params={**DAY, "report": "contacts", "channel": "sms"},
                          headers=supervisor)
    assert response.status_code == 200
    assert "-sms-" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][-1] == "渠道"
    assert [r[-1] for r in rows[1:]] == ["短信", "短信", "短信"]
