"""Reports against figures counted by hand, on SQLite and PostgreSQL.

One day of contacts (Shanghai time) built through ContactService.apply as the IVR records them;
every metric is checked against the count written out below.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete

from callcenter.agents.models import AgentStateChange
from callcenter.agents.reporting import AgentStateLogSource
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.stats.metrics import Thresholds
from callcenter.stats.models import StatsDirtyBucket
from callcenter.stats.ranges import StatsInputError
from callcenter.stats.services import StatsService
from callcenter.tickets.reporting import TicketTableSource
from ivr.ports import ContactEvent, EventKind
from tests.stats.conftest import REPORT_CLOCK, Step, local, play

E = EventKind


def start(caller: str = "13800000000") -> Step:
    return (0, E.CALL_STARTED, {"caller": caller, "channel": "PJSIP/caller-1"})


def end(at: float) -> Step:
    return (at, E.CALL_ENDED, {"cause": 16, "cause_txt": "Normal Clearing"})


def queued(at: float, queue: str = "consult") -> list[Step]:
    return [(at - 1, E.TRANSFER, {"node": "agent", "queue": queue}),
            (at, E.QUEUE_JOINED, {"queue": queue, "position": 1})]


def answered(at: float, agent: str, hold: float, talk: float, queue: str = "consult"
             ) -> list[Step]:
    return [(at, E.AGENT_CONNECTED, {"queue": queue, "agent": agent, "hold_time": hold,
                                     "ring_time": 1}),
            (at + talk, E.AGENT_COMPLETED, {"queue": queue, "agent": agent, "talk_time": talk,
                                            "hold_time": hold, "reason": "caller"})]


def abandoned(at: float, hold: float, queue: str = "consult") -> Step:
    return (at, E.QUEUE_ABANDONED, {"queue": queue, "hold_time": hold, "position": 1})


def survey(at: float, score: int | None) -> Step:
    return (at, E.SURVEY, {"score": score, "node": "survey"})


def build_day(c: ContactService) -> None:
    """Eleven contacts: ten started on 2026-11-27 (Shanghai), one on the 28th."""
    # 1 self-service at 09:05, survey offered but not answered
    play(c, "L01", local("2026-11-27 09:05:00"), [
        start(), (1, E.MENU_NODE, {"node": "welcome"}), (6, E.MENU_NODE, {"node": "main"}),
        (9, E.MENU_NODE, {"node": "faq_vat_law"}),
        (9, E.FAQ_PLAYED, {"node": "faq_vat_law", "faq_id": "vat.law.effective_date",
                           "question": "增值税法什么时候开始施行？", "score": 1.0,
                           "category": "增值税", "via": "key"}),
        (30, E.SELF_SERVICE, {"node": "faq", "service": "faq", "detail": None}),
        survey(35, None), end(40)])
    # 2 answered at 09:10 by agent1 after 7 s (in SL), talk 100 s, rated 1 (满意)
    play(c, "L02", local("2026-11-27 09:10:00"), [
        start(), *queued(10), *answered(17, "agent1", 7, 100), survey(118, 1), end(125)])
    # 3 answered at 09:50 by agent2 after 30 s (beyond SL), talk 200 s, rated 3 (不满意)
    play(c, "L03", local("2026-11-27 09:50:00"), [
        start(), *queued(10), *answered(40, "agent2", 30, 200), survey(241, 3), end(250)])
    # 10 self-service across the hour: 09:59:30 -> 10:01 (counted in hour 09)
    play(c, "L10", local("2026-11-27 09:59:30"), [
        start(), (40, E.SELF_SERVICE, {"node": "faq", "service": "faq", "detail": None}), end(90)])
    # 4 short abandon at 10:05 (3 s < 5 s)
    play(c, "L04", local("2026-11-27 10:05:00"), [
        start(), *queued(10), abandoned(13, 3), end(13)])
    # 5 abandon at 10:20 after 45 s
    play(c, "L05", local("2026-11-27 10:20:00"), [
        start(), *queued(10), abandoned(55, 45), end(55)])
    # 6 caller hangs up in the main menu at 10:40
    play(c, "L06", local("2026-11-27 10:40:00"), [
        start(), (1, E.MENU_NODE, {"node": "welcome"}), (6, E.MENU_NODE, {"node": "main"}),
        end(12)])
    # 7 at 11:00: FAQ declined -> consult, agent1 (hold 10, talk 60) transfers to experts,
    #   agent2 (hold 5, talk 90)
    play(c, "L07", local("2026-11-27 11:00:00"), [
        start(), (5, E.FAQ_PLAYED, {"node": "faq", "faq_id": "vat.rate",
                                   "question": "增值税税率是多少？", "score": 0.9,
                                   "category": "增值税", "via": "speech"}),
        (20, E.ESCALATED, {"node": "faq", "faq_id": "vat.rate", "queue": "consult",
                           "reason": "caller_asked"}),
        *queued(21), *answered(31, "agent1", 10, 60),
        (92, E.AGENT_TRANSFER, {"agent": "agent1", "from_queue": "consult",
                                "to_queue": "experts"}),
        (93, E.QUEUE_JOINED, {"queue": "experts", "position": 1}),
        *answered(98, "agent2", 5, 90, queue="experts"), end(190)])
    # 8 complaint message at 11:30
    play(c, "L08", local("2026-11-27 11:30:00"), [
        start(), (20, E.TICKET, {"ticket_no": "T1", "type": "complaint"}),
        (60, E.OUTCOME, {"outcome": "message_left"}), end(61)])
    # 9 across midnight: 23:58 -> 00:03, agent1 after 12 s, talk 240 s (counted on the 27th)
    play(c, "L09", local("2026-11-27 23:58:00"), [
        start(), *queued(10), *answered(22, "agent1", 12, 240), end(270)])
    # 11 self-service on the 28th at 00:01
    play(c, "L11", local("2026-11-28 00:01:00"), [
        start(), (30, E.SELF_SERVICE, {"node": "faq", "service": "faq", "detail": None}), end(35)])


def test_a_call_surveyed_by_phone_and_then_by_text_counts_once(stats: StatsService,
                                                                contacts: ContactService) -> None:
    """The phone survey unanswered, the survey text answered (callcenter/sms/survey.py): two
    survey events on one contact, one survey offered and one rating in the figures."""
    play(contacts, "S1", local("2026-11-27 10:00:00"), [
        start(), *queued(20), *answered(25, "agent1", 5, 60), survey(86, None), end(95),
        (400, E.SURVEY, {"score": 1, "node": "sms"})])
    play(contacts, "S2", local("2026-11-27 11:00:00"), [
        start(), *queued(20), *answered(25, "agent1", 5, 60), survey(86, 3), end(95)])
    d = stats.summary(stats.range("2026-11-27", "2026-11-27", "day"))["series"][0]
    assert (d["survey_offered"], d["surveyed"], d["satisfied"]) == (2, 2, 1)
    assert d["csat"] == 0.5


def by_start(series: list[dict[str, Any]], key: str = "start") -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in series}


def test_summary_by_day_matches_the_hand_count(stats: StatsService,
                                               contacts: ContactService) -> None:
    build_day(contacts)
    report = stats.summary(stats.range("2026-11-27", "2026-11-28", "day"))
    days = by_start(report["series"])
    assert list(days) == ["2026-11-27T00:00:00+08:00", "2026-11-28T00:00:00+08:00"]
    d = days["2026-11-27T00:00:00+08:00"]
    assert d["contacts"] == 10
    assert d["outcomes"] == {"abandoned_ivr": 1, "abandoned_queue": 2, "answered": 4,
                             "message_left": 1, "self_service": 2}
    assert (d["automatic_voice"], d["manual"], d["other"]) == (2, 4, 4)
    assert d["ivr_containment"] == 0.2                      # 2 / 10
    assert (d["offered"], d["answered"], d["abandoned"]) == (6, 4, 2)
    assert d["short_abandoned"] == 1
    assert d["answered_in_sl"] == 3                         # waits 7, 5 (last leg), 12
    assert d["service_level"] == 0.6                        # 3 / (6 - 1)
    assert d["answer_rate"] == round(4 / 6, 4)
    assert d["abandon_rate"] == 0.2                         # (2 - 1) / (6 - 1)
    assert d["asa"] == 13.5                                 # (7 + 30 + 5 + 12) / 4
    assert d["talk_seconds"] == 690                         # 100 + 200 + 150 + 240
    assert d["aht"] == 172.5
    assert d["avg_abandon_wait"] == 24                      # (3 + 45) / 2
    assert d["max_wait"] == 45
    assert (d["survey_offered"], d["surveyed"], d["satisfied"]) == (3, 2, 1)
    assert d["csat"] == 0.5
    assert d["survey_response_rate"] == round(2 / 3, 4)
    nxt = days["2026-11-28T00:00:00+08:00"]
    assert (nxt["contacts"], nxt["automatic_voice"], nxt["offered"]) == (1, 1, 0)
    assert nxt["service_level"] is None  # nothing offered: no data, not 0
    assert report["total"]["contacts"] == 11
    assert report["total"]["automatic_voice"] == 3


def test_hours_quarters_and_boundaries_in_shanghai_time(stats: StatsService,
                                                        contacts: ContactService) -> None:
    build_day(contacts)
    hours = by_start(stats.summary(stats.range(
        "2026-11-27T00:00:00+08:00", "2026-11-28T00:00:00+08:00", "hour"))["series"])
    assert len(hours) == 24
    counts = {k[11:13]: v["contacts"] for k, v in hours.items() if v["contacts"]}
    # the call across the hour (09:59:30) is in hour 09, the one across midnight in hour 23
    assert counts == {"09": 4, "10": 3, "11": 2, "23": 1}
    # a range given in UTC means the same instants
    same = stats.summary(stats.range("2026-11-27T01:00:00Z", "2026-11-27T03:00:00Z", "hour"))
    assert [r["start"] for r in same["series"]] == ["2026-11-27T09:00:00+08:00",
                                                    "2026-11-27T10:00:00+08:00"]
    assert [r["contacts"] for r in same["series"]] == [4, 3]
    # quarters: 09:59:30 falls in 09:45, 10:05 in 10:00
    quarters = by_start(stats.summary(stats.range(
        "2026-11-27T09:45:00+08:00", "2026-11-27T10:15:00+08:00", "15min"))["series"])
    assert [v["contacts"] for v in quarters.values()] == [2, 1]
    # month: both days in November
    months = stats.summary(stats.range("2026-10-01", "2026-12-31", "month"))["series"]
    assert [(m["start"], m["contacts"]) for m in months] == [
        ("2026-10-01T00:00:00+08:00", 0), ("2026-11-01T00:00:00+08:00", 11),
        ("2026-12-01T00:00:00+08:00", 0)]


def test_quarter_hour_edge(stats: StatsService, contacts: ContactService) -> None:
    play(contacts, "Q1", local("2026-11-26 08:14:59"), [start(), end(5)])
    play(contacts, "Q2", local("2026-11-26 08:15:00"), [start(), end(5)])
    series = stats.summary(stats.range("2026-11-26T08:00:00+08:00",
                                       "2026-11-26T08:30:00+08:00", "15min"))["series"]
    assert [(r["start"][11:16], r["contacts"]) for r in series] == [("08:00", 1),
                                                                    ("08:15", 1)]


def test_queues_count_legs_like_asterisk(stats: StatsService, contacts: ContactService) -> None:
    build_day(contacts)
    report = stats.queues(stats.range("2026-11-27", "2026-11-27", "day"))
    queues = {q["queue"]: q for q in report["queues"]}
    assert set(queues) == {"consult", "experts"}
    consult = queues["consult"]
    # legs: 2, 3, 4, 5, 7 (first leg), 9
    assert (consult["offered"], consult["answered"], consult["abandoned"]) == (6, 4, 2)
    assert consult["short_abandoned"] == 1
    assert consult["answered_in_sl"] == 3                   # 7, 10, 12 (not 30)
    assert consult["service_level"] == 0.6
    assert consult["asa"] == 14.75                          # (7 + 30 + 10 + 12) / 4
    assert consult["talk_seconds"] == 600                   # 100 + 200 + 60 + 240
    experts = queues["experts"]
    assert (experts["offered"], experts["answered"], experts["abandoned"]) == (1, 1, 0)
    assert experts["service_level"] == 1.0
    assert report["total"]["offered"] == 7


def test_agents_handled_talk_and_states(stats: StatsService, contacts: ContactService,
                                        database: Database) -> None:
    build_day(contacts)
    report = stats.agents(stats.range("2026-11-27", "2026-11-27", "day"))
    agents = {a["agent"]: a for a in report["agents"]}
    assert (agents["agent1"]["handled"], agents["agent1"]["talk_seconds"]) == (3, 400)
    assert (agents["agent2"]["handled"], agents["agent2"]["talk_seconds"]) == (2, 290)
    assert agents["agent1"]["avg_talk"] == round(400 / 3, 2)
    assert agents["agent1"]["occupancy"] is None  # no state history: no data, not 0

    # agent1's state history (agents package table): 2 h logged in, 30 min 用餐, 60 s wrap-up
    with database.transaction() as session:
        session.execute(delete(AgentStateChange))
        for at, state, reason in [("09:00:00", "ready", None), ("09:30:00", "paused", "用餐"),
                                  ("10:00:00", "ready", None), ("10:30:00", "wrap_up", None),
                                  ("10:31:00", "ready", None), ("11:00:00", "logged_out", None)]:
            session.add(AgentStateChange(username="agent1", state=state, reason=reason,
                                         at=local(f"2026-11-27 {at}")))
    with_states = StatsService(database, stats.thresholds,
                               agents=AgentStateLogSource(database, REPORT_CLOCK),
                               clock=REPORT_CLOCK)
    report = with_states.agents(with_states.range("2026-11-27", "2026-11-27", "day"))
    a1 = {a["agent"]: a for a in report["agents"]}["agent1"]
    assert a1["staffed_seconds"] == 7200
    assert a1["pause_seconds"] == 1800
    assert a1["pause_by_reason"] == {"用餐": 1800}
    assert a1["wrap_up_seconds"] == 60
    assert a1["aht"] == round((400 + 60) / 3, 2)
    assert a1["occupancy"] == round(460 / 5400, 4)
    # hourly: the pause is split at the hour boundary 09:30-10:00 -> all in hour 09
    hourly = with_states.agents(with_states.range("2026-11-27T09:00:00+08:00",
                                                  "2026-11-27T12:00:00+08:00", "hour"))
    rows = {r["start"][11:13]: r for r in hourly["series"] if r["agent"] == "agent1"}
    assert rows["09"]["pause_by_reason"] == {"用餐": 1800}
    assert rows["10"]["wrap_up_seconds"] == 60
    with database.transaction() as session:
        session.execute(delete(AgentStateChange))


def test_menu_nodes_faqs_and_tickets(stats: StatsService, contacts: ContactService) -> None:
    build_day(contacts)
    rng = stats.range("2026-11-27", "2026-11-27", "day")
    nodes = {n["node"]: n for n in stats.menu_nodes(rng)["items"]}
    assert nodes["welcome"]["entered"] == 2
    # each node by the menu's Chinese title, its id beside it
    assert nodes["main"] == {"node": "main", "label": "主菜单", "entered": 2, "dropped": 1,
                             "drop_rate": 0.5}
    assert nodes["faq_vat_law"]["dropped"] == 0
    assert (nodes["welcome"]["label"], nodes["faq_vat_law"]["label"]) == ("欢迎语",
                                                                           "增值税法施行时间")
    faqs = {f["faq_id"]: f for f in stats.faqs(rng)["items"]}
    # an id the base does not have (any more) keeps the id as its words
    assert faqs["vat.rate"] == {"faq_id": "vat.rate", "question": "vat.rate", "played": 1,
                                "escalated": 1, "escalation_rate": 1.0}
    assert faqs["vat.law.effective_date"]["escalated"] == 0
    assert faqs["vat.law.effective_date"]["question"] == "增值税法什么时候开始施行？"
    hourly = stats.faqs(stats.range("2026-11-27", "2026-11-27", "hour"))["series"]
    assert {r["question"] for r in hourly if r["faq_id"] == "vat.law.effective_date"} == {
        "增值税法什么时候开始施行？"}
    tickets = stats.tickets(rng)
    assert [(t["type"], t["created"]) for t in tickets["items"]] == [("complaint", 1)]


def test_rollup_follows_new_and_late_events(stats: StatsService,
                                            contacts: ContactService) -> None:
    build_day(contacts)
    rng = stats.range("2026-11-27", "2026-11-27", "day")
    assert stats.summary(rng)["total"]["contacts"] == 10
    # a new contact, and a survey recorded after the end of an earlier one
    play(contacts, "L12", local("2026-11-27 15:00:00"), [start(), end(5)])
    contacts.apply(ContactEvent.parse("L10", E.SURVEY, {"score": 2},
                                at=local("2026-11-27 10:01:30")))
    total = stats.summary(rng)["total"]
    assert total["contacts"] == 11
    assert (total["surveyed"], total["satisfied"]) == (3, 2)
    # an open contact is not reported until it ends
    play(contacts, "L13", local("2026-11-27 16:00:00"), [start()])
    assert stats.summary(rng)["total"]["contacts"] == 11
    contacts.apply(ContactEvent.parse("L13", E.CALL_ENDED, {"cause": 16},
                                at=local("2026-11-27 16:00:09")))
    assert stats.summary(rng)["total"]["contacts"] == 12
    assert stats.refresh() == 0  # nothing left dirty


def test_changed_thresholds_rebuild_the_rollup(stats: StatsService, contacts: ContactService,
                                               database: Database) -> None:
    build_day(contacts)
    rng = stats.range("2026-11-27", "2026-11-27", "day")
    assert stats.summary(rng)["total"]["service_level"] == 0.6
    strict = StatsService(database, Thresholds(service_level_seconds=6,
                                               short_abandon_seconds=2, satisfied_scores=(1,)),
                          clock=REPORT_CLOCK)
    total = strict.summary(rng)["total"]
    assert total["answered_in_sl"] == 1          # only the 5 s wait
    assert total["short_abandoned"] == 0
    assert total["service_level"] == round(1 / 6, 4)
    assert total["satisfied"] == 1
    with database.transaction() as session:
        session.execute(delete(StatsDirtyBucket))
    assert stats.summary(rng)["total"]["service_level"] == 0.6  # and back


def test_live_snapshot(stats: StatsService, contacts: ContactService) -> None:
    now = local("2026-11-27 10:30:00")
    build_day(contacts)
    play(contacts, "W1", now - timedelta(seconds=95), [start(), *queued(5)])
    play(contacts, "W2", now - timedelta(seconds=20), [start(), *queued(5, "experts")])
    play(contacts, "W3", now - timedelta(seconds=300), [start(), *queued(5),
                                                        *answered(20, "agent3", 15, 1000)[:1]])
    play(contacts, "W4", now - timedelta(seconds=10), [start()])
    live = stats.live(now)
    assert live["waiting"] == 2
    assert live["longest_wait"] == 90
    queues = {q["queue"]: q for q in live["queues"]}
    assert queues["consult"] == {"queue": "consult", "title": "综合咨询", "waiting": 1,
                                 "longest_wait": 90.0}
    assert queues["experts"] == {"queue": "experts", "title": "专家坐席", "waiting": 1,
                                 "longest_wait": 15.0}
    # every configured queue is listed, nobody waiting in it or not (the console's order)
    assert [q["queue"] for q in live["queues"]] == [
        "consult", "director", "tax-iit", "tax-invoice", "tax-ssc", "tax-vat", "experts"]
    assert queues["tax-vat"] == {"queue": "tax-vat", "title": "增值税", "waiting": 0,
                                 "longest_wait": 0.0}
    assert (live["in_ivr"], live["on_call"]) == (1, 1)
    # no state history: the agents on a call, every other state 0
    assert live["agents_by_state"] == {"ready": 0, "ringing": 0, "on_call": 1, "wrap_up": 0,
                                       "paused": 0}
    assert live["agents_logged_in"] == 1
    # today: ended contacts started from 00:00 up to the end of the current quarter (10:45):
    # 1, 2, 3, 10, 4, 5, 6; offered 2, 3, 4, 5 (4 a short abandon), in SL only 2
    assert live["today"]["contacts"] == 7
    assert live["today"]["service_level"] == round(1 / 3, 4)


def test_live_agent_states_with_nobody_and_with_agents_logged_in(
        stats: StatsService, contacts: ContactService, database: Database) -> None:
    now = local("2026-11-27 10:30:00")
    with_states = StatsService(database, stats.thresholds,
                               agents=AgentStateLogSource(database, REPORT_CLOCK),
                               clock=REPORT_CLOCK)
    with database.transaction() as session:
        session.execute(delete(AgentStateChange))
    nobody = with_states.live(now)
    assert nobody["agents_by_state"] == {"ready": 0, "ringing": 0, "on_call": 0,
                                         "wrap_up": 0, "paused": 0}
    assert nobody["agents_logged_in"] == 0
    with database.transaction() as session:
        for user, at, state, reason in [("a1", "09:00:00", "ready", None),
                                        ("a2", "09:00:00", "ready", None),
                                        ("a2", "10:00:00", "paused", "用餐"),
                                        ("a3", "09:00:00", "ready", None),
                                        ("a3", "10:00:00", "logged_out", None)]:
            session.add(AgentStateChange(username=user, state=state, reason=reason,
                                         at=local(f"2026-11-27 {at}")))
    two = with_states.live(now)
    assert two["agents_by_state"] == {"ready": 1, "ringing": 0, "on_call": 0, "wrap_up": 0,
                                      "paused": 1}
    assert two["agents_logged_in"] == 2  # a3 logged out: in no state
    with database.transaction() as session:
        session.execute(delete(AgentStateChange))


@pytest.mark.parametrize(
    ("start_", "end_", "interval", "reason"),
    [
        ("2026-11-28", "2026-11-27", "day", "“from”须早于“to”"),
        (None, "2026-11-27", "day", "缺少“from”"),
        ("2026-11-27", None, "day", "缺少“to”"),
        ("2026-11-27", "2026-11-28", "week", "未知的统计间隔"),
        ("2026-11-27T10:00:00", "2026-11-28", "day", "须带时区偏移"),
        ("yesterday", "2026-11-28", "day", "不是 ISO 8601 时间"),
        ("2026-13-01", "2026-11-28", "day", "不是日期"),
        ("2026-11-27T10:07:00+08:00", "2026-11-28", "day", "整刻钟"),
        ("2026-01-01", "2026-03-01", "15min", "最多 31 天"),
        ("2016-01-01", "2026-11-28", "day", "最多 1100 天"),
        ("2010-01-01", "2026-11-28", "month", "最多 3660 天"),
    ],
)
def test_bad_ranges_are_refused_with_a_reason(stats: StatsService, start_: str | None,
                                              end_: str | None, interval: str,
                                              reason: str) -> None:
    with pytest.raises(StatsInputError, match=reason.replace("(", r"\(")):
        stats.range(start_, end_, interval)


def test_ticket_on_time_rate_from_the_tickets_table(stats: StatsService,
                                                    database: Database) -> None:
    from callcenter.tickets.models import Ticket, TicketStatusChange

    def ticket(no: str, kind: str, created: str, due: str, settled: str | None,
               status: str) -> None:
        with database.transaction() as session:
            t = Ticket(ticket_no=no, kind=kind, status=status, created_at=local(created),
                       due_at=local(due), updated_at=local(created))
            session.add(t)
            session.flush()
            if settled:
                session.add(TicketStatusChange(ticket_id=t.id, at=local(settled),
                                               from_status="open", to_status=status))

    with database.transaction() as session:
        session.execute(delete(TicketStatusChange))
        session.execute(delete(Ticket))
    ticket("S1", "complaint", "2026-11-27 09:00:00", "2026-11-29 17:00:00",
           "2026-11-28 10:00:00", "answered")                         # on time
    ticket("S2", "complaint", "2026-11-27 10:00:00", "2026-11-27 12:00:00",
           "2026-11-27 13:00:00", "closed")                           # late
    ticket("S3", "report", "2026-11-27 11:00:00", "2099-01-01 00:00:00", None, "open")  # not due
    ticket("S4", "report", "2026-11-27 11:30:00", "2026-11-27 12:00:00", None, "open")  # late
    ticket("S5", "report", "2026-11-28 08:00:00", "2026-11-28 09:00:00", None, "open")  # other day
    with_tickets = StatsService(database, stats.thresholds, tickets=TicketTableSource(database),
                                clock=REPORT_CLOCK)
    report = with_tickets.tickets(with_tickets.range("2026-11-27", "2026-11-27", "day"))
    items = {i["type"]: i for i in report["items"]}
    assert items["complaint"] == {"type": "complaint", "created": 2, "due": 2, "on_time": 1,
                                  "on_time_rate": 0.5}
    assert items["report"] == {"type": "report", "created": 2, "due": 1, "on_time": 0,
                               "on_time_rate": 0.0}
    assert report["on_time_available"] is True
    with database.transaction() as session:
        session.execute(delete(TicketStatusChange))
        session.execute(delete(Ticket))


def test_counts_add_covers_every_field() -> None:
    from dataclasses import fields

    from callcenter.stats.metrics import ADDITIVE, Counts

    a = Counts(**{name: 1 for name in ADDITIVE}, max_wait=3.0, outcomes={"answered": 1})
    b = Counts(**{name: 2 for name in ADDITIVE}, max_wait=5.0, outcomes={"answered": 2, "x": 1})
    a.add(b)
    assert all(getattr(a, name) == 3 for name in ADDITIVE)
    assert (a.max_wait, a.outcomes) == (5.0, {"answered": 3, "x": 1})
    assert {f.name for f in fields(Counts)} == {*ADDITIVE, "max_wait", "outcomes"}
