"""Texts through the real Kannel (bearerbox + smsbox) and its simulated SMSC (fakesmsc), to the
app served on loopback, asserting what the phone receives: an invoice check, a free-text
question answered from the knowledge base in UCS-2 segments of 67 characters, 退订; every
reply's delivery reports recorded, every text a contact of medium sms."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from callcenter.app import create_app
from callcenter.cli import app
from callcenter.contacts.models import Contact
from callcenter.db import Database
from callcenter.invoices.services import InvoiceService
from callcenter.migrate import upgrade
from callcenter.settings import PROJECT_ROOT, Settings, get_settings
from callcenter.sms.codec import UCS2_PART, segments
from callcenter.sms.gateway import GatewayError, KannelGateway, SmsPorts, host_support
from callcenter.sms.models import SmsMessage, SmsOptOut
from callcenter.sms.services import OPT_OUT_DONE
from ivr.clock import local_date
from knowledge_base import KnowledgeBase
from tests.support import PORT_BASE, SUITE_CLOCK, in_ci, serving_app, sqlite_url

pytestmark = pytest.mark.kannel
PHONE = "13800138000"
FAQ_ID = "iit.annual_settlement.period"


@dataclass
class Gateway:
    kannel: KannelGateway
    db: Database
    kb: KnowledgeBase


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    reason = host_support()
    if reason:
        if in_ci():
            pytest.fail(f"Kannel is required in CI but unavailable: {reason}", pytrace=False)
        pytest.skip(f"Kannel unavailable: {reason}")
    directory = tmp_path_factory.mktemp("sms")
    url = sqlite_url(directory)
    upgrade(url)
    db = Database(url)
    InvoiceService(db).add("", "26442000000012345678", 113000, date(2026, 11, 2))
    http_port = PORT_BASE + 470
    settings = Settings(database_url=url, ami_enabled=False, kb_enabled=False,
                        sms_port_base=PORT_BASE + 400, sms_state_dir=directory / "kannel",
                        sms_app_url=f"http://127.0.0.1:{http_port}")
    # the repository's knowledge base on its lexical path (the sentence encoder takes a
    # minute to load; the decision is the same code)
    kb = KnowledgeBase.load(PROJECT_ROOT / "knowledge_base" / "data", cache_dir=None,
                            spec_path=None, embedder=None,
                            clock=local_date(SUITE_CLOCK, settings.timezone))
    api = create_app(settings, SUITE_CLOCK)
    kannel = KannelGateway(settings.sms_state_dir, SmsPorts(settings.sms_port_base),
                           app_url=settings.sms_app_url, key=settings.sms_gateway_key,
                           sendsms_password=settings.sms_sendsms_password)
    with serving_app(api, http_port):
        api.state.knowledge_base = kb
        try:
            kannel.start()
        except GatewayError as exc:
            kannel.stop()
            pytest.fail(f"the Kannel gateway did not start: {exc}", pytrace=False)
        try:
            yield Gateway(kannel, db, kb)
        finally:
            kannel.stop()
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
        result = CliRunner().invoke(app, ["sms", "simulate", "--from", "13900139000",
                                          "--text", "个税汇算什么时候开始"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert f"[12366 -> 13900139000, {segments(answer)} segments] {answer}" in result.output
