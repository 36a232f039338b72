"""Start-up work for the IVR: the audio of the knowledge base's answers and of its standard
questions (spoken when the caller is asked to confirm one). The knowledge base itself is
loaded once, by the composition root (``callcenter.runtime.load_shared``)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ivr.prompts.answers import AnswerAudio

if TYPE_CHECKING:
    from knowledge_base import KnowledgeBase

log = logging.getLogger(__name__)


def start_answer_audio(kb: KnowledgeBase | None, answers: AnswerAudio | None
                       ) -> asyncio.Task[None] | None:
    """Render missing answer audio in the background (calls render on demand meanwhile)."""
    if kb is None or answers is None:
        return None

    async def render() -> None:
        try:
            texts = [text for entry in kb.entries() for text in (entry.answer, entry.question)]
            report = await asyncio.to_thread(answers.sync, texts, False)
            log.info("answer audio: %d rendered, %d unchanged", report.rendered,
                     report.unchanged)
        except Exception:
            log.exception("answer audio could not be rendered; calls render on demand")

    return asyncio.get_running_loop().create_task(render(), name="answer-audio")
