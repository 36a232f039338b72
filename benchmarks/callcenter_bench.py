"""Call-center figures: the notifier's fan-out (publish -> every WebSocket-side subscriber) and
the cost of a login (argon2id verify + session row) and of an authenticated request.

Prints figures; asserts nothing about time (see docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from callcenter.auth.models import Role
from callcenter.auth.services import UserService
from callcenter.db import Database
from callcenter.migrate import upgrade
from callcenter.notify.messages import AgentsResynced
from callcenter.notify.services import Notifier
from ivr.clock import system_clock


async def fanout(subscribers: int, messages: int) -> tuple[float, float]:
    bus = Notifier(system_clock, queue_size=messages + 1)
    subs = [bus.subscribe("agents") for _ in range(subscribers)]
    start = time.perf_counter()
    for n in range(messages):
        bus.agents_resynced(AgentsResynced(resyncs=n))
    publish_s = time.perf_counter() - start
    got = 0
    for sub in subs:
        while not sub.queue.empty():
            sub.queue.get_nowait()
            got += 1
    assert got == subscribers * messages
    return publish_s / messages * 1e6, publish_s / (messages * subscribers) * 1e6


def logins(rounds: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        db = Database(url)
        users = UserService(db, system_clock)
        users.create_user("bench", "quiet-harbour-17", Role.AGENT, actor="bench")
        login_s: list[float] = []
        auth_s: list[float] = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            result = users.login("bench", "quiet-harbour-17")
            t1 = time.perf_counter()
            assert result is not None
            assert users.authenticate(result[1]) is not None
            t2 = time.perf_counter()
            login_s.append(t1 - t0)
            auth_s.append(t2 - t1)
        db.dispose()
    return statistics.median(login_s) * 1e3, statistics.median(auth_s) * 1e3


def main() -> None:
    print("notifier fan-out (publish one message to N subscribers of a topic)")
    print("| subscribers | messages | us per publish | us per delivery |")
    print("| --- | --- | --- | --- |")
    for subscribers in (1, 50, 500):
        per_publish, per_delivery = asyncio.run(fanout(subscribers, 2000))
        print(f"| {subscribers} | 2000 | {per_publish:.1f} | {per_delivery:.2f} |")
    login_ms, auth_ms = logins(10)
    print(f"\nlogin (argon2id verify + session row, SQLite): median {login_ms:.0f} ms; "
          f"token check per request: median {auth_ms:.2f} ms")


if __name__ == "__main__":
    main()
