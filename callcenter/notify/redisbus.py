"""The notifier across processes: the same API as :class:`Notifier`, carried by Redis pub/sub.

A bridge (``hotline bridge``) publishes an agent's state or call card; every API worker
(``hotline serve`` with ``HOTLINE_REDIS_URL``) receives it on the channel
``<prefix>:notify`` and hands it to its own WebSocket subscribers, so an agent sees their calls
whichever worker their socket is on. Publishing never blocks (the bus's ordered outbox); what
one process publishes arrives everywhere in that order; each receiving process numbers the
messages it delivers (``seq``) as the in-process notifier does.

The wallboard is not carried: every worker computes it from the database while it has
listeners (``callcenter/stats/live.py``) and delivers it to its own sockets only, so a
supervisor does not receive it once per worker.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from callcenter.bus import RedisBus
from callcenter.notify.messages import Notification, WallboardFigures, notification_from_dict
from callcenter.notify.services import Message, Notifier
from ivr.clock import Clock

CHANNEL = "notify"


class RedisNotifier(Notifier):
    def __init__(self, clock: Clock, bus: RedisBus, queue_size: int = 256) -> None:
        super().__init__(clock, queue_size)
        self.bus = bus
        self.channel = bus.name(CHANNEL)
        self.received = 0
        bus.on(self.channel, self._arrived)

    def publish(self, topic: str, note: Notification) -> Message:
        """Send ``note`` to the subscribers of ``topic`` in every process (this one included,
        when Redis hands it back)."""
        at = self.clock()
        self.published += 1
        self.bus.send(self.channel, {"topic": topic, "kind": note.NAME, "at": at.isoformat(),
                                     "payload": note.to_dict()})
        return Message(topic, note.to_dict(), 0, at, note.NAME)

    def wallboard(self, note: WallboardFigures) -> None:
        Notifier.publish(self, "wallboard", note)  # this process's sockets only

    def _arrived(self, data: dict[str, Any]) -> None:
        kind, payload = str(data["kind"]), data["payload"]
        notification_from_dict(kind, payload)  # the typed contract: refuse what it cannot read
        self.received += 1
        self.deliver(Message(str(data["topic"]), payload, next(self._seq),
                             datetime.fromisoformat(str(data["at"])), kind))
