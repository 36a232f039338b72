"""The Redis bus between the process roles (``HOTLINE_REDIS_URL``; docs/deployment.md).

One :class:`RedisBus` per process. Every key and channel name starts with
``HOTLINE_REDIS_PREFIX`` (:meth:`RedisBus.name`), so several hotlines (or test runs) share one
Redis without hearing each other. Messages are JSON objects, on two kinds of channel:

* **durable** (the default of :meth:`RedisBus.on` and :meth:`RedisBus.send`): a Redis stream
  (``XADD``, trimmed to about ``STREAM_MAXLEN`` entries, kept ``STREAM_TTL_S`` after the last
  message). Each process reads every stream it listens to from where it started, and after a
  lost connection from the last message it handled, so a message sent while its connection was
  down arrives once it is back (pub/sub would have dropped it: a notification, a logout, a
  knowledge-base reload). Notifications, session endings and reloads go this way.
* **at most once** (``durable=False``): pub/sub. The desk's commands to a bridge and their
  answers: a command is never carried out late, behind the agent's back, after the API has
  told them it failed.

:meth:`send` never blocks (an ordered outbox, sent by one task: what one process sends on a
channel arrives in that order); :meth:`publish` (at most once) and :meth:`announce` (durable)
wait and return how many processes listen (0: nobody, e.g. no bridge for a node). A process
listening to a durable channel also subscribes to its name, which is how it is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from redis import asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None] | None]
STREAM_MAXLEN = 10_000   # entries kept per durable channel (approximately)
STREAM_TTL_S = 86_400    # a durable channel nobody sends on any more goes after a day
READ_BLOCK_MS = 5_000
READ_COUNT = 500
CLOSE_WAIT_S = 2.0
FIELD = b"m"             # the one field of a stream entry: the message
Entries = list[tuple[bytes, dict[bytes, bytes]]]  # a stream's entries: (id, fields)


class RedisBus:
    def __init__(self, url: str, prefix: str, *, outbox_size: int = 10_000,
                 client_name: str | None = None) -> None:
        self.url = url
        self.prefix = prefix
        # each connection says whose it is (Redis's CLIENT LIST)
        self.client_name = client_name or f"{prefix}:bus:{os.getpid()}"
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_connect_timeout=3, socket_timeout=10, health_check_interval=10,
            client_name=self.client_name)
        self._at_most_once: dict[str, Handler] = {}  # pub/sub
        self._durable: dict[str, Handler] = {}       # streams
        self._positions: dict[str, bytes] = {}       # the last entry handled of each stream
        self._outbox: asyncio.Queue[tuple[str, bytes, bool]] = asyncio.Queue(outbox_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self._reading = asyncio.Event()
        self._pubsub: PubSub | None = None
        self._closing = False
        self.dropped = 0        # outbox full (Redis unreachable for long): oldest dropped
        self.send_errors = 0
        self.handler_errors = 0
        self.read_errors = 0
        self.received = 0

    def name(self, *parts: str) -> str:
        """A key or channel name of this hotline: ``<prefix>:<part>:<part>...``."""
        return ":".join((self.prefix, *parts))

    def on(self, channel: str, handler: Handler, *, durable: bool = True) -> None:
        """Call ``handler`` with every message on ``channel`` sent after :meth:`start`
        (register before it); ``durable=False`` for an at-most-once (pub/sub) channel."""
        (self._durable if durable else self._at_most_once)[channel] = handler

    async def start(self, timeout: float = 10.0) -> None:
        """Start the listeners and the sender; returns once the channels are subscribed and
        the streams' starting points known."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen(), name="redis-bus listen"),
                       loop.create_task(self._read(), name="redis-bus read"),
                       loop.create_task(self._send_loop(), name="redis-bus send")]
        await asyncio.wait_for(
            asyncio.gather(self._subscribed.wait(), self._reading.wait()), timeout)

    async def close(self) -> None:
        # what is still in the outbox goes out first (a bridge's last notifications)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._drain(), CLOSE_WAIT_S)
        self._closing = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        stuck = await _ended(tasks, CLOSE_WAIT_S)
        if stuck:
            # a read cancelled just as its own timeout fired can swallow the cancellation
            # (redis-py's reads under Python 3.11) and wait on its socket for ever: closing
            # the sockets ends it (the loops stop on the error, being closed)
            pubsub = self._pubsub
            with contextlib.suppress(Exception):
                if pubsub is not None and pubsub.connection is not None:
                    await pubsub.connection.disconnect()
            with contextlib.suppress(Exception):
                await self.redis.connection_pool.disconnect()
            stuck = await _ended(stuck, CLOSE_WAIT_S)
            if stuck:
                log.warning("Redis bus: %s did not stop", ", ".join(t.get_name() for t in stuck))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.redis.aclose(), CLOSE_WAIT_S)

    async def _drain(self) -> None:
        await self._outbox.join()

    # -- sending ----------------------------------------------------------------------------

    def send(self, channel: str, message: dict[str, Any], *, durable: bool = True) -> None:
        """Queue ``message`` for ``channel``; never blocks (a full outbox drops its oldest)."""
        if self._outbox.full():
            self._outbox.get_nowait()
            self._outbox.task_done()
            self.dropped += 1
        self._outbox.put_nowait((channel, _encode(message), durable))

    async def publish(self, channel: str, message: dict[str, Any]) -> int:
        """Publish now, at most once; the number of processes that received it."""
        return int(await self.redis.publish(channel, _encode(message)))

    async def announce(self, channel: str, message: dict[str, Any]) -> int:
        """Add ``message`` to the durable ``channel`` now; the number of processes listening
        to it (each reads it, now or once its connection is back)."""
        await self._append(channel, _encode(message))
        return await self.listeners(channel)

    async def listeners(self, channel: str) -> int:
        counts = await self.redis.pubsub_numsub(channel)
        return int(counts[0][1]) if counts else 0

    async def _append(self, channel: str, data: bytes) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(channel, {FIELD: data}, maxlen=STREAM_MAXLEN, approximate=True)
            pipe.expire(channel, STREAM_TTL_S)
            await pipe.execute()

    async def _send_loop(self) -> None:
        while True:
            channel, data, durable = await self._outbox.get()
            delay = 0.05
            while True:
                try:
                    if durable:
                        await self._append(channel, data)
                    else:
                        await self.redis.publish(channel, data)
                    self._outbox.task_done()
                    break
                except RedisError as exc:
                    self.send_errors += 1
                    log.warning("Redis send on %s failed (%s); retrying", channel, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)

    # -- receiving --------------------------------------------------------------------------

    async def _listen(self) -> None:
        """The pub/sub subscription: the at-most-once channels' messages, and every durable
        channel's name (so that :meth:`listeners` counts this process)."""
        channels = [*self._at_most_once, *self._durable]
        delay = 0.05
        while not self._closing:
            pubsub = self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                if channels:
                    await pubsub.subscribe(*channels)
                self._subscribed.set()
                delay = 0.05
                if not channels:
                    return
                while not self._closing:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is not None and message.get("type") == "message":
                        channel = _text(message["channel"])
                        handler = self._at_most_once.get(channel)
                        if handler is not None:
                            await self._dispatch(channel, handler, message["data"])
            except RedisError as exc:
                if self._closing:
                    return
                log.warning("Redis subscription lost (%s); subscribing again", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _read(self) -> None:
        """The durable channels: each stream from the last entry there was when this process
        started, then from the last one handled, across lost connections."""
        delay = 0.05
        while not self._closing:
            try:
                if not self._positions:  # where each stream is at start (not after a cut)
                    positions: dict[str, bytes] = {}
                    for channel in self._durable:
                        last: Entries = await self.redis.xrevrange(  # type: ignore[assignment]
                            channel, count=1)
                        positions[channel] = last[0][0] if last else b"0-0"
                    self._positions = positions
                self._reading.set()
                delay = 0.05
                if not self._durable:
                    return
                while not self._closing:
                    streams: dict[Any, Any] = dict(self._positions)
                    found: list[tuple[bytes, Entries]] = await self.redis.xread(  # type: ignore[assignment]
                        streams, count=READ_COUNT, block=READ_BLOCK_MS)
                    for key, entries in found or ():
                        channel = _text(key)
                        handler = self._durable[channel]
                        for entry_id, fields in entries:
                            self._positions[channel] = entry_id
                            await self._dispatch(channel, handler, fields.get(FIELD, b""))
            except RedisError as exc:
                if self._closing:
                    return
                self.read_errors += 1
                log.warning("Redis stream read failed (%s); reading on from the last message"
                            " handled", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _dispatch(self, channel: str, handler: Handler, data: bytes) -> None:
        self.received += 1
        try:
            result = handler(json.loads(data))
            if inspect.isawaitable(result):
                await result
        except Exception:
            self.handler_errors += 1
            log.exception("a message on %s could not be handled", channel)

    def health(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "received": self.received,
                "outbox": self._outbox.qsize(), "dropped": self.dropped,
                "send_errors": self.send_errors, "read_errors": self.read_errors,
                "handler_errors": self.handler_errors}


async def _ended(tasks: list[asyncio.Task[None]], timeout: float) -> list[asyncio.Task[None]]:
    """Wait up to ``timeout`` for ``tasks`` to end; those still running."""
    if not tasks:
        return []
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in done:
        if not task.cancelled():
            task.exception()  # retrieved: an error of a stopped loop is not news at close
    return list(pending)


def _encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()


def _text(name: bytes | str) -> str:
    return name.decode() if isinstance(name, bytes) else str(name)
