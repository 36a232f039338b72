"""Statistics benchmark on PostgreSQL: reports over 1,000,000 and 5,000,000 contacts.

Run `python benchmarks/stats_bench.py [--sizes 1000000,5000000]` from the repository root in the
project's virtualenv, with PostgreSQL on 127.0.0.1:5432 (admin URL from
HOTLINE_BENCH_PG_ADMIN_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres). It
takes minutes: it creates a throw-away database, migrates it, and for each size:

1. generates contacts over one year (2025-12-01 .. 2026-11-30, Shanghai) with generate_series:
   80 % in working hours, automatic voice : manual about the province's ratio, a few percent
   abandoned, 200 agents, two queues; plus the timeline events the statistics read
   (queue_joined, agent_connected, agent_completed, queue_abandoned, survey);
2. rebuilds the rollups (``StatsService.rebuild``) and ANALYZEs;
3. times the summary, channels, queues and agents reports for a month (by day) and for a year
   (by month), and the summary of a month by hour (15-minute rollup): median and max of 7 runs
   after one warm-up, each run including the dirty-bucket check a report does first;
4. times the CSV export of a month: the contacts themselves (streamed) and the daily summary;
5. times the incremental upkeep: 500 new calls recorded through ContactService.apply, then the
   refresh that folds them in.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.migrate import upgrade
from callcenter.stats import export
from callcenter.stats.metrics import Thresholds
from callcenter.stats.services import StatsService
from ivr.clock import system_clock
from ivr.ports import ContactEvent, EventKind

ADMIN_URL = os.environ.get("HOTLINE_BENCH_PG_ADMIN_URL",
                           "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
YEAR_START_LOCAL = "2025-12-01 00:00:00+08"

CONTACTS_SQL = """
INSERT INTO contacts (linkedid, caller_number, channel, started_at, ended_at, outcome, queue,
    agent, queue_joined_at, agent_connected_at, ivr_seconds, queue_wait_seconds, talk_seconds,
    self_served, explicit_outcome, last_node, ivr_end_reason, hangup_cause, hangup_cause_txt,
    reconciled)
SELECT 'bench-' || g, '138' || lpad((g % 100000000)::text, 8, '0'), 'PJSIP/trunk',
    ts, ts + make_interval(secs => ivr + wait + talk + 5),
    outcome, queue, agent,
    CASE WHEN queue IS NOT NULL THEN ts + make_interval(secs => ivr) END,
    CASE WHEN outcome = 'answered' THEN ts + make_interval(secs => ivr + wait) END,
    ivr, CASE WHEN queue IS NOT NULL THEN wait END,
    CASE WHEN outcome = 'answered' THEN talk END,
    outcome = 'self_service', NULL,
    CASE WHEN queue IS NOT NULL THEN 'agent' ELSE 'faq_vat_law' END, NULL, 16,
    'Normal Clearing', false
