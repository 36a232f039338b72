"""Statistics: rollup upkeep, reports by interval in the hotline's time zone, the live snapshot.

All figures go through :mod:`callcenter.stats.metrics` (one definition of every metric).
"""

from __future__ import annotations

import enum
import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session

from callcenter.contacts.models import Contact, ContactEventRow, Outcome
from callcenter.db import Database
from callcenter.edge import EARLIEST, LATEST, utc_moment
from callcenter.errors import DomainError
from callcenter.stats.metrics import Counts, Thresholds, derive, occupancy, ratio
from callcenter.stats.models import (
    BUCKET_SECONDS,
    StatsContactDaily,
    StatsContactRollup,
    StatsDirtyBucket,
    StatsQueueDaily,
    StatsQueueRollup,
    StatsRollupState,
)
from ivr.clock import Clock
from ivr.events import (
    AgentCompleted,
    AgentConnected,
    Escalated,
    EventRecord,
    FaqPlayed,
    MenuNodeEntered,
    QueueAbandoned,
    QueueJoined,
    Survey,
    TicketCreated,
    field_name,
)

log = logging.getLogger(__name__)

# fields of the queue events the rollup reads from the stored JSON form, checked against the
# record classes (ivr/events.py) when this module is imported
_queue_field = field_name((QueueJoined, AgentConnected, QueueAbandoned, AgentCompleted), "queue")
_agent_field = field_name((AgentConnected, AgentCompleted), "agent")
_hold_field = field_name((AgentConnected, QueueAbandoned, AgentCompleted), "hold_time")


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
PHONE = "phone"  # contacts.medium of calls: the statistics are the telephone line's


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


# -- agent activity and tickets: sources owned by other packages ------------------------


@dataclass(frozen=True)
class AgentStateSpan:
    """One span of an agent's state (``logged_out`` spans are not needed)."""

    agent: str
    state: str  # ready | paused | ringing | on_call | wrap_up
    start: datetime
    end: datetime
    reason: str = ""


class AgentActivitySource(Protocol):
    """Agent state history (the agents package): spans overlapping [start, end)."""

    def spans(self, start: datetime, end: datetime) -> Sequence[AgentStateSpan]: ...


class NoAgentActivity:
    def spans(self, start: datetime, end: datetime) -> Sequence[AgentStateSpan]:
        return []


@dataclass(frozen=True)
class TicketFact:
    type: str
    created_at: datetime
    due_at: datetime | None
    closed_at: datetime | None


class TicketSource(Protocol):
    """Tickets created in [start, end) (the tickets package)."""

    def tickets(self, start: datetime, end: datetime) -> Sequence[TicketFact]: ...


# -- SQL helpers -------------------------------------------------------------------------


def epoch_of(column: Any, dialect: str) -> ColumnElement[int]:
    """UTC epoch seconds of a UtcDateTime column, as an integer, on both backends."""
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), Integer)


