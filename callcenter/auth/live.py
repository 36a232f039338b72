"""Open WebSockets by login session, so that ending a session ends its sockets at once.

``/api/v1/ws`` registers each socket (:meth:`LiveSessions.watch`); logout ends the sockets of
its token, a deactivation or a new password all sockets of the user. In-process, like the
notifier: a socket also checks its session again every ``HOTLINE_WS_SESSION_CHECK_S`` (what
another API worker or the command line ended, and expiry)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

from callcenter.auth.services import token_digest


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
