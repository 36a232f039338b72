"""Start-up work for the IVR: the knowledge base for FAQ nodes, and the audio of its answers
and of its standard questions (spoken when the caller is asked to confirm one)."""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from callcenter.settings import Settings
from ivr.clock import local_date
from ivr.services import IvrServices

log = logging.getLogger(__name__)


async def start_answer_audio(settings: Settings, services: IvrServices
                             ) -> asyncio.Task[None] | None:
    """Load the knowledge base if nobody attached one, then render missing answer audio in
    the background (calls render on demand meanwhile)."""
    from knowledge_base import KnowledgeBase

    if services.kb is None and settings.kb_enabled:
        try:
            services.kb = await asyncio.to_thread(
                partial(KnowledgeBase.load, settings.kb_data_dir,
                        cache_dir=settings.kb_cache_dir,
                        clock=local_date(services.clock, settings.timezone)))
        except Exception:
            log.exception("knowledge base not loaded: FAQ nodes go to their agents")
            return None
    kb, answers = services.kb, services.answers
    if not isinstance(kb, KnowledgeBase) or answers is None:
        return None  # the menu's port (ivr.ports.FaqSource) lists no entries to render

    async def render() -> None:
        try:
            texts = [text for entry in kb.entries() for text in (entry.answer, entry.question)]
            report = await asyncio.to_thread(answers.sync, texts, False)
            log.info("answer audio: %d rendered, %d unchanged", report.rendered,
                     report.unchanged)
        except Exception:
            log.exception("answer audio could not be rendered; calls render on demand")

    return asyncio.get_running_loop().create_task(render(), name="answer-audio")
