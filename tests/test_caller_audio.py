"""What the caller hears, checked on the caller's side of a real call, and what Asterisk
really answers for a prompt it cannot play.

A SIPp caller dials 12366 while the RTP that Asterisk sends to the caller's media port is
captured (tests/caller_audio.py). Lined up with the contact timeline, as the bridge records
it: from each ``prompt_sent`` to its ``prompt`` the caller receives that prompt's audio (as
long as Asterisk reports it played: to the end, or to ``endpos`` when a key stopped it), and
while the menu waits for keys, and after the last prompt, the caller receives silence.
"""

from __future__ import annotations

import asyncio
import textwrap
from dataclasses import dataclass

import numpy as np
import pytest

from callcenter.contacts.models import Contact
from callcenter.contacts.services import ContactService
from ivr.events import PromptHeard, PromptSent
from ivr.menu.loader import parse_menu
from ivr.pbx.sandbox import AsteriskSandbox
from ivr.pbx.sipp import Dtmf, Hangup, Pause, SippRunner, Step
from ivr.ports import ContactEvent, EventKind
from tests.caller_audio import (
    FRAME_SAMPLES,
    RATE,
    Frame,
    RtpCapture,
    envelope_match,
    frames_of,
    level,
    prompt_levels,
)
from tests.conftest import Harness, events_of
from tests.support import SOUNDS_DIR, TEST_PORTS
from tests.test_ivr_calls import Tap

pytestmark = pytest.mark.asterisk

SOUND = 100.0         # RMS (16-bit) above which a 20 ms frame carries sound; silence is 0
LATE = 0.05           # a prompt's last packets may land just after Asterisk's answer
SETTLE = 0.15         # after a prompt, before its silence is judged


async def heard_call(harness: Harness, caller: str, steps: list[Step], local_port: int
                     ) -> tuple[Contact, list[Frame]]:
    """A SIPp call from ``caller`` (on ``local_port``) run to its end, its contact and the
    audio frames the caller received."""
    with RtpCapture(SippRunner.media_port(local_port)) as capture:
        proc = harness.sipp.start_call(steps, local_port, caller, timeout_s=90)
        _out, err = await asyncio.to_thread(proc.communicate, None, 120)
    assert proc.returncode == 0, err[-500:]
    return await harness.wait_contact(caller, timeout=30), frames_of(capture.packets)


@dataclass(frozen=True)
class Heard:
    """One ``prompt`` event and the time window in which its audio went out."""

    node: str
    prompts: list[str]
    endpos: int | None
    start: float
    end: float


def heard_windows(tap: Tap, linkedid: str) -> list[Heard]:
    """Every prompt the caller heard, from its ``prompt_sent`` to its ``prompt`` event."""
    windows: list[Heard] = []
    sent: dict[str, float] = {}
    for at, event in zip(tap.times, tap.events, strict=True):
        if event.linkedid != linkedid:
            continue
        record = event.record
        if isinstance(record, PromptSent):
            sent[record.node] = at
        elif isinstance(record, PromptHeard):
            windows.append(Heard(record.node, list(record.prompts), record.endpos,
                                 sent.pop(record.node), at))
    return windows


def waits(tap: Tap, linkedid: str) -> list[tuple[float, float, ContactEvent]]:
    """The menu's waits for keys that ended without a key: from a waiting node's prompt
    heard to the end (the node's ``no_input``, or the end of the call)."""
    found: list[tuple[float, float, ContactEvent]] = []
    waiting: float | None = None
    for at, event in zip(tap.times, tap.events, strict=True):
        if event.linkedid != linkedid:
            continue
        record = event.record
        if (isinstance(record, PromptHeard) and record.attempt is not None
                and record.interrupted_by is None):
            waiting = at
        elif waiting is not None and event.kind in (EventKind.NO_INPUT, EventKind.CALL_ENDED):
            found.append((waiting, at, event))
            waiting = None
        elif event.kind is not EventKind.PROMPT:
            waiting = None
    return found


