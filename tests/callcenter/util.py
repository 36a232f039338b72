"""Helpers of the call-center tests: users and tokens on a test database, Asterisk's queue
members, waiting for a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from callcenter.auth.models import Role
from callcenter.auth.services import UserService
from callcenter.db import Database
from ivr.ami.client import AmiClient
from tests.support import SUITE_CLOCK

PASSWORD = "test-password-1"


def ensure_user(db: Database, username: str, role: Role | str, *,
                interface: str | None = None, password: str = PASSWORD) -> None:
    users = UserService(db, SUITE_CLOCK)
    if users.get_user(username) is None:
        users.create_user(username, password, Role(role), actor="test", interface=interface)


def token_for(db: Database, username: str, role: Role | str, *,
              interface: str | None = None) -> str:
    """A bearer token of ``username`` (created with ``role`` when missing)."""
    ensure_user(db, username, role, interface=interface)
    result = UserService(db, SUITE_CLOCK).login(username, PASSWORD)
    assert result is not None
    return result[1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def members(ami: AmiClient) -> dict[tuple[str, str], dict[str, str]]:
    """Asterisk's queue members: (queue, member name) -> QueueMember headers (lower case)."""
    response = await ami.send_action({"Action": "QueueStatus"}, as_list=True, timeout=10)
    found: dict[tuple[str, str], dict[str, str]] = {}
    for message in response:
        if str(message.get("Event", "")).lower() == "queuemember":
            info = {k.lower(): str(v) for k, v in message.items()}
            found[(info["queue"], info.get("name") or info.get("membername", ""))] = info
    return found


async def wait_for(predicate: Callable[[], Awaitable[Any]], timeout: float, what: str,
                   seen: Callable[[], Awaitable[Any]] | None = None) -> Any:
    """The first truthy result of ``predicate`` (polled every 0.5 s) within ``timeout`` s; on a
    timeout the error shows the last result, or what ``seen`` returns then."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(0.5)
    if seen is not None:
        last = await seen()
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")
