"""WebSocket ``/api/v1/ws``: live topics for the console and the wallboard.

Authenticated like the pages: the HttpOnly session cookie (a client that is not a browser may
send an ``Authorization: Bearer`` header instead); a token in the URL is not accepted. A
socket from another origin is closed by the edge (``callcenter/edge.py``, 4403). Choose
topics with ``?topics=agents,queues`` or later with ``{"subscribe": ["wallboard"]}`` /
``{"unsubscribe": [...]}`` messages. Each message sent is ``{"topic", "kind", "seq", "at",
"payload"}`` (``kind``: the notification's name, callcenter/notify/messages.py). Topic names
are exact (no prefixes). Who may listen to what:

* ``calls.<username>``, ``agents.<username>``: that agent only;
* ``consult`` (new consultations to answer): every call-centre role (agents, experts,
  supervisors, admins), not the knowledge base's editors and reviewers;
* anything else (``agents``, ``queues``, ``wallboard``, other agents' topics, ``*``):
  supervisors and admins.

The session is checked again while the socket is open: logout, deactivation, a new password
or a new role end it at once (``callcenter/auth/live.py``), expiry and what another process
ended within ``HOTLINE_WS_SESSION_CHECK_S``. Then nothing more is delivered and the socket
closes with 4401.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from callcenter.auth.deps import user_service_of, websocket_session
from callcenter.auth.live import SocketSession, live_sessions
from callcenter.auth.models import CALL_CENTRE_ROLES, Role
from callcenter.auth.services import AuthUser
from callcenter.notify.services import Notifier, Subscription
from ivr.clock import Clock

router = APIRouter(tags=["live"])

SUPERVISORS = frozenset({Role.SUPERVISOR, Role.ADMIN})
SESSION_ENDED = 4401


def allowed(user: AuthUser, topic: str) -> bool:
    if user.role in SUPERVISORS:
        return True
    if topic == "consult":
        return user.role in CALL_CENTRE_ROLES
    return topic in (f"calls.{user.username}", f"agents.{user.username}")


def _apply(user: AuthUser, sub: Subscription, command: dict[str, Any]) -> list[str]:
    refused: list[str] = []
    for topic in _topics(command.get("subscribe")):
        if allowed(user, topic):
            sub.topics.add(topic)
        else:
            refused.append(topic)
    for topic in _topics(command.get("unsubscribe")):
        sub.topics.discard(topic)
    return refused


def _topics(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [str(t)[:128] for t in value[:100]]


class SessionGuard:
    """Whether the socket's session still holds: not ended (here or, found by a periodic
    check, anywhere), not expired, the same user with the same role."""

    def __init__(self, ws: WebSocket, user: AuthUser, token: str, expires: datetime,
                 socket: SocketSession) -> None:
        self.ws = ws
        self.user = user
        self.token = token
        self.expires = expires
        self.socket = socket
        self.clock: Clock = ws.app.state.clock
        self.check_s: float = ws.app.state.settings.ws_session_check_s

    def holds(self) -> bool:
        return not self.socket.ended.is_set() and self.clock() < self.expires

    async def still_valid(self) -> bool:
        found = await asyncio.to_thread(user_service_of(self.ws.app.state).session_of,
                                        self.token)
        return found is not None and found[0].role == self.user.role and \
            found[0].id == self.user.id

    async def wait_for_end(self) -> None:
        """Returns when the session has ended."""
        while True:
            remaining = (self.expires - self.clock()).total_seconds()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.socket.ended.wait(),
                                       max(0.0, min(self.check_s, remaining)))
            if not self.holds() or not await self.still_valid():
                self.socket.ended.set()
                return


@router.websocket("/ws")
async def websocket(ws: WebSocket) -> None:
    found = await websocket_session(ws)
    if found is None:
        await ws.close(code=SESSION_ENDED, reason="not logged in")
        return
    user, token, expires = found
    bus: Notifier = ws.app.state.notifier
    requested = [t for t in ws.query_params.get("topics", "").split(",") if t]
    if not requested:
        requested = [f"calls.{user.username}", f"agents.{user.username}"]
    registry = live_sessions(ws.app.state)
    guard = SessionGuard(ws, user, token, expires, registry.watch(user.id, token))
    await ws.accept()
    sub = bus.subscribe(replay_latest=False)
    refused = _apply(user, sub, {"subscribe": requested})
    await ws.send_json({"topic": "hello", "seq": 0, "payload": {
        "user": user.username, "role": str(user.role), "topics": sorted(sub.topics),
        "refused": refused}})

    async def pump() -> None:
        async for message in sub:
            if not guard.holds():
                return  # nothing more once the session has ended
            await ws.send_json(message.as_json())

    async def read() -> None:
        while True:
            text = await ws.receive_text()
            if not guard.holds():
                return
            try:
                command = json.loads(text)
            except ValueError:
                await ws.send_json({"topic": "error", "seq": 0,
                                    "payload": {"detail": "消息不是有效的 JSON"}})
                continue
            if isinstance(command, dict):
                refused = _apply(user, sub, command)
                await ws.send_json({"topic": "subscribed", "seq": 0, "payload": {
                    "topics": sorted(sub.topics), "refused": refused}})

    tasks = [asyncio.create_task(pump()), asyncio.create_task(read()),
             asyncio.create_task(guard.wait_for_end())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if not guard.holds():
            with contextlib.suppress(Exception):
                await ws.close(code=SESSION_ENDED, reason="session ended")
    except WebSocketDisconnect:
        pass
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await task
        sub.close()
        registry.forget(guard.socket)
