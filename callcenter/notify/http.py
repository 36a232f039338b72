"""WebSocket ``/api/v1/ws``: live topics for the console and the wallboard.

Connect with the console's session cookie, an ``Authorization: Bearer`` header or
``?token=``; choose topics with ``?topics=agents,queues`` or later with
``{"subscribe": ["wallboard"]}`` / ``{"unsubscribe": [...]}`` messages. Each message sent is
``{"topic", "seq", "at", "payload"}``. Who may listen to what:

* ``calls.<username>``: that agent only (supervisors and admins may listen to any agent);
* ``agents``, ``queues``, ``wallboard``: supervisors and admins; agents get ``agents.<own name>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from callcenter.auth.deps import websocket_user
from callcenter.auth.models import Role
from callcenter.auth.services import AuthUser
from callcenter.notify.services import Notifier, Subscription

router = APIRouter(tags=["live"])

SUPERVISORS = frozenset({Role.SUPERVISOR, Role.ADMIN})


def allowed(user: AuthUser, topic: str) -> bool:
    if user.role in SUPERVISORS:
        return True
    return topic in (f"calls.{user.username}", f"agents.{user.username}")


def _apply(user: AuthUser, sub: Subscription, command: dict[str, Any]) -> list[str]:
    refused: list[str] = []
    for topic in command.get("subscribe", []) or []:
        if isinstance(topic, str) and allowed(user, topic):
            sub.topics.add(topic)
        else:
            refused.append(str(topic))
    for topic in command.get("unsubscribe", []) or []:
        sub.topics.discard(str(topic))
    return refused


@router.websocket("/ws")
async def websocket(ws: WebSocket) -> None:
    user = await websocket_user(ws)
    if user is None:
        await ws.close(code=4401, reason="not logged in")
        return
    bus: Notifier = ws.app.state.notifier
    requested = [t for t in ws.query_params.get("topics", "").split(",") if t]
    if not requested:
        requested = [f"calls.{user.username}", f"agents.{user.username}"]
    await ws.accept()
    sub = bus.subscribe(replay_latest=False)
    refused = _apply(user, sub, {"subscribe": requested})
    await ws.send_json({"topic": "hello", "seq": 0, "payload": {
        "user": user.username, "role": str(user.role), "topics": sorted(sub.topics),
        "refused": refused}})

    async def pump() -> None:
        async for message in sub:
            await ws.send_json(message.as_json())

    sender = asyncio.create_task(pump())
    try:
        while True:
            text = await ws.receive_text()
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
    except WebSocketDisconnect:
        pass
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        sub.close()
