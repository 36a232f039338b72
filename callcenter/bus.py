"""The Redis bus between the process roles (``HOTLINE_REDIS_URL``; docs/deployment.md).

One :class:`RedisBus` per process: one connection for commands and publishing, one pub/sub
connection whose listener hands each message of a subscribed channel to its handler. Every key
and channel name starts with ``HOTLINE_REDIS_PREFIX`` (:meth:`RedisBus.name`), so several
hotlines (or test runs) share one Redis without hearing each other.

Messages are JSON objects. :meth:`send` never blocks (an ordered outbox, sent by one task:
what one process sends on a channel arrives in that order); :meth:`publish` waits and returns
how many processes received it (0: nobody listens, e.g. no bridge for a node).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None] | None]


class RedisBus:
    def __init__(self, url: str, prefix: str, *, outbox_size: int = 10_000) -> None:
        self.url = url
        self.prefix = prefix
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_connect_timeout=3, socket_timeout=10, health_check_interval=10)
        self._handlers: dict[str, Handler] = {}
        self._outbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(outbox_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self.dropped = 0        # outbox full (Redis unreachable for long): oldest dropped
        self.send_errors = 0
        self.handler_errors = 0
        self.received = 0

    def name(self, *parts: str) -> str:
        """A key or channel name of this hotline: ``<prefix>:<part>:<part>...``."""
        return ":".join((self.prefix, *parts))

    def on(self, channel: str, handler: Handler) -> None:
        """Call ``handler`` with every message on ``channel`` (register before :meth:`start`)."""
        self._handlers[channel] = handler

    async def start(self, timeout: float = 10.0) -> None:
        """Start the listener and the sender; returns once the channels are subscribed."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen(), name="redis-bus listen"),
                       loop.create_task(self._send_loop(), name="redis-bus send")]
        await asyncio.wait_for(self._subscribed.wait(), timeout)

    async def close(self) -> None:
        # what is still in the outbox goes out first (a bridge's last notifications)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._drain(), 2.0)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self.redis.aclose()

    async def _drain(self) -> None:
        await self._outbox.join()

    # -- sending ----------------------------------------------------------------------------

    def send(self, channel: str, message: dict[str, Any]) -> None:
        """Queue ``message`` for ``channel``; never blocks (a full outbox drops its oldest)."""
        data = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
        if self._outbox.full():
            self._outbox.get_nowait()
            self._outbox.task_done()
            self.dropped += 1
        self._outbox.put_nowait((channel, data))

    async def publish(self, channel: str, message: dict[str, Any]) -> int:
        """Publish now; the number of processes that received it."""
        data = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
        return int(await self.redis.publish(channel, data))

    async def _send_loop(self) -> None:
        while True:
            channel, data = await self._outbox.get()
            delay = 0.05
            while True:
                try:
                    await self.redis.publish(channel, data)
                    self._outbox.task_done()
                    break
                except RedisError as exc:
                    self.send_errors += 1
                    log.warning("Redis publish on %s failed (%s); retrying", channel, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)

    # -- receiving --------------------------------------------------------------------------

    async def _listen(self) -> None:
        delay = 0.05
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                if self._handlers:
                    await pubsub.subscribe(*self._handlers)
                self._subscribed.set()
                delay = 0.05
                if not self._handlers:
                    return
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is not None and message.get("type") == "message":
                        await self._dispatch(message)
            except RedisError as exc:
                log.warning("Redis subscription lost (%s); subscribing again", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        handler = self._handlers.get(channel)
        if handler is None:
            return
        self.received += 1
        try:
            data = json.loads(message["data"])
            result = handler(data)
            if inspect.isawaitable(result):
                await result
        except Exception:
            self.handler_errors += 1
            log.exception("a message on %s could not be handled", channel)

    def health(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "received": self.received,
                "outbox": self._outbox.qsize(), "dropped": self.dropped,
                "send_errors": self.send_errors, "handler_errors": self.handler_errors}
