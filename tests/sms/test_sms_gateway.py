"""Texts through the real Kannel (bearerbox + smsbox) and its simulated SMSC (fakesmsc), to the
app served on loopback, asserting what the phone receives: an invoice check, a free-text
question answered from the knowledge base in UCS-2 segments of 67 characters, 退订; every
reply's delivery reports recorded, every text a contact of medium sms; the per-number sending
limit; the satisfaction survey after a phone call, its reply on that call's contact
(PostgreSQL)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from callcenter.app import create_app
from callcenter.cli import command_line
from callcenter.contacts.models import Contact
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.invoices.services import InvoiceService
from callcenter.settings import Settings, get_settings
from callcenter.sms.codec import UCS2_PART, AirMessage, Received, reassemble, segments
from callcenter.sms.gateway import (
    HandsetLog,
    KannelGateway,
    SmsPorts,
)
from callcenter.sms.models import SmsMessage, SmsOptOut, SmsSubscription
from callcenter.sms.services import MENU, OPT_OUT_DONE
from callcenter.sms.survey import SURVEY_TEXT, SURVEY_THANKS
from ivr.events import EventKind
from ivr.ports import ContactEvent
from knowledge_base import KnowledgeBase
from tests.conftest import fresh_database
from tests.sms.kannel import lexical_kb, running
from tests.support import PORT_BASE, SUITE_CLOCK, require_kannel, serving_app

pytestmark = pytest.mark.kannel
PHONE = "13800138000"
FAQ_ID = "iit.annual_settlement.period"


class ShiftedClock:
    """The suite's clock, moved on by the test (the sending limits' minute passes at once);
    :meth:`freeze` stops it where it is (a countdown the test reads to the second)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)
        self._frozen: datetime | None = None

    def freeze(self) -> None:
        self._frozen = SUITE_CLOCK()

    def __call__(self) -> datetime:
        return (self._frozen or SUITE_CLOCK()) + self.offset


@dataclass
class Gateway:
    kannel: KannelGateway
    db: Database
    kb: KnowledgeBase
    clock: ShiftedClock


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    require_kannel()
    directory = tmp_path_factory.mktemp("sms")
    with fresh_database("postgresql", directory) as url:
        yield from _gateway(directory, url)


def _gateway(directory: Path, url: str) -> Iterator[Gateway]:
    db = Database(url)
    InvoiceService(db).add("", "26442000000012345678", 113000, date(2026, 11, 2))
    http_port = PORT_BASE + 470
    settings = Settings(database_url=url, ami_enabled=False, kb_enabled=False,
                        sms_port_base=PORT_BASE + 400, sms_state_dir=directory / "kannel",
                        sms_app_url=f"http://127.0.0.1:{http_port}",
                        sms_limit_per_number_minute=3, sms_worker_interval_s=0.2)
    kb = lexical_kb(settings.timezone)
    clock = ShiftedClock()
    api = create_app(settings, clock)
    kannel = KannelGateway(settings.sms_state_dir, SmsPorts(settings.sms_port_base),
                           app_url=settings.sms_app_url, key=settings.sms_gateway_key,
                           sendsms_password=settings.sms_sendsms_password)
    with serving_app(api, http_port):
        api.state.knowledge_base = kb
        try:
            with running(kannel):
                yield Gateway(kannel, db, kb, clock)
        finally:
            db.dispose()


