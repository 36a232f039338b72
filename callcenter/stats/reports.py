"""The reports: summary, queues, agents, menu nodes, FAQ ids and tickets by interval, the
contact-level export rows and the live wallboard snapshot. Every figure goes through
:mod:`callcenter.stats.metrics`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from callcenter.contacts.models import Contact, ContactEventRow, Outcome
from callcenter.db import Database
from callcenter.stats.dialect import epoch_of, group_key, start_of_key
from callcenter.stats.labels import Labels, NoLabels
from callcenter.stats.metrics import (
    ChannelCounts,
    Counts,
    QualityCounts,
    Thresholds,
    derive,
    derive_channel,
    derive_quality,
    handling_seconds,
    occupancy,
    ratio,
)
from callcenter.stats.models import BUCKET_SECONDS
from callcenter.stats.ranges import (
    CHANNEL_TITLES,
    MAX_EXPORT_CONTACT_DAYS,
    Channel,
    Interval,
    ReportRange,
    StatsInputError,
    split_span,
)
from callcenter.stats.rollups import Rollups
from callcenter.stats.sources import (
    AgentActivitySource,
    ContactSource,
    NoAgentActivity,
    QualitySource,
    SmsSource,
    TicketSource,
)
from callcenter.tickets.reporting import TicketFact
from ivr.clock import Clock
from ivr.events import (
    Escalated,
    EventRecord,
    FaqPlayed,
    MenuNodeEntered,
    TicketCreated,
    field_name,
)


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


class Reports:
    def __init__(self, db: Database, rollups: Rollups, thresholds: Thresholds, *,
                 agents: AgentActivitySource, tickets: TicketSource | None,
                 contacts: ContactSource, sms: SmsSource, clock: Clock,
                 quality: QualitySource | None = None,
                 labels: Labels | None = None) -> None:
        self.db = db
        self.labels: Labels = labels or NoLabels()  # the words of node, FAQ and queue ids
        self.rollups = rollups
        self.thresholds = thresholds
        self.agent_source = agents
        self.ticket_source = tickets
        self.contact_source = contacts
        self.sms_source = sms
        self.quality_source = quality
        self.clock = clock

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

    def summary(self, rng: ReportRange, channel: Channel = Channel.PHONE) -> dict[str, Any]:
        """Contact-level figures of one channel (the telephone's by default), and every
        channel's totals (``channels``)."""
        series = self.rollups.summary_series(rng, channel.value)
        return {
            **self._meta(rng),
            "channel": channel.value,
            "total": derive(series.total()),
            "channels": self._channel_totals(rng),
            "series": [{"start": rng.local(s).isoformat(), **derive(series.at(s))}
                       for s in rng.interval_starts()],
        }

    def queues(self, rng: ReportRange, channel: Channel = Channel.PHONE) -> dict[str, Any]:
        _calls_only(channel)
        series = self.rollups.queue_series(rng)
        queues = series.keys()
        titles = self.labels.queues()
        return {
            **self._meta(rng),
            "total": derive(series.total(), contact_level=False),
            "queues": [{"queue": q, "title": titles.get(q, q),
                        **derive(series.total(q), contact_level=False)} for q in queues],
            "series": [{"start": rng.local(s).isoformat(), "queue": q, "title": titles.get(q, q),
                        **derive(series.rows[(s, q)], contact_level=False)}
                       for s in rng.interval_starts() for q in queues
                       if (s, q) in series.rows],
        }

    def agents(self, rng: ReportRange, channel: Channel = Channel.PHONE) -> dict[str, Any]:
        _calls_only(channel)
        series = self.rollups.agent_series(rng)
        times = self._agent_times(rng)
        for (start, agent), spent in times.items():
            series.at(start, agent).wrapup_sum += spent.wrap_up
        agents = series.keys()

        def row(counts: Counts, spent: AgentTime | None) -> dict[str, Any]:
            spent = spent or AgentTime()
            has_states = spent.staffed > 0
            # Asterisk's TalkTime: the caller stays bridged on hold, so hold is part of it;
            # hold_seconds says how much, and the AHT counts it once
            busy = handling_seconds(counts.talk_sum, spent.wrap_up)
            return {
                "handled": counts.answered,
                "completed": counts.completed,
                "talk_seconds": round(counts.talk_sum, 2),
                "hold_seconds": round(counts.hold_sum, 2),
                "avg_hold": _round(ratio(counts.hold_sum, counts.answered)),
                "avg_talk": _round(ratio(counts.talk_sum, counts.answered)),
                "wrap_up_seconds": round(spent.wrap_up, 2) if has_states else None,
                "aht": _round(ratio(busy, counts.answered)),
                "asa": _round(ratio(counts.wait_answered_sum, counts.answered)),
                "staffed_seconds": round(spent.staffed, 2) if has_states else None,
                "pause_seconds": round(spent.paused, 2) if has_states else None,
                "pause_by_reason": {k: round(v, 2) for k, v in sorted(spent.pauses.items())}
                if has_states else None,
                "occupancy": occupancy(busy, spent.staffed - spent.paused)
                if has_states else None,
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

    def quality(self, rng: ReportRange, channel: Channel = Channel.PHONE) -> dict[str, Any]:
        """Quality review scores per agent (by the time of the call reviewed): reviews,
        average / lowest / highest score out of 100, acknowledged, per criterion."""
        _calls_only(channel)
        facts = self.quality_source.reviews(rng.start, rng.end) if self.quality_source else []
        names: dict[str, str] = {}
        cells: dict[tuple[datetime, str], QualityCounts] = {}
        totals: dict[str, QualityCounts] = {}
        overall = QualityCounts()
        for f in facts:
            overall.add(f.total, f.acknowledged, f.criteria)
            names[f.agent] = f.agent_name
            cells.setdefault((rng.interval_start(f.call_at), f.agent), QualityCounts()).add(
                f.total, f.acknowledged, f.criteria)
            totals.setdefault(f.agent, QualityCounts()).add(f.total, f.acknowledged,
                                                            f.criteria)
        agents = sorted(totals, key=lambda a: (names[a], a))
        return {
            **self._meta(rng),
            "quality_available": self.quality_source is not None,
            "total": derive_quality(overall),
            "agents": [{"agent": a, "agent_name": names[a], **derive_quality(totals[a])}
                       for a in agents],
            "series": [{"start": rng.local(s).isoformat(), "agent": a, "agent_name": names[a],
                        **derive_quality(cells[(s, a)])}
                       for s in rng.interval_starts() for a in agents if (s, a) in cells],
        }

    def _event_rows(self, rng: ReportRange, record: type[EventRecord], name: str,
                    channel: Channel) -> Iterator[tuple[datetime, str, int]]:
        """Per interval, the values of field ``name`` of ``record`` events, counted."""
        kind = record.KIND
        c, e = Contact, ContactEventRow
        d = self.rollups.dialect
        key = group_key(epoch_of(c.started_at, d), rng).label("k")
        value = func.coalesce(e.data[field_name(record, name)].as_string(), "").label("v")
        with self.db.session() as session:
            for k, v, n in session.execute(
                select(key, value, func.count())
                .select_from(e).join(c, c.id == e.contact_id)
                .where(c.started_at >= rng.start, c.started_at < rng.end,
                       c.ended_at.is_not(None), e.kind == kind, c.medium == channel.value)
                .group_by(key, value)
            ):
                yield start_of_key(k, rng), str(v), int(n)

    def menu_nodes(self, rng: ReportRange, channel: Channel = Channel.PHONE) -> dict[str, Any]:
        """Per node: times entered, and contacts that hung up while there (drop-off)."""
        table: dict[tuple[datetime, str], dict[str, int]] = {}
        for start, node, n in self._event_rows(rng, MenuNodeEntered, "node", channel):
            table.setdefault((start, node), {"entered": 0, "dropped": 0})["entered"] += n
        c = Contact
        key = group_key(epoch_of(c.started_at, self.rollups.dialect), rng).label("k")
        with self.db.session() as session:
            last = func.coalesce(c.last_node, "").label("node")
            for k, node, n in session.execute(
                select(key, last, func.count())
                .where(c.started_at >= rng.start, c.started_at < rng.end,
                       c.outcome == str(Outcome.ABANDONED_IVR), c.ivr_end_reason.is_(None),
                       c.medium == channel.value)
                .group_by(key, last)
            ):
                cell = table.setdefault((start_of_key(k, rng), str(node)),
                                        {"entered": 0, "dropped": 0})
                cell["dropped"] += int(n)
        report = self._keyed_report(rng, table, "node", {"drop_rate": ("dropped", "entered")})
        _name(report, "node", "label", self.labels.nodes())
        return {**report, "channel": channel.value}

    def faqs(self, rng: ReportRange, channel: Channel = Channel.PHONE) -> dict[str, Any]:
        """Per FAQ id: times played (an answer sent, for a text), and escalations to an agent
        after it."""
        table: dict[tuple[datetime, str], dict[str, int]] = {}
        for start, faq, n in self._event_rows(rng, FaqPlayed, "faq_id", channel):
            table.setdefault((start, faq), {"played": 0, "escalated": 0})["played"] += n
        for start, faq, n in self._event_rows(rng, Escalated, "faq_id", channel):
            table.setdefault((start, faq), {"played": 0, "escalated": 0})["escalated"] += n
        report = self._keyed_report(rng, table, "faq_id",
                                    {"escalation_rate": ("escalated", "played")})
        _name(report, "faq_id", "question", self.labels.faqs())
        return {**report, "channel": channel.value}

    def tickets(self, rng: ReportRange, channel: Channel | None = None) -> dict[str, Any]:
        """Tickets by type and their on-time rate, of one channel's contacts or (None) of all.
        With the tickets table (``ticket_source``): tickets created in each interval, and of
        those due by now, the share answered or closed by their due time, also per channel
        (``channels``). Without it: TICKET events of the contacts, no on-time rate."""
        table: dict[tuple[datetime, str], dict[str, int]] = {}
        if self.ticket_source is None:
            events = channel or Channel.PHONE
            for start, kind, n in self._event_rows(rng, TicketCreated, "type", events):
                table.setdefault((start, kind), {"created": 0})["created"] += n
            report = self._keyed_report(rng, table, "type", {})
            for item in [*report["items"], *report["series"]]:
                item.update(due=None, on_time=None, on_time_rate=None)
            report["on_time_available"] = False
            report["channel"] = events.value
            return report
        now = self.clock()
        by_channel: dict[str, dict[str, int]] = {
            c.value: {"created": 0, "due": 0, "on_time": 0} for c in Channel}
        for t in self.ticket_source.tickets(rng.start, rng.end):
            if channel is not None and t.channel != channel.value:
                continue
            cell = table.setdefault((rng.interval_start(t.created_at), t.type),
                                    {"created": 0, "due": 0, "on_time": 0})
            per = by_channel.setdefault(t.channel, {"created": 0, "due": 0, "on_time": 0})
            due, on_time = _ticket_due(t, now)
            for acc in (cell, per):
                acc["created"] += 1
                acc["due"] += int(due)
                acc["on_time"] += int(on_time)
        report = self._keyed_report(rng, table, "type", {"on_time_rate": ("on_time", "due")})
        report["on_time_available"] = True
        report["channel"] = channel.value if channel is not None else None
        report["channels"] = [
            {"channel": k, **v, "on_time_rate": _round(ratio(v["on_time"], v["due"]), 4)}
            for k, v in by_channel.items() if channel is None or k == channel.value]
        return report

    # -- channels ----------------------------------------------------------------------------

    def channel_series(self, rng: ReportRange) -> tuple[dict[tuple[datetime, str],
                                                             ChannelCounts], bool]:
        """Per interval and channel: contacts by outcome, tickets and their replies on time,
        texts sent and delivered. The flag: whether tickets were counted (a ticket source)."""
        table: dict[tuple[datetime, str], ChannelCounts] = {}
        contacts = self.rollups.channel_series(rng)
        for (start, medium), counts in contacts.rows.items():
            table.setdefault((start, medium), ChannelCounts()).add_contacts(counts)
        dialect = self.rollups.dialect
        for d in self.sms_source.deliveries(
                rng.start, rng.end, lambda col: group_key(epoch_of(col, dialect), rng)):
            cell = table.setdefault((start_of_key(d.key, rng), Channel.SMS.value),
                                    ChannelCounts())
            cell.texts_sent += d.texts
            cell.segments_sent += d.segments
            if d.status == "delivered":
                cell.delivered += d.texts
            elif d.status == "failed":
                cell.delivery_failed += d.texts
            else:
                cell.delivery_pending += d.texts
        if self.ticket_source is not None:
            now = self.clock()
            for t in self.ticket_source.tickets(rng.start, rng.end):
                cell = table.setdefault((rng.interval_start(t.created_at), t.channel),
                                        ChannelCounts())
                due, on_time = _ticket_due(t, now)
                cell.tickets += 1
                cell.tickets_due += int(due)
                cell.tickets_on_time += int(on_time)
        return table, self.ticket_source is not None

    def _channel_totals(self, rng: ReportRange) -> dict[str, dict[str, Any]]:
        table, with_tickets = self.channel_series(rng)
        totals = {c.value: ChannelCounts() for c in Channel}
        for (_s, medium), counts in table.items():
            totals.setdefault(medium, ChannelCounts()).add(counts)
        return {k: derive_channel(v, k, tickets_available=with_tickets)
                for k, v in totals.items()}

    def channels(self, rng: ReportRange, channel: Channel | None = None) -> dict[str, Any]:
        """Every channel (or one) side by side: totals (``items``) and per interval."""
        table, with_tickets = self.channel_series(rng)
        totals = {c.value: ChannelCounts() for c in Channel}
        for (_s, medium), counts in table.items():
            totals.setdefault(medium, ChannelCounts()).add(counts)
        wanted = [k for k in totals if channel is None or k == channel.value]
        return {
            **self._meta(rng),
            "channel": channel.value if channel is not None else None,
            "tickets_available": with_tickets,
            "items": [{"channel": k, **derive_channel(totals[k], k,
                                                       tickets_available=with_tickets)}
                      for k in wanted],
            "series": [{"start": rng.local(s).isoformat(), "channel": k,
                        **derive_channel(table[(s, k)], k, tickets_available=with_tickets)}
                       for s in rng.interval_starts() for k in wanted if (s, k) in table],
        }

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

    def contact_rows(self, rng: ReportRange, channel: Channel | None = None
                     ) -> Iterator[Sequence[Any]]:
        """The contacts themselves (of one channel, or of all), the channel in the last
        column."""
        if rng.end - rng.start > timedelta(days=MAX_EXPORT_CONTACT_DAYS):
            raise StatsInputError(
                f"联系记录导出最多 {MAX_EXPORT_CONTACT_DAYS} 天")
        nodes, queues = self.labels.nodes(), self.labels.queues()
        for row in self.contact_source.contact_rows(
                rng.start, rng.end, channel.value if channel is not None else None):
            yield named_contact_row(row, nodes, queues)


    # -- live -------------------------------------------------------------------------------

    def live(self, now: datetime | None = None) -> dict[str, Any]:
        """The wallboard: calls waiting now, longest wait, calls in IVR / with agents, and
        today's (hotline time zone) service level and abandonment."""
        now = now or self.clock()
        tz = ZoneInfo(self.rollups.timezone)
        open_now = self.contact_source.open_contacts(now - timedelta(days=1))
        # every configured queue, nobody waiting in it or not, in the console's order; then a
        # queue callers wait in that is not configured (any more)
        titles = self.labels.queues()
        waiting = {q.queue: q for q in open_now.queues}
        queues = []
        longest = 0.0
        for name in [*titles, *sorted(n for n in waiting if n not in titles)]:
            q = waiting.get(name)
            wait = max(0.0, (now - q.since).total_seconds()) if q and q.since else 0.0
            longest = max(longest, wait)
            queues.append({"queue": name, "title": titles.get(name) or name,
                           "waiting": q.waiting if q else 0, "longest_wait": round(wait, 1)})
        local_now = now.astimezone(tz)
        day_start = datetime.combine(local_now.date(), time(), tz).astimezone(UTC)
        end_epoch = (int(now.timestamp()) // BUCKET_SECONDS + 1) * BUCKET_SECONDS
        rng = ReportRange(day_start, datetime.fromtimestamp(end_epoch, UTC), Interval.HOUR, tz)
        today = self.rollups.summary_series(rng).total()
        figures = derive(today)
        # every state an agent logged in can be in, none left out (0: nobody in it)
        states = dict.fromkeys(AGENT_STATES, 0)
        for span in self.agent_source.spans(now - timedelta(seconds=1), now):
            if span.end >= now and span.state != "logged_out":
                states[span.state] = states.get(span.state, 0) + 1
        if isinstance(self.agent_source, NoAgentActivity):  # no state history: the calls
            states["on_call"] = len(open_now.busy_agents)
        return {
            "at": local_now.isoformat(),
            "waiting": sum(q["waiting"] for q in queues),
            "longest_wait": round(longest, 1),
            "queues": queues,
            "in_ivr": open_now.in_ivr,
            "on_call": open_now.on_call,
            "agents_by_state": states,
            "agents_logged_in": sum(states.values()),
            "agent_states_available": not isinstance(self.agent_source, NoAgentActivity),
            "today": {k: figures[k] for k in (
                "contacts", "automatic_voice", "manual", "other", "offered", "answered",
                "abandoned", "short_abandoned", "service_level", "abandon_rate", "asa",
                "ivr_containment", "csat")},
            # every channel today: contacts and how they were served, open now, texts
            # delivered, tickets replied on time (definitions: docs/metrics.md, "Channels")
            "channels": {k: {**{f: v[f] for f in _LIVE_CHANNEL_FIGURES if f in v},
                             "open": open_now.by_medium.get(k, 0)}
                         for k, v in self._channel_totals(rng).items()},
        }

    def _agent_times(self, rng: ReportRange) -> dict[tuple[datetime, str], AgentTime]:
        out: dict[tuple[datetime, str], AgentTime] = {}
        for span in self.agent_source.spans(rng.start, rng.end):
            for start, seconds in split_span(span.start, span.end, rng):
                spent = out.setdefault((start, span.agent), AgentTime())
                spent.add(span.state, span.reason, seconds)
        return out


QUEUE_COLUMN, LAST_NODE_COLUMN = 6, 11
"""Where the contact source's rows hold the queue and the last menu node (ids)."""


def named_contact_row(row: Sequence[Any], nodes: Mapping[str, str],
                      queues: Mapping[str, str]) -> list[Any]:
    """A contact row for the export: the queue by its title and the last menu node by its
    label, each followed by its id (``export.CONTACT_HEADERS``)."""
    out = list(row)
    node, queue = out[LAST_NODE_COLUMN], out[QUEUE_COLUMN]
    out[LAST_NODE_COLUMN:LAST_NODE_COLUMN + 1] = [nodes.get(node) or node if node else node,
                                                  node]
    out[QUEUE_COLUMN:QUEUE_COLUMN + 1] = [queues.get(queue) or queue if queue else queue, queue]
    return out


AGENT_STATES = ("ready", "ringing", "on_call", "wrap_up", "paused")
"""The states of an agent logged in, in the wallboard's order (callcenter/agents/models.py)."""


def _name(report: dict[str, Any], key: str, field: str, words: Mapping[str, str]) -> None:
    """Give each item and interval row of a keyed report the words of its id (the id itself
    when it has none: a node without a title, an entry since removed, an empty key)."""
    for row in [*report["items"], *report["series"]]:
        row[field] = words.get(row[key]) or row[key]


_LIVE_CHANNEL_FIGURES = ("contacts", "self_service", "answered", "other", "self_service_rate",
                         "tickets", "reply_on_time_rate", "texts_sent", "delivered",
                         "delivery_failed", "delivery_rate")


def _calls_only(channel: Channel) -> None:
    if channel is not Channel.PHONE:
        raise StatsInputError(
            f"队列与坐席报表只统计电话（channel=phone），{CHANNEL_TITLES[channel]}渠道没有排队和坐席接听")


def _ticket_due(t: TicketFact, now: datetime) -> tuple[bool, bool]:
    """Whether a ticket is due (settled, or past its due time) and whether it was settled by
    its due time."""
    due = t.due_at is not None and (t.closed_at is not None or now > t.due_at)
    on_time = due and t.closed_at is not None and t.due_at is not None \
        and t.closed_at <= t.due_at
    return due, on_time


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)
