"""Acceptance of the full 12366 menu against the real Asterisk: each service walked end to end.

Callers are Local channels driven by a script that reacts to the IVR: when the prompt of a
node is sent to Asterisk, the caller's keys are sent (AMI PlayDTMF on the caller's leg, so
they barge in), or a recorded utterance is spoken (the caller's leg is redirected to play it).
Each call checks what was played (prompts in the timeline), what was stored (database rows,
recording files) and the contact's outcome. Several calls run at once to keep the suite lean.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import time
import wave
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callcenter.bookings.models import Booking
from callcenter.contacts.models import Contact
from callcenter.tickets.models import Ticket
from ivr.asr.metrics import cer
from ivr.asr.whisper import WhisperRecognizer
from ivr.ports import ContactEvent, EventKind
from tests.conftest import Harness, HarnessAt, events_of, kinds
from tests.ivr_support import closed_moment
from tests.support import SOUNDS_DIR
from tests.unit.test_menu_nodes import file_exists, file_size

pytestmark = pytest.mark.asterisk

DATA = Path(__file__).resolve().parent / "data" / "speech"


@dataclass(frozen=True)
class Keys:
    """When ``node`` plays a prompt (``prompt`` among them, if given), press ``keys``."""

    node: str
    keys: str
    prompt: str | None = None
    delay: float = 0.8


@dataclass(frozen=True)
class Say:
    """When ``node`` plays its prompt, speak the recorded utterance ``file`` (after the
    prompt and the beep: ``delay`` s); then, ``then_delay`` s later, press ``then``."""

    node: str
    file: str
    delay: float
    then: str = ""
    then_delay: float = 0.0


@dataclass(frozen=True)
class HangUp:
    node: str
    prompt: str | None = None
    delay: float = 0.5


Step = Keys | Say | HangUp


class Tap:
    """Every contact event the bridge records, as it is recorded (for scripted callers)."""

    def __init__(self, harness: Harness) -> None:
        self.events: list[ContactEvent] = []
        record = harness.log.record

        def tapped(event: ContactEvent) -> None:
            self.events.append(event)
            record(event)

        harness.log.record = tapped  # type: ignore[method-assign]

    async def call_of(self, caller: str, timeout: float = 20) -> tuple[str, str]:
        """(linkedid, IVR channel) of the call from ``caller``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.kind is EventKind.CALL_STARTED and event.data.get("caller") == caller:
                    return event.linkedid, str(event.data["channel"])
            await asyncio.sleep(0.1)
        raise AssertionError(f"no call from {caller}")

    async def wait_prompt(self, linkedid: str, node: str, prompt: str | None, after: int,
                          timeout: float = 90,
                          resend: tuple[str, Callable[[], Awaitable[None]]] | None = None
                          ) -> int:
        """Index of the first PROMPT event of ``node`` after index ``after``.

        ``resend`` = (node, press again): keys sent to a node that then reports no input
        were lost on the way (sent before its prompt started, on a loaded machine): the node
        asks again, and so does the caller."""
        deadline = time.monotonic() + timeout
        watched = len(self.events)
        while time.monotonic() < deadline:
            for index in range(after + 1, len(self.events)):
                event = self.events[index]
                if (event.linkedid == linkedid and event.kind is EventKind.PROMPT
                        and event.data.get("node") == node
                        and (prompt is None or prompt in event.data.get("prompts", []))):
                    return index
            if resend is not None:
                for index in range(watched, len(self.events)):
                    event = self.events[index]
                    if (event.linkedid == linkedid and event.kind is EventKind.NO_INPUT
                            and event.data.get("node") == resend[0]):
                        await asyncio.sleep(1.0)  # the retry prompt is playing
                        await resend[1]()
                watched = len(self.events)
            await asyncio.sleep(0.05)
        seen = "\n".join(f"{e.at:%H:%M:%S.%f} {e.kind} {dict(e.data)}" for e in self.events
                         if e.linkedid == linkedid)
        raise AssertionError(f"{linkedid}: no prompt of {node} ({prompt}) after #{after}; "
                             f"the call so far:\n{seen}")