async def test_the_caller_hears_each_prompt_and_silence_while_the_menu_waits(
    harness: Harness,
) -> None:
    tap = Tap(harness)
    caller = "13900000301"
    local_port = TEST_PORTS.sip + 40
    # welcome (5.5 s, no keys) -> the main menu, stopped by 2 after about 3 s -> the invoice
    # menu (4.3 s), nothing pressed for its 5 s -> the no-input prompt, the invoice menu
    # again -> the caller hangs up while the menu waits
    steps: list[Step] = [Pause(8500), Dtmf("2", mode="info"), Pause(19000), Hangup()]
    c, frames = await heard_call(harness, caller, steps, local_port)
    linkedid = c.linkedid
    story = "\n".join(f"{at:.3f} {e.kind} {dict(e.data)}"
                      for at, e in zip(tap.times, tap.events, strict=True)
                      if e.linkedid == linkedid)

    assert [e["digits"] for e in events_of(c, "digits")] == ["2"], story
    heard = heard_windows(tap, linkedid)
    assert [h.prompts for h in heard][:4] == [
        ["welcome"], ["main_menu"], ["invoice_kind_menu"], ["no_input"]], story
    stopped = heard[1]
    assert stopped.endpos is not None, story
    assert 0 < stopped.endpos < 21 * RATE, story

    # each prompt: as much audio as Asterisk says it played, and that prompt's own audio
    for h in heard:
        got = [f for f in frames if h.start <= f.at < h.end + LATE]
        expected = prompt_levels(SOUNDS_DIR, h.prompts, h.endpos)
        what = f"{h.node} {h.prompts} ({h.endpos}): {len(got)} frames for {len(expected)}"
        assert abs(len(got) - len(expected)) <= max(3, 0.03 * len(expected)), what
        loud = sum(1 for f in got if f.rms > SOUND)
        expected_loud = int(np.sum(expected > SOUND))
        assert abs(loud - expected_loud) <= max(3, 0.05 * expected_loud), (what, loud)
        assert envelope_match([f.rms for f in got], expected) > 0.9, what

    # no sound outside the prompts: not after a key stopped one, not between them
    def in_a_prompt(f: Frame) -> bool:
        return any(h.start <= f.at < h.end + LATE for h in heard)
    stray = [f for f in frames if not in_a_prompt(f) and f.rms > SOUND]
    assert stray == [], story

    # silence while the menu waits for a key, and after the last prompt until the hang-up
    silent = waits(tap, linkedid)
    assert [e.kind for _s, _e, e in silent] == [EventKind.NO_INPUT, EventKind.CALL_ENDED], story
    first_wait = silent[0][1] - silent[0][0]
    assert 4.9 <= first_wait <= 6.5, story  # the node's 5 s timeout
    for start, end, _event in silent:
        quiet = level(frames, start + SETTLE, end, SOUND)
        assert quiet.loud == 0, (start, end, quiet)
    assert sum(level(frames, s + SETTLE, e, SOUND).frames for s, e, _ in silent) * \
        FRAME_SAMPLES / RATE < 0.5  # Asterisk sends no media at all while it waits
    assert c.outcome == "abandoned_ivr"
    assert c.last_node == "invoice_kind"


MISSING = parse_menu(textwrap.dedent("""
    version: 1
    start: hello
    nodes:
      hello:
        type: play
        prompts: [welcome, no_such_prompt, goodbye]
        next: bye
      bye:
        type: hangup
        prompt: goodbye
    """), "missing.yaml")


async def test_a_prompt_asterisk_cannot_play_is_not_recorded_as_played(
    pbx: AsteriskSandbox, contacts: ContactService,
) -> None:
    # Asterisk 22 answers STREAM FILE on a missing file with "200 result=-1 endpos=0" and
    # ends the AsyncAGI session: the prompt was not heard, and the call leaves the menu
    harness = Harness(pbx, contacts, MISSING)
    await harness.start()
    try:
        await harness.local_call("13900000302", wait_s=1, hold_s=30)
        c = await harness.wait_contact("13900000302", timeout=30)
    finally:
        await harness.stop()
    story = "\n".join(f"{e.kind} {e.data}" for e in c.events)
    assert events_of(c, "prompt_sent") == [
        {"node": "hello", "prompts": ["welcome", "no_such_prompt", "goodbye"],
         "on_key": "barge_in"}], story
    assert events_of(c, "prompt") == [{"node": "hello", "prompts": ["welcome"]}], story
    assert events_of(c, "prompt_unheard") == [
        {"node": "hello", "prompts": ["no_such_prompt", "goodbye"], "reason": "failed"}], story
    assert events_of(c, "ivr_hangup") == [{"node": "hello", "reason": "prompt_failed"}]
    assert c.outcome == "failed"
    assert [e["node"] for e in events_of(c, "menu_node")] == ["hello"]
