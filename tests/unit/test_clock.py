"""The one clock (ivr/clock.py) and the rule that nothing else reads the wall clock."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from callcenter.settings import PROJECT_ROOT, Settings, clock_of
from ivr.clock import FixedClock, RunningClock, local_date, make_clock, system_clock

NEW_YEARS_EVE = datetime(2026, 12, 31, 23, 59, 30, tzinfo=timezone(timedelta(hours=8)))


def test_running_clock_starts_at_its_moment_and_runs_at_the_monotonic_pace() -> None:
    now = [100.0]
    clock = RunningClock(NEW_YEARS_EVE, monotonic=lambda: now[0])
    assert clock() == NEW_YEARS_EVE
    assert clock().tzinfo == UTC
    now[0] = 130.5
    later = clock()
    assert later - NEW_YEARS_EVE == timedelta(seconds=30.5)
    # 30.5 s after 23:59:30 in Shanghai is the next year there
    assert local_date(lambda: later, "Asia/Shanghai")() == date(2027, 1, 1)


def test_fixed_clock_stands_still_until_moved() -> None:
    clock = FixedClock(NEW_YEARS_EVE)
    assert clock() == clock() == NEW_YEARS_EVE
    clock.advance(timedelta(minutes=1))
    assert clock() == NEW_YEARS_EVE + timedelta(minutes=1)
    clock.set(datetime(2026, 2, 17, 2, 0, tzinfo=UTC))
    assert clock().date() == date(2026, 2, 17)


def test_naive_moments_are_refused() -> None:
    with pytest.raises(ValueError, match="offset"):
        RunningClock(datetime(2026, 12, 1, 10, 0))
    with pytest.raises(ValueError, match="offset"):
        FixedClock(datetime(2026, 12, 1, 10, 0))


def test_settings_choose_the_process_clock() -> None:
    assert make_clock(None) is system_clock
    clock = clock_of(Settings(clock_start=NEW_YEARS_EVE))
    assert isinstance(clock, RunningClock)
    assert clock().astimezone(UTC) >= NEW_YEARS_EVE
    with pytest.raises(ValueError, match="timezone"):
        Settings(clock_start="2026-12-31T23:59:30")  # type: ignore[arg-type]


# Reads of the wall clock, in any spelling the code base could use.
WALL_CLOCK = re.compile(
    r"datetime\.(now|utcnow|today)\(|date\.today\b|\btime\.time\(|time\.(localtime|gmtime|"
    r"strftime|ctime)\(|\bfrom time import time\b")
# The one reader; the knowledge base's default for standalone use (it imports nothing of
# ours; the hotline always hands it a date clock built on the process clock); and the RTP
# capture, which turns the kernel's wall-clock packet stamps into monotonic times (audio
# alignment, never a moment the hotline acts on).
ALLOWED = {"ivr/clock.py", "knowledge_base/base.py", "knowledge_base/loader.py",
           "tests/unit/test_clock.py", "tests/caller_audio.py"}


def test_nothing_but_the_clock_module_reads_the_wall_clock() -> None:
    offenders = []
    for folder in ("ivr", "callcenter", "knowledge_base", "tests", "migrations"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            rel = path.relative_to(PROJECT_ROOT).as_posix()
            if rel in ALLOWED:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if WALL_CLOCK.search(line.split("#", 1)[0]):
                    offenders.append(f"{rel}:{number}: {line.strip()}")
    assert offenders == [], "\n".join(offenders)
