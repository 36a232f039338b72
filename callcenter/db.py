"""Database engine and sessions (SQLAlchemy 2). SQLite by default, PostgreSQL in production."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, create_engine, delete, event, false, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator


class Base(DeclarativeBase):
    pass


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# A pooled connection idle longer than this is pinged before it is handed out, so that one
# the server dropped meanwhile (a restart, an idle timeout) is replaced, not failed on. One
# used more recently goes out as it is: SQLAlchemy's ``pool_pre_ping`` pinged every checkout,
# a round trip per transaction and 5 % of the bridge's CPU under 50 calls (py-spy, the contact
# writer's transactions ten a second). A connection the server dropped within this window
# fails its first statement instead; SQLAlchemy then replaces every pooled connection, and the
# contact writer spools what it could not store (callcenter/contacts/services.py).
IDLE_PING_S = 2.0


def _ping_when_idle(engine: Engine, idle_s: float, now: Callable[[], float]) -> None:
    @event.listens_for(engine, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = now()  # new: nothing to check

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = now()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is not None and now() - since <= idle_s:
            return
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
        except Exception as exc:
            # the pool drops this connection and hands out a new one
            raise DisconnectionError(f"a pooled connection no longer answers: {exc}") from exc


def make_engine(url: str, *, idle_ping_s: float = IDLE_PING_S,
                now: Callable[[], float] = time.monotonic) -> Engine:
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    _ping_when_idle(engine, idle_ping_s, now)
    return engine


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.sessions.begin() as session:
            yield session

    def ping(self) -> None:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


# the first key of the hotline's transaction-scoped advisory locks (PostgreSQL)
LOCK_NAMESPACE = 12366


def lock_key(session: Session, key: str, model: type[Base]) -> None:
    """Hold a lock on ``key`` until the session's transaction ends, so that one check-then-
    insert on ``model``'s table for it runs at a time across threads and processes. PostgreSQL: a
    transaction-scoped advisory lock (two keys: the hotline's namespace, a CRC-32 of ``key``).
    SQLite lets one writer in at a time and a plain SELECT takes no lock: the transaction
    first takes the write lock with a delete from that table that matches nothing, so its reads
    then see what the writer before it committed."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        slot = zlib.crc32(key.encode()) - 2**31  # a signed 32-bit key
        session.execute(text("SELECT pg_advisory_xact_lock(:ns, :slot)"),
                        {"ns": LOCK_NAMESPACE, "slot": slot})
    elif dialect == "sqlite":
        session.execute(delete(model).where(false()))
