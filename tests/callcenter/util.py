"""Helpers of the call-center tests: users and tokens on a test database, Asterisk's queue
members and channels, waiting for a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from callcenter.auth.models import Role
from callcenter.auth.services import UserService
from callcenter.contacts.models import Contact
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


async def channels(ami: AmiClient) -> list[dict[str, str]]:
    """Asterisk's channels now (CoreShowChannel headers)."""
    reply = await ami.send_action({"Action": "CoreShowChannels"}, as_list=True, timeout=10)
    return [{k: str(v) for k, v in m.items()} for m in reply
            if str(m.get("Event")) == "CoreShowChannel"]


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


def legs_talk_seconds(contact: Contact) -> float:
    """The contact's talk time counted by hand from its legs (docs/metrics.md "Durations"):
    each agent's answer to its ``agent_completed`` (the talk time ending there), cut where the
    caller joined another queue (not a consultation's leg); a leg never completed runs to that
    join or to the end. Overlaps counted once."""
    events = list(contact.events)
    legs: list[tuple[datetime, datetime]] = []
    done: set[int] = set()
    for i, e in enumerate(events):
        if e.kind != "agent_connected":
            continue
        left = next((j.at for j in events[i + 1:] if j.kind == "queue_joined"
                     and not j.data.get("consult")), None)
        end = next((k for k, j in enumerate(events) if k > i and k not in done
                    and j.kind == "agent_completed" and j.data["agent"] == e.data["agent"]),
                   None)
        if end is None:
            last = left or contact.ended_at
            if last is not None:
                legs.append((e.at, last))
            continue
        done.add(end)
        at = events[end].at
        legs.append((at - timedelta(seconds=float(events[end].data["talk_time"])),
                     min(at, left) if left is not None else at))
    total, reach = 0.0, None
    for lo, hi in sorted(legs):
        start = lo if reach is None else max(lo, reach)
        if hi > start:
            total += (hi - start).total_seconds()
        reach = hi if reach is None else max(reach, hi)
    return total


def timeline(contact: Contact) -> str:
    """The contact's events, one a line (for a failed assertion's message)."""
    return "\n".join(f"{e.at:%H:%M:%S.%f} {e.kind} {dict(e.data)}" for e in contact.events)
