"""The helpers' way to the suite's moment (tests/support.py suite_start): a read of the suite's
clock, which today's run records, so the other moments' runs take the tests that use it."""

from __future__ import annotations

from datetime import datetime

import pytest

from ivr.clock import RunningClock
from tests.support import SUITE_CLOCK, SUITE_START, suite_start


def test_the_suite_start_is_a_recorded_read_of_the_suite_clock(
        monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[RunningClock] = []
    original = RunningClock.__call__

    def counted(self: RunningClock) -> datetime:
        reads.append(self)
        return original(self)

    monkeypatch.setattr(RunningClock, "__call__", counted)
    assert suite_start() == SUITE_START
    assert reads == [SUITE_CLOCK]
