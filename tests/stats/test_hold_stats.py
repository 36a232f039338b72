"""Hold time in the statistics: the rollups count the ``call_resumed`` seconds per call, per
queue and per agent, and the AHT counts them once (Asterisk's talk time already holds them),
on SQLite and PostgreSQL. docs/metrics.md "Durations" and "Agents"."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete

from callcenter.agents.models import AgentStateChange
from callcenter.agents.reporting import AgentStateLogSource
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.stats.export import report_table
from callcenter.stats.metrics import Counts, derive, handling_seconds
from callcenter.stats.services import StatsService
from ivr.ports import EventKind
from tests.stats.conftest import REPORT_CLOCK, Step, local, play
from tests.stats.test_reports import answered, end, queued, start

E = EventKind
DAY = ("2026-11-27", "2026-11-27", "day")


def held(at: float, agent: str, queue: str, seconds: float, ended: bool = False) -> list[Step]:
    return [(at, E.CALL_HELD, {"agent": agent, "queue": queue}),
            (at + seconds, E.CALL_RESUMED, {"agent": agent, "held_seconds": seconds,
                                            "ended": ended})]


def build_holds(c: ContactService) -> None:
    """Four calls on 2026-11-27 (Shanghai), holds written out per call."""
    # H1 09:10 agent1 (consult), talk 100 s with two holds: 12.5 s, then 7.5 s ended by hang-up
    play(c, "H1", local("2026-11-27 09:10:00"), [
        start(), *queued(10), *answered(17, "agent1", 7, 100),
        *held(30, "agent1", "consult", 12.5), *held(109.5, "agent1", "consult", 7.5, True),
        end(118)])
    # H2 09:40 agent1 (consult), talk 50 s, no hold
    play(c, "H2", local("2026-11-27 09:40:00"), [
        start(), *queued(10), *answered(15, "agent1", 5, 50), end(66)])
    # H3 10:00 agent1 (consult, talk 60, hold 4) transfers to experts; agent2 (talk 90,
    #   hold 10)
    play(c, "H3", local("2026-11-27 10:00:00"), [
        start(), *queued(10), *answered(20, "agent1", 10, 60),
        *held(40, "agent1", "consult", 4),
        (81, E.AGENT_TRANSFER, {"agent": "agent1", "from_queue": "consult",
                                "to_queue": "experts"}),
        (82, E.QUEUE_JOINED, {"queue": "experts", "position": 1}),
        *answered(87, "agent2", 5, 90, queue="experts"),
        *held(100, "agent2", "experts", 10), end(178)])
    # H4 11:00 agent2 (experts) held 30 s; the bridge lost the call (no AgentComplete: the leg
    #   has no talk time, so neither talk nor hold enter the leg's AHT; the contact's talk time
    #   is connect to hang-up, 40 s, hold included)
    play(c, "H4", local("2026-11-27 11:00:00"), [
        start(), *queued(10), (15, E.AGENT_CONNECTED, {"queue": "experts", "agent": "agent2",
                                                       "hold_time": 5, "ring_time": 1}),
        *held(20, "agent2", "experts", 30, True), end(55)])


def by(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {r[key]: r for r in rows}


def test_handling_seconds_count_hold_once() -> None:
    # talk 100 (Asterisk's, 20 of them on hold), wrap-up 30: 80 talking + 20 holding + 30
    assert handling_seconds(100, 30) == 130
    figures = derive(Counts(answered=2, talk_sum=100, hold_sum=20, wrapup_sum=30))
    assert (figures["hold_seconds"], figures["avg_hold"], figures["aht"]) == (20, 10, 65)
    assert derive(Counts())["avg_hold"] is None  # no answers: no data, not 0


def test_summary_counts_hold_per_call(stats: StatsService, contacts: ContactService) -> None:
    build_holds(contacts)
    day = stats.summary(stats.range(*DAY))["total"]
    assert day["answered"] == 4
    assert day["hold_seconds"] == 12.5 + 7.5 + 4 + 10 + 30
    assert day["avg_hold"] == round(64 / 4, 2)
    # contacts' talk (hold inside): H1 100, H2 50, H3 60 + 90 (both legs), H4 40 (connect to
    # hang-up): the AHT counts the hold once, inside the talk time
    assert day["talk_seconds"] == 340
    assert day["aht"] == 85
    # hourly (15-minute rollups) and daily rollups agree
    hours = stats.summary(stats.range("2026-11-27T09:00:00+08:00",
                                      "2026-11-27T12:00:00+08:00", "hour"))
    assert [r["hold_seconds"] for r in hours["series"]] == [20, 14, 30]
    assert [r["avg_hold"] for r in hours["series"]] == [10, 14, 30]
    # the summary export has the column
    headers, rows = report_table(stats.summary(stats.range(*DAY)))
    assert rows[0][headers.index("保持时长(秒)")] == 64
    assert rows[0][headers.index("平均保持时长(秒)")] == 16


def test_queues_count_hold_per_queue(stats: StatsService, contacts: ContactService) -> None:
    build_holds(contacts)
    report = stats.queues(stats.range(*DAY))
    queues = by(report["queues"], "queue")
    assert queues["consult"]["hold_seconds"] == 12.5 + 7.5 + 4
    assert queues["experts"]["hold_seconds"] == 10 + 30
    assert queues["consult"]["avg_hold"] == round(24 / 3, 2)
    # consult: talk 100 + 50 + 60 (hold inside), no wrap-up at queue level
    assert queues["consult"]["talk_seconds"] == 210
    assert queues["consult"]["aht"] == 70
    # experts: H3's leg 90 s (10 held inside), H4's leg without talk time (30 s held)
    assert queues["experts"]["talk_seconds"] == 90
    assert queues["experts"]["aht"] == 45
    assert report["total"]["hold_seconds"] == 64


def test_agents_count_hold_and_aht_is_talk_hold_and_wrap_up(
        stats: StatsService, contacts: ContactService, database: Database) -> None:
    build_holds(contacts)
    with database.transaction() as session:
        session.execute(delete(AgentStateChange))
        for at, state in [("09:00:00", "ready"), ("09:12:00", "wrap_up"), ("09:12:40", "ready"),
                          ("12:00:00", "logged_out")]:
            session.add(AgentStateChange(username="agent1", state=state, reason=None,
                                         at=local(f"2026-11-27 {at}")))
    try:
        with_states = StatsService(database, stats.thresholds,
                                   agents=AgentStateLogSource(database, REPORT_CLOCK),
                                   clock=REPORT_CLOCK)
        report = with_states.agents(with_states.range(*DAY))
        agents = by(report["agents"], "agent")
        a1, a2 = agents["agent1"], agents["agent2"]
        assert (a1["handled"], a1["talk_seconds"], a1["hold_seconds"]) == (3, 210, 24)
        assert a1["wrap_up_seconds"] == 40
        # (talk without hold + hold + wrap-up) / handled = (186 + 24 + 40) / 3
        assert a1["aht"] == round((186 + 24 + 40) / 3, 2)
        assert a1["avg_hold"] == 8
        assert (a2["handled"], a2["talk_seconds"], a2["hold_seconds"]) == (2, 90, 40)
        assert a2["aht"] == 45  # (80 + 10 held) / 2: the lost leg has no talk time
        assert a2["wrap_up_seconds"] is None  # no state history
        # per interval: the hold of each hour's calls
        hourly = with_states.agents(with_states.range("2026-11-27T09:00:00+08:00",
                                                      "2026-11-27T12:00:00+08:00", "hour"))
        rows = {(r["start"][11:13], r["agent"]): r["hold_seconds"] for r in hourly["series"]
                if r["handled"]}
        assert rows == {("09", "agent1"): 20, ("10", "agent1"): 4, ("10", "agent2"): 10,
                        ("11", "agent2"): 30}
    finally:
        with database.transaction() as session:
            session.execute(delete(AgentStateChange))


def test_a_hold_recorded_late_reaches_the_rollups(stats: StatsService,
                                                  contacts: ContactService) -> None:
    """A ``call_resumed`` written after the call ended (the bridge ending a hold it found at
    start-up: docs/console.md "Hold") marks the contact's bucket for recount."""
    build_holds(contacts)
    assert stats.summary(stats.range(*DAY))["total"]["hold_seconds"] == 64
    play(contacts, "H2", local("2026-11-27 09:40:00"), [
        (20, E.CALL_HELD, {"agent": "agent1", "queue": "consult"}),
        (60, E.CALL_RESUMED, {"agent": "agent1", "held_seconds": 40, "ended": True})])
    assert stats.summary(stats.range(*DAY))["total"]["hold_seconds"] == 104
    assert by(stats.agents(stats.range(*DAY))["agents"], "agent")["agent1"][
        "hold_seconds"] == 64
    # a rebuild from the contact log gives the same figures
    stats.rebuild()
    assert stats.summary(stats.range(*DAY))["total"]["hold_seconds"] == 104
