"""One in-process notifier: ``publish(topic, payload)`` and per-topic subscriptions.

Topics are dotted names, matched exactly: a subscription to ``"calls.agent01"`` receives
that topic and nothing else (not ``"calls.agent01.b"``); ``"*"`` receives everything. A
publisher that serves both a summary and a per-user topic publishes on both (``agents`` and
``agents.<username>``). ``publish`` never blocks: each subscriber has
a bounded queue and a slow subscriber loses its oldest messages (counted in ``dropped``), never
the publisher's time. Scale-out replaces this class with a Redis pub/sub of the same API.

Topics in use:
* ``agents``: ``{"username", "state", "reason", ...}`` on every agent state change;
* ``calls.<username>``: the incoming-call card and call progress of one agent;
* ``queues``: live queue figures (waiting calls, longest wait);
* ``wallboard``: published by the statistics (live wallboard figures).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ivr.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    topic: str
    payload: Any
    seq: int
    at: datetime

    def as_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "seq": self.seq, "at": self.at.isoformat(),
                "payload": self.payload}


def matches(pattern: str, topic: str) -> bool:
    """Exact names only (no prefixes: one user's topic never reaches another's)."""
    return pattern == "*" or topic == pattern


class Subscription:
    def __init__(self, bus: Notifier, topics: set[str], maxsize: int) -> None:
        self.bus = bus
        self.topics = set(topics)
        self.queue: asyncio.Queue[Message] = asyncio.Queue(maxsize)
        self.dropped = 0

    def wants(self, topic: str) -> bool:
        return any(matches(p, topic) for p in self.topics)

    def offer(self, message: Message) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(message)

    async def get(self, timeout: float | None = None) -> Message:
        return await asyncio.wait_for(self.queue.get(), timeout)

    def close(self) -> None:
        self.bus.unsubscribe(self)

    async def __aiter__(self) -> AsyncIterator[Message]:
        while True:
            yield await self.queue.get()


class Notifier:
    def __init__(self, clock: Clock, queue_size: int = 256) -> None:
        self.clock = clock
        self.queue_size = queue_size
        self._subs: set[Subscription] = set()
        self._seq = itertools.count(1)
        self._latest: dict[str, Message] = {}
        self.published = 0

    def publish(self, topic: str, payload: Any) -> Message:
        """Send ``payload`` (JSON-serialisable) to every subscriber of ``topic``."""
        message = Message(topic, payload, next(self._seq), self.clock())
        self._latest[topic] = message
        self.published += 1
        for sub in list(self._subs):
            if sub.wants(topic):
                sub.offer(message)
        return message

    def subscribe(self, *topics: str, replay_latest: bool = False) -> Subscription:
        sub = Subscription(self, set(topics), self.queue_size)
        self._subs.add(sub)
        if replay_latest:
            for topic, message in sorted(self._latest.items(), key=lambda kv: kv[1].seq):
                if sub.wants(topic):
                    sub.offer(message)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subs)