@functools.cache
def prompt_seconds(prompt: str) -> float:
    with wave.open(str(SOUNDS_DIR / f"{prompt}.wav"), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


async def scripted_call(h: Harness, tap: Tap, caller: str, steps: Sequence[Step],
                        hold_s: float = 150) -> None:
    await h.local_call(caller, digits="", wait_s=1, hold_s=hold_s)
    linkedid, channel = await tap.call_of(caller)
    caller_leg = channel.replace(";2", ";1")  # the injector's half of the Local channel

    async def press(keys: str) -> None:
        for key in keys:
            response = await h.ami.send_action({"Action": "PlayDTMF", "Channel": caller_leg,
                                                "Digit": key, "Duration": "120"})
            assert str(response.get("Response")) == "Success", response
            await asyncio.sleep(0.25)

    after = -1
    resend: tuple[str, Callable[[], Awaitable[None]]] | None = None
    for step in steps:
        after = await tap.wait_prompt(linkedid, step.node,
                                      None if isinstance(step, Say) else step.prompt, after,
                                      resend=resend)
        resend = None
        await asyncio.sleep(step.delay)
        if isinstance(step, Keys):
            await press(step.keys)
            resend = (step.node, functools.partial(press, step.keys))
        elif isinstance(step, Say):
            target = h.pbx.recordings_dir / f"say-{caller}.wav"
            shutil.copy(DATA / step.file, target)
            for name, value in (("SAY", f"/var/spool/asterisk/recording/say-{caller}"),
                                ("HOLD", str(hold_s))):
                await h.ami.send_action({"Action": "Setvar", "Channel": caller_leg,
                                         "Variable": name, "Value": value})
            response = await h.ami.send_action({"Action": "Redirect", "Channel": caller_leg,
                                                "Context": "dtmf-injector", "Exten": "say",
                                                "Priority": "1"})
            assert str(response.get("Response")) == "Success", response
            if step.then:
                await asyncio.sleep(step.then_delay)
                await press(step.then)
        else:
            await h.ami.send_action({"Action": "Hangup", "Channel": caller_leg})


def timeline(c: Contact) -> str:
    return "\n".join(f"{e.kind} {e.data}" for e in c.events)


def played(c: Contact) -> list[str]:
    return [p for e in events_of(c, "prompt") for p in e["prompts"]]


def results(c: Contact, service: str) -> list[dict[str, Any]]:
    return [e for e in events_of(c, "service_result") if e["service"] == service]


CONFIRM = "confirm_entry"
QUESTION = "zh/q_small_scale_exemption.wav"  # 小规模纳税人月销售额多少以下免征增值税


async def test_every_service_end_to_end(harness: Harness) -> None:
    tap = Tap(harness)
    assert isinstance(harness.services.recognizer, WhisperRecognizer)  # HOTLINE_ASR_ENGINE=auto
    await harness.add_agent(1, queue="tax-vat", ring_ms=300, talk_ms=2000)
    calls: dict[str, list[Step]] = {
        # FAQ by key (1 consult, 2 personal income tax, 1 basic deduction), survey 1
        "13700000001": [Keys("main", "1"), Keys("consult", "2"), Keys("cat_iit", "1"),
                        Keys("survey", "1")],
        # FAQ by speech: 9 "say your question", the utterance, then survey 2
        "13700000002": [Keys("main", "1"), Keys("consult", "9"),
                        Say("ask_any", QUESTION,
                            prompt_seconds("ask_question") + 0.9),
                        Keys("survey", "2")],
        # invoice check, found: code, number, amount (1130.00 yuan), each read back and
        # confirmed; survey 3
        "13700000003": [Keys("main", "2"), Keys("invoice_kind", "2"),
                        Keys("invoice_code", "144032600111#"),
                        Keys("invoice_code", "1", CONFIRM, delay=1.0),
                        Keys("invoice_number", "12345678"),
                        Keys("invoice_number", "1", CONFIRM, delay=1.0),
                        Keys("invoice_amount", "1130*00#"),
                        Keys("invoice_amount", "1", CONFIRM, delay=1.0),
                        Keys("survey", "3")],
        # invoice check, not found (a fully digitalised e-invoice number)
        "13700000004": [Keys("main", "2"), Keys("invoice_kind", "1"),
                        Keys("invoice_digital_number", "26442000000099999999"),
                        Keys("invoice_digital_number", "1", CONFIRM, delay=1.0),
                        Keys("invoice_digital_amount", "100#"),
                        Keys("invoice_digital_amount", "1", CONFIRM, delay=1.0)],
        # comprehensive query with the right PIN
        "13700000005": [Keys("main", "3"), Keys("query_tin", "914403001234567890#"),
                        Keys("query_tin", "1", CONFIRM, delay=1.0),
                        Keys("query_pin", "123456")],
        # ... with a wrong PIN: asked again, then the caller hangs up
        "13700000006": [Keys("main", "3"), Keys("query_tin", "914403009876543210#"),
                        Keys("query_tin", "1", CONFIRM, delay=1.0),
                        Keys("query_pin", "000000"),
                        HangUp("query_pin", "query_enter_pin")],
        # booking: hall 1, slot 1
        "13700000007": [Keys("main", "4"), Keys("booking_menu", "1"),
                        Keys("booking_run", "1", "booking_choose_hall"),
                        Keys("booking_run", "1", "booking_choose_slot")],
        # complaint: a voice message ended with #
        "13700000008": [Keys("main", "5"), Keys("complaint_menu", "1"),
                        Say("complaint_message", "zh/q_deregister.wav",
                            prompt_seconds("message_record") + 0.9, then="#", then_delay=3.0)],
        # agent: VAT category, 0 -> the VAT queue; the agent hangs up -> survey 2
        "13700000009": [Keys("main", "1"), Keys("consult", "1"), Keys("cat_vat", "0"),
                        Keys("survey_after_agent", "2")],
    }
    await asyncio.gather(*(scripted_call(harness, tap, caller, steps)
                           for caller, steps in calls.items()))

    c = await harness.wait_contact("13700000001", timeout=120)
    assert c.outcome == "self_service", timeline(c)
    assert [e["faq_id"] for e in events_of(c, "faq_played")] == ["iit.basic_deduction"]
    answer = harness.services.answers
    assert answer is not None
    assert harness.services.kb is not None
    assert answer.prompt_id(harness.services.kb.get("iit.basic_deduction").answer) in played(c)
    assert events_of(c, "survey") == [{"node": "survey", "score": 1, "key": "1"}]
    assert c.survey_score == 1
    assert c.hangup_cause == 16

    c = await harness.wait_contact("13700000002", timeout=60)
    assert c.outcome == "self_service", timeline(c)
    speech = events_of(c, "speech")
    # what Whisper heard in the call (the question spoken into it, tests/data/speech/zh)
    assert speech[0]["grammar"] == "free", timeline(c)
    assert cer([("小规模纳税人月销售额多少以下免征增值税", speech[0]["text"])]) < 0.35, speech
    assert file_exists(speech[0]["recording"])
    assert events_of(c, "faq_played")[0] == {
        "node": "answer_any", "faq_id": "vat.small_scale.exemption",
        "score": events_of(c, "faq_played")[0]["score"], "via": "speech", "category": "增值税"}
    assert c.survey_score == 2

    c = await harness.wait_contact("13700000003", timeout=60)
    assert c.outcome == "self_service", timeline(c)
    check = results(c, "invoice_check")
    assert [(r["result"], r["amount_fen"]) for r in check] == [("found", 113000)]
    assert "say/yao" in played(c)
    assert "invoice_valid" in played(c)
    assert c.survey_score == 3

    c = await harness.wait_contact("13700000004", timeout=60)
    assert [r["result"] for r in results(c, "invoice_check")] == ["not_found"], timeline(c)
    assert "invoice_not_found" in played(c)

    c = await harness.wait_contact("13700000005", timeout=60)
    query = results(c, "taxpayer_query")
    assert [r["result"] for r in query] == ["found"], timeline(c)
    assert query[0]["unpaid_fen"] == 35000
    assert {"tax/vat", "tax/stamp", "query_not_filed", "query_unpaid"} <= set(played(c))
    assert {"node": "query_pin", "digits": "******"} in events_of(c, "digits")
    assert c.outcome == "self_service"

    c = await harness.wait_contact("13700000006", timeout=60)
    query = results(c, "taxpayer_query")
    assert [(r["result"], r["attempts_left"]) for r in query] == [("wrong_pin", 2)], timeline(c)
    assert "query_wrong_pin" in played(c)
    assert c.outcome == "abandoned_ivr"
    assert c.last_node == "query_pin"

    c = await harness.wait_contact("13700000007", timeout=60)
    booked = results(c, "booking")
    assert [r["result"] for r in booked] == ["booked"], timeline(c)
    number = booked[0]["confirmation_no"]
    with harness.contacts.db.session() as session:
        booking = session.scalar(select(Booking).where(Booking.confirmation_no == number))
    assert booking is not None
    assert booking.caller == "13700000007"
    assert "booking_confirmed" in played(c)
    assert c.outcome == "self_service"

    c = await harness.wait_contact("13700000008", timeout=60)
    assert c.outcome == "message_left", timeline(c)
    ticket_event = events_of(c, "ticket")[0]
    with harness.contacts.db.session() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.ticket_no ==
                                                     ticket_event["ticket_no"]))
    assert ticket is not None
    assert ticket.kind == "complaint"
    assert ticket.recording_path is not None
    recording = Path(ticket.recording_path)
    assert file_size(recording) > 8000
    assert ticket.due_at > c.started_at
    assert ticket.linkedid == c.linkedid
    assert "ticket_created" in played(c)

    c = await harness.wait_contact("13700000009", timeout=60)
    assert c.outcome == "answered", timeline(c)
    assert c.queue == "tax-vat"
    assert events_of(c, "transfer") == [{"node": "agent_vat", "queue": "tax-vat",
                                         "skill": "vat"}]
    assert kinds(c).index("agent_completed") < kinds(c).index("survey")
    assert c.survey_score == 2


