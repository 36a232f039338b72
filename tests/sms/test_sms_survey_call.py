"""The survey after a real phone call: `hotline serve` on the real Asterisk and the real Kannel,
a SIPp caller served by the menu (an FAQ answer), the caller's phone receiving the survey text
from the server's SMS worker, and its "1" landing on that call's contact in PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.sms.codec import AirMessage, reassemble
from callcenter.sms.gateway import HandsetLog
from callcenter.sms.survey import SURVEY_TEXT, SURVEY_THANKS
from ivr.pbx.sandbox import AsteriskSandbox
from tests.conftest import fresh_database
from tests.support import PORT_BASE, kannel_for_serve, pbx_call, serving

pytestmark = [pytest.mark.asterisk, pytest.mark.kannel]

CALLER = "13800000001"


def test_a_served_call_gets_the_survey_text_and_its_reply_rates_that_call(
        pbx: AsteriskSandbox, tmp_path: Path) -> None:
    http_port = PORT_BASE + 475
    with fresh_database("postgresql", tmp_path) as url, \
            kannel_for_serve(tmp_path, url, http_port, PORT_BASE + 420,
                             HOTLINE_SMS_SURVEY_ENABLED="true") as (kannel, env), \
            serving(env, http_port, tmp_path / "serve.log"):
        handset = HandsetLog(kannel.handset_log)
        # 1 1 1: consultation, VAT, the VAT law FAQ: served by the menu
        contact = pbx_call(env, http_port, "111", CALLER)
        assert contact["outcome"] == "self_service"
        parts: list[AirMessage] = []
        deadline = time.monotonic() + 30
        done: list[str] = []
        while not done and time.monotonic() < deadline:
            kannel.poke()
            parts += [m for m in handset.read() if m.receiver == CALLER]
            done = [r.text for r in reassemble(parts)[0]]
            time.sleep(0.1)
        assert done == [SURVEY_TEXT]
        thanks = kannel.converse(CALLER, "1")
        assert [r.text for r in thanks.replies] == [SURVEY_THANKS]
        db = Database(url)
        try:
            rated = ContactService(db).get_by_linkedid(contact["linkedid"])
        finally:
            db.dispose()
        assert rated is not None
        assert (rated.medium, rated.survey_score) == ("phone", 1)
        surveys = [(e.data["node"], e.data.get("score")) for e in rated.events
                   if e.kind == "survey"]
        # the menu offered its survey after the answer and the caller (SIPp) pressed
        # nothing: no rating, so the text went; its reply is the call's rating
        assert surveys[-1] == ("sms", 1)
        assert [s for s in surveys if s[0] == "sms"] == [("sms", 1)]
        assert all(score is None for node, score in surveys if node != "sms")
