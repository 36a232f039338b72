"""Type-ahead on real calls: a SIPp caller presses 1, 1, 1 one second apart from the answer,
through the welcome (and, out of hours, the notice and the hours read out after it), which
play on; the menu takes the keys in order and the caller hears the VAT law FAQ without a single
menu prompt. At 05:53 on a workday (closed), 10:00 on a workday, on a public holiday and on a
make-up workday, each on a live bridge whose one clock runs from that moment. And `hotline pbx
call`, with its defaults, at 05:53 on a workday with the shipped calendar."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from callcenter.contacts.models import Contact
from callcenter.contacts.services import ContactFilters
from callcenter.settings import PROJECT_ROOT
from ivr.calendar import ServiceCalendar
from ivr.pbx.sipp import Dtmf, Pause, Step
from tests.conftest import Harness, HarnessAt, events_of, kinds
from tests.support import CALL_LIMIT_S, HTTP_TEST_PORT, TEST_PORTS, serve_env

pytestmark = pytest.mark.asterisk

BEIJING = timezone(timedelta(hours=8))
MOMENTS = {
    "closed-workday-0553": datetime(2026, 12, 1, 5, 53, tzinfo=BEIJING),      # a Tuesday
    "open-workday-1000": datetime(2026, 12, 1, 10, 0, tzinfo=BEIJING),
    "holiday-spring-festival": datetime(2026, 2, 17, 10, 0, tzinfo=BEIJING),
    "make-up-saturday": datetime(2026, 2, 14, 10, 0, tzinfo=BEIJING),
}
# 1 at 1 s, 2 s and 3 s after the answer. A replayed RFC 2833 capture is the same RTP event
# every time and Asterisk drops a repeated one: the first 1 goes as RFC 2833 (the replay
# takes 250 ms of the second), the others as SIP INFO.
ONE_ONE_ONE: list[Step] = [Pause(1000), Dtmf("1", mode="rfc2833", gap_ms=750),
                           Dtmf("11", mode="info", gap_ms=1000)]
FAQ_DIGITS = [{"node": "main", "digits": "1"}, {"node": "consult", "digits": "1"},
              {"node": "cat_vat", "digits": "1"}]


def timeline(c: Contact) -> str:
    return "\n".join(f"{e.at:%H:%M:%S.%f} {e.kind} {dict(e.data)}" for e in c.events)


async def sip_call(h: Harness, caller: str, steps: list[Step]) -> Contact:
    result = await h.call(steps, TEST_PORTS.sip + 20, caller, "12366", CALL_LIMIT_S)
    c = await h.wait_contact(caller, timeout=60)
    assert result.ok, f"SIPp: {result.stderr[-500:]}\n{timeline(c)}"
    return c


def assert_typed_ahead(c: Contact, closed: bool) -> None:
    """1 1 1 reached the VAT law FAQ: kept during the prompts that play on, no menu prompt
    played, nothing lost."""
    assert c.outcome == "self_service", timeline(c)
    assert events_of(c, "digits") == FAQ_DIGITS, timeline(c)
    assert events_of(c, "faq_played")[0]["faq_id"] == "vat.law.effective_date"
    before_faq = kinds(c)[:kinds(c).index("faq_played")]
    assert "no_input" not in before_faq, timeline(c)
    assert "invalid_input" not in before_faq, timeline(c)
    # every key is accounted for: kept while a prompt played on, or typed ahead of a menu
    kept = "".join(str(e.get("kept", "")) for e in events_of(c, "prompt"))
    typed = [e for e in events_of(c, "prompt_unheard") if e["reason"] == "typeahead"]
    interrupted = [e for e in events_of(c, "prompt") if "interrupted_by" in e]
    assert len(kept) + len(interrupted) == 3, timeline(c)
    assert [e["node"] for e in typed] == ["main", "consult", "cat_vat"][:len(typed)]
    heard = [p for e in events_of(c, "prompt") for p in e["prompts"]]
    assert not {"main_menu", "consult_menu", "cat_vat_menu"} & set(heard), timeline(c)
    notices = {"closed_notice", "holiday_notice"} & set(heard)
    assert bool(notices) == closed, timeline(c)
    sent = {tuple(e["prompts"]): e["on_key"] for e in events_of(c, "prompt_sent")}
    assert sent[("welcome",)] == "keep"


@pytest.mark.parametrize("moment", MOMENTS.values(), ids=MOMENTS.keys())
async def test_keys_from_the_answer_one_second_apart_end_self_service(
        harness_at: HarnessAt, moment: datetime) -> None:
    h = await harness_at(moment)
    closed = not ServiceCalendar.load().is_open(moment)
    c = await sip_call(h, "13900000401", ONE_ONE_ONE)
    assert_typed_ahead(c, closed)
    if closed:  # the notice (and the hours read out after it) played on, to the end
        notice = [e for e in events_of(c, "prompt") if e["node"] == "hours_gate"]
        assert notice, timeline(c)
        assert all("interrupted_by" not in e for e in notice), timeline(c)


HOTLINE = str(Path(sys.executable).with_name("hotline"))


def test_pbx_call_with_its_defaults_at_night(pbx: Any, db_url: str, contacts: Any) -> None:
    # no `hotline serve`: the command runs a bridge for the call itself, on the clock of
    # HOTLINE_CLOCK_START and the shipped calendar (agents are off at 05:53)
    env = serve_env(db_url, PROJECT_ROOT / "ivr" / "hours.yaml",
                    HOTLINE_CLOCK_START=MOMENTS["closed-workday-0553"].isoformat())
    started = time.monotonic()
    # the defaults (--digits 111, the first key 6 s after the answer, 1.5 s apart); only the
    # caller number and a port where no `hotline serve` listens (the command's own bridge
    # serves the call, on the test sandbox and database) are given
    result = subprocess.run(
        [HOTLINE, "pbx", "call", "12366", "--number", "13900000402",
         "--http-port", str(HTTP_TEST_PORT + 1)],
        env=env, capture_output=True, text=True, timeout=200, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    contact = json.loads(result.stdout)
    events = contact["events"]
    described = "\n".join(f"{e['kind']} {e['data']}" for e in events)
    assert contact["outcome"] == "self_service", described
    assert [e["data"] for e in events if e["kind"] == "digits"] == FAQ_DIGITS, described
    hours = [e["data"] for e in events if e["kind"] == "service_result"
             and e["data"].get("service") == "hours"]
    assert hours[0]["result"] == "closed", described
    event_kinds = [e["kind"] for e in events]
    assert "no_input" not in event_kinds[:event_kinds.index("faq_played")], described
    _total, rows = contacts.search(ContactFilters(caller="13900000402"))
    assert len(rows) == 1
    print(f"hotline pbx call at 05:53: {time.monotonic() - started:.1f} s")
