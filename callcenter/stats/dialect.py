"""SQL that differs between SQLite and PostgreSQL, and the SQL expressions the rollups and the
reports share: epoch seconds of a timestamp column, 15-minute buckets, report interval keys,
conditional sums, the rollups' lock."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, case, cast, func, literal, text
from sqlalchemy.orm import Session

from callcenter.stats.models import BUCKET_SECONDS
from callcenter.stats.ranges import INTERVAL_SECONDS, Interval, ReportRange

# the transaction-scoped advisory lock that serialises rollup upkeep on PostgreSQL
ROLLUP_LOCK = 12366006


def epoch_of(column: Any, dialect: str) -> ColumnElement[int]:
    """UTC epoch seconds of a UtcDateTime column, as an integer, on both backends."""
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), Integer)


def bucket_sql(column: Any, dialect: str) -> ColumnElement[int]:
    return (epoch_of(column, dialect) // BUCKET_SECONDS) * BUCKET_SECONDS


def sum_if(condition: ColumnElement[bool], value: Any = 1) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def lock_rollups(session: Session, dialect: str) -> None:
    """One rollup upkeep at a time (PostgreSQL; SQLite serialises writers itself)."""
    if dialect == "postgresql":
        session.execute(text(f"SELECT pg_advisory_xact_lock({ROLLUP_LOCK})"))


def group_key(column: Any, rng: ReportRange) -> ColumnElement[int]:
    """The local interval an epoch column falls in: local epoch of its day/hour/quarter
    (months are folded from days in Python)."""
    if rng.interval is Interval.MONTH:
        # local epoch of the month's first day: one branch per month of the range
        starts = [int(s.timestamp()) for s in rng.interval_starts()]
        whens = [(column < nxt, start + rng.offset)
                 for start, nxt in itertools.pairwise(starts)]
        month: ColumnElement[int] = case(*whens, else_=starts[-1] + rng.offset) \
            if whens else literal(starts[-1] + rng.offset)
        return month
    size = INTERVAL_SECONDS[rng.interval]
    key: ColumnElement[int] = ((column + rng.offset) // size) * size
    return key


def start_of_key(key: int, rng: ReportRange) -> datetime:
    """The UTC start of the interval whose :func:`group_key` is ``key``."""
    return datetime.fromtimestamp(int(key) - rng.offset, UTC)


def aware(value: datetime | None) -> datetime | None:
    """A timestamp from an aggregate (SQLite returns it naive or as text) as aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
