"""The notifier across processes: the same API as :class:`Notifier`, carried by the Redis bus
on a durable channel (a stream: a worker that lost Redis for a moment gets what was sent
meanwhile once it is back; callcenter/bus.py).

A bridge (``hotline bridge``) publishes an agent's state or call card; every API worker
(``hotline serve`` with ``HOTLINE_REDIS_URL``) receives it on the channel
``<prefix>:notify`` and hands it to its own WebSocket subscribers, so an agent sees their calls
whichever worker their socket is on. Publishing never blocks (the bus's ordered outbox); what
one process publishes arrives everywhere in that order; each receiving process numbers the
messages it delivers (``seq``) as the in-process notifier does.

Each bridge's ``queue_board`` covers its own node's agents and callers: the message carries
the publishing node (``node``), and each receiving process keeps the latest board of every node
and delivers their merge (:func:`merge_boards`), so the supervisor's live board shows the whole
centre.

The wallboard is not carried: every worker computes it from the database while it has
listeners (``callcenter/stats/live.py``) and delivers it to its own sockets only, so a
supervisor does not receive it once per worker.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from callcenter.bus import RedisBus
from callcenter.notify.messages import (
    Notification,
    QueueBoard,
    WallboardFigures,
    notification_from_dict,
)
from callcenter.notify.services import Message, Notifier
from ivr.clock import Clock

CHANNEL = "notify"


class RedisNotifier(Notifier):
    def __init__(self, clock: Clock, bus: RedisBus, queue_size: int = 256,
                 node: str = "") -> None:
        super().__init__(clock, queue_size)
        self.bus = bus
        self.node = node  # the bridge's node ("" for an API worker)
        self.channel = bus.name(CHANNEL)
        self.received = 0
        self._boards: dict[str, dict[str, Any]] = {}  # the latest queue board of each node
        bus.on(self.channel, self._arrived)

    def publish(self, topic: str, note: Notification) -> Message:
        """Send ``note`` to the subscribers of ``topic`` in every process (this one included,
        when Redis hands it back)."""
        at = self.clock()
        self.published += 1
        self.bus.send(self.channel, {"topic": topic, "kind": note.NAME, "at": at.isoformat(),
                                     "node": self.node, "payload": note.to_dict()})
        return Message(topic, note.to_dict(), 0, at, note.NAME)

    def wallboard(self, note: WallboardFigures) -> None:
        Notifier.publish(self, "wallboard", note)  # this process's sockets only

    def _arrived(self, data: dict[str, Any]) -> None:
        kind, payload = str(data["kind"]), data["payload"]
        notification_from_dict(kind, payload)  # the typed contract: refuse what it cannot read
        self.received += 1
        if kind == QueueBoard.NAME:
            self._boards[str(data.get("node", ""))] = payload
            payload = merge_boards(list(self._boards.values()))
        self.deliver(Message(str(data["topic"]), payload, next(self._seq),
                             datetime.fromisoformat(str(data["at"])), kind))


def merge_boards(boards: list[dict[str, Any]]) -> dict[str, Any]:
    """One board of several nodes' (``QueueBoard.to_dict`` shapes)."""
    if len(boards) == 1:
        return boards[0]
    agents = sorted((a for b in boards for a in b["agents"]), key=lambda a: a["username"])
    by_state: dict[str, int] = {}
    for b in boards:
        for state, count in b["by_state"].items():
            by_state[state] = by_state.get(state, 0) + int(count)
    waiting = sorted((w for b in boards for w in b["waiting"]), key=lambda w: -w["wait_s"])
    queues: dict[str, dict[str, Any]] = {}
    for b in boards:
        for name, entry in b["queues"].items():
            merged = queues.setdefault(name, {"waiting": 0, "longest_wait_s": 0.0})
            merged["waiting"] += entry["waiting"]
            merged["longest_wait_s"] = max(merged["longest_wait_s"], entry["longest_wait_s"])
    return {**boards[0], "at": max(b["at"] for b in boards), "agents": agents,
            "by_state": by_state, "waiting": waiting,
            "longest_wait_s": max(b["longest_wait_s"] for b in boards), "queues": queues}
