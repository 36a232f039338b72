"""The ``faq`` node: a knowledge-base answer by id or by the caller's question.

A question goes through the knowledge base's decision (``KnowledgeBase.decide``, the same for
the IVR, the API and the console):

- answer: the answer is played;
- confirm: "您想咨询的是<the candidate's question>吗？是请按1，不是请按2", for the first
  candidate, then (after a 2) for the second when there are two close ones; 1 plays that
  answer;
- decline (or 2 on the last candidate): the caller is told once that the question is outside
  what self-service answers (``declined_prompt``) and, where the node has a
  ``rephrase_prompt`` and the call can take speech, invited once to say it again; that second
  question goes through the same decision. Otherwise the call goes to ``escalate`` (the
  category's queue) with the caller's words in the ESCALATED event, which the agent's call
  card shows.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from ivr.events import Escalated, FaqConfirm, FaqDecision, FaqPlayed
from ivr.menu.runners import node_runner
from ivr.menu.schema import FaqNode, HoursNode, TransferNode
from ivr.services.speech import can_listen, listen
from knowledge_base import Decision, DecisionKind, SearchResult

if TYPE_CHECKING:
    from ivr.menu.engine import MenuSession

log = logging.getLogger(__name__)

TOP = 3
REPHRASE_SECONDS = 8
REPHRASE_SILENCE_SECONDS = 2


def _queue_of(session: MenuSession, node_id: str) -> str | None:
    """The queue an escalation target leads to (through business-hours routing)."""
    for _ in range(5):
        node = session.menu.nodes.get(node_id)
        if isinstance(node, TransferNode):
            return node.queue
        if not isinstance(node, HoursNode):
            return None
        node_id = node.open
    return None


class _Goto(Exception):
    """The caller pressed a global key (agent, back) while being asked: leave the node."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


@node_runner("faq")
async def run_faq(session: MenuSession, node_id: str, node: FaqNode) -> str:
    kb = session.services.kb
    answers = session.services.answers
    if kb is None or answers is None:
        session.record(Escalated(node=node_id, faq_id=node.faq_id,
                       queue=_queue_of(session, node.escalate), reason="kb_unavailable",
                       text=_words(session, node)))
        return node.escalate
    if node.faq_id is not None:
        return await _play_answer(session, node_id, node, node.faq_id, 1.0, "key")
    try:
        chosen = await _answer_of_question(session, node_id, node)
    except _Goto as goto:
        return goto.target
    if isinstance(chosen, str):
        return chosen
    result, via = chosen
    return await _play_answer(session, node_id, node, result.id, result.score, via)


def _words(session: MenuSession, node: FaqNode, extra: list[str] | None = None
           ) -> str | None:
    """The caller's words for the ESCALATED event (what the agent's call card shows)."""
    said = [session.vars.get(node.question_from, "")] if node.question_from else []
    said = [text for text in [*said, *(extra or [])] if text.strip()]
    return "；".join(said) if said else None


