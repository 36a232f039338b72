"""A publication reaches the running knowledge base of every process.

Single process (``hotline serve`` without Redis): :meth:`KbReloads.published` reloads this
process's base and renders the changed answer's audio before it returns. With
``HOTLINE_REDIS_URL`` it sends ``{"entry_id", "version", "texts"}`` on the bus channel
``<prefix>:kb``; every process (API workers and bridges, this one included) reloads on that
message (:meth:`KbReloads.attach`).

``hotline kb import`` sends the same message once for all the entries it changed
(:func:`announce_import`; ``entry_id`` ``import``, the texts of every changed entry), so a
running server or bridge serves the imported base without a restart. Without Redis nothing
reaches another process: a running ``hotline serve`` reloads at its next start or publication.

The reload builds the new index beside the one in service and swaps it in atomically
(``KnowledgeBase.reload``): questions asked meanwhile are answered by the previous version;
the encoder encodes only texts it has not encoded before (``StoredEmbedder``). Only the
changed entry's texts are rendered to audio (``AnswerAudio.ensure``); the rest is cached by
a hash of its text and is not touched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from callcenter.bus import RedisBus
from callcenter.kb.services import Published

if TYPE_CHECKING:
    from ivr.prompts.answers import AnswerAudio
    from knowledge_base import KnowledgeBase

log = logging.getLogger(__name__)

CHANNEL = "kb"
IMPORT = "import"  # the entry_id of an import's reload message


@dataclass
class ReloadReport:
    version: int
    entries: int
    reload_s: float
    rendered: int


@dataclass
class KbReloads:
    kb: KnowledgeBase | None
    answers: Callable[[], AnswerAudio | None] = lambda: None
    bus: RedisBus | None = None
    reloads: int = 0
    failures: int = 0
    last: ReloadReport | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def attach(self, bus: RedisBus) -> None:
        """Reload on every publication on the bus (call before ``bus.start()``)."""
        self.bus = bus
        bus.on(bus.name(CHANNEL), self._arrived)

    async def published(self, change: Published) -> ReloadReport | None:
        """Make every process serve ``change``: here at once, or through the bus."""
        if self.bus is not None:
            self.bus.send(self.bus.name(CHANNEL), {
                "entry_id": change.entry_id, "version": change.version,
                "texts": list(change.texts)})
            return None
        return await self.reload(change.version, change.texts)

    async def _arrived(self, data: dict[str, Any]) -> None:
        texts = [str(t) for t in data.get("texts") or ()]
        await self.reload(int(data.get("version", 0)), texts)

    async def reload(self, version: int, texts: Sequence[str]) -> ReloadReport | None:
        """Reload the base (in a thread; calls go on meanwhile) and render ``texts`` that
        the base now serves. Failures are logged: the previous version stays in service."""
        kb = self.kb
        if kb is None:
            return None
        async with self._lock:
            started = time.perf_counter()
            try:
                await asyncio.to_thread(kb.reload)
            except Exception:
                self.failures += 1
                log.exception("the knowledge base could not be reloaded; the previous"
                              " version stays in service")
                return None
            reload_s = time.perf_counter() - started
            rendered = await asyncio.to_thread(self._render, kb, texts)
            self.reloads += 1
            self.last = ReloadReport(version, len(kb), round(reload_s, 3), rendered)
            log.info("knowledge base reloaded (version %d of an entry): %d entries in %.2f s,"
                     " %d answer audio rendered", version, self.last.entries, reload_s,
                     rendered)
            return self.last

    def _render(self, kb: KnowledgeBase, texts: Sequence[str]) -> int:
        answers = self.answers()
        if answers is None:
            return 0
        served = {t for e in kb.entries() for t in (e.answer, e.question)}
        rendered = 0
        for text in texts:
            if text in served and not answers.path(text).exists():
                try:
                    answers.ensure(text)
                    rendered += 1
                except Exception:
                    log.exception("answer audio could not be rendered; calls render it on"
                                  " demand")
        return rendered

    def health(self) -> dict[str, Any]:
        last = self.last
        return {"reloads": self.reloads, "failures": self.failures,
                "last_reload_s": last.reload_s if last else None}


async def announce_import(redis_url: str, prefix: str, changes: Sequence[Published]) -> int:
    """Make every running process (API workers, bridges) reload after an import: the
    publication's message on ``<prefix>:kb``, with the texts of every changed entry (their
    audio is rendered). The number of processes that received it (0: none runs)."""
    bus = RedisBus(redis_url, prefix)
    try:
        texts = list(dict.fromkeys(text for change in changes for text in change.texts))
        return await bus.announce(bus.name(CHANNEL), {
            "entry_id": IMPORT, "version": max((c.version for c in changes), default=0),
            "texts": texts})
    finally:
        await bus.close()
