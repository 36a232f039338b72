"""The IVR's self-services for tests: real database services, the real knowledge base, a
fixed clock inside service hours (tests never depend on the wall clock)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from callcenter.db import Database
from callcenter.selfservice.services import build_ivr_services, seed_demo
from callcenter.settings import PROJECT_ROOT, Settings
from ivr.calendar import ServiceCalendar
from ivr.services import IvrServices
from knowledge_base import KnowledgeBase

# Tuesday 2026-12-01 10:00 in Shanghai (02:00 UTC): agents are in
OPEN_TIME = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
# Sunday 2026-11-29 22:00 in Shanghai: outside service hours
CLOSED_TIME = datetime(2026, 11, 29, 14, 0, tzinfo=UTC)
SEED_DAY = date(2026, 11, 30)


@functools.cache
def knowledge_base() -> KnowledgeBase:
    return KnowledgeBase.load(PROJECT_ROOT / "knowledge_base" / "data",
                              cache_dir=PROJECT_ROOT / "var" / "kb-cache")


def fixed_clock(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def make_ivr_services(db: Database, recordings_dir: Path,
                      moment: datetime = OPEN_TIME) -> IvrServices:
    """Services over ``db`` with the demo data seeded, the knowledge base loaded."""
    settings = Settings(recordings_dir=recordings_dir, vosk_model_path=None)
    services = build_ivr_services(settings, db, clock=fixed_clock(moment))
    services.kb = knowledge_base()
    assert services.calendar is not None
    seed_demo(db, services.calendar, today=SEED_DAY)
    return services


def calendar() -> ServiceCalendar:
    return ServiceCalendar.load()
