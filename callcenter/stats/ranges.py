"""Report ranges: parsing ``from``/``to``/``interval`` (the reasons in Chinese, HTTP 422) and
the intervals of the hotline's time zone a range is reported by."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callcenter.edge import EARLIEST, LATEST, utc_moment
from callcenter.errors import DomainError
from callcenter.stats.models import BUCKET_SECONDS


class StatsInputError(DomainError, ValueError):
    """Bad report parameters; the message is the reason given to the client (HTTP 422)."""

    default_status = 422


class Interval(enum.StrEnum):
    QUARTER = "15min"
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


# The longest range each interval accepts (bounded work, bounded answers).
MAX_RANGE_DAYS: dict[Interval, int] = {
    Interval.QUARTER: 31, Interval.HOUR: 186, Interval.DAY: 1100, Interval.MONTH: 3660,
}
INTERVAL_SECONDS = {Interval.QUARTER: 900, Interval.HOUR: 3600, Interval.DAY: 86400}
MAX_EXPORT_CONTACT_DAYS = 31


@dataclass(frozen=True)
class ReportRange:
    """[start, end) in UTC, reported by ``interval`` in ``tz``."""

    start: datetime
    end: datetime
    interval: Interval
    tz: ZoneInfo

    @property
    def offset(self) -> int:
        """The time zone's UTC offset in seconds (constant over the range, checked)."""
        off = self.start.astimezone(self.tz).utcoffset()
        return int(off.total_seconds()) if off else 0

    @property
    def start_epoch(self) -> int:
        return int(self.start.timestamp())

    @property
    def end_epoch(self) -> int:
        return int(self.end.timestamp())

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.tz)

    def interval_starts(self) -> list[datetime]:
        """Start of every interval overlapping the range (the first may start before it)."""
        starts: list[datetime] = []
        cursor = self.interval_start(self.start)
        while cursor < self.end:
            starts.append(cursor)
            cursor = self.next_start(cursor)
        return starts

    def interval_start(self, at: datetime) -> datetime:
        local = at.astimezone(self.tz)
        if self.interval is Interval.MONTH:
            first = datetime.combine(local.date().replace(day=1), time(), self.tz)
            return first.astimezone(UTC)
        size = INTERVAL_SECONDS[self.interval]
        epoch = int(at.timestamp()) + self.offset
        return datetime.fromtimestamp(epoch // size * size - self.offset, UTC)

    def next_start(self, start: datetime) -> datetime:
        if self.interval is Interval.MONTH:
            local = start.astimezone(self.tz)
            year, month = ((local.year + 1, 1) if local.month == 12
                           else (local.year, local.month + 1))
            return datetime(year, month, 1, tzinfo=self.tz).astimezone(UTC)
        return start + timedelta(seconds=INTERVAL_SECONDS[self.interval])


def parse_instant(value: str | None, name: str, tz: ZoneInfo, *, is_end: bool) -> datetime:
    """An ISO 8601 instant with an offset, or a plain date in the hotline's time zone
    (``to`` as a date includes that whole day); within the years of ``callcenter.edge``."""
    if value is None or not value.strip():
        raise StatsInputError(f"缺少“{name}”：报表需要起止时间")
    raw = value.strip()
    if len(raw) == 10:
        try:
            day = date.fromisoformat(raw)
        except ValueError as exc:
            raise StatsInputError(f"“{name}”不是日期（YYYY-MM-DD）：{raw!r}") from exc
        if not EARLIEST.date() <= day < LATEST.date():
            raise StatsInputError(f"“{name}”须在 {EARLIEST:%Y-%m-%d} 至 "
                                  f"{LATEST:%Y-%m-%d} 之间，收到 {raw}")
        if is_end:
            day += timedelta(days=1)
        instant = datetime.combine(day, time(), tz)
    else:
        try:
            instant = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError as exc:
            raise StatsInputError(
                f"“{name}”不是 ISO 8601 时间：{raw!r}（例如 2026-11-28T08:00:00+08:00）"
            ) from exc
    try:
        return utc_moment(instant, name)
    except ValueError as exc:
        raise StatsInputError(str(exc)) from exc


def make_range(start: str | None, end: str | None, interval: str | None,
               tz_name: str) -> ReportRange:
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise StatsInputError(f"未知的时区：{tz_name!r}") from exc
    try:
        unit = Interval(interval or "day")
    except ValueError as exc:
        allowed = ", ".join(i.value for i in Interval)
        raise StatsInputError(f"未知的统计间隔：{interval!r}，可选：{allowed}") from exc
    begin = parse_instant(start, "from", tz, is_end=False)
    finish = parse_instant(end, "to", tz, is_end=True)
    if begin >= finish:
        raise StatsInputError("“from”须早于“to”")
    for name, at in (("from", begin), ("to", finish)):
        if int(at.timestamp()) % BUCKET_SECONDS:
            raise StatsInputError(
                f"“{name}”须在整刻钟（:00、:15、:30、:45），收到 {at.isoformat()}")
    limit = MAX_RANGE_DAYS[unit]
    if finish - begin > timedelta(days=limit):
        raise StatsInputError(
            f"按 {unit.value} 统计的范围过长：最多 {limit} 天")
    rng = ReportRange(begin, finish, unit, tz)
    probe = begin
    while probe < finish:
        if probe.astimezone(tz).utcoffset() != begin.astimezone(tz).utcoffset():
            raise StatsInputError(
                f"时区 {tz_name} 在此范围内改变了 UTC 偏移，请分段查询")
        probe += timedelta(days=1)
    if (finish - timedelta(seconds=1)).astimezone(tz).utcoffset() != \
            begin.astimezone(tz).utcoffset():
        raise StatsInputError(
            f"时区 {tz_name} 在此范围内改变了 UTC 偏移，请分段查询")
    return rng


def split_span(start: datetime, end: datetime, rng: ReportRange
               ) -> Iterable[tuple[datetime, float]]:
    """Seconds of [start, end) within the range, per report interval."""
    cursor = max(start, rng.start)
    stop = min(end, rng.end)
    while cursor < stop:
        bucket = rng.interval_start(cursor)
        nxt = min(rng.next_start(bucket), stop)
        yield bucket, (nxt - cursor).total_seconds()
        cursor = nxt


class Channel(enum.StrEnum):
    """How the taxpayer reached the centre (``contacts.medium``)."""

    PHONE = "phone"   # 12366 热线
    SMS = "sms"       # 12366 短信
    WEB = "web"       # 网上咨询


CHANNEL_TITLES = {Channel.PHONE: "电话", Channel.SMS: "短信", Channel.WEB: "网上咨询"}


def parse_channel(value: str | None, default: Channel | None = Channel.PHONE) -> Channel | None:
    """A report's ``channel`` parameter; missing or empty: ``default``."""
    if value is None or not value.strip():
        return default
    try:
        return Channel(value.strip().lower())
    except ValueError as exc:
        allowed = "、".join(f"{c.value}（{CHANNEL_TITLES[c]}）" for c in Channel)
        raise StatsInputError(f"未知的渠道：{value.strip()[:16]!r}，可选：{allowed}") from exc
