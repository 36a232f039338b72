"""The SMS worker of ``hotline serve``: once a tick it sends the satisfaction survey of the
phone calls that ended (:mod:`callcenter.sms.survey`) and the held texts whose slot has come
(the sending limits, :mod:`callcenter.sms.throttle`). Texts held when the server stopped are
still in the database and go after the next start."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI

from callcenter.settings import Settings
from callcenter.sms.http import sms_of

log = logging.getLogger(__name__)


class SmsWorker:
    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.interval = settings.sms_worker_interval_s
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> None:
        """One round: the survey texts of the calls that ended, then the held texts due."""
        sms = sms_of(self.app.state, self.settings)
        await sms.send_surveys()
        await sms.dispatch_due()

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away for a moment: the next tick tries again
                log.exception("SMS worker: a tick failed")
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sms-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
