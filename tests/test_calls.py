"""Acceptance: real SIPp callers and agents through the real Asterisk, bridged over AMI.

Every call lands as exactly one contact row with its timeline; run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio

import pytest

from callcenter.contacts.services import ContactFilters
from ivr.pbx.sipp import Dtmf, Hangup, Pause, Step
from tests.conftest import Harness, events_of, kinds
from tests.support import CALL_LIMIT_S, TEST_PORTS

pytestmark = pytest.mark.asterisk

# The welcome prompt does not take keys (about 5.5 s); keys come during the menu prompt.
KEY_AT_MS = 7000
# 1 consultation -> 1 VAT -> 1 "since when is the VAT law in force": an answer (barge-in,
# each key while the next menu prompt plays)
FAQ_GAP_MS = 1500
FAQ_PATH = ["welcome", "hours_gate", "main", "consult", "cat_vat", "faq_vat_law", "survey",
            "goodbye"]
# a Local-channel caller of the FAQ path holds on until the menu's goodbye ends the call (75 s
# on a quiet machine, 68 s without the replayed welcome), however late a loaded machine gets
# there: it would hang up on its own only after this
FAQ_HOLD_S = 240
FAQ_DIGITS = [{"node": "main", "digits": "1"}, {"node": "consult", "digits": "1"},
              {"node": "cat_vat", "digits": "1"}]


async def _sip_call(h: Harness, n: int, caller: str, steps: list[Step]) -> None:
    result = await h.call(steps, TEST_PORTS.sip + 20 + n, caller, "12366", CALL_LIMIT_S)
    if not result.ok:
        _total, rows = await asyncio.to_thread(h.contacts.search, ContactFilters(caller=caller))
        contact = h.contacts.get(rows[0].id) if rows else None
        timeline = "\n".join(f"{e.at:%H:%M:%S.%f} {e.kind} {e.data}"
                             for e in (contact.events if contact else []))
        raise AssertionError(f"SIPp caller {caller} failed:\n{result.stderr[-500:]}\n"
                             f"timeline:\n{timeline}")


@pytest.mark.sqlite_calls
async def test_four_call_endings_with_both_dtmf_kinds(moment_harness: Harness) -> None:
    harness = moment_harness  # at each of the suite's moments (tests/conftest.py)
    await harness.add_agent(1, ring_ms=500, talk_ms=3000)
    calls: dict[str, list[Step]] = {
        # the replayed RFC 2833 capture of a digit is the same RTP event every time, and
        # Asterisk drops a repeated event: after the first 1, the next keys go as SIP INFO
        "13900000101": [Pause(KEY_AT_MS), Dtmf("1", mode="rfc2833", gap_ms=FAQ_GAP_MS),
                        Dtmf("11", mode="info", gap_ms=FAQ_GAP_MS)],
        "13900000102": [Pause(KEY_AT_MS), Dtmf("111", mode="info", gap_ms=FAQ_GAP_MS)],
        "13900000103": [Pause(KEY_AT_MS), Dtmf("0", mode="rfc2833")],
        # hangs up while the main menu plays: it starts after the 5.5 s welcome and lasts
        # 21.4 s, so 18 s after the answer is inside it even when a loaded machine starts the
        # menu seconds late (11 s fell in the welcome once, with three clock runs at once)
        "13900000104": [Pause(18_000), Hangup()],
        "13900000105": [],
        "13900000106": [Pause(KEY_AT_MS), Dtmf("9", mode="info", gap_ms=4500),
                        Dtmf("1", mode="rfc2833", gap_ms=FAQ_GAP_MS),
                        Dtmf("11", mode="info", gap_ms=FAQ_GAP_MS)],
    }
    await asyncio.gather(*(_sip_call(harness, i, caller, steps)
                           for i, (caller, steps) in enumerate(calls.items())))

    # 1 by RFC 2833: an answer is played, the contact is self-service
    c = await harness.wait_contact("13900000101")
    assert c.outcome == "self_service", [(e.kind, e.data) for e in c.events]
    assert c.contact_channel == "automatic_voice"
    assert events_of(c, "digits") == FAQ_DIGITS
    assert [e["node"] for e in events_of(c, "menu_node")] == FAQ_PATH
    assert events_of(c, "self_service")[0]["detail"] == "vat.law.effective_date"
    assert events_of(c, "faq_played")[0]["faq_id"] == "vat.law.effective_date"
    assert events_of(c, "survey") == [{"node": "survey", "score": None}]
    assert kinds(c)[0] == "call_started"
    assert kinds(c)[-1] == "call_ended"
    assert c.hangup_cause == 16  # normal clearing, by the IVR
    assert c.caller_number == "13900000101"

    # 1 by SIP INFO: same result
    c = await harness.wait_contact("13900000102")
    assert c.outcome == "self_service"
    assert events_of(c, "digits") == FAQ_DIGITS

    # 0: redirected to the queue, agent1 answers and talks about 3 s
    c = await harness.wait_contact("13900000103")
    assert c.outcome == "answered", kinds(c)
    assert c.contact_channel == "manual"
    assert c.queue == "consult"
    assert c.agent == "agent1"
    assert c.queue_wait_seconds is not None
    assert 0 <= c.queue_wait_seconds < 10
    assert c.talk_seconds is not None
    assert 2 <= c.talk_seconds <= 8
    assert events_of(c, "transfer") == [{"node": "agent", "queue": "consult"}]
    assert events_of(c, "digits")[0] == {"node": "main", "digits": "0", "action": "agent"}
    for kind in ("queue_joined", "agent_ringing", "agent_connected", "agent_completed"):
        assert kind in kinds(c), kind
    assert kinds(c).index("transfer") < kinds(c).index("queue_joined")
    # the agent hung up: back in the IVR for the survey (no key: no score)
    assert kinds(c).index("agent_completed") < kinds(c).index("survey")
    assert events_of(c, "survey")[-1]["node"] == "survey_after_agent"

    # hang-up during the menu
    c = await harness.wait_contact("13900000104")
    assert c.outcome == "abandoned_ivr"
    assert c.last_node == "main"
    assert c.ivr_end_reason is None
    assert "self_service" not in kinds(c)

    # no input: the menu is replayed (3 tries), then a polite goodbye
    c = await harness.wait_contact("13900000105")
    assert c.outcome == "abandoned_ivr"
    assert c.ivr_end_reason == "max_retries"
    assert [e["attempt"] for e in events_of(c, "no_input")] == [1, 2, 3]
    assert [e["node"] for e in events_of(c, "menu_node")][-1] == "goodbye_no_input"

    # invalid key, the menu is replayed, then a valid key
    c = await harness.wait_contact("13900000106")
    assert events_of(c, "invalid_input")[0]["digits"] == "9"
    assert events_of(c, "digits") == FAQ_DIGITS
    assert c.outcome == "self_service"

    # exactly one contact per call
    total, _rows = harness.contacts.search(ContactFilters())
    assert total == len(calls)


async def test_bridge_reconnects_after_asterisk_crash_and_restart(harness: Harness) -> None:
    # a call is in progress when Asterisk goes away: its contact is still closed
    await harness.local_call("13900000201", digits="", wait_s=1, hold_s=60)
    await asyncio.sleep(2.5)
    await asyncio.to_thread(harness.pbx.crash)  # no Hangup events reach the bridge
    await asyncio.to_thread(harness.pbx.start)
    await harness.ami.wait_ready(30)
    assert harness.ami.health().reconnects >= 1
    c = await harness.wait_contact("13900000201", timeout=30)
    assert c.reconciled is True
    assert c.outcome == "abandoned_ivr"

    # a new call after the restart is served and logged
    await harness.local_call("13900000202", digits="1WW1WW1", wait_s=7, hold_s=FAQ_HOLD_S)
    c = await harness.wait_contact("13900000202", timeout=FAQ_HOLD_S)
    assert c.outcome == "self_service"
    assert c.reconciled is False


async def test_ami_drop_mid_call_is_survived(harness: Harness) -> None:
    await harness.local_call("13900000301", digits="1WW1WW1", wait_s=14, hold_s=FAQ_HOLD_S)
    await asyncio.sleep(2.0)  # in the welcome prompt, which is played again after the resume
    harness.ami.abort_connection()
    # 90 s was too short in three loaded runs: the call lasts 75 s on a quiet machine (the
    # welcome is played again after the resume), and a loaded one is later at each step
    c = await harness.wait_contact("13900000301", timeout=FAQ_HOLD_S)
    assert "resumed" in kinds(c)
    assert c.outcome == "self_service"
    # the resumed session walked the menu to its goodbye (the caller never hung up)
    assert events_of(c, "ivr_hangup") == [{"node": "goodbye", "reason": "completed"}]
    assert c.reconciled is False
    assert harness.ami.health().reconnects >= 1
