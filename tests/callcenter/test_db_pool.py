"""Pooled connections on the real PostgreSQL (callcenter/db.py ``make_engine``): one idle past
``IDLE_PING_S`` is pinged before it is handed out and replaced when the server dropped it; one
used more recently goes out without that round trip."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from callcenter.db import make_engine
from tests.support import PG_ADMIN_URL, create_pg_database, drop_pg_database


class StepClock:
    """The pool's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pg_url() -> Iterator[str]:
    url, name = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(name)


def backend(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.text("SELECT pg_backend_pid()")))


def drop(pid: int) -> None:
    """The server ends that session (as a restart or an idle timeout would)."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        for _ in range(100):  # gone from the server's sessions
            if not conn.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                               {"pid": pid}):
                break
            time.sleep(0.05)
    admin.dispose()


def test_a_connection_dropped_while_idle_is_replaced_before_use(pg_url: str) -> None:
    clock = StepClock()
    engine = make_engine(pg_url, idle_ping_s=2.0, now=clock)
    first = backend(engine)
    assert backend(engine) == first  # the pool hands the same connection out again
    drop(first)
    clock.now += 2.5  # idle past the window: pinged, found dropped, replaced
    second = backend(engine)
    assert second != first
    engine.dispose()


def test_a_connection_used_within_the_window_goes_out_unpinged(pg_url: str) -> None:
    clock = StepClock()
    engine = make_engine(pg_url, idle_ping_s=2.0, now=clock)
    first = backend(engine)
    drop(first)
    clock.now += 1.5  # not pinged: its first statement meets the dropped session
    with pytest.raises(DBAPIError) as failed:
        backend(engine)
    assert failed.value.connection_invalidated
    # the pool replaced its connections: the next one works
    assert backend(engine) != first
    engine.dispose()