def bucket_sql(column: Any, dialect: str) -> ColumnElement[int]:
    return (epoch_of(column, dialect) // BUCKET_SECONDS) * BUCKET_SECONDS


def _sum_if(condition: ColumnElement[bool], value: Any = 1) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


@dataclass
class Series:
    """Counts per interval start (UTC) and per key (queue, agent, ...)."""

    rows: dict[tuple[datetime, str], Counts] = field(default_factory=dict)
    _totals: dict[str, Counts] | None = None

    def at(self, start: datetime, key: str = "") -> Counts:
        self._totals = None
        return self.rows.setdefault((start, key), Counts())

    def put(self, start: datetime, key: str, counts: Counts) -> None:
        self._totals = None
        have = self.rows.get((start, key))
        if have is None:
            self.rows[(start, key)] = counts
        else:
            have.add(counts)

    def keys(self) -> list[str]:
        return sorted({k for _s, k in self.rows})

    def total(self, key: str | None = None) -> Counts:
        if key is not None:
            return self.totals().get(key, Counts())
        total = Counts()
        for c in self.rows.values():
            total.add(c)
        return total

    def totals(self) -> dict[str, Counts]:
        """Per key, over all intervals (computed once)."""
        if self._totals is None:
            self._totals = {}
            for (_s, k), c in self.rows.items():
                self._totals.setdefault(k, Counts()).add(c)
        return self._totals


class StatsService:
    def __init__(self, db: Database, thresholds: Thresholds | None = None,
                 timezone: str = "Asia/Shanghai",
                 agents: AgentActivitySource | None = None,
                 tickets: TicketSource | None = None, *, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.thresholds = thresholds or Thresholds()
        self.timezone = timezone
        self.agent_source: AgentActivitySource = agents or NoAgentActivity()
        self.ticket_source = tickets

    @property
    def dialect(self) -> str:
        return self.db.engine.dialect.name

    @property
    def day_offset(self) -> int:
        """The UTC offset (seconds) the daily rollups are cut with."""
        off = self.clock().astimezone(ZoneInfo(self.timezone)).utcoffset()
        return int(off.total_seconds()) if off else 0

    def params_key(self) -> str:
        return f"{self.thresholds.key()};day_offset={self.day_offset}"

    def range(self, start: str | None, end: str | None, interval: str | None) -> ReportRange:
        return make_range(start, end, interval, self.timezone)

    # -- rollup upkeep ----------------------------------------------------------------------

    def _lock(self, session: Session) -> None:
        if self.dialect == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(12366006)"))

    def refresh(self) -> int:
        """Recompute the buckets marked dirty (and everything after a threshold change).
        Returns the number of buckets recomputed."""
        with self.db.transaction() as session:
            self._lock(session)
            state = session.get(StatsRollupState, 1)
            if state is None or state.params != self.params_key():
                return self._rebuild(session)
            dirty = session.execute(select(StatsDirtyBucket.id, StatsDirtyBucket.bucket)).all()
            if not dirty:
                return 0
            buckets = sorted({int(b) for _i, b in dirty})
            for lo, hi in _runs(buckets):
                self._recompute(session, lo, hi)
            session.execute(delete(StatsDirtyBucket).where(
                StatsDirtyBucket.id <= max(i for i, _b in dirty)))
            return len(buckets)

    def rebuild(self) -> int:
        with self.db.transaction() as session:
            self._lock(session)
            return self._rebuild(session)

    def _rebuild(self, session: Session) -> int:
        max_dirty = session.scalar(select(func.max(StatsDirtyBucket.id)))
        for table in (StatsContactRollup, StatsQueueRollup, StatsContactDaily, StatsQueueDaily):
            session.execute(delete(table))
        first, last = session.execute(
            select(func.min(Contact.started_at), func.max(Contact.started_at))).one()
        count = 0
        if first is not None and last is not None:
            lo = int(first.timestamp()) // BUCKET_SECONDS * BUCKET_SECONDS
            hi = int(last.timestamp()) // BUCKET_SECONDS * BUCKET_SECONDS + BUCKET_SECONDS
            step = 7 * 86400
            for chunk in range(lo, hi, step):
                self._recompute(session, chunk, min(hi, chunk + step))
            count = (hi - lo) // BUCKET_SECONDS
        if max_dirty is not None:
            session.execute(delete(StatsDirtyBucket).where(StatsDirtyBucket.id <= max_dirty))
        state = session.get(StatsRollupState, 1)
        if state is None:
            state = StatsRollupState(id=1, params=self.params_key())
            session.add(state)
        state.params = self.params_key()
        state.rebuilt_at = self.clock()
        return count

    def _recompute(self, session: Session, lo: int, hi: int) -> None:
        """Replace the rollup rows of buckets [lo, hi) with figures from the contact log."""
        session.execute(delete(StatsContactRollup).where(
            StatsContactRollup.bucket >= lo, StatsContactRollup.bucket < hi))
        session.execute(delete(StatsQueueRollup).where(
            StatsQueueRollup.bucket >= lo, StatsQueueRollup.bucket < hi))
        t = self.thresholds
        d = self.dialect
        start = datetime.fromtimestamp(lo, UTC)
        end = datetime.fromtimestamp(hi, UTC)
        c = Contact
        # the telephone line's figures: texts (medium sms) are not calls (docs/sms.md)
        in_range = and_(c.started_at >= start, c.started_at < end, c.ended_at.is_not(None),
                        c.medium == PHONE)
        bucket = bucket_sql(c.started_at, d).label("bucket")
        outcome = func.coalesce(c.outcome, "unknown").label("outcome")
        wait = func.coalesce(c.queue_wait_seconds, 0.0)
        connected = c.agent_connected_at.is_not(None)
        abandoned = c.outcome == str(Outcome.ABANDONED_QUEUE)
        rows: dict[tuple[int, str], dict[str, Any]] = {}
        for r in session.execute(
            select(
                bucket, outcome,
                func.count().label("contacts"),
                _sum_if(or_(c.queue_joined_at.is_not(None), connected)).label("offered"),
                _sum_if(connected).label("answered"),
                _sum_if(abandoned).label("abandoned"),
                _sum_if(and_(abandoned, wait < t.short_abandon_seconds)).label("short"),
                _sum_if(and_(connected, wait <= t.service_level_seconds)).label("in_sl"),
                _sum_if(connected, wait).label("wait_answered"),
                _sum_if(abandoned, wait).label("wait_abandoned"),
                func.coalesce(func.max(wait), 0.0).label("max_wait"),
                func.coalesce(func.sum(c.talk_seconds), 0.0).label("talk"),
                func.coalesce(func.sum(c.ivr_seconds), 0.0).label("ivr"),
            ).where(in_range).group_by(bucket, outcome)
        ):
            rows[(int(r.bucket), str(r.outcome))] = {
                "bucket": int(r.bucket), "outcome": str(r.outcome), "contacts": r.contacts,
                "offered": r.offered, "answered": r.answered, "abandoned": r.abandoned,
                "short_abandoned": r.short, "answered_in_sl": r.in_sl,
                "wait_answered_sum": float(r.wait_answered),
                "wait_abandoned_sum": float(r.wait_abandoned), "max_wait": float(r.max_wait),
                "talk_sum": float(r.talk), "ivr_sum": float(r.ivr),
                "survey_offered": 0, "surveyed": 0, "satisfied": 0,
            }
        e = ContactEventRow
        score = e.data[field_name(Survey, "score")].as_integer()
        satisfied = score.in_(list(t.satisfied_scores)) if t.satisfied_scores else literal(False)
        for r in session.execute(
            select(bucket, outcome, func.count().label("offered"),
                   func.count(score).label("surveyed"),
                   _sum_if(satisfied).label("satisfied"))
            .select_from(e).join(c, c.id == e.contact_id)
            .where(in_range, e.kind == Survey.KIND).group_by(bucket, outcome)
        ):
            row = rows.get((int(r.bucket), str(r.outcome)))
            if row is not None:
                row.update(survey_offered=r.offered, surveyed=r.surveyed,
                           satisfied=r.satisfied)
        if rows:
            session.execute(insert(StatsContactRollup), list(rows.values()))

        queue = func.coalesce(e.data[_queue_field].as_string(), "").label("queue")
        is_agent_event = e.kind.in_((AgentConnected.KIND, AgentCompleted.KIND))
        agent = case((is_agent_event, func.coalesce(e.data[_agent_field].as_string(), "")),
                     else_="").label("agent")
        hold = func.coalesce(e.data[_hold_field].as_float(), 0.0)
        talk = func.coalesce(e.data[field_name(AgentCompleted, "talk_time")].as_float(), 0.0)
        k_join = e.kind == QueueJoined.KIND
        k_conn = e.kind == AgentConnected.KIND
        k_aban = e.kind == QueueAbandoned.KIND
        k_done = e.kind == AgentCompleted.KIND
        legs = [
            {
                "bucket": int(r.bucket), "queue": str(r.queue)[:64], "agent": str(r.agent)[:128],
                "offered": r.offered, "answered": r.answered, "abandoned": r.abandoned,
                "short_abandoned": r.short, "answered_in_sl": r.in_sl,
                "wait_answered_sum": float(r.wait_answered),
                "wait_abandoned_sum": float(r.wait_abandoned), "max_wait": float(r.max_wait),
                "talk_sum": float(r.talk), "completed": r.completed,
            }
            for r in session.execute(
                select(
                    bucket, queue, agent,
                    _sum_if(k_join).label("offered"),
                    _sum_if(k_conn).label("answered"),
                    _sum_if(k_aban).label("abandoned"),
                    _sum_if(and_(k_aban, hold < t.short_abandon_seconds)).label("short"),
                    _sum_if(and_(k_conn, hold <= t.service_level_seconds)).label("in_sl"),
                    _sum_if(k_conn, hold).label("wait_answered"),
                    _sum_if(k_aban, hold).label("wait_abandoned"),
                    func.coalesce(func.max(case((or_(k_conn, k_aban), hold), else_=0.0)),
                                  0.0).label("max_wait"),
                    _sum_if(k_done, talk).label("talk"),
                    _sum_if(k_done).label("completed"),
                ).select_from(e).join(c, c.id == e.contact_id)
                .where(in_range, e.kind.in_((QueueJoined.KIND, AgentConnected.KIND,
                                             QueueAbandoned.KIND, AgentCompleted.KIND)))
                .group_by(bucket, queue, agent)
            )
        ]
        if legs:
            session.execute(insert(StatsQueueRollup), legs)
        self._roll_days(session, lo, hi)

    def _roll_days(self, session: Session, lo: int, hi: int) -> None:
        """Recompute the daily rollups of the local days overlapping buckets [lo, hi)."""
        off = self.day_offset
        day_lo = (lo + off) // 86400 * 86400 - off
        day_hi = ((hi - 1 + off) // 86400 + 1) * 86400 - off
        sums = ["offered", "answered", "abandoned", "short_abandoned", "answered_in_sl",
                "wait_answered_sum", "wait_abandoned_sum", "talk_sum"]
        pairs: list[tuple[Any, Any, list[str], list[str]]] = [
            (StatsContactRollup, StatsContactDaily, ["outcome"],
             [*sums, "contacts", "ivr_sum", "survey_offered", "surveyed", "satisfied"]),
            (StatsQueueRollup, StatsQueueDaily, ["queue", "agent"], [*sums, "completed"]),
        ]
        for src, dst, keys, cols in pairs:
            session.execute(delete(dst).where(dst.day >= day_lo, dst.day < day_hi))
            day = ((src.bucket + off) // 86400 * 86400 - off).label("day")
            query = (
                select(day, *(getattr(src, k) for k in keys),
                       *(func.sum(getattr(src, c)) for c in cols), func.max(src.max_wait))
                .where(src.bucket >= day_lo, src.bucket < day_hi)
                .group_by(day, *(getattr(src, k) for k in keys))
            )
            session.execute(insert(dst).from_select(["day", *keys, *cols, "max_wait"], query))

    # -- reading the rollups ----------------------------------------------------------------

    def _group_key(self, column: Any, rng: ReportRange) -> ColumnElement[int]:
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

    def _start_of_key(self, key: int, rng: ReportRange) -> datetime:
        return datetime.fromtimestamp(int(key) - rng.offset, UTC)

    def _daily(self, rng: ReportRange) -> bool:
        """Whether the daily rollups answer this range (whole local days, same offset)."""
        return (rng.interval in (Interval.DAY, Interval.MONTH)
                and rng.offset == self.day_offset
                and (rng.start_epoch + rng.offset) % 86400 == 0
                and (rng.end_epoch + rng.offset) % 86400 == 0)

    def summary_series(self, rng: ReportRange) -> Series:
        self.refresh()
        r: Any = StatsContactDaily if self._daily(rng) else StatsContactRollup
        col = r.day if self._daily(rng) else r.bucket
        key = self._group_key(col, rng).label("k")
        series = Series()
        with self.db.session() as session:
            for row in session.execute(
                select(key, r.outcome, *_rollup_sums(r), func.sum(r.contacts),
                       func.sum(r.ivr_sum), func.sum(r.survey_offered), func.sum(r.surveyed),
                       func.sum(r.satisfied))
                .where(col >= rng.start_epoch, col < rng.end_epoch)
                .group_by(key, r.outcome)
            ):
                counts = _counts_from(row, 2)
                counts.add_outcome(str(row[1]), int(row[11]))
                counts.ivr_sum = float(row[12])
                counts.survey_offered, counts.surveyed, counts.satisfied = (
                    int(row[13]), int(row[14]), int(row[15]))
                series.put(self._start_of_key(row[0], rng), "", counts)
        return series

    def _queue_table(self, rng: ReportRange) -> tuple[Any, Any]:
        if self._daily(rng):
            return StatsQueueDaily, StatsQueueDaily.day
        return StatsQueueRollup, StatsQueueRollup.bucket

    def queue_series(self, rng: ReportRange) -> Series:
        self.refresh()
        r, col = self._queue_table(rng)
        key = self._group_key(col, rng).label("k")
        series = Series()
        with self.db.session() as session:
            for row in session.execute(
                select(key, r.queue, *_rollup_sums(r), func.sum(r.completed))
                .where(col >= rng.start_epoch, col < rng.end_epoch)
                .group_by(key, r.queue)
            ):
                counts = _counts_from(row, 2)
                counts.completed = int(row[11])
                series.put(self._start_of_key(row[0], rng), str(row[1]), counts)
        return series

    def agent_series(self, rng: ReportRange) -> tuple[Series, dict[tuple[datetime, str],
                                                                    AgentTime]]:
        self.refresh()
        r, col = self._queue_table(rng)
        key = self._group_key(col, rng).label("k")
        series = Series()
        with self.db.session() as session:
            for row in session.execute(
                select(key, r.agent, *_rollup_sums(r), func.sum(r.completed))
                .where(col >= rng.start_epoch, col < rng.end_epoch, r.agent != "")
                .group_by(key, r.agent)
            ):
                counts = _counts_from(row, 2)
                counts.completed = int(row[11])
                series.put(self._start_of_key(row[0], rng), str(row[1]), counts)
        times = self._agent_times(rng)
        for (start, agent), spent in times.items():
            series.at(start, agent).wrapup_sum += spent.wrap_up
        return series, times

    def _agent_times(self, rng: ReportRange) -> dict[tuple[datetime, str], AgentTime]:
        out: dict[tuple[datetime, str], AgentTime] = {}
        for span in self.agent_source.spans(rng.start, rng.end):
            for start, seconds in _split(span.start, span.end, rng):
                spent = out.setdefault((start, span.agent), AgentTime())
                spent.add(span.state, span.reason, seconds)
        return out

    # -- reports ----------------------------------------------------------------------------

    def _meta(self, rng: ReportRange) -> dict[str, Any]:
        return {
            "from": rng.start.astimezone(rng.tz).isoformat(),
            "to": rng.end.astimezone(rng.tz).isoformat(),
            "interval": rng.interval.value, "timezone": str(rng.tz.key),
            "thresholds": {
                "service_level_seconds": self.thresholds.service_level_seconds,
                "short_abandon_seconds": self.thresholds.short_abandon_seconds,
                "satisfied_scores": list(self.thresholds.satisfied_scores),
            },
        }

    def summary(self, rng: ReportRange) -> dict[str, Any]:
        series = self.summary_series(rng)
        return {
            **self._meta(rng),
            "total": derive(series.total()),
            "series": [{"start": rng.local(s).isoformat(), **derive(series.at(s))}
                       for s in rng.interval_starts()],
        }

    def queues(self, rng: ReportRange) -> dict[str, Any]:
        series = self.queue_series(rng)
        queues = series.keys()
        return {
            **self._meta(rng),
            "total": derive(series.total(), contact_level=False),
            "queues": [{"queue": q, **derive(series.total(q), contact_level=False)}
                       for q in queues],
            "series": [{"start": rng.local(s).isoformat(), "queue": q,
                        **derive(series.rows[(s, q)], contact_level=False)}
                       for s in rng.interval_starts() for q in queues
                       if (s, q) in series.rows],
        }

    def agents(self, rng: ReportRange) -> dict[str, Any]:
        series, times = self.agent_series(rng)
        agents = series.keys()

        def row(counts: Counts, spent: AgentTime | None) -> dict[str, Any]:
            spent = spent or AgentTime()
            has_states = spent.staffed > 0
            return {
                "handled": counts.answered,
                "completed": counts.completed,
                "talk_seconds": round(counts.talk_sum, 2),
                "avg_talk": _round(ratio(counts.talk_sum, counts.answered)),
                "wrap_up_seconds": round(spent.wrap_up, 2) if has_states else None,
                "aht": _round(ratio(counts.talk_sum + spent.wrap_up, counts.answered)),
                "asa": _round(ratio(counts.wait_answered_sum, counts.answered)),
                "staffed_seconds": round(spent.staffed, 2) if has_states else None,
                "pause_seconds": round(spent.paused, 2) if has_states else None,
                "pause_by_reason": {k: round(v, 2) for k, v in sorted(spent.pauses.items())}
                if has_states else None,
                "occupancy": occupancy(counts.talk_sum + spent.wrap_up,
                                       spent.staffed - spent.paused) if has_states else None,
            }

        per_agent: dict[str, AgentTime] = {}
        for (_s, a), t in times.items():
            per_agent.setdefault(a, AgentTime()).merge(t)

        def total_time(agent: str) -> AgentTime:
            return per_agent.get(agent, AgentTime())

        return {
            **self._meta(rng),
            "agent_states_available": not isinstance(self.agent_source, NoAgentActivity),
            "agents": [{"agent": a, **row(series.total(a), total_time(a))} for a in agents],
            "series": [{"start": rng.local(s).isoformat(), "agent": a,
                        **row(series.rows[(s, a)], times.get((s, a)))}
                       for s in rng.interval_starts() for a in agents if (s, a) in series.rows],
        }

    def _event_rows(self, rng: ReportRange, record: type[EventRecord], name: str
                    ) -> Iterator[tuple[datetime, str, int]]:
        """Per interval, the values of field ``name`` of ``record`` events, counted."""
        kind = record.KIND
        c, e = Contact, ContactEventRow
        d = self.dialect
        key = self._group_key(epoch_of(c.started_at, d), rng).label("k")
        value = func.coalesce(e.data[field_name(record, name)].as_string(), "").label("v")
        with self.db.session() as session:
            for k, v, n in session.execute(
                select(key, value, func.count())
                .select_from(e).join(c, c.id == e.contact_id)
                .where(c.started_at >= rng.start, c.started_at < rng.end,
                       c.ended_at.is_not(None), e.kind == kind, c.medium == PHONE)
                .group_by(key, value)
            ):
                yield self._start_of_key(k, rng), str(v), int(n)

    def menu_nodes(self, rng: ReportRange) -> dict[str, Any]:
        """Per node: times entered, and contacts that hung up while there (drop-off)."""
        table: dict[tuple[datetime, str], dict[str, int]] = {}
        for start, node, n in self._event_rows(rng, MenuNodeEntered, "node"):
            table.setdefault((start, node), {"entered": 0, "dropped": 0})["entered"] += n
        c = Contact
        key = self._group_key(epoch_of(c.started_at, self.dialect), rng).label("k")
        with self.db.session() as session:
            last = func.coalesce(c.last_node, "").label("node")
            for k, node, n in session.execute(
                select(key, last, func.count())
                .where(c.started_at >= rng.start, c.started_at < rng.end,
                       c.outcome == str(Outcome.ABANDONED_IVR), c.ivr_end_reason.is_(None),
                       c.medium == PHONE)
                .group_by(key, last)
            ):
                cell = table.setdefault((self._start_of_key(k, rng), str(node)),
                                        {"entered": 0, "dropped": 0})
                cell["dropped"] += int(n)
        return self._keyed_report(rng, table, "node", {"drop_rate": ("dropped", "entered")})

    def faqs(self, rng: ReportRange) -> dict[str, Any]:
        """Per FAQ id: times played, and escalations to an agent after it."""
        table: dict[tuple[datetime, str], dict[str, int]] = {}
        for start, faq, n in self._event_rows(rng, FaqPlayed, "faq_id"):
            table.setdefault((start, faq), {"played": 0, "escalated": 0})["played"] += n
        for start, faq, n in self._event_rows(rng, Escalated, "faq_id"):
            table.setdefault((start, faq), {"played": 0, "escalated": 0})["escalated"] += n
        return self._keyed_report(rng, table, "faq_id",
                                  {"escalation_rate": ("escalated", "played")})

    def tickets(self, rng: ReportRange) -> dict[str, Any]:
        """Tickets by type and their on-time rate. With the tickets table (``ticket_source``):
        tickets created in each interval, and of those due by now, the share answered or
        closed by their due time. Without it: TICKET events of the contacts, no on-time rate."""
        table: dict[tuple[datetime, str], dict[str, int]] = {}
        if self.ticket_source is None:
            for start, kind, n in self._event_rows(rng, TicketCreated, "type"):
                table.setdefault((start, kind), {"created": 0})["created"] += n
            report = self._keyed_report(rng, table, "type", {})
            for item in [*report["items"], *report["series"]]:
                item.update(due=None, on_time=None, on_time_rate=None)
            report["on_time_available"] = False
            return report
        now = self.clock()
        for t in self.ticket_source.tickets(rng.start, rng.end):
            cell = table.setdefault((rng.interval_start(t.created_at), t.type),
                                    {"created": 0, "due": 0, "on_time": 0})
            cell["created"] += 1
            if t.due_at is not None and (t.closed_at is not None or now > t.due_at):
                cell["due"] += 1
                cell["on_time"] += int(t.closed_at is not None and t.closed_at <= t.due_at)
        report = self._keyed_report(rng, table, "type", {"on_time_rate": ("on_time", "due")})
        report["on_time_available"] = True
        return report

    def _keyed_report(self, rng: ReportRange, table: dict[tuple[datetime, str], dict[str, int]],
                      key_name: str, rates: dict[str, tuple[str, str]]) -> dict[str, Any]:
        totals: dict[str, dict[str, int]] = {}
        for (_s, k), cell in table.items():
            acc = totals.setdefault(k, dict.fromkeys(cell, 0))
            for name, n in cell.items():
                acc[name] = acc.get(name, 0) + n

        def with_rates(cell: dict[str, int]) -> dict[str, Any]:
            out: dict[str, Any] = dict(cell)
            for name, (num, den) in rates.items():
                out[name] = _round(ratio(cell.get(num, 0), cell.get(den, 0)), 4)
            return out

        first_key = next(iter(next(iter(table.values())))) if table else ""
        ordered = sorted(totals, key=lambda k: (-totals[k].get(first_key, 0), k))
        return {
            **self._meta(rng),
            "items": [{key_name: k, **with_rates(totals[k])} for k in ordered],
            "series": [{"start": rng.local(s).isoformat(), key_name: k,
                        **with_rates(table[(s, k)])}
                       for s in rng.interval_starts() for k in ordered if (s, k) in table],
        }

    # -- exports: contact-level rows ----------------------------------------------------------

    def contact_rows(self, rng: ReportRange) -> Iterator[Sequence[Any]]:
        if rng.end - rng.start > timedelta(days=MAX_EXPORT_CONTACT_DAYS):
            raise StatsInputError(
                f"联系记录导出最多 {MAX_EXPORT_CONTACT_DAYS} 天")
        c = Contact
        query = (select(c.id, c.linkedid, c.caller_number, c.started_at, c.ended_at, c.outcome,
                        c.queue, c.agent, c.ivr_seconds, c.queue_wait_seconds, c.talk_seconds,
                        c.last_node, c.reconciled)
                 .where(c.started_at >= rng.start, c.started_at < rng.end)
                 .order_by(c.started_at, c.id)
                 .execution_options(yield_per=5000, stream_results=True))
        with self.db.session() as session:
            yield from session.execute(query)

    # -- live -------------------------------------------------------------------------------

    def live(self, now: datetime | None = None) -> dict[str, Any]:
        """The wallboard: calls waiting now, longest wait, calls in IVR / with agents, and
        today's (hotline time zone) service level and abandonment."""
        now = now or self.clock()
        tz = ZoneInfo(self.timezone)
        c = Contact
        waiting = and_(c.ended_at.is_(None), c.queue_joined_at.is_not(None),
                       c.agent_connected_at.is_(None))
        day_ago = now - timedelta(days=1)
        with self.db.session() as session:
            queue_name = func.coalesce(c.queue, "").label("queue")
            per_queue = session.execute(
                select(queue_name, func.count(), func.min(c.queue_joined_at))
                .where(waiting, c.started_at >= day_ago).group_by(queue_name)
            ).all()
            in_ivr, on_call = session.execute(
                select(_sum_if(c.queue_joined_at.is_(None)),
                       _sum_if(c.agent_connected_at.is_not(None)))
                .where(c.ended_at.is_(None), c.started_at >= day_ago)
            ).one()
            busy_agents = sorted(str(a) for a in session.scalars(
                select(c.agent).where(c.ended_at.is_(None), c.started_at >= day_ago,
                                      c.agent_connected_at.is_not(None)).distinct()) if a)
        queues = []
        longest = 0.0
        for queue, n, since in per_queue:
            wait = max(0.0, (now - since).total_seconds()) if since else 0.0
            longest = max(longest, wait)
            queues.append({"queue": queue, "waiting": int(n), "longest_wait": round(wait, 1)})
        local_now = now.astimezone(tz)
        day_start = datetime.combine(local_now.date(), time(), tz).astimezone(UTC)
        end_epoch = (int(now.timestamp()) // BUCKET_SECONDS + 1) * BUCKET_SECONDS
        rng = ReportRange(day_start, datetime.fromtimestamp(end_epoch, UTC), Interval.HOUR, tz)
        today = self.summary_series(rng).total()
        figures = derive(today)
        states: dict[str, int] = {}
        for span in self.agent_source.spans(now - timedelta(seconds=1), now):
            if span.end >= now:
                states[span.state] = states.get(span.state, 0) + 1
        if not states:
            states = {"on_call": len(busy_agents)}
        return {
            "at": local_now.isoformat(),
            "waiting": sum(q["waiting"] for q in queues),
            "longest_wait": round(longest, 1),
            "queues": sorted(queues, key=lambda q: str(q["queue"])),
            "in_ivr": int(in_ivr or 0),
            "on_call": int(on_call or 0),
            "agents_by_state": states,
            "agent_states_available": not isinstance(self.agent_source, NoAgentActivity),
            "today": {k: figures[k] for k in (
                "contacts", "automatic_voice", "manual", "other", "offered", "answered",
                "abandoned", "short_abandoned", "service_level", "abandon_rate", "asa",
                "ivr_containment", "csat")},
        }


@dataclass
class AgentTime:
    staffed: float = 0.0
    paused: float = 0.0
    wrap_up: float = 0.0
    pauses: dict[str, float] = field(default_factory=dict)

    def add(self, state: str, reason: str, seconds: float) -> None:
        self.staffed += seconds
        if state == "paused":
            self.paused += seconds
            self.pauses[reason or "未说明"] = self.pauses.get(reason or "未说明", 0.0) + seconds
        elif state == "wrap_up":
            self.wrap_up += seconds

    def merge(self, other: AgentTime) -> None:
        self.staffed += other.staffed
        self.paused += other.paused
        self.wrap_up += other.wrap_up
        for k, v in other.pauses.items():
            self.pauses[k] = self.pauses.get(k, 0.0) + v


def _split(start: datetime, end: datetime, rng: ReportRange) -> Iterable[tuple[datetime, float]]:
    """Seconds of [start, end) within the range, per report interval."""
    cursor = max(start, rng.start)
    stop = min(end, rng.end)
    while cursor < stop:
        bucket = rng.interval_start(cursor)
        nxt = min(rng.next_start(bucket), stop)
        yield bucket, (nxt - cursor).total_seconds()
        cursor = nxt


def _rollup_sums(r: Any) -> list[Any]:
    return [func.sum(r.offered), func.sum(r.answered), func.sum(r.abandoned),
            func.sum(r.short_abandoned), func.sum(r.answered_in_sl),
            func.sum(r.wait_answered_sum), func.sum(r.wait_abandoned_sum), func.max(r.max_wait),
            func.sum(r.talk_sum)]


def _counts_from(row: Sequence[Any], at: int) -> Counts:
    v = row[at:at + 9]
    return Counts(offered=int(v[0]), answered=int(v[1]), abandoned=int(v[2]),
                  short_abandoned=int(v[3]), answered_in_sl=int(v[4]),
                  wait_answered_sum=float(v[5]), wait_abandoned_sum=float(v[6]),
                  max_wait=float(v[7]), talk_sum=float(v[8]))


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _runs(buckets: list[int], gap: int = 8) -> Iterator[tuple[int, int]]:
    """Sorted bucket starts -> [lo, hi) ranges, joining buckets less than ``gap`` apart."""
    lo = prev = buckets[0]
    for b in buckets[1:]:
        if b - prev > gap * BUCKET_SECONDS:
            yield lo, prev + BUCKET_SECONDS
            lo = b
        prev = b
    yield lo, prev + BUCKET_SECONDS


class AgentStateLogSource:
    """Agent state spans from the agents package's ``agent_state_log`` (one row per change;
    a span lasts until the agent's next change, or until now)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def spans(self, start: datetime, end: datetime) -> Sequence[AgentStateSpan]:
        from callcenter.agents.models import AgentStateChange as Change

        now = self.clock()
        with self.db.session() as session:
            before = (select(Change.username, func.max(Change.at).label("at"))
                      .where(Change.at < start).group_by(Change.username).subquery())
            opening = session.execute(
                select(Change.username, Change.state, Change.reason, Change.at)
                .join(before, and_(before.c.username == Change.username,
                                   before.c.at == Change.at))
            ).all()
            changes = session.execute(
                select(Change.username, Change.state, Change.reason, Change.at)
                .where(Change.at >= start, Change.at < end)
                .order_by(Change.username, Change.at, Change.id)
            ).all()
        per_agent: dict[str, list[tuple[str, str, datetime]]] = {}
        for user, state, reason, at in [*opening, *changes]:
            per_agent.setdefault(str(user), []).append((str(state), str(reason or ""), at))
        spans: list[AgentStateSpan] = []
        for agent, items in per_agent.items():
            items.sort(key=lambda i: i[2])
            for i, (state, reason, at) in enumerate(items):
                until = items[i + 1][2] if i + 1 < len(items) else min(end, now)
                if state == "logged_out" or until <= at:
                    continue
                spans.append(AgentStateSpan(agent, state, max(at, start), until, reason))
        return spans


class TicketTableSource:
    """Tickets from the tickets package: settled = first reached ``answered`` or ``closed``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def tickets(self, start: datetime, end: datetime) -> Sequence[TicketFact]:
        from callcenter.tickets.models import Ticket, TicketStatusChange

        settled = (select(TicketStatusChange.ticket_id,
                          func.min(TicketStatusChange.at).label("at"))
                   .where(TicketStatusChange.to_status.in_(("answered", "closed")))
                   .group_by(TicketStatusChange.ticket_id).subquery())
        with self.db.session() as session:
            rows = session.execute(
                select(Ticket.kind, Ticket.created_at, Ticket.due_at, settled.c.at)
                .outerjoin(settled, settled.c.ticket_id == Ticket.id)
                .where(Ticket.created_at >= start, Ticket.created_at < end)
            ).all()
        return [TicketFact(str(k), created, due, _aware(at)) for k, created, due, at in rows]


def _aware(value: datetime | None) -> datetime | None:
    """A timestamp from an aggregate (SQLite returns it naive or as text) as aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def stats_service_for(db: Database, settings: Any, clock: Clock) -> StatsService:
    """The service as the app configures it (thresholds and time zone from settings)."""
    thresholds = Thresholds(
        service_level_seconds=float(settings.stats_service_level_seconds),
        short_abandon_seconds=float(settings.stats_short_abandon_seconds),
        satisfied_scores=tuple(int(s) for s in settings.stats_satisfied_scores),
    )
    return StatsService(db, thresholds, settings.timezone,
                        agents=AgentStateLogSource(db, clock), tickets=TicketTableSource(db),
                        clock=clock)
