"""Acceptance: a caller who vanishes without a BYE (a mobile losing coverage) is cleared.

Real SIPp callers send RTP (silence) like a phone, then stop sending anything: no RTP, no BYE.
Asterisk's ``rtp_timeout`` (20 s, pjsip.conf) hangs the channel up, in the queue and in the
menu alike, so that no agent is ever offered the dead call. How long the clearing took is
measured on the harness's injected clock (from the contact's own events) and recorded; the
test fails when the channel is still there 30 s after the caller vanished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from callcenter.contacts.models import Contact
from callcenter.contacts.services import ContactFilters
from ivr.pbx.sipp import Dtmf, Pause, Step, Vanish
from tests.conftest import Harness, events_of, kinds
from tests.support import CALL_LIMIT_S, TEST_PORTS

pytestmark = pytest.mark.asterisk

KEY_AT_MS = 7000      # the welcome takes no keys (about 5.5 s); 0 during the main menu
IN_QUEUE_MS = 25000   # alive and silent in the queue, longer than rtp_timeout, then vanishes
VANISH_IN_MENU_MS = 9000  # in the main menu prompt (5.5 s to 27 s after the answer)
CLEARED_WITHIN_S = 30
QUEUE_CALLER = "13900001501"
MENU_CALLER = "13900001502"


async def _open_contact(h: Harness, caller: str, kind: str, timeout: float = 60) -> Contact:
    """The contact of ``caller`` once it has a ``kind`` event (ended or not)."""
    for _ in range(int(timeout / 0.3)):
        await h.log.flush()
        _total, rows = await asyncio.to_thread(h.contacts.search,
                                               ContactFilters(caller=caller), 5, 0)
        if rows:
            contact = h.contacts.get(rows[0].id)
            if contact is not None and kind in kinds(contact):
                return contact
        await asyncio.sleep(0.3)
    raise AssertionError(f"no {kind} for {caller} within {timeout} s")


def _at(contact: Contact, kind: str) -> datetime:
    return next(e.at for e in contact.events if e.kind == kind)


async def _ended_by(h: Harness, caller: str, deadline: datetime) -> Contact:
    """The ended contact of ``caller``, or a failure once the harness's clock passes
    ``deadline`` with the call still up."""
    while h.services.clock() < deadline:
        await h.log.flush()
        _total, rows = await asyncio.to_thread(h.contacts.search,
                                               ContactFilters(caller=caller), 5, 0)
        if rows and rows[0].ended_at is not None:
            contact = h.contacts.get(rows[0].id)
            assert contact is not None
            return contact
        await asyncio.sleep(0.3)
    raise AssertionError(f"the call of {caller} is still up {CLEARED_WITHIN_S} s after its "
                         "caller vanished")


async def _live_callers(h: Harness) -> list[str]:
    response = await h.driver.send_action({"Action": "CoreShowChannels"}, as_list=True,
                                          timeout=10)
    messages = response if isinstance(response, list) else []
    return [str(m.get("CallerIDNum", "")) for m in messages
            if str(m.get("Event", "")).lower() == "coreshowchannel"]


async def test_a_caller_vanishing_in_the_queue_or_the_menu_is_cleared(
        harness: Harness, record_property: Callable[[str, object], None]) -> None:
    h = harness
    # agent2 is in the consult queue but paused while the caller waits (a busy centre); made
    # ready once the caller has vanished, its phone must not ring for the dead call
    messages = h.pbx.root / "opt/hotline/sipp/agent2-vanish.log"
    messages.unlink(missing_ok=True)
    proc = h.sipp.start_agent(TEST_PORTS.agent(2), messages=messages)
    h._agents.append(proc)
    response = await h.ami.send_action({"Action": "QueueAdd", "Queue": "consult",
                                        "Interface": "PJSIP/agent2", "MemberName": "agent2",
                                        "Paused": "true"})
    assert str(response.get("Response")) == "Success", response
    h._members.append(("consult", "PJSIP/agent2"))

    calls: dict[str, list[Step]] = {
        QUEUE_CALLER: [Pause(KEY_AT_MS), Dtmf("0"), Pause(IN_QUEUE_MS), Vanish()],
        MENU_CALLER: [Pause(VANISH_IN_MENU_MS), Vanish()],
    }
    sipp = [asyncio.ensure_future(h.call(steps, TEST_PORTS.sip + 20 + n, caller, "12366",
                                         CALL_LIMIT_S))
            for n, (caller, steps) in enumerate(calls.items())]

    # the caller vanishes IN_QUEUE_MS after its key 0 was sent (SIPp: the digit's capture,
    # 250 ms, the 400 ms gap, the pause): measured from when the bridge got the key
    keyed = await _open_contact(h, QUEUE_CALLER, "digits")
    vanished = _at(keyed, "digits") + timedelta(milliseconds=250 + 400 + IN_QUEUE_MS)
    c = await _ended_by(h, QUEUE_CALLER, vanished + timedelta(seconds=CLEARED_WITHIN_S))
    assert c.ended_at is not None
    cleared_after = (c.ended_at - vanished).total_seconds()
    figures = [f"queue caller gone {cleared_after:.1f} s after it vanished "
               f"(cause {c.hangup_cause} {c.hangup_cause_txt!r})"]
    assert QUEUE_CALLER not in await _live_callers(h)
    assert c.outcome == "abandoned_queue", kinds(c)
    assert c.queue == "consult"
    assert "queue_abandoned" in kinds(c)
    assert "agent_ringing" not in kinds(c)
    assert c.reconciled is False
    # alive and silent for longer than rtp_timeout, the caller was not cut off: its media
    # (restarted after the RFC 2833 digit) kept the call up until it vanished
    assert cleared_after > 0

    # agent2 becomes ready: the queue holds nobody, its phone never rings
    response = await h.ami.send_action({"Action": "QueuePause", "Queue": "consult",
                                        "Interface": "PJSIP/agent2", "Paused": "false"})
    assert str(response.get("Response")) == "Success", response
    await asyncio.sleep(3)
    status = await h.ami.send_action({"Action": "QueueStatus", "Queue": "consult"},
                                     as_list=True, timeout=10)
    entries = status if isinstance(status, list) else []
    members = [m for m in entries if str(m.get("Event", "")).lower() == "queuemember"
               and str(m.get("Name", m.get("MemberName", ""))) == "agent2"]
    assert members, entries
    assert str(members[0].get("Paused")) == "0", members
    waiting = [m for m in entries if str(m.get("Event", "")).lower() == "queueentry"]
    assert waiting == []
    trace = messages.read_text(errors="replace") if messages.exists() else ""
    assert "INVITE sip:" not in trace, trace[:2000]

    # in the menu (silent in AsyncAGI while Asterisk plays the main menu prompt): cleared the
    # same way, before any no-input retry
    c = await _open_contact(h, MENU_CALLER, "call_ended", timeout=90)
    started = _at(c, "call_started")
    assert c.ended_at is not None
    in_menu_s = (c.ended_at - started).total_seconds()
    figures.append(f"menu caller gone {in_menu_s - VANISH_IN_MENU_MS / 1000:.1f} s after it "
                   f"vanished ({in_menu_s:.1f} s after the answer; cause {c.hangup_cause})")
    record_property("summary", "; ".join(figures))  # printed at the end (plugins/summary.py)
    assert c.outcome == "abandoned_ivr", kinds(c)
    assert c.last_node == "main"
    assert "no_input" not in kinds(c)
    assert c.ivr_end_reason is None
    assert in_menu_s < VANISH_IN_MENU_MS / 1000 + CLEARED_WITHIN_S
    assert MENU_CALLER not in await _live_callers(h)

    # both SIPp callers saw Asterisk end the call (its BYE) after they had gone silent
    for result in await asyncio.gather(*sipp):
        assert result.ok, result.stderr[-500:]
    assert events_of(c, "digits") == []