async def test_out_of_hours_self_service_only(harness_at: HarnessAt) -> None:
    harness = await harness_at(closed_moment())
    tap = Tap(harness)
    calls: dict[str, list[Step]] = {
        # 0 for an agent: the hours are read out, back to the menu; the caller hangs up
        "13700000101": [Keys("main", "0"), HangUp("main")],
        # director's line outside hours: a recorded message instead of the queue
        "13700000102": [Keys("main", "6"),
                        Say("director_message", "zh/q_credit.wav",
                            prompt_seconds("message_record") + 0.9, then="#", then_delay=3.0)],
    }
    await asyncio.gather(*(scripted_call(harness, tap, caller, steps)
                           for caller, steps in calls.items()))

    c = await harness.wait_contact("13700000101", timeout=60)
    assert played(c)[:3] == ["welcome", "closed_notice", "hours_intro"], timeline(c)
    assert "agents_closed" in played(c)
    assert "transfer" not in kinds(c)
    assert c.queue is None
    assert c.outcome == "abandoned_ivr"

    c = await harness.wait_contact("13700000102", timeout=60)
    assert "director_closed" in played(c), timeline(c)
    assert events_of(c, "ticket")[0]["type"] == "director"
    assert c.outcome == "message_left"
    assert "transfer" not in kinds(c)