async def _answer_of_question(session: MenuSession, node_id: str, node: FaqNode
                              ) -> tuple[SearchResult, str] | str:
    """The entry to play and how it was chosen ("speech": answered, "confirm": the caller
    confirmed it), or the node to go to (the escalation)."""
    assert node.question_from is not None
    kb = session.services.kb
    assert kb is not None
    question = session.vars.get(node.question_from, "")
    rephrased: list[str] = []
    told = False
    while True:
        decision = await asyncio.to_thread(kb.decide, question, TOP) if question.strip() \
            else Decision(question, DecisionKind.DECLINE)
        session.record(FaqDecision(node=node_id, text=question,
                       decision=decision.kind.value, score=round(decision.score, 4),
                       candidates=tuple(r.id for r in decision.results[:2])))
        if decision.kind is DecisionKind.ANSWER:
            return decision.results[0], "speech"
        if decision.kind is DecisionKind.CONFIRM:
            confirmed = await _confirm(session, node_id, node, decision.results[:2])
            if confirmed is not None:
                return confirmed, "confirm"
        reason = "declined" if decision.kind is DecisionKind.DECLINE else "not_confirmed"
        if not told and node.declined_prompt:
            await session.say(node_id, [node.declined_prompt])
            told = True
        if rephrased or node.rephrase_prompt is None or not can_listen(session):
            break
        heard = await listen(session, node_id, node.rephrase_prompt,
                             max_seconds=REPHRASE_SECONDS,
                             silence_seconds=REPHRASE_SILENCE_SECONDS, attempt=1)
        if heard.key is not None:
            target = session.global_target(node, heard.key, ())
            if target is not None:
                return target
        if not heard.text.strip():
            rephrased.append("")
            reason = "no_rephrase"
            break
        rephrased.append(heard.text)
        question = heard.text
    session.record(Escalated(node=node_id,
                   faq_id=decision.results[0].id if decision.results else None,
                   queue=_queue_of(session, node.escalate), reason=reason,
                   text=_words(session, node, rephrased)))
    return node.escalate


async def _confirm(session: MenuSession, node_id: str, node: FaqNode,
                   candidates: tuple[SearchResult, ...]) -> SearchResult | None:
    """Offer the candidates in turn: 1 takes one, 2 (or no answer) offers the next."""
    kb, answers = session.services.kb, session.services.answers
    assert kb is not None
    assert answers is not None
    assert node.confirm_prompt is not None
    assert node.confirm_keys_prompt is not None
    for offered, candidate in enumerate(candidates, start=1):
        try:
            spoken = await asyncio.to_thread(answers.ensure, kb.get(candidate.id).question)
        except Exception:
            log.exception("no audio for the question of %s", candidate.id)
            return None
        choice = await session.ask(node_id, node, node.confirm_keys_prompt, options=("1", "2"),
                                   lead=[node.confirm_prompt, spoken])
        accepted = choice.digits == "1" and choice.goto is None
        session.record(FaqConfirm(node=node_id, faq_id=candidate.id,
                       question=candidate.question, offered=offered,
                       answer="yes" if accepted else ("no" if choice.digits == "2" else None)))
        if choice.goto is not None:
            raise _Goto(choice.goto)
        if accepted:
            return candidate
    return None


async def _play_answer(session: MenuSession, node_id: str, node: FaqNode, faq_id: str,
                       score: float, via: str) -> str:
    kb, answers = session.services.kb, session.services.answers
    assert kb is not None
    assert answers is not None
    try:
        entry = kb.get(faq_id)
        prompt = await asyncio.to_thread(answers.ensure, entry.answer)
    except Exception:
        log.exception("no answer audio for %s", faq_id)
        session.record(Escalated(node=node_id, faq_id=faq_id,
                       queue=_queue_of(session, node.escalate), reason="answer_unavailable",
                       text=_words(session, node)))
        return node.escalate
    lead = [node.intro_prompt, prompt] if node.intro_prompt else [prompt]
    # the question is what the agent's call card shows of the answer the caller heard
    played = FaqPlayed(node=node_id, faq_id=faq_id, question=entry.question,
                       score=round(score, 4), category=entry.category, via=via)
    session.record(played)
    key = await session.say(node_id, lead, barge_in=True)
    session.served_by(node_id, "faq", faq_id)  # heard to the end, or interrupted by a key
    while True:
        choice = await session.ask(node_id, node, node.after_prompt, options=("1", "2", "0"),
                                   early=key)
        key = None
        if choice.goto is not None:
            return choice.goto
        if choice.failed:
            return node.next
        if choice.digits == "1":
            session.record(replace(played, via="repeat"))
            key = await session.say(node_id, [prompt], barge_in=True)
            continue
        if choice.digits == "2":
            return node.another
        session.record(Escalated(node=node_id, faq_id=faq_id,
                       queue=_queue_of(session, node.escalate), reason="caller_asked",
                       text=_words(session, node)))
        return node.escalate
