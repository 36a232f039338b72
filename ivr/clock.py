"""The one clock: every moment a call, a ticket, a booking, a session or a statistic reads.

A clock is a callable returning an aware UTC ``datetime``. The process builds one at its
composition root (``callcenter/app.py``, the CLI) and hands it to every service; nothing else in
the code base reads the wall clock (``tests/unit/test_clock.py`` checks that).

* :func:`system_clock` is the wall clock (production).
* :class:`RunningClock` starts at a given moment and advances with the monotonic clock: the
  hotline behaves as if it were that moment (``HOTLINE_CLOCK_START``, used by the test suite
  and demos to run on a holiday, at midnight, on a make-up workday).
* :class:`FixedClock` stands still until it is moved (unit tests).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The wall clock, in UTC. The only place the code base reads it."""
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"a clock needs an aware datetime (with an offset), got {moment}")
    return moment.astimezone(UTC)


class FixedClock:
    """A clock that stands still at ``moment`` until moved with :meth:`set` / :meth:`advance`."""

    def __init__(self, moment: datetime) -> None:
        self.moment = _aware(moment)

    def __call__(self) -> datetime:
        return self.moment

    def set(self, moment: datetime) -> None:
        self.moment = _aware(moment)

    def advance(self, delta: timedelta) -> None:
        self.moment += delta

    def __repr__(self) -> str:
        return f"FixedClock({self.moment.isoformat()})"


class RunningClock:
    """A clock that reads ``start`` when created and then runs at the wall clock's pace
    (measured on the monotonic clock, so it never jumps with the system time)."""

    def __init__(self, start: datetime,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.start = _aware(start)
        self._monotonic = monotonic
        self._origin = monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=self._monotonic() - self._origin)

    def __repr__(self) -> str:
        return f"RunningClock(started at {self.start.isoformat()})"


def make_clock(start: datetime | None) -> Clock:
    """The process clock: the wall clock, or a running clock from ``start`` when one is set."""
    return system_clock if start is None else RunningClock(start)


def local_date(clock: Clock, timezone: str) -> Callable[[], date]:
    """A date clock (today in ``timezone``) reading ``clock``."""
    tz = ZoneInfo(timezone)
    return lambda: clock().astimezone(tz).date()
