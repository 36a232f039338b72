"""The rollups: keeping ``stats_*_15m`` / ``stats_*_1d`` exact (recomputing the buckets marked
dirty, or everything after a threshold change) and reading them as :class:`Series` of
:class:`~callcenter.stats.metrics.Counts` per report interval."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, delete, distinct, func, insert, literal, or_, select
from sqlalchemy.orm import Session

from callcenter.contacts.models import Contact, ContactEventRow, Outcome
from callcenter.db import Database
from callcenter.stats.dialect import bucket_sql, group_key, lock_rollups, start_of_key, sum_if
from callcenter.stats.metrics import Counts, Thresholds
from callcenter.stats.models import (
    BUCKET_SECONDS,
    StatsContactDaily,
    StatsContactRollup,
    StatsDirtyBucket,
    StatsQueueDaily,
    StatsQueueRollup,
    StatsRollupState,
)
from callcenter.stats.ranges import Interval, ReportRange
from ivr.clock import Clock
from ivr.events import (
    AgentCompleted,
    AgentConnected,
    CallHeld,
    CallResumed,
    QueueAbandoned,
    QueueJoined,
    Survey,
    field_name,
)

# fields of the queue events the rollup reads from the stored JSON form, checked against the
# record classes (ivr/events.py) when this module is imported
_queue_field = field_name((QueueJoined, AgentConnected, QueueAbandoned, AgentCompleted), "queue")
_agent_field = field_name((AgentConnected, AgentCompleted), "agent")
_hold_field = field_name((AgentConnected, QueueAbandoned, AgentCompleted), "hold_time")
PHONE = "phone"  # contacts.medium of calls: the default channel of every report
INBOUND = "inbound"  # contacts.direction the rollups count (outbound callbacks apart)


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


class Rollups:
    def __init__(self, db: Database, thresholds: Thresholds, timezone: str, *,
                 clock: Clock) -> None:
        self.db = db
        self.thresholds = thresholds
        self.timezone = timezone
        self.clock = clock

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

    def refresh(self) -> int:
        """Recompute the buckets marked dirty (and everything after a threshold change).
        Returns the number of buckets recomputed."""
        with self.db.transaction() as session:
            lock_rollups(session, self.dialect)
            state = session.get(StatsRollupState, 1)
            if state is None or state.params != self.params_key():
                return self._rebuild(session)
            dirty = session.execute(select(StatsDirtyBucket.id, StatsDirtyBucket.bucket)).all()
            if not dirty:
                return 0
            buckets = sorted({int(b) for _i, b in dirty})
            for lo, hi in runs(buckets):
                self._recompute(session, lo, hi)
            session.execute(delete(StatsDirtyBucket).where(
                StatsDirtyBucket.id <= max(i for i, _b in dirty)))
            return len(buckets)

    def rebuild(self) -> int:
        with self.db.transaction() as session:
            lock_rollups(session, self.dialect)
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
        # contacts of every channel, kept apart by medium; queue legs are the telephone's;
        # inbound only: outbound callbacks are counted apart (callcenter/outbound/reporting.py)
        in_range = and_(c.started_at >= start, c.started_at < end, c.ended_at.is_not(None),
                        c.direction == INBOUND)
        bucket = bucket_sql(c.started_at, d).label("bucket")
        medium = func.coalesce(c.medium, PHONE).label("medium")
        outcome = func.coalesce(c.outcome, "unknown").label("outcome")
        wait = func.coalesce(c.queue_wait_seconds, 0.0)
        connected = c.agent_connected_at.is_not(None)
        abandoned = c.outcome == str(Outcome.ABANDONED_QUEUE)
        rows: dict[tuple[int, str, str], dict[str, Any]] = {}
        for r in session.execute(
            select(
                bucket, medium, outcome,
                func.count().label("contacts"),
                sum_if(or_(c.queue_joined_at.is_not(None), connected)).label("offered"),
                sum_if(connected).label("answered"),
                sum_if(abandoned).label("abandoned"),
                sum_if(and_(abandoned, wait < t.short_abandon_seconds)).label("short"),
                sum_if(and_(connected, wait <= t.service_level_seconds)).label("in_sl"),
                sum_if(connected, wait).label("wait_answered"),
                sum_if(abandoned, wait).label("wait_abandoned"),
                func.coalesce(func.max(wait), 0.0).label("max_wait"),
                func.coalesce(func.sum(c.talk_seconds), 0.0).label("talk"),
                func.coalesce(func.sum(c.ivr_seconds), 0.0).label("ivr"),
            ).where(in_range).group_by(bucket, medium, outcome)
        ):
            rows[(int(r.bucket), str(r.medium), str(r.outcome))] = {
                "bucket": int(r.bucket), "medium": str(r.medium)[:8], "outcome": str(r.outcome),
                "contacts": r.contacts,
                "offered": r.offered, "answered": r.answered, "abandoned": r.abandoned,
                "short_abandoned": r.short, "answered_in_sl": r.in_sl,
                "wait_answered_sum": float(r.wait_answered),
                "wait_abandoned_sum": float(r.wait_abandoned), "max_wait": float(r.max_wait),
                "talk_sum": float(r.talk), "hold_sum": 0.0, "ivr_sum": float(r.ivr),
                "survey_offered": 0, "surveyed": 0, "satisfied": 0,
            }
        e = ContactEventRow
        held = func.coalesce(e.data[field_name(CallResumed, "held_seconds")].as_float(), 0.0)
        for r in session.execute(
            select(bucket, medium, outcome, func.sum(held).label("held"))
            .select_from(e).join(c, c.id == e.contact_id)
            .where(in_range, e.kind == CallResumed.KIND).group_by(bucket, medium, outcome)
        ):
            row = rows.get((int(r.bucket), str(r.medium), str(r.outcome)))
            if row is not None:
                row["hold_sum"] = float(r.held or 0.0)
        score = e.data[field_name(Survey, "score")].as_integer()
        satisfied = score.in_(list(t.satisfied_scores)) if t.satisfied_scores else literal(False)
        # per contact, not per survey event: a call whose phone survey went unanswered and
        # whose survey text was then answered (callcenter/sms/survey.py) has two events
        rated = case((score.is_not(None), e.contact_id))
        pleased = case((satisfied, e.contact_id))
        for r in session.execute(
            select(bucket, medium, outcome, func.count(distinct(e.contact_id)).label("offered"),
                   func.count(distinct(rated)).label("surveyed"),
                   func.count(distinct(pleased)).label("satisfied"))
            .select_from(e).join(c, c.id == e.contact_id)
            .where(in_range, e.kind == Survey.KIND).group_by(bucket, medium, outcome)
        ):
            row = rows.get((int(r.bucket), str(r.medium), str(r.outcome)))
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
        legs = {
            (int(r.bucket), str(r.queue)[:64], str(r.agent)[:128]): {
                "bucket": int(r.bucket), "queue": str(r.queue)[:64], "agent": str(r.agent)[:128],
                "offered": r.offered, "answered": r.answered, "abandoned": r.abandoned,
                "short_abandoned": r.short, "answered_in_sl": r.in_sl,
                "wait_answered_sum": float(r.wait_answered),
                "wait_abandoned_sum": float(r.wait_abandoned), "max_wait": float(r.max_wait),
                "talk_sum": float(r.talk), "hold_sum": 0.0, "completed": r.completed,
            }
            for r in session.execute(
                select(
                    bucket, queue, agent,
                    sum_if(k_join).label("offered"),
                    sum_if(k_conn).label("answered"),
                    sum_if(k_aban).label("abandoned"),
                    sum_if(and_(k_aban, hold < t.short_abandon_seconds)).label("short"),
                    sum_if(and_(k_conn, hold <= t.service_level_seconds)).label("in_sl"),
                    sum_if(k_conn, hold).label("wait_answered"),
                    sum_if(k_aban, hold).label("wait_abandoned"),
                    func.coalesce(func.max(case((or_(k_conn, k_aban), hold), else_=0.0)),
                                  0.0).label("max_wait"),
                    sum_if(k_done, talk).label("talk"),
                    sum_if(k_done).label("completed"),
                ).select_from(e).join(c, c.id == e.contact_id)
                .where(in_range, c.medium == PHONE,
                       e.kind.in_((QueueJoined.KIND, AgentConnected.KIND,
                                   QueueAbandoned.KIND, AgentCompleted.KIND)))
                .group_by(bucket, queue, agent)
            )
        }
        for (b, q, a), seconds in self._holds(session, in_range, bucket).items():
            leg = legs.get((b, q, a))
            if leg is None:  # a hold without the answer in this range: only a hand-edited log
                leg = legs[(b, q, a)] = {
                    "bucket": b, "queue": q, "agent": a, "offered": 0, "answered": 0,
                    "abandoned": 0, "short_abandoned": 0, "answered_in_sl": 0,
                    "wait_answered_sum": 0.0, "wait_abandoned_sum": 0.0, "max_wait": 0.0,
                    "talk_sum": 0.0, "hold_sum": 0.0, "completed": 0}
            leg["hold_sum"] = seconds
        if legs:
            session.execute(insert(StatsQueueRollup), list(legs.values()))
        self._roll_days(session, lo, hi)

    @staticmethod
    def _holds(session: Session, in_range: Any, bucket: Any) -> dict[tuple[int, str, str], float]:
        """Seconds on hold per bucket, queue and agent: each ``call_resumed`` counts for the
        queue of the agent's ``call_held`` before it in the contact (or, without one, of the
        agent's last answer in it). Holds are few: paired here rather than in SQL."""
        c, e = Contact, ContactEventRow
        queue = func.coalesce(e.data[field_name((CallHeld, AgentConnected), "queue")]
                              .as_string(), "")
        agent = func.coalesce(e.data[field_name((CallHeld, CallResumed, AgentConnected),
                                                "agent")].as_string(), "")
        held = func.coalesce(e.data[field_name(CallResumed, "held_seconds")].as_float(), 0.0)
        out: dict[tuple[int, str, str], float] = {}
        queue_of: dict[tuple[int, str], str] = {}  # (contact, agent) -> queue
        for r in session.execute(
            select(bucket, e.contact_id, e.kind, queue.label("queue"), agent.label("agent"),
                   held.label("held"))
            .select_from(e).join(c, c.id == e.contact_id)
            .where(in_range, c.medium == PHONE,
                   e.kind.in_((AgentConnected.KIND, CallHeld.KIND, CallResumed.KIND)))
            .order_by(e.contact_id, e.at, e.id)
        ):
            who = str(r.agent)[:128]
            if r.kind == CallResumed.KIND:
                key = (int(r.bucket), queue_of.get((r.contact_id, who), "")[:64], who)
                out[key] = out.get(key, 0.0) + float(r.held)
            else:
                queue_of[(r.contact_id, who)] = str(r.queue)
        return out

    def _roll_days(self, session: Session, lo: int, hi: int) -> None:
        """Recompute the daily rollups of the local days overlapping buckets [lo, hi)."""
        off = self.day_offset
        day_lo = (lo + off) // 86400 * 86400 - off
        day_hi = ((hi - 1 + off) // 86400 + 1) * 86400 - off
        sums = ["offered", "answered", "abandoned", "short_abandoned", "answered_in_sl",
                "wait_answered_sum", "wait_abandoned_sum", "talk_sum", "hold_sum"]
        pairs: list[tuple[Any, Any, list[str], list[str]]] = [
            (StatsContactRollup, StatsContactDaily, ["medium", "outcome"],
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

    def daily(self, rng: ReportRange) -> bool:
        """Whether the daily rollups answer this range (whole local days, same offset)."""
        return (rng.interval in (Interval.DAY, Interval.MONTH)
                and rng.offset == self.day_offset
                and (rng.start_epoch + rng.offset) % 86400 == 0
                and (rng.end_epoch + rng.offset) % 86400 == 0)

    def summary_series(self, rng: ReportRange, medium: str | None = PHONE) -> Series:
        """Contact-level counts of one channel (``medium``; None: every channel together)."""
        return self._contact_series(rng, medium, by_medium=False)

    def channel_series(self, rng: ReportRange) -> Series:
        """Contact-level counts keyed by channel (medium)."""
        return self._contact_series(rng, None, by_medium=True)

    def _contact_series(self, rng: ReportRange, medium: str | None, *, by_medium: bool
                        ) -> Series:
        self.refresh()
        r: Any = StatsContactDaily if self.daily(rng) else StatsContactRollup
        col = r.day if self.daily(rng) else r.bucket
        key = group_key(col, rng).label("k")
        what = r.medium if by_medium else literal("")
        where = [col >= rng.start_epoch, col < rng.end_epoch]
        if medium is not None:
            where.append(r.medium == medium)
        series = Series()
        with self.db.session() as session:
            for row in session.execute(
                select(key, r.outcome, *rollup_sums(r), func.sum(r.contacts),
                       func.sum(r.ivr_sum), func.sum(r.survey_offered), func.sum(r.surveyed),
                       func.sum(r.satisfied), what)
                .where(*where)
                .group_by(key, r.outcome, *([r.medium] if by_medium else []))
            ):
                counts = counts_from(row, 2)
                counts.add_outcome(str(row[1]), int(row[12]))
                counts.ivr_sum = float(row[13])
                counts.survey_offered, counts.surveyed, counts.satisfied = (
                    int(row[14]), int(row[15]), int(row[16]))
                series.put(start_of_key(row[0], rng), str(row[17]), counts)
        return series

    def _queue_table(self, rng: ReportRange) -> tuple[Any, Any]:
        if self.daily(rng):
            return StatsQueueDaily, StatsQueueDaily.day
        return StatsQueueRollup, StatsQueueRollup.bucket

    def queue_series(self, rng: ReportRange) -> Series:
        """Queue legs per queue."""
        return self._leg_series(rng, "queue")

    def agent_series(self, rng: ReportRange) -> Series:
        """Queue legs per agent (answers and talk; offers and abandons have no agent)."""
        return self._leg_series(rng, "agent")

    def _leg_series(self, rng: ReportRange, by: str) -> Series:
        self.refresh()
        r, col = self._queue_table(rng)
        key = group_key(col, rng).label("k")
        what = getattr(r, by)
        where = [col >= rng.start_epoch, col < rng.end_epoch]
        if by == "agent":
            where.append(what != "")
        series = Series()
        with self.db.session() as session:
            for row in session.execute(
                select(key, what, *rollup_sums(r), func.sum(r.completed))
                .where(*where).group_by(key, what)
            ):
                counts = counts_from(row, 2)
                counts.completed = int(row[12])
                series.put(start_of_key(row[0], rng), str(row[1]), counts)
        return series


def rollup_sums(r: Any) -> list[Any]:
    return [func.sum(r.offered), func.sum(r.answered), func.sum(r.abandoned),
            func.sum(r.short_abandoned), func.sum(r.answered_in_sl),
            func.sum(r.wait_answered_sum), func.sum(r.wait_abandoned_sum), func.max(r.max_wait),
            func.sum(r.talk_sum), func.sum(r.hold_sum)]


def counts_from(row: Sequence[Any], at: int) -> Counts:
    v = row[at:at + 10]
    return Counts(offered=int(v[0]), answered=int(v[1]), abandoned=int(v[2]),
                  short_abandoned=int(v[3]), answered_in_sl=int(v[4]),
                  wait_answered_sum=float(v[5]), wait_abandoned_sum=float(v[6]),
                  max_wait=float(v[7]), talk_sum=float(v[8]), hold_sum=float(v[9] or 0.0))


def runs(buckets: list[int], gap: int = 8) -> Iterator[tuple[int, int]]:
    """Sorted bucket starts -> [lo, hi) ranges, joining buckets less than ``gap`` apart."""
    lo = prev = buckets[0]
    for b in buckets[1:]:
        if b - prev > gap * BUCKET_SECONDS:
            yield lo, prev + BUCKET_SECONDS
            lo = b
        prev = b
    yield lo, prev + BUCKET_SECONDS
