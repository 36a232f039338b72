"""Fixtures of the statistics tests: a clean contact log and empty rollups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete

from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.stats.metrics import Thresholds
from callcenter.stats.models import (
    StatsContactDaily,
    StatsContactRollup,
    StatsDirtyBucket,
    StatsQueueDaily,
    StatsQueueRollup,
    StatsRollupState,
)
from callcenter.stats.services import StatsService
from ivr.clock import FixedClock
from ivr.ports import ContactEvent, EventKind

Step = tuple[float, EventKind, dict[str, object]]
# the reports' 'now' (what is due, what is live): after the days the report tests build
REPORT_CLOCK = FixedClock(datetime(2026, 11, 30, 4, 0, tzinfo=UTC))  # 12:00 in Shanghai


def clear_stats(database: Database) -> None:
    with database.transaction() as session:
        for table in (StatsContactRollup, StatsQueueRollup, StatsContactDaily, StatsQueueDaily,
                      StatsDirtyBucket, StatsRollupState):
            session.execute(delete(table))


@pytest.fixture
def stats(database: Database, contacts: ContactService) -> StatsService:
    clear_stats(database)
    return StatsService(database, Thresholds(service_level_seconds=20, short_abandon_seconds=5,
                                             satisfied_scores=(1, 2)), clock=REPORT_CLOCK)


def play(service: ContactService, linkedid: str, at: datetime, steps: list[Step]) -> None:
    """Apply ``steps`` (seconds after ``at``) as the IVR would record them."""
    for offset, kind, data in steps:
        service.apply(ContactEvent.parse(linkedid, kind, data, at=at + timedelta(seconds=offset)))


SHANGHAI_OFFSET = timedelta(hours=8)


def local(text: str) -> datetime:
    """A Shanghai wall-clock time ('2026-11-27 09:05:00') as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC) - SHANGHAI_OFFSET
