"""Real calls into the sandboxed Asterisk where a spoken question is not answered outright:
the knowledge base is unsure, so the caller is asked to confirm (docs/ivr.md, "FAQ by
question").

* the caller says a vague question, hears "您想咨询的是<the candidate's question>吗？是请按一，
  不是请按二", presses 1 and hears the answer;
* the caller says a question with two close candidates, presses 2 to the first and to the
  second, is told once that the question is outside what self-service answers, says it again
  in other words (still out of scope) and goes to the VAT queue, where the agent's phone rings
  and the console's call card (published by the real AgentDesk on Asterisk's AgentCalled)
  carries the caller's words.

The speech is real audio played into the call and recognised by Vosk in the bridge; the
production Mandarin recogniser is not available to the suite yet, so the Korean Vosk model
stands in for it and its Korean phrase is turned into the Mandarin transcript a Mandarin model
would give, through the `SpeechRecognizer` Protocol (`Stand-in`, as in tests/test_ivr_calls.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import ClassVar

import pytest

from callcenter.agents.services import AgentDesk
from callcenter.notify.services import Notifier, Subscription
from callcenter.queues.services import QueueService
from ivr.ports import EventKind, Transcript
from ivr.services.speech import match_phrase
from tests.callcenter.util import ensure_user
from tests.conftest import Harness, events_of, kinds
from tests.test_ivr_calls import (
    Keys,
    KoreanStandIn,
    Say,
    Step,
    Tap,
    played,
    scripted_call,
    timeline,
)

pytestmark = pytest.mark.asterisk


class StandIn(KoreanStandIn):
    """Korean phrases standing for what Mandarin callers would have said."""

    QUESTIONS: ClassVar[dict[str, str]] = {
        "세금 신고": "个税的事",                # vague: one candidate, to confirm
        "영수증 확인": "小规模纳税人增值税",     # two close candidates
        "안녕하세요": "今天天气怎么样",          # out of scope
    }

    def recognize(self, wav_path: str, phrases: list[str] | None = None) -> Transcript:
        heard = self.vosk.recognize(wav_path, list(self.QUESTIONS))
        self.heard.append(heard)
        phrase = match_phrase(heard.text, list(self.QUESTIONS))  # Vosk may keep part of it
        text = self.QUESTIONS[phrase] if phrase else heard.text
        return Transcript(text, heard.confidence, "free" if phrases is None else "phrases")


async def ringing_card(sub: Subscription, timeout: float) -> dict[str, object]:
    """The call card the console receives when the agent's phone rings."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            message = await sub.get(2)
        except TimeoutError:
            continue
        if message.payload.get("type") == "ringing":
            return dict(message.payload)
    raise AssertionError("the agent's console got no ringing call card")


async def test_spoken_question_confirmed_or_handed_over_with_the_callers_words(
        harness: Harness) -> None:
    tap = Tap(harness)
    harness.services.recognizer = StandIn()
    kb, answers = harness.services.kb, harness.services.answers
    assert kb is not None
    assert answers is not None
    # the agent's console: the real AgentDesk on the bridge's AMI connection
    db = harness.contacts.db
    clock = harness.services.clock
    ensure_user(db, "agent1", "agent", interface="PJSIP/agent1")
    notifier = Notifier(clock)
    console = notifier.subscribe("calls.agent1")
    desk = AgentDesk.build(db, QueueService(db, clock), notifier, harness.contacts, harness.log,
                           harness.ami, clock=clock)
    desk.load()
    await harness.add_agent(1, queue="tax-vat", ring_ms=300, talk_ms=2000)
    calls: dict[str, list[Step]] = {
        # VAT, 9 "say your question": a vague question; 1 = yes to the candidate
        "13700000301": [Keys("main", "1"), Keys("consult", "1"), Keys("cat_vat", "9"),
                        Say("ask_vat", "ko_tax_filing.wav"),
                        Keys("answer_vat", "1", "faq_confirm_keys", delay=1.0),
                        Keys("survey", "1")],
        # two close candidates: 2, 2; then the question again, in other words
        "13700000302": [Keys("main", "1"), Keys("consult", "1"), Keys("cat_vat", "9"),
                        Say("ask_vat", "ko_receipt_check.wav"),
                        Keys("answer_vat", "2", "faq_confirm_keys", delay=1.0),
                        Keys("answer_vat", "2", "faq_confirm_keys", delay=1.0),
                        Say("answer_vat", "ko_hello.wav", prompt="faq_rephrase")],
    }
    try:
        await asyncio.gather(*(scripted_call(harness, tap, caller, steps)
                               for caller, steps in calls.items()))
        card = await ringing_card(console, timeout=90)
    finally:
        await desk.close()

    # 1: confirm prompt with the candidate's question, 1, the answer
    c = await harness.wait_contact("13700000301", timeout=120)
    assert c.outcome == "self_service", timeline(c)
    decided = events_of(c, "faq_decision")
    assert [(d["text"], d["decision"]) for d in decided] == [("个税的事", "confirm")]
    entry = kb.get("iit.rates.comprehensive")
    heard = played(c)
    start = heard.index("faq_confirm")
    assert heard[start:start + 3] == ["faq_confirm", answers.prompt_id(entry.question),
                                      "faq_confirm_keys"], timeline(c)
    assert events_of(c, "faq_confirm") == [{
        "node": "answer_vat", "faq_id": entry.id, "question": entry.question, "offered": 1,
        "answer": "yes"}]
    assert {"node": "answer_vat", "digits": "1"} in events_of(c, "digits")
    faq = events_of(c, "faq_played")
    assert [(f["faq_id"], f["via"], f["question"]) for f in faq] == [
        (entry.id, "confirm", entry.question)]
    assert heard.index(answers.prompt_id(entry.answer)) > start  # the answer, after the yes
    assert kinds(c).index("faq_confirm") < kinds(c).index("faq_played")
    assert c.survey_score == 1

    # 2: no to both candidates, told once, asked again, out of scope: the VAT queue
    c = await harness.wait_contact("13700000302", timeout=120)
    assert c.outcome == "answered", timeline(c)
    assert c.queue == "tax-vat"
    confirms = events_of(c, "faq_confirm")
    assert [(x["faq_id"], x["offered"], x["answer"]) for x in confirms] == [
        ("vat.small_scale.special_invoice", 1, "no"), ("vat.small_scale.levy_rate", 2, "no")]
    heard = played(c)
    assert heard.count("faq_confirm") == 2
    assert answers.prompt_id(kb.get("vat.small_scale.levy_rate").question) in heard
    assert heard.count("faq_declined") == 1
    assert heard.index("faq_declined") < heard.index("faq_rephrase")
    assert [e["text"] for e in events_of(c, "speech")] == ["小规模纳税人增值税", "今天天气怎么样"]
    assert [d["decision"] for d in events_of(c, "faq_decision")] == ["confirm", "decline"]
    assert events_of(c, "escalated") == [{
        "node": "answer_vat", "faq_id": None, "queue": "tax-vat", "reason": "declined",
        "text": "小规模纳税人增值税；今天天气怎么样"}]
    assert events_of(c, "transfer") == [{"node": "agent_vat", "queue": "tax-vat",
                                         "skill": "vat"}]
    assert EventKind.FAQ_PLAYED.value not in kinds(c)
    assert "agent_connected" in kinds(c)
    # what the agent's console showed when the phone rang
    assert card["linkedid"] == c.linkedid
    assert card["queue"] == "tax-vat"
    assert card["asked"] == ["小规模纳税人增值税；今天天气怎么样"]
    assert "answer_vat" in card["ivr_path"]  # type: ignore[operator]
