"""Publishes the wallboard snapshot on the notifier's ``wallboard`` topic (WebSocket /api/v1/ws)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI

from callcenter.notify.messages import WallboardFigures
from callcenter.notify.services import Notifier
from callcenter.stats.services import StatsService

log = logging.getLogger(__name__)

class WallboardPublisher:
    """Every ``interval`` seconds, while someone listens, computes :meth:`StatsService.live`
    and publishes it. The notifier is looked up on ``app.state`` at each tick."""

    def __init__(self, app: FastAPI, interval: float) -> None:
        self.app = app
        self.interval = interval
        self.published = 0
        self._task: asyncio.Task[None] | None = None

    def service(self) -> StatsService:
        service: StatsService = self.app.state.stats  # built once by the app's lifespan
        return service

    def _notifier(self) -> Notifier | None:
        notifier = getattr(self.app.state, "notifier", None)
        return notifier if isinstance(notifier, Notifier) else None

    async def tick(self) -> bool:
        notifier = self._notifier()
        if notifier is None or notifier.subscribers == 0:
            return False
        snapshot = await asyncio.to_thread(self.service().live)
        notifier.wallboard(WallboardFigures(figures=snapshot))
        self.published += 1
        return True

    def start(self) -> None:
        if self._task is None and self.interval > 0:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="wallboard")

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("wallboard snapshot failed")
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
