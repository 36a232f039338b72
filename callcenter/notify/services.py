"""One in-process notifier: typed notifications published on topics, per-topic subscriptions.

Every notification is a record of ``callcenter/notify/messages.py`` (one class per kind),
published by the notifier's method for that kind (``agent_state``, ``queue_board``,
``call_ringing`` ...), which knows its topics; a message carries the notification's ``kind`` and
its JSON payload, so that it can cross a process boundary and be read back
(``notification_from_dict``).

Topics are dotted names, matched exactly: a subscription to ``"calls.agent01"`` receives
that topic and nothing else (not ``"calls.agent01.b"``); ``"*"`` receives everything. A
publisher that serves both a summary and a per-user topic publishes on both (``agents`` and
``agents.<username>``). ``publish`` never blocks: each subscriber has
a bounded queue and a slow subscriber loses its oldest messages (counted in ``dropped``), never
the publisher's time. With ``HOTLINE_REDIS_URL`` set, ``RedisNotifier`` (the same API,
``callcenter/notify/redisbus.py``) carries every notification to the subscribers of every process.

Topics in use:
* ``agents``: ``agent_state`` (``{"username", "state", "reason", ...}``) on every agent state
  change (also on ``agents.<username>``), ``agents_resynced``;
* ``calls.<username>``: the incoming-call card (``call_ringing``) and call progress of one agent
  (``call_connected``, ``call_completed``, ``call_missed``, ``call_abandoned``);
* ``queues``: live queue figures (``queue_board``), ``callback_offered``;
* ``consult``: ``consult_submitted``, a new consultation (web or SMS) to answer; every
  call-centre role may listen (callcenter/notify/http.py);
* ``wallboard``: published by the statistics (``wallboard``: live wallboard figures).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callcenter.notify.messages import (
    AgentsResynced,
    AgentStateChanged,
    CallAbandoned,
    CallbackOffered,
    CallbackPreview,
    CallbackProgress,
    CallCompleted,
    CallConnected,
    CallMissed,
    CallRinging,
    ConsultationSubmitted,
    ConsultChanged,
    Notification,
    QueueBoard,
    WallboardFigures,
    notification_from_dict,
)
from ivr.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """A published notification: ``payload`` is its JSON form, ``kind`` its class's name
    (empty for the WebSocket endpoint's own hello / subscription answers)."""

    topic: str
    payload: Any
    seq: int
    at: datetime
    kind: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "kind": self.kind, "seq": self.seq,
                "at": self.at.isoformat(), "payload": self.payload}

    def notification(self) -> Notification:
        """The notification, read back from its JSON form."""
        return notification_from_dict(self.kind, self.payload)


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

    # -- one method per kind of notification ------------------------------------------------

    def agent_state(self, note: AgentStateChanged) -> None:
        self.publish("agents", note)
        self.publish(f"agents.{note.username}", note)

    def agents_resynced(self, note: AgentsResynced) -> None:
        self.publish("agents", note)

    def queue_board(self, note: QueueBoard) -> None:
        self.publish("queues", note)

    def callback_offered(self, note: CallbackOffered) -> None:
        self.publish("queues", note)

    def call_ringing(self, username: str, note: CallRinging) -> None:
        self.publish(f"calls.{username}", note)

    def call_connected(self, username: str, note: CallConnected) -> None:
        self.publish(f"calls.{username}", note)

    def call_completed(self, username: str, note: CallCompleted) -> None:
        self.publish(f"calls.{username}", note)

    def consult_changed(self, username: str, note: ConsultChanged) -> None:
        self.publish(f"calls.{username}", note)

    def call_missed(self, username: str, note: CallMissed) -> None:
        self.publish(f"calls.{username}", note)

    def call_abandoned(self, username: str, note: CallAbandoned) -> None:
        self.publish(f"calls.{username}", note)

    def callback_preview(self, username: str, note: CallbackPreview) -> None:
        self.publish(f"calls.{username}", note)

    def callback_progress(self, username: str, note: CallbackProgress) -> None:
        self.publish(f"calls.{username}", note)

    def consultation_submitted(self, note: ConsultationSubmitted) -> None:
        self.publish("consult", note)

    def wallboard(self, note: WallboardFigures) -> None:
        self.publish("wallboard", note)

    def publish(self, topic: str, note: Notification) -> Message:
        """Send ``note`` (as its JSON form) to every subscriber of ``topic``."""
        message = Message(topic, note.to_dict(), next(self._seq), self.clock(), note.NAME)
        self.published += 1
        self.deliver(message)
        return message

    def deliver(self, message: Message) -> None:
        """Hand ``message`` to this process's subscribers of its topic."""
        self._latest[message.topic] = message
        for sub in list(self._subs):
            if sub.wants(message.topic):
                sub.offer(message)

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
