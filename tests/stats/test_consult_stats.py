"""Consultative transfers in the statistics, on SQLite and PostgreSQL (docs/metrics.md
"Durations" and "Queue level"): the contact's talk time counts the time two agents were on the
call once, each agent's own talk time stays theirs, and the consulted queue counts an offer for
each consultation leg (one nobody answered is withdrawn: neither answered nor abandoned)."""

from __future__ import annotations

from typing import Any

from callcenter.contacts.services import ContactService
from callcenter.stats.services import StatsService
from ivr.ports import EventKind
from tests.stats.conftest import Step, local, play
from tests.stats.test_reports import answered, end, queued, start

E = EventKind
DAY = ("2026-11-27", "2026-11-27", "day")
QUARTERS = ("2026-11-27T09:00:00+08:00", "2026-11-27T12:00:00+08:00", "15min")


def consult(at: float, step: str, expert: str | None = None) -> Step:
    data: dict[str, object] = {"agent": "agent1", "queue": "experts", "step": step}
    if expert:
        data["expert"] = expert
    return (at, E.CONSULT, data)


def consult_join(at: float) -> Step:
    return (at, E.QUEUE_JOINED, {"queue": "experts", "position": 1, "consult": True})


def expert_connected(at: float, agent: str, hold: float) -> Step:
    return (at, E.AGENT_CONNECTED, {"queue": "experts", "agent": agent, "hold_time": hold,
                                    "ring_time": 1, "consult": True})


def completed(at: float, agent: str, talk: float, queue: str, reason: str) -> Step:
    return (at, E.AGENT_COMPLETED, {"queue": queue, "agent": agent, "talk_time": talk,
                                    "hold_time": 5, "reason": reason})


def build_consultations(c: ContactService) -> None:
    """Four answered calls on 2026-11-27 (Shanghai) in queue consult, agent1 first."""
    # C1 09:10 consult -> complete: agent1 0-100 s of the talk, the expert 60-160 s: 160 s
    play(c, "C1", local("2026-11-27 09:10:00"), [
        start(), *queued(10), (17, E.AGENT_CONNECTED, {"queue": "consult", "agent": "agent1",
                                                      "hold_time": 7, "ring_time": 1}),
        consult(70, "started"), consult_join(71), expert_connected(77, "agent2", 6),
        consult(77, "answered", "agent2"), consult(117, "completed", "agent2"),
        completed(117, "agent1", 100, "consult", "transfer"),
        completed(177, "agent2", 100, "experts", "caller"), end(177)])
    # C2 09:40 consult -> three-way -> agent1 leaves: agent1 0-150, the expert 60-200: 200 s
    play(c, "C2", local("2026-11-27 09:40:00"), [
        start(), *queued(10), (15, E.AGENT_CONNECTED, {"queue": "consult", "agent": "agent1",
                                                      "hold_time": 5, "ring_time": 1}),
        consult(70, "started"), consult_join(71), expert_connected(75, "agent2", 4),
        consult(75, "answered", "agent2"), consult(90, "conference", "agent2"),
        completed(165, "agent1", 150, "consult", "caller"),
        completed(215, "agent2", 140, "experts", "caller"), end(215)])
    # C3 10:00 consult, nobody answers in 30 s: the desk cancels (no_answer); agent1 talks 90 s
    play(c, "C3", local("2026-11-27 10:00:00"), [
        start(), *queued(10), (12, E.AGENT_CONNECTED, {"queue": "consult", "agent": "agent1",
                                                      "hold_time": 2, "ring_time": 1}),
        consult(40, "started"), consult_join(41), consult(71, "no_answer"),
        completed(102, "agent1", 90, "consult", "caller"), end(102)])
    # C4 11:00 a blind transfer (legs one after another): agent1 60 s, then agent2 90 s
    play(c, "C4", local("2026-11-27 11:00:00"), [
        start(), *queued(10), *answered(15, "agent1", 5, 60),
        (76, E.AGENT_TRANSFER, {"agent": "agent1", "from_queue": "consult",
                                "to_queue": "experts"}),
        (77, E.QUEUE_JOINED, {"queue": "experts", "position": 1}),
        *answered(82, "agent2", 5, 90, queue="experts"), end(172)])


def by(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {r[key]: r for r in rows}


def test_contact_talk_time_counts_two_agents_once(stats: StatsService,
                                                   contacts: ContactService) -> None:
    build_consultations(contacts)
    talk = {x: contacts.get_by_linkedid(x).talk_seconds  # type: ignore[union-attr]
            for x in ("C1", "C2", "C3", "C4")}
    assert talk == {"C1": 160, "C2": 200, "C3": 90, "C4": 150}
    for rng in (DAY, QUARTERS):  # the daily rollups and the quarter-hour ones
        day = stats.summary(stats.range(*rng))["total"]
        assert (day["contacts"], day["offered"], day["answered"]) == (4, 4, 4)
        assert day["talk_seconds"] == 160 + 200 + 90 + 150  # not 200 + 290 + 90 + 150
        assert day["aht"] == 150
        # the caller's own wait: the first queue's, never the expert leg's
        assert day["asa"] == (7 + 5 + 2 + 5) / 4


def test_each_agent_keeps_their_own_talk_time(stats: StatsService,
                                              contacts: ContactService) -> None:
    build_consultations(contacts)
    agents = by(stats.agents(stats.range(*DAY))["agents"], "agent")
    assert (agents["agent1"]["handled"], agents["agent1"]["talk_seconds"]) == (4, 400)
    assert (agents["agent2"]["handled"], agents["agent2"]["talk_seconds"]) == (3, 330)


def test_the_consulted_queue_counts_an_offer_per_consultation(
        stats: StatsService, contacts: ContactService) -> None:
    build_consultations(contacts)
    for rng in (DAY, QUARTERS):
        report = stats.queues(stats.range(*rng))
        queues = by(report["queues"], "queue")
        assert set(queues) == {"consult", "experts"}
        first = queues["consult"]
        assert (first["offered"], first["answered"], first["abandoned"]) == (4, 4, 0)
        assert first["talk_seconds"] == 100 + 150 + 90 + 60
        experts = queues["experts"]
        # C1, C2 and C3 consulted, C4 transferred: four offers, three answers; C3's offer was
        # withdrawn (nobody answered, the desk cancelled): not a caller's abandon
        assert (experts["offered"], experts["answered"], experts["abandoned"]) == (4, 3, 0)
        assert experts["answered"] <= experts["offered"]
        assert experts["answer_rate"] == 0.75
        assert experts["abandon_rate"] == 0
        assert experts["asa"] == round((6 + 4 + 5) / 3, 2)
        assert experts["talk_seconds"] == 100 + 140 + 90
        assert report["total"]["offered"] == 8


def test_a_rebuild_gives_the_same_figures(stats: StatsService,
                                          contacts: ContactService) -> None:
    build_consultations(contacts)
    before = (stats.summary(stats.range(*DAY))["total"],
              stats.queues(stats.range(*DAY))["queues"],
              stats.agents(stats.range(*DAY))["agents"])
    stats.rebuild()
    after = (stats.summary(stats.range(*DAY))["total"],
             stats.queues(stats.range(*DAY))["queues"],
             stats.agents(stats.range(*DAY))["agents"])
    assert after == before
    assert after[0]["talk_seconds"] == 600
