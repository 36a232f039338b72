"""The IVR's self-services for tests: real database services, the real knowledge base, and a
clock of their own (tests never depend on the wall clock).

By default a call happens when agents are in: the first working day at or after the suite's
clock (tests/support.py), at 10:00 in Shanghai. A test that needs another moment (a night, a
holiday, a make-up workday) passes it; the clock then runs on from that moment.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, time, timedelta
from pathlib import Path

from callcenter.db import Database
from callcenter.runtime import load_shared
from callcenter.selfservice.services import build_ivr_services, seed_demo
from callcenter.settings import PROJECT_ROOT, Settings
from ivr.calendar import ServiceCalendar
from ivr.clock import RunningClock, local_date
from ivr.services import IvrServices
from knowledge_base import KnowledgeBase
from tests.support import SUITE_CLOCK, suite_start

AGENTS_IN_AT = time(10, 0)
CLOSED_AT = time(22, 0)


@functools.cache
def knowledge_base() -> KnowledgeBase:
    return KnowledgeBase.load(PROJECT_ROOT / "knowledge_base" / "data",
                              cache_dir=PROJECT_ROOT / "var" / "kb-cache",
                              clock=local_date(SUITE_CLOCK, "Asia/Shanghai"))


def calendar() -> ServiceCalendar:
    return ServiceCalendar.load()


def _working_day(after: datetime) -> tuple[ServiceCalendar, date]:
    """The calendar and the first of its working days at or after ``after`` (Shanghai)."""
    cal = calendar()
    day = cal.local(after).date()
    while not cal.is_working_day(day):
        day += timedelta(days=1)
    return cal, day


def agents_in_moment(after: datetime | None = None) -> datetime:
    """10:00 (Shanghai) of the first working day of the calendar at or after ``after``
    (default: the suite's moment)."""
    after = after if after is not None else suite_start()
    cal, day = _working_day(after)
    moment = datetime.combine(day, AGENTS_IN_AT, tzinfo=cal.local(after).tzinfo)
    assert cal.is_open(moment), f"{moment} should be within service hours"
    return moment


def closed_moment(after: datetime | None = None) -> datetime:
    """22:00 (Shanghai) of the first working day at or after ``after`` (default: the suite's
    moment): after the agents' hours on a day that is not a public holiday (a holiday has
    prompts of its own)."""
    after = after if after is not None else suite_start()
    cal, day = _working_day(after)
    moment = datetime.combine(day, CLOSED_AT, tzinfo=cal.local(after).tzinfo)
    assert not cal.is_open(moment), f"{moment} should be outside service hours"
    return moment


def make_ivr_services(db: Database, recordings_dir: Path,
                      moment: datetime | None = None) -> IvrServices:
    """Services over ``db`` on a clock running from ``moment`` (default: agents in), with the
    demo data seeded for that day and the knowledge base loaded."""
    clock = RunningClock(moment or agents_in_moment())
    settings = Settings(recordings_dir=recordings_dir, vosk_model_path=None, kb_enabled=False)
    shared = load_shared(settings, db, clock)  # the calendar and the ticket service, as the app
    assert isinstance(shared.calendar, ServiceCalendar)
    assert shared.tickets is not None
    services = build_ivr_services(settings, db, clock, calendar=shared.calendar,
                                  tickets=shared.tickets, kb=knowledge_base())
    assert services.calendar is not None
    seed_demo(db, services.calendar, clock)
    return services