def _wait_delivered(db: Database, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        with db.session() as session:
            statuses = list(session.scalars(select(SmsMessage.status)
                                            .where(SmsMessage.direction == "mt")))
        if all(s == "delivered" for s in statuses) or time.monotonic() > deadline:
            return statuses
        time.sleep(0.1)


def test_texts_through_kannel(gateway: Gateway, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    kannel = gateway.kannel
    invoice = kannel.converse(PHONE, "发票 26442000000012345678 1130")
    assert len(invoice.replies) == 1
    assert invoice.replies[0].sender == "12366"
    assert "查验一致" in invoice.replies[0].text
    assert "开票日期2026年11月2日" in invoice.replies[0].text
    assert invoice.segments == 1

    answer = gateway.kb.get(FAQ_ID).answer
    faq = kannel.converse(PHONE, "个税汇算什么时候开始")
    assert [r.text for r in faq.replies] == [answer]
    # Kannel's own split of a UCS-2 text: parts of 67 characters, the rest in the last
    assert len(answer) > 70
    assert faq.segments == segments(answer) == -(-len(answer) // UCS2_PART)
    lengths = faq.replies[0].part_lengths
    assert lengths == (UCS2_PART,) * (len(lengths) - 1) + (len(answer) - UCS2_PART
                                                           * (len(lengths) - 1),)

    opt_out = kannel.converse(PHONE, "退订")
    assert [r.text for r in opt_out.replies] == [OPT_OUT_DONE]
    assert opt_out.segments == 1
    with gateway.db.session() as session:
        assert session.get(SmsOptOut, PHONE) is not None

    assert _wait_delivered(gateway.db) == ["delivered"] * 3
    with gateway.db.session() as session:
        contacts = list(session.scalars(select(Contact).order_by(Contact.id)))
    assert [(c.medium, c.caller_number, c.outcome) for c in contacts] == [
        ("sms", PHONE, "self_service")] * 3
    with capsys.disabled():
        print(f"\nSMS via Kannel, text sent -> last segment on the phone: invoice "
              f"{invoice.last_s:.2f} s, FAQ ({faq.segments} segments) {faq.last_s:.2f} s, "
              f"退订 {opt_out.last_s:.2f} s")

    # `hotline sms simulate` prints the reply as the phone received it
    monkeypatch.setenv("HOTLINE_SMS_STATE_DIR", str(kannel.state_dir))
    monkeypatch.setenv("HOTLINE_SMS_PORT_BASE", str(kannel.ports.base))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(command_line(), ["sms", "simulate", "--from", "13900139000",
                                          "--text", "个税汇算什么时候开始"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert f"[12366 -> 13900139000, {segments(answer)} segments] {answer}" in result.output


def _replies_to(kannel: KannelGateway, handset: HandsetLog, number: str, parts: list[AirMessage],
                until: int, timeout: float = 15.0) -> list[Received]:
    """The complete texts ``number`` has received, once there are ``until`` (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        kannel.poke()
        parts += [m for m in handset.read() if m.receiver == number]
        done, _waiting = reassemble(parts)
        if len(done) >= until or time.monotonic() > deadline:
            return done
        time.sleep(0.05)


def _held(db: Database, number: str) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(SmsMessage.status).where(
            SmsMessage.number == number, SmsMessage.direction == "mt")
            .order_by(SmsMessage.id)))


def test_the_per_number_limit_holds_through_kannel(gateway: Gateway) -> None:
    """Four texts from one phone at once, three replies a minute: the phone receives three,
    the fourth reply waits (held) and reaches it when the clock has moved on a minute."""
    kannel, number = gateway.kannel, "13700137000"
    handset = HandsetLog(kannel.handset_log)
    parts: list[AirMessage] = []
    for _ in range(4):
        kannel.inject(number, "帮助")
    deadline = time.monotonic() + 30
    while len(_held(gateway.db, number)) < 4 and time.monotonic() < deadline:
        kannel.poke()  # fakesmsc reads its input between looks at the SMSC's messages
        time.sleep(0.05)
    assert [s == "held" for s in _held(gateway.db, number)] == [False] * 3 + [True]
    first = _replies_to(kannel, handset, number, parts, until=3)
    assert [r.text for r in first] == [MENU] * 3
    # the held reply stays held while the minute has not passed (the worker ticks 5 times a
    # second): the phone still has three
    assert len(_replies_to(kannel, handset, number, parts, until=4, timeout=1.5)) == 3
    assert _held(gateway.db, number)[-1] == "held"
    gateway.clock.offset += timedelta(minutes=1)
    everything = _replies_to(kannel, handset, number, parts, until=4)
    assert [r.text for r in everything] == [MENU] * 4
    statuses = _wait_delivered(gateway.db)
    assert statuses == ["delivered"] * len(statuses)
    assert len(_held(gateway.db, number)) == 4


def test_the_survey_after_a_call_lands_on_that_calls_contact(gateway: Gateway) -> None:
    """A phone call an agent answered ends (its contact in PostgreSQL): the worker texts the
    caller the survey once, the caller's "1" lands on that call's contact as its rating."""
    kannel, number, linkedid = gateway.kannel, "13600136000", "1764550000.42"
    contacts = ContactService(gateway.db)
    at = gateway.clock()
    events: list[tuple[EventKind, dict[str, object]]] = [
            (EventKind.CALL_STARTED, {"caller": number, "channel": "PJSIP/sipp-1"}),
            (EventKind.QUEUE_JOINED, {"queue": "general"}),
            (EventKind.AGENT_CONNECTED, {"queue": "general", "agent": "PJSIP/8001"}),
            (EventKind.CALL_ENDED, {"cause": 16})]
    for n, (kind, data) in enumerate(events):
        contacts.apply(ContactEvent.parse(linkedid, kind, data, at=at - timedelta(seconds=9 - n)))
    assert gateway.db.url.startswith("postgresql")
    handset = HandsetLog(kannel.handset_log, offset=0)
    parts: list[AirMessage] = []
    survey = _replies_to(kannel, handset, number, parts, until=1)
    assert [r.text for r in survey] == [SURVEY_TEXT]
    assert survey[0].segments == 1
    thanks = kannel.converse(number, "1")
    assert [r.text for r in thanks.replies] == [SURVEY_THANKS]
    rated = contacts.get_by_linkedid(linkedid)
    assert rated is not None
    assert (rated.medium, rated.outcome, rated.survey_score) == ("phone", "answered", 1)
    assert [(e.kind, e.data["node"]) for e in rated.events if e.kind == "survey"] == [
        ("survey", "sms")]
    # one survey text for the call, however many ticks the worker ran
    with gateway.db.session() as session:
        assert session.scalar(select(func.count()).select_from(SmsMessage).where(
            SmsMessage.number == number, SmsMessage.intent == "survey")) == 1


# recipients of the bulk job test; docs/benchmarks.md ran it with 10000
REMIND_N = int(os.environ.get("HOTLINE_TEST_SMS_REMIND_N", "300"))
_DONE = re.compile(r"job \d+ \w+: (\d+)/(\d+)")


def _hotline(gateway: Gateway, *args: str) -> tuple[list[str], dict[str, str]]:
    """A `hotline` command line and its environment (the gateway's app and database)."""
    env = {**os.environ, **_cli_env(gateway)}
    return [sys.executable, "-c", "from callcenter.cli import main; main()", *args], env


def _cli_env(gateway: Gateway) -> dict[str, str]:
    kannel = gateway.kannel
    return {"HOTLINE_DATABASE_URL": gateway.db.url,
            "HOTLINE_SMS_PORT_BASE": str(kannel.ports.base),
            "HOTLINE_SMS_STATE_DIR": str(kannel.state_dir),
            "HOTLINE_SMS_APP_URL": kannel.app_url,
            "HOTLINE_SMS_LIMIT_PER_SECOND": "100000",
            "HOTLINE_SMS_REMIND_SETTLE_S": "3",
            # each process starts its clock at the app's moment
            "HOTLINE_CLOCK_START": gateway.clock().isoformat()}


def test_a_bulk_job_killed_halfway_sends_everyone_exactly_one_text(
        gateway: Gateway, capsys: pytest.CaptureFixture[str]) -> None:
    """`hotline sms remind run` through Kannel to REMIND_N subscribers, SIGKILLed when half
    had their text, run again: every subscriber's phone receives exactly one text."""
    numbers = [f"186{i:08d}" for i in range(REMIND_N)]
    with gateway.db.transaction() as session:
        session.add_all(SmsSubscription(number=n, topic="deadline", at=gateway.clock())
                        for n in numbers)
    text = "【12366】12月征期申报截止日为12月15日，请按时申报。回复TD退订。"
    argv, env = _hotline(gateway, "sms", "remind", "create", "--topic", "deadline",
                         "--text", text)
    created = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    job = created.stdout.split()[1].rstrip(":")
    assert f"{REMIND_N} recipients" in created.stdout
    handset = HandsetLog(gateway.kannel.handset_log)
    start = time.monotonic()
    argv, env = _hotline(gateway, "sms", "remind", "run", job, "--every",
                         str(max(1, REMIND_N // 20)))
    first = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
    killed_at = 0
    assert first.stdout is not None
    for line in first.stdout:
        match = _DONE.search(line)
        if match and int(match.group(1)) >= REMIND_N // 2:
            first.kill()  # SIGKILL: no clean-up
            killed_at = int(match.group(1))
            break
    first.wait(timeout=30)
    assert 0 < killed_at < REMIND_N
    argv, env = _hotline(gateway, "sms", "remind", "run", job, "--every", str(REMIND_N))
    second = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
    sent_s = time.monotonic() - start
    assert second.returncode == 0, second.stderr
    assert f"done: {REMIND_N}/{REMIND_N}" in second.stdout
    # the phones' side: every subscriber exactly one text (and no more arrive)
    received: Counter[str] = Counter()
    wanted = set(numbers)
    deadline, quiet_since = time.monotonic() + 120, None
    while time.monotonic() < deadline:
        gateway.kannel.poke()
        new = [m for m in handset.read() if m.receiver in wanted]
        received.update(m.receiver for m in new)
        if new:
            quiet_since = None
        elif sum(received.values()) >= REMIND_N:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= 2:
                break
        time.sleep(0.05)
    on_phones_s = time.monotonic() - start
    assert set(received) == wanted
    assert [n for n, c in received.items() if c != 1] == []
    with capsys.disabled():
        print(f"\nbulk reminder via Kannel: {REMIND_N} recipients, killed at {killed_at}, "
              f"run again; all handed over in {sent_s:.1f} s ({REMIND_N / sent_s:.0f}/s), on "
              f"the phones in {on_phones_s:.1f} s ({REMIND_N / on_phones_s:.0f}/s)")
