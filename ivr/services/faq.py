"""The ``faq`` node: a knowledge-base answer by id or by the caller's question."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ivr.menu.schema import FaqNode, HoursNode, TransferNode
from ivr.ports import EventKind

if TYPE_CHECKING:
    from ivr.menu.engine import MenuSession

log = logging.getLogger(__name__)


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


async def run_faq(session: MenuSession, node_id: str, node: FaqNode) -> str:
    kb = session.services.kb
    answers = session.services.answers
    if kb is None or answers is None:
        session.record(EventKind.ESCALATED, node=node_id, faq_id=node.faq_id,
                       queue=_queue_of(session, node.escalate), reason="kb_unavailable")
        return node.escalate
    via = "key"
    score = 1.0
    if node.faq_id is not None:
        faq_id = node.faq_id
    else:
        assert node.question_from is not None
        via = "speech"
        question = session.vars.get(node.question_from, "")
        results = await asyncio.to_thread(kb.search, question, 3) if question else []
        best = results[0] if results else None
        if best is None or best.score < node.min_score:
            session.record(EventKind.ESCALATED, node=node_id,
                           faq_id=best.id if best else None,
                           score=round(best.score, 4) if best else None,
                           queue=_queue_of(session, node.escalate),
                           reason="declined" if best is None else "low_confidence")
            if node.declined_prompt:
                await session.say(node_id, [node.declined_prompt])
            return node.escalate
        faq_id, score = best.id, best.score
    try:
        entry = kb.get(faq_id)
        prompt = await asyncio.to_thread(answers.ensure, entry.answer)
    except Exception:
        log.exception("no answer audio for %s", faq_id)
        session.record(EventKind.ESCALATED, node=node_id, faq_id=faq_id,
                       queue=_queue_of(session, node.escalate), reason="answer_unavailable")
        return node.escalate
    lead = [node.intro_prompt, prompt] if node.intro_prompt else [prompt]
    session.record(EventKind.FAQ_PLAYED, node=node_id, faq_id=faq_id, score=round(score, 4),
                   via=via, category=entry.category)
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
            session.record(EventKind.FAQ_PLAYED, node=node_id, faq_id=faq_id,
                           score=round(score, 4), via="repeat", category=entry.category)
            key = await session.say(node_id, [prompt], barge_in=True)
            continue
        if choice.digits == "2":
            return node.another
        session.record(EventKind.ESCALATED, node=node_id, faq_id=faq_id,
                       queue=_queue_of(session, node.escalate), reason="caller_asked")
        return node.escalate
