"""Acceptance of the full 12366 menu against the real Asterisk: each service walked end to end.

Callers are Local channels driven by a script that reacts to the IVR: when the prompt of a
node is sent to Asterisk, the caller's keys are sent (AMI PlayDTMF on the caller's leg, so
they barge in), or, once the node's recording began, a recorded utterance is spoken (the
caller's leg is redirected to play it).
Each call checks what was played (the prompts Asterisk reported played), what was stored
(database rows, recording files) and the contact's outcome. Several calls run at once to keep
the suite lean.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import select

from callcenter.bookings.models import Booking
from callcenter.contacts.models import Contact
from callcenter.contacts.services import ContactService
from callcenter.tickets.models import Ticket
from ivr.ami.events import AmiEvent
from ivr.asr.metrics import cer
from ivr.asr.vosk import VoskRecognizer
from ivr.asr.whisper import WhisperRecognizer
from ivr.events import PromptSent
from ivr.menu.schema import Menu
from ivr.pbx.sandbox import AsteriskSandbox
from ivr.ports import ContactEvent, EventKind, Transcript
from tests.conftest import Harness, HarnessAt, events_of, kinds
from tests.ivr_support import closed_moment, make_ivr_services
from tests.unit.test_menu_nodes import file_exists, file_size
from tests.unit.test_speech import PHRASES, korean_model_path, recognised

pytestmark = pytest.mark.asterisk

DATA = Path(__file__).resolve().parent / "data" / "speech"


@dataclass(frozen=True)
class Keys:
    """When ``node`` plays a prompt (``prompt`` among them, if given), press ``keys``; with
    ``unless``, skip this step when that node's prompt comes first (a step the call may or may
    not reach, e.g. a confirmation asked only when the recogniser was unsure)."""

    node: str
    keys: str
    prompt: str | None = None
    delay: float = 0.8
    unless: str | None = None


# a scripted caller speaks this long after Asterisk began the node's RECORD FILE (the bridge
# plays the beep just before it, ivr/agi.py ``record``)
AFTER_BEEP = 0.3


@dataclass(frozen=True)
class Say:
    """When ``node`` plays its prompt (``prompt`` among them, if given), speak the recorded
    utterance ``file`` ``delay`` s after the recording began (:meth:`Tap.recording_started`),
    as a caller speaks after the beep; then, ``then_delay`` s later, press ``then``. (Timed
    from the prompt's start plus its length instead, the utterance began up to 1.4 s before
    the recording on a loaded machine, and Whisper heard the question without its first
    words.)"""

    node: str
    file: str
    delay: float = AFTER_BEEP
    then: str = ""
    then_delay: float = 0.0
    prompt: str | None = None


@dataclass(frozen=True)
class HangUp:
    node: str
    prompt: str | None = None
    delay: float = 0.5


Step = Keys | Say | HangUp


class Tap:
    """Every contact event the bridge records, as it is recorded (for scripted callers), and
    when (``times``: time.monotonic() at the moment it was recorded); and when Asterisk began
    each recording (``records``: channel -> time.monotonic() of each ``RECORD FILE``'s
    AGIExecStart, read on the driver's account, which receives every event)."""

    def __init__(self, harness: Harness) -> None:
        self.events: list[ContactEvent] = []
        self.times: list[float] = []
        self.records: dict[str, list[float]] = {}
        harness.driver.on(AmiEvent, self._agi_started, names=["AGIExecStart"])
        record = harness.log.record

        def tapped(event: ContactEvent) -> None:
            self.times.append(time.monotonic())
            self.events.append(event)
            record(event)

        harness.log.record = tapped  # type: ignore[method-assign]

    def _agi_started(self, event: AmiEvent) -> None:
        if event.header("Command").upper().startswith("RECORD FILE"):
            self.records.setdefault(event.header("Channel"), []).append(time.monotonic())

    async def recording_started(self, channel: str, since: float, timeout: float = 60
                                ) -> float:
        """When Asterisk began recording ``channel`` (the IVR's leg), the first time after
        ``since`` (time.monotonic())."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            began = [t for t in self.records.get(channel, ()) if t > since]
            if began:
                return began[0]
            await asyncio.sleep(0.02)
        raise AssertionError(f"{channel}: no recording began within {timeout} s")

    async def call_of(self, caller: str, timeout: float = 20) -> tuple[str, str]:
        """(linkedid, IVR channel) of the call from ``caller``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.kind is EventKind.CALL_STARTED and event.data.get("caller") == caller:
                    return event.linkedid, str(event.data["channel"])
            await asyncio.sleep(0.1)
        raise AssertionError(f"no call from {caller}")

    async def wait_either(self, linkedid: str, first: tuple[str, str | None],
                          other: tuple[str, str | None], after: int, timeout: float = 90
                          ) -> tuple[bool, int]:
        """(True, index) when ``first`` = (node, prompt) starts to play before ``other``,
        else (False, index before ``other``'s prompt)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index in range(after + 1, len(self.events)):
                event = self.events[index]
                sent = event.record
                if event.linkedid != linkedid or not isinstance(sent, PromptSent) \
                        or sent.retry is not None:
                    continue
                for wanted, (node, prompt) in ((True, first), (False, other)):
                    if sent.node == node and (prompt is None or prompt in sent.prompts):
                        return wanted, index if wanted else after
            await asyncio.sleep(0.05)
        raise AssertionError(f"{linkedid}: neither {first} nor {other} after #{after}")

    async def wait_prompt(self, linkedid: str, node: str, prompt: str | None, after: int,
                          timeout: float = 90,
                          resend: tuple[str, Callable[[], Awaitable[None]]] | None = None
                          ) -> int:
        """Index of the first PROMPT_SENT event of ``node`` (with ``prompt``, if given; not a
        retry prompt) after index ``after``: the moment that node's prompt starts to play.

        ``resend`` = (node, press again): keys sent to a node that then reports no input
        were lost on the way (sent before its prompt started, on a loaded machine): the node
        asks again, and so does the caller."""
        deadline = time.monotonic() + timeout
        watched = len(self.events)
        while time.monotonic() < deadline:
            for index in range(after + 1, len(self.events)):
                event = self.events[index]
                sent = event.record
                if (event.linkedid == linkedid and isinstance(sent, PromptSent)
                        and sent.node == node and sent.retry is None
                        and (prompt is None or prompt in sent.prompts)):
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
        if isinstance(step, Keys) and step.unless is not None:
            reached, index = await tap.wait_either(linkedid, (step.node, step.prompt),
                                                   (step.unless, None), after)
            if not reached:
                continue  # the call went on without this step: the next one finds it
            after = index
        else:
            after = await tap.wait_prompt(linkedid, step.node, step.prompt, after,
                                          resend=resend)
        resend = None
        if isinstance(step, Say):  # after the beep, as a caller speaks
            await tap.recording_started(channel, since=tap.times[after])
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


class KoreanStandIn:
    """(For tests that need a transcript chosen in advance, tests/test_ivr_confirm_calls.py.)
    The real Vosk path with the Korean model standing in for the Chinese one: the caller
    says a Korean phrase (recognised with a Korean grammar), which stands for the Chinese
    question a Chinese model would have transcribed."""

    QUESTIONS: ClassVar[dict[str, str]] = {"세금 신고": "小规模纳税人月销售额多少以下免征增值税"}

    def __init__(self) -> None:
        self.vosk = VoskRecognizer(korean_model_path())
        self.heard: list[Transcript] = []

    def recognize(self, wav_path: str, phrases: list[str] | None = None) -> Transcript:
        heard = self.vosk.recognize(wav_path, list(PHRASES.values()))
        self.heard.append(heard)
        phrase = recognised(heard)  # what a speech node with the Korean grammar would take
        return Transcript(self.QUESTIONS.get(phrase or "", heard.text), heard.confidence,
                          "free" if phrases is None else "phrases")


def timeline(c: Contact) -> str:
    return "\n".join(f"{e.kind} {e.data}" for e in c.events)


def played(c: Contact) -> list[str]:
    return [p for e in events_of(c, "prompt") for p in e["prompts"]]


def results(c: Contact, service: str) -> list[dict[str, Any]]:
    return [e for e in events_of(c, "service_result") if e["service"] == service]


CONFIRM = "confirm_entry"
QUESTION = "zh/q_small_scale_exemption.wav"  # 小规模纳税人月销售额多少以下免征增值税


async def test_every_service_end_to_end(moment_harness: Harness) -> None:
    harness = moment_harness  # at each of the suite's moments (tests/conftest.py)
    tap = Tap(harness)
    assert isinstance(harness.services.recognizer, WhisperRecognizer)  # HOTLINE_ASR_ENGINE=auto
    await harness.add_agent(1, queue="tax-vat", ring_ms=300, talk_ms=2000)
    calls: dict[str, list[Step]] = {
        # FAQ by key (1 consult, 2 personal income tax, 1 basic deduction), survey 1
        "13700000001": [Keys("main", "1"), Keys("consult", "2"), Keys("cat_iit", "1"),
                        Keys("survey", "1")],
        # FAQ by speech: 9 "say your question", the utterance, then survey 2
        "13700000002": [Keys("main", "1"), Keys("consult", "9"),
                        Say("ask_any", QUESTION),
                        # 1 when asked to confirm (the recogniser's text may leave the
                        # knowledge base unsure)
                        Keys("answer_any", "1", "faq_confirm_keys", unless="survey"),
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
                        Keys("invoice_digital_amount", "1", CONFIRM, delay=1.0),
                        # hung up at the survey (its timeouts ran past the wait on a loaded
                        # machine: no ended contact within 60 s)
                        HangUp("survey")],
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
                        Say("complaint_message", "zh/q_deregister.wav", then="#",
                            then_delay=3.0)],
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
    [decided] = events_of(c, "faq_decision")
    assert decided["candidates"][0] == "vat.small_scale.exemption", decided
    # answered at once, or (the recogniser's text left the base unsure) confirmed with 1
    via = "speech" if decided["decision"] == "answer" else "confirm"
    if via == "confirm":
        assert [(x["faq_id"], x["answer"]) for x in events_of(c, "faq_confirm")] == [
            ("vat.small_scale.exemption", "yes")], timeline(c)
    assert events_of(c, "faq_played")[0] == {
        "node": "answer_any", "faq_id": "vat.small_scale.exemption",
        "question": "小规模纳税人月销售额多少以下免征增值税？",
        "score": events_of(c, "faq_played")[0]["score"], "via": via, "category": "增值税"}
    assert c.survey_score == 2

    c = await harness.wait_contact("13700000003", timeout=60)
    assert c.outcome == "self_service", timeline(c)
    check = results(c, "invoice_check")
    assert [(r["result"], r["amount_fen"]) for r in check] == [("found", 113000)]
    assert "say/yao" in played(c)
    assert "invoice_valid" in played(c)
    assert c.survey_score == 3
    # the # pressed after the code's 12th digit (as the prompt asks) ended the code: the
    # read-back was heard to its end and nothing was taken for a wrong key
    assert events_of(c, "invalid_input") == [], timeline(c)
    code_read_back = [e for e in events_of(c, "prompt")
                      if e["node"] == "invoice_code" and e["prompts"][0] == "you_entered"]
    assert code_read_back, timeline(c)
    assert code_read_back[0].get("interrupted_by") is None, timeline(c)
    assert not [e for e in events_of(c, "prompt_unheard") if e["node"] == "invoice_code"
                and "you_entered" in e["prompts"]], timeline(c)

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
                        Say("director_message", "zh/q_credit.wav", then="#",
                            then_delay=3.0)],
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


# The shipped calendar (ivr/hours.yaml, the State Council's notice for 2026): Spring Festival
# Tuesday 2026-02-17 and its make-up Saturday 2026-02-14, both 10:00 in Beijing
SPRING_FESTIVAL = datetime(2026, 2, 17, 2, 0, tzinfo=UTC)
MAKE_UP_SATURDAY = datetime(2026, 2, 14, 2, 0, tzinfo=UTC)


async def call_at(pbx: AsteriskSandbox, contacts: ContactService, menu: Menu,
                  moment: datetime, caller: str, steps: Sequence[Step]) -> Contact:
    """One scripted call on a live bridge whose one clock runs from ``moment``, with an agent
    (SIPp) logged in to the ``consult`` queue."""
    h = Harness(pbx, contacts, menu,
                services=make_ivr_services(contacts.db, pbx.recordings_dir, moment=moment))
    await h.start()
    try:
        await h.add_agent(1, queue="consult", ring_ms=300, talk_ms=2000)
        await scripted_call(h, Tap(h), caller, steps)
        return await h.wait_contact(caller, timeout=120)
    finally:
        await h.stop()


def hours_results(c: Contact) -> list[tuple[str, str, dict[str, str]]]:
    """(node, result, holiday or make-up workday) of each hours check of the call."""
    return [(e["node"], e["result"],
             {k: e[k] for k in ("holiday", "make_up_workday") if k in e})
            for e in results(c, "hours")]


async def test_holiday_call_gets_self_service_and_is_told(
        pbx: AsteriskSandbox, contacts: ContactService, menu: Menu) -> None:
    # an agent is logged in to consult: only the calendar keeps the caller out of the queue.
    # 0 for an agent: told agents are off for the holiday, back to the menu; then an FAQ by
    # key (1 consult, 2 personal income tax, 1 basic deduction); hangs up after it
    c = await call_at(pbx, contacts, menu, SPRING_FESTIVAL, "13700000301",
                      [Keys("main", "0"), Keys("main", "1"), Keys("consult", "2"),
                       Keys("cat_iit", "1"), HangUp("faq_iit_deduction", "faq_after")])
    assert played(c)[:3] == ["welcome", "holiday_notice", "hours_intro"], timeline(c)
    assert "agents_holiday" in played(c)
    assert not {"closed_notice", "agents_closed", "transfer_agent"} & set(played(c))
    assert hours_results(c) == [("hours_gate", "closed", {"holiday": "春节"}),
                                ("to_consult", "closed", {"holiday": "春节"})]
    assert "transfer" not in kinds(c)
    assert c.queue is None
    assert c.agent is None
    assert [e["faq_id"] for e in events_of(c, "faq_played")] == ["iit.basic_deduction"]
    assert c.outcome == "self_service"


async def test_make_up_workday_call_reaches_an_agent(
        pbx: AsteriskSandbox, contacts: ContactService, menu: Menu) -> None:
    c = await call_at(pbx, contacts, menu, MAKE_UP_SATURDAY, "13700000302",
                      [Keys("main", "0"), Keys("survey_after_agent", "2")])
    assert played(c)[:2] == ["welcome", "main_menu"], timeline(c)
    assert not {"closed_notice", "holiday_notice", "agents_closed", "agents_holiday"} \
        & set(played(c))
    assert "transfer_agent" in played(c)
    assert hours_results(c) == [("hours_gate", "open", {"make_up_workday": "春节"}),
                                ("to_consult", "open", {"make_up_workday": "春节"})]
    assert events_of(c, "transfer") == [{"node": "agent", "queue": "consult"}]
    assert kinds(c).index("agent_completed") < kinds(c).index("survey")
    assert c.queue == "consult"
    assert c.agent == "agent1"
    assert c.outcome == "answered"
    assert c.survey_score == 2
