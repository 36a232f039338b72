"""How fast texts may go: per number (a minute's and an hour's limit) and in total (texts a
second towards the SMSC).

Pure: :func:`next_slot` takes the moments texts were handed to the gateway (read from
``sms_messages.sent_at`` by the service) and the clock's now, and says when one more may go.
A text over a limit is not dropped: the service holds it (status ``held``, ``send_after``) and
sends it when its slot comes; only a storm to one number (more than ``storm_backlog`` texts
already held for it) is cut, each cut text recorded as ``suppressed`` with a log line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Limits:
    """The sending limits (settings ``sms_limit_*``, ``sms_storm_backlog``)."""

    per_number_minute: int = 5
    per_number_hour: int = 30
    total_per_second: int = 20
    # texts that may wait for one number; a reply beyond them is cut (a reply storm)
    storm_backlog: int = 5

    def __post_init__(self) -> None:
        for name in ("per_number_minute", "per_number_hour", "total_per_second",
                     "storm_backlog"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    def windows(self) -> tuple[tuple[timedelta, int], ...]:
        """The per-number windows and their limits."""
        return ((MINUTE, self.per_number_minute), (HOUR, self.per_number_hour))


def window_slot(now: datetime, sent: Iterable[datetime], window: timedelta,
                limit: int) -> datetime:
    """The earliest moment (not before ``now``) at which fewer than ``limit`` of ``sent`` lie
    in the window ending there (a sliding window: a text counts for ``window`` after it went)."""
    recent = sorted(t for t in sent if t > now - window)
    if len(recent) < limit:
        return now
    # the oldest text that must leave the window before one more may go
    return max(now, recent[len(recent) - limit] + window)


def next_slot(now: datetime, to_number: Sequence[datetime], in_total: Sequence[datetime],
              limits: Limits) -> datetime:
    """When one more text to a number may go: ``now`` when it may go at once. ``to_number``
    are the moments of the texts sent to that number (the last hour's suffice), ``in_total``
    those of every text (the last second's suffice)."""
    slot = now
    for window, limit in limits.windows():
        slot = max(slot, window_slot(now, to_number, window, limit))
    # the total: checked at the per-number slot (texts sent since then are not known yet;
    # the dispatcher checks again when that moment comes)
    return max(slot, window_slot(slot, in_total, SECOND, limits.total_per_second))