FROM (
    SELECT g, ts, outcome,
        CASE WHEN outcome IN ('answered', 'abandoned_queue')
             THEN CASE WHEN r3 < 0.12 THEN 'experts' ELSE 'consult' END END AS queue,
        CASE WHEN outcome = 'answered'
             THEN 'agent' || lpad((1 + floor(r4 * 200))::int::text, 3, '0') END AS agent,
        (10 + floor(r5 * 60))::float AS ivr,
        CASE WHEN outcome = 'answered' THEN floor(-ln(1 - r6) * 18)
             WHEN outcome = 'abandoned_queue' THEN floor(-ln(1 - r6) * 40)
             ELSE 0 END::float AS wait,
        CASE WHEN outcome = 'answered' THEN 60 + floor(r7 * r7 * 900) ELSE 0 END::float AS talk
    FROM (
        SELECT g,
            timestamptz '{year_start}' + make_interval(days => floor(random() * 365)::int)
              + make_interval(secs => CASE WHEN random() < 0.8 THEN 30600 + random() * 32400
                                           ELSE random() * 86400 END) AS ts,
            CASE WHEN r1 < 0.54 THEN 'self_service' WHEN r1 < 0.955 THEN 'answered'
                 WHEN r1 < 0.985 THEN 'abandoned_queue' ELSE 'abandoned_ivr' END AS outcome,
            random() AS r3, random() AS r4, random() AS r5, random() AS r6, random() AS r7
        FROM (SELECT g, random() AS r1 FROM generate_series({lo}, {hi}) AS g) AS a
    ) AS b
) AS c
"""

EVENTS_SQL = [
    """INSERT INTO contact_events (contact_id, at, kind, data)
       SELECT id, queue_joined_at, 'queue_joined',
              json_build_object('queue', queue, 'position', 1)
       FROM contacts WHERE id > {first_id} AND queue_joined_at IS NOT NULL""",
    """INSERT INTO contact_events (contact_id, at, kind, data)
       SELECT id, agent_connected_at, 'agent_connected',
              json_build_object('queue', queue, 'agent', agent, 'hold_time',
                                queue_wait_seconds, 'ring_time', 2)
       FROM contacts WHERE id > {first_id} AND agent_connected_at IS NOT NULL""",
    """INSERT INTO contact_events (contact_id, at, kind, data)
       SELECT id, ended_at, 'agent_completed',
              json_build_object('queue', queue, 'agent', agent, 'talk_time', talk_seconds,
                                'hold_time', queue_wait_seconds, 'reason', 'caller')
       FROM contacts WHERE id > {first_id} AND agent_connected_at IS NOT NULL""",
    """INSERT INTO contact_events (contact_id, at, kind, data)
       SELECT id, ended_at, 'queue_abandoned',
              json_build_object('queue', queue, 'hold_time', queue_wait_seconds, 'position', 1)
       FROM contacts WHERE id > {first_id} AND outcome = 'abandoned_queue'""",
    """INSERT INTO contact_events (contact_id, at, kind, data)
       SELECT id, ended_at, 'survey',
              json_build_object('node', 'survey', 'score',
                                CASE WHEN r < 0.2 THEN NULL WHEN r < 0.85 THEN 1
                                     WHEN r < 0.96 THEN 2 ELSE 3 END)
       FROM (SELECT id, ended_at, random() AS r FROM contacts
             WHERE id > {first_id} AND outcome IN ('answered', 'self_service')) AS s
       WHERE r < 0.6""",
]


def timed(fn: Callable[[], Any], runs: int = 7) -> tuple[float, float]:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def generate(engine: sa.Engine, lo: int, hi: int) -> tuple[float, int]:
    started = time.perf_counter()
    with engine.begin() as conn:
        first_id = conn.scalar(sa.text("SELECT coalesce(max(id), 0) FROM contacts")) or 0
        conn.execute(sa.text(f"SELECT setseed({(lo % 1000) / 1000})"))
        conn.execute(sa.text(CONTACTS_SQL.format(year_start=YEAR_START_LOCAL, lo=lo, hi=hi)))
        for sql in EVENTS_SQL:
            conn.execute(sa.text(sql.format(first_id=first_id)))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE contacts"))
        conn.execute(sa.text("ANALYZE contact_events"))
        events = conn.scalar(sa.text("SELECT count(*) FROM contact_events")) or 0
    return time.perf_counter() - started, int(events)


def new_calls(contacts: ContactService, n: int) -> None:
    base = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    for i in range(n):
        lid = f"inc-{uuid.uuid4().hex[:12]}"
        at = base + timedelta(seconds=i * 7)
        steps: list[tuple[float, EventKind, dict[str, Any]]] = [
            (0, EventKind.CALL_STARTED, {"caller": "13800000000", "channel": "PJSIP/x"}),
            (20, EventKind.QUEUE_JOINED, {"queue": "consult", "position": 1}),
            (30, EventKind.AGENT_CONNECTED, {"queue": "consult", "agent": "agent001",
                                             "hold_time": 10}),
            (90, EventKind.AGENT_COMPLETED, {"queue": "consult", "agent": "agent001",
                                             "talk_time": 60}),
            (91, EventKind.CALL_ENDED, {"cause": 16}),
        ]
        for offset, kind, data in steps:
            contacts.apply(ContactEvent.parse(lid, kind, data, at=at + timedelta(seconds=offset)))


def measure(db: Database, size: int, gen_s: float, events: int) -> None:
    stats = StatsService(db, Thresholds(), clock=system_clock)
    started = time.perf_counter()
    stats.rebuild()
    rebuild_s = time.perf_counter() - started
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("stats_contacts_15m", "stats_queues_15m", "stats_contacts_1d",
                      "stats_queues_1d"):
            conn.execute(sa.text(f"ANALYZE {table}"))
        rollup_rows = {t: conn.scalar(sa.text(f"SELECT count(*) FROM {t}")) for t in (
            "stats_contacts_15m", "stats_queues_15m", "stats_contacts_1d", "stats_queues_1d")}
    print(f"\n== {size:,} contacts ({events:,} timeline events): generated in {gen_s:.0f} s, "
          f"rollups rebuilt in {rebuild_s:.0f} s; rollup rows {rollup_rows}")
    month = stats.range("2026-11-01", "2026-11-30", "day")
    year = stats.range("2025-12-01", "2026-11-30", "month")
    month_hourly = stats.range("2026-11-01", "2026-11-30", "hour")
    print(f"{'report':<10} {'range':<16} {'median ms':>10} {'max ms':>8}")
    for name, fn in (("summary", stats.summary), ("channels", stats.channels),
                     ("queues", stats.queues), ("agents", stats.agents)):
        for label, rng in (("month by day", month), ("year by month", year)):
            med, worst = timed(lambda fn=fn, rng=rng: fn(rng))  # type: ignore[misc]
            print(f"{name:<10} {label:<16} {med:>10.1f} {worst:>8.1f}")
    med, worst = timed(lambda: stats.summary(month_hourly))
    print(f"{'summary':<10} {'month by hour':<16} {med:>10.1f} {worst:>8.1f}")

    def contacts_csv() -> tuple[int, int]:
        rows = 0
        size_bytes = 0
        for chunk in export.csv_chunks(export.CONTACT_HEADERS, stats.contact_rows(month)):
            size_bytes += len(chunk.encode())
            rows += chunk.count("\n")
        return rows, size_bytes

    started = time.perf_counter()
    rows, size_bytes = contacts_csv()
    csv_s = time.perf_counter() - started
    print(f"CSV export of a month, contacts: {rows - 1:,} rows, {size_bytes / 1e6:.1f} MB "
          f"in {csv_s:.1f} s")
    med, worst = timed(lambda: list(export.csv_chunks(*export.report_table(
        stats.summary(month)))))
    print(f"CSV export of a month, summary by day: median {med:.1f} ms, max {worst:.1f} ms")
    med, _ = timed(stats.refresh)
    print(f"refresh with nothing to do: median {med:.2f} ms")
    contacts = ContactService(db)
    new_calls(contacts, 500)
    started = time.perf_counter()
    buckets = stats.refresh()
    print(f"incremental: 500 new calls -> refresh of {buckets} quarter-hours in "
          f"{(time.perf_counter() - started) * 1000:.0f} ms")
    with db.transaction() as session:
        session.execute(sa.text("DELETE FROM contacts WHERE linkedid LIKE 'inc-%'"))
    stats.rebuild()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,5000000")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    name = f"hotline_bench_stats_{os.getpid()}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        version = conn.scalar(sa.text("SHOW server_version"))
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    print(f"PostgreSQL {version}, database {name}; {os.cpu_count()} CPUs")
    try:
        upgrade(url)
        db = Database(url)
        done = 0
        for size in sizes:
            gen_s, events = generate(db.engine, done + 1, size)
            done = size
            measure(db, size, gen_s, events)
        db.dispose()
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
