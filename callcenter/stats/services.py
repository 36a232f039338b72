"""Statistics: the service the API, the CLI and the wallboard use.

:class:`StatsService` puts together the parts, each in its own module:

* :mod:`callcenter.stats.ranges`: report parameters: ranges and intervals (``from``/``to``),
  channels (``channel``);
* :mod:`callcenter.stats.dialect`: the SQL that differs between SQLite and PostgreSQL;
* :mod:`callcenter.stats.rollups`: rollup upkeep and reading (:class:`Series`);
* :mod:`callcenter.stats.reports`: the reports, the export rows, the live snapshot;
* :mod:`callcenter.stats.sources`: what other packages provide (agent state spans, tickets,
  open contacts, texts' delivery), implemented in their ``reporting`` modules;
* :mod:`callcenter.stats.metrics`: one definition of every metric;
* :mod:`callcenter.stats.labels`: the words of the ids the reports count (menu nodes, FAQ
  entries, queues).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from callcenter.agents.reporting import AgentStateLogSource, AgentStateSpan
from callcenter.contacts.reporting import ContactTableSource
from callcenter.db import Database
from callcenter.outbound.reporting import OutboundTableSource
from callcenter.quality.reporting import QualityTableSource
from callcenter.queues.reporting import QueueTableSource
from callcenter.settings import PROJECT_ROOT
from callcenter.sms.reporting import SmsTableSource
from callcenter.stats.dialect import bucket_sql, epoch_of
from callcenter.stats.labels import FileLabels, Labels, LiveFaqQuestions
from callcenter.stats.metrics import Thresholds
from callcenter.stats.ranges import (
    CHANNEL_TITLES,
    INTERVAL_SECONDS,
    MAX_EXPORT_CONTACT_DAYS,
    MAX_RANGE_DAYS,
    Channel,
    Interval,
    ReportRange,
    StatsInputError,
    make_range,
    parse_channel,
    parse_instant,
)
from callcenter.stats.reports import AgentTime, Reports
from callcenter.stats.rollups import PHONE, Rollups, Series
from callcenter.stats.sources import (
    AgentActivitySource,
    ContactSource,
    NoAgentActivity,
    QualitySource,
    SmsSource,
    TicketSource,
)
from callcenter.tickets.reporting import TicketFact, TicketTableSource
from ivr.clock import Clock

__all__ = [
    "CHANNEL_TITLES", "INTERVAL_SECONDS", "MAX_EXPORT_CONTACT_DAYS", "MAX_RANGE_DAYS", "PHONE",
    "AgentActivitySource", "AgentStateLogSource", "AgentStateSpan", "AgentTime",
    "Channel", "ContactSource", "ContactTableSource", "Interval", "NoAgentActivity", "ReportRange",
    "Series", "SmsSource", "SmsTableSource", "StatsInputError", "StatsService", "TicketFact",
    "TicketSource",
    "TicketTableSource", "bucket_sql", "epoch_of", "make_range", "parse_channel", "parse_instant",
    "stats_service_for",
]


DEFAULT_MENU = PROJECT_ROOT / "ivr" / "menus" / "12366.yaml"
DEFAULT_KB_DATA = PROJECT_ROOT / "knowledge_base" / "data"


class StatsService:
    def __init__(self, db: Database, thresholds: Thresholds | None = None,
                 timezone: str = "Asia/Shanghai",
                 agents: AgentActivitySource | None = None,
                 tickets: TicketSource | None = None, *, clock: Clock,
                 contacts: ContactSource | None = None, sms: SmsSource | None = None,
                 quality: QualitySource | None = None,
                 labels: Labels | None = None) -> None:
        self.db = db
        self.clock = clock
        self.thresholds = thresholds or Thresholds()
        self.timezone = timezone
        self.agent_source: AgentActivitySource = agents or NoAgentActivity()
        self.ticket_source = tickets
        self.rollups = Rollups(db, self.thresholds, timezone, clock=clock)
        self.reports = Reports(db, self.rollups, self.thresholds, agents=self.agent_source,
                               tickets=tickets, contacts=contacts or ContactTableSource(db),
                               sms=sms or SmsTableSource(db), clock=clock,
                               quality=quality or QualityTableSource(db),
                               labels=labels or file_labels(db))

    def range(self, start: str | None, end: str | None, interval: str | None) -> ReportRange:
        return make_range(start, end, interval, self.timezone)

    def outbound(self, rng: ReportRange) -> dict[str, Any]:
        """Outbound callbacks, counted apart from the inbound figures (docs/metrics.md)."""
        return {"from": rng.start.isoformat(), "to": rng.end.isoformat(),
                **OutboundTableSource(self.db).outbound(rng.start, rng.end)}

    # -- rollups ------------------------------------------------------------------------------

    def refresh(self) -> int:
        """Recompute the buckets marked dirty (everything after a threshold change)."""
        return self.rollups.refresh()

    def rebuild(self) -> int:
        return self.rollups.rebuild()

    def summary_series(self, rng: ReportRange, medium: str | None = PHONE) -> Series:
        return self.rollups.summary_series(rng, medium)

    # -- reports (``channel``: see :func:`callcenter.stats.ranges.parse_channel`) -------------

    def channel(self, value: str | None, default: Channel | None = Channel.PHONE
                ) -> Channel | None:
        return parse_channel(value, default)

    def summary(self, rng: ReportRange, channel: Channel = Channel.PHONE) -> dict[str, Any]:
        return self.reports.summary(rng, channel)

    def queues(self, rng: ReportRange, channel: Channel = Channel.PHONE) -> dict[str, Any]:
        return self.reports.queues(rng, channel)

    def agents(self, rng: ReportRange, channel: Channel = Channel.PHONE) -> dict[str, Any]:
        return self.reports.agents(rng, channel)

    def menu_nodes(self, rng: ReportRange, channel: Channel = Channel.PHONE) -> dict[str, Any]:
        return self.reports.menu_nodes(rng, channel)

    def faqs(self, rng: ReportRange, channel: Channel = Channel.PHONE) -> dict[str, Any]:
        return self.reports.faqs(rng, channel)

    def quality(self, rng: ReportRange, channel: Channel = Channel.PHONE) -> dict[str, Any]:
        return self.reports.quality(rng, channel)

    def tickets(self, rng: ReportRange, channel: Channel | None = None) -> dict[str, Any]:
        return self.reports.tickets(rng, channel)

    def channels(self, rng: ReportRange, channel: Channel | None = None) -> dict[str, Any]:
        return self.reports.channels(rng, channel)

    def contact_rows(self, rng: ReportRange, channel: Channel | None = None
                     ) -> Iterator[Sequence[Any]]:
        return self.reports.contact_rows(rng, channel)

    def live(self, now: datetime | None = None) -> dict[str, Any]:
        return self.reports.live(now)


def stats_service_for(db: Database, settings: Any, clock: Clock) -> StatsService:
    """The service as the app configures it (thresholds and time zone from settings)."""
    thresholds = Thresholds(
        service_level_seconds=float(settings.stats_service_level_seconds),
        short_abandon_seconds=float(settings.stats_short_abandon_seconds),
        satisfied_scores=tuple(int(s) for s in settings.stats_satisfied_scores),
    )
    return StatsService(db, thresholds, settings.timezone,
                        agents=AgentStateLogSource(db, clock), tickets=TicketTableSource(db),
                        clock=clock, contacts=ContactTableSource(db), sms=SmsTableSource(db),
                        quality=QualityTableSource(db),
                        labels=file_labels(db, settings.menu_file, settings.kb_data_dir))


def file_labels(db: Database, menu_file: Path = DEFAULT_MENU,
                kb_data_dir: Path = DEFAULT_KB_DATA) -> FileLabels:
    """The words of the reports' ids: the menu file's node titles, the live knowledge base's
    questions (the database's; the data files' before it is seeded), the queue table's titles
    (callcenter/stats/labels.py)."""
    return FileLabels(menu_file, kb_data_dir, QueueTableSource(db), LiveFaqQuestions(db))
