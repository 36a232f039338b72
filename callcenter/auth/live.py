"""Open WebSockets by login session, so that ending a session ends its sockets at once.

``/api/v1/ws`` registers each socket (:meth:`LiveSessions.watch`); logout ends the sockets of
its token, a deactivation or a new password all sockets of the user. In-process, like the
notifier: a socket also checks its session again every ``HOTLINE_WS_SESSION_CHECK_S`` (what
another API worker or the command line ended, and expiry). With several API workers
(``HOTLINE_REDIS_URL``), :class:`SharedLiveSessions` tells the others at once."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from callcenter.auth.services import token_digest
from callcenter.bus import RedisBus


@dataclass(eq=False)
class SocketSession:
    user_id: int
    digest: str
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class LiveSessions:
    def __init__(self) -> None:
        self._sockets: dict[int, set[SocketSession]] = defaultdict(set)

    def watch(self, user_id: int, token: str) -> SocketSession:
        socket = SocketSession(user_id, token_digest(token))
        self._sockets[user_id].add(socket)
        return socket

    def forget(self, socket: SocketSession) -> None:
        sockets = self._sockets.get(socket.user_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._sockets[socket.user_id]

    def end_token(self, token: str) -> int:
        digest = token_digest(token)
        ended = [s for group in self._sockets.values() for s in group if s.digest == digest]
        for socket in ended:
            socket.ended.set()
        return len(ended)

    def end_user(self, user_id: int) -> int:
        ended = list(self._sockets.get(user_id, ()))
        for socket in ended:
            socket.ended.set()
        return len(ended)

    @property
    def open(self) -> int:
        return sum(len(group) for group in self._sockets.values())


def live_sessions(state: object) -> LiveSessions:
    """The app's registry (``app.state.live_sessions``), made on first use."""
    registry = getattr(state, "live_sessions", None)
    if not isinstance(registry, LiveSessions):
        registry = LiveSessions()
        state.live_sessions = registry  # type: ignore[attr-defined]
    return registry


class SharedLiveSessions(LiveSessions):
    """The registry of one API worker among several (``HOTLINE_REDIS_URL``): ending a token or
    a user's sessions is also published on ``<prefix>:sessions``, and every worker ends its
    own sockets of it at once (the token itself never travels: its SHA-256 does)."""

    def __init__(self, bus: RedisBus) -> None:
        super().__init__()
        self.bus = bus
        self.channel = bus.name("sessions")
        bus.on(self.channel, self._arrived)

    def end_token(self, token: str) -> int:
        self.bus.send(self.channel, {"digest": token_digest(token)})
        return super().end_token(token)

    def end_user(self, user_id: int) -> int:
        self.bus.send(self.channel, {"user_id": user_id})
        return super().end_user(user_id)

    def _arrived(self, data: dict[str, Any]) -> None:
        if "user_id" in data:
            super().end_user(int(data["user_id"]))
        digest = str(data.get("digest", ""))
        for socket in [s for group in self._sockets.values() for s in group
                       if digest and s.digest == digest]:
            socket.ended.set()
