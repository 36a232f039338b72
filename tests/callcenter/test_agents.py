"""Agent states against a fake AMI: the actions sent, the events followed, the refusals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete

from callcenter.agents.models import AgentState, AgentStateChange
from callcenter.agents.services import AgentDesk
from callcenter.agents.state import DeskError
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.notify.services import Notifier, Subscription
from callcenter.queues.services import QueueService
from callcenter.settings import PROJECT_ROOT
from callcenter.tickets.models import CallbackRequest
from callcenter.tickets.services import IvrTicketDesk, TicketService
from ivr.calendar import ServiceCalendar
from ivr.events import (
    CallStarted,
    Escalated,
    EventRecord,
    FaqPlayed,
    MenuNodeEntered,
    QueueJoined,
    ServiceResult,
)
from ivr.menu.loader import load_menu
from ivr.ports import ContactEvent, EventKind
from tests.callcenter.util import ensure_user
from tests.support import SUITE_CLOCK
from tests.unit.fake_ami import Clients, FakeAmi, event, eventually
from tests.unit.test_menu_engine import ListRecorder as Recorded

L1 = "1764300000.11"
SHIPPED_MENU = load_menu(PROJECT_ROOT / "ivr/menus/12366.yaml")
CALLER_CHANNEL = "PJSIP/caller-00000011"
ALWAYS_OPEN = ("hours:\n  - days: [1, 2, 3, 4, 5, 6, 7]\n    open: '00:00'\n    close: '23:59'\n"
               "holidays: []\nworkdays: []\n")


@pytest.fixture
async def desk(fake: FakeAmi, clean_users: Database, contacts: ContactService
               ) -> AsyncIterator[tuple[AgentDesk, Subscription]]:
    db = clean_users
    ensure_user(db, "agent1", "agent", interface="PJSIP/agent1")
    ensure_user(db, "noskill", "agent", interface="PJSIP/agent3")
    ensure_user(db, "nophone", "agent")
    queues = QueueService(db, SUITE_CLOCK)
    queues.set_agent_skills("agent1", {"general": 0, "vat": 2}, actor="test")
    queues.set_agent_skills("nophone", {"general": 0}, actor="test")
    pool = Clients(fake)
    ami = await pool.ready()
    notifier = Notifier(SUITE_CLOCK)
    subscription = notifier.subscribe("calls.agent1", "agents.agent1")
    agent_desk = AgentDesk.build(db, queues, notifier, contacts, None, ami, wrapup_seconds=0.3,
                           clock=SUITE_CLOCK, node_labels=SHIPPED_MENU.titles)
    agent_desk.load()
    try:
        yield agent_desk, subscription
    finally:
        await agent_desk.close()
        await pool.close()


def state_of(agent_desk: AgentDesk, username: str = "agent1") -> AgentState:
    return agent_desk.agents[username].state


def queue_event(name: str, **headers: str) -> bytes:
    return event(name, Channel=CALLER_CHANNEL, Uniqueid=L1, Linkedid=L1,
                 CallerIDNum="13800001111", Queue="consult", Interface="PJSIP/agent1",
                 MemberName="agent1", **headers)


# how long a notification may take: 5 s ran out once in a clean-clone CI (the "missed" of
# an unanswered ring), with twelve workers and the calls' media ahead of them on two cores
NOTIFICATION_WAIT_S = 15


async def next_call_message(sub: Subscription, kind: str) -> dict[str, object]:
    while True:
        message = await sub.get(NOTIFICATION_WAIT_S)
        payload = message.payload
        if message.topic == "calls.agent1" and payload.get("type") == kind:
            return dict(payload)


async def test_ready_adds_the_agent_to_the_queues_of_their_skills(
        desk: tuple[AgentDesk, Subscription], fake: FakeAmi) -> None:
    agent_desk, _sub = desk
    agent = await agent_desk.go_ready("agent1", by="agent1")
    assert agent.state is AgentState.READY
    added = {(a["Queue"], a["Interface"], a["MemberName"], a["Penalty"], a["Paused"])
             for a in fake.named("QueueAdd")}
    assert added == {("consult", "PJSIP/agent1", "agent1", "0", "false"),
                     ("tax-vat", "PJSIP/agent1", "agent1", "2", "false")}
    paused = await agent_desk.pause("agent1", "meal", by="agent1")
    assert paused.state is AgentState.PAUSED
    assert paused.reason == "用餐"
    assert fake.named("QueuePause")[-1] | {"ActionID": ""} == {
        "Action": "QueuePause", "Interface": "PJSIP/agent1", "Paused": "true", "Reason": "用餐",
        "ActionID": ""}
    await agent_desk.log_out("agent1", by="agent1")
    assert {a["Queue"] for a in fake.named("QueueRemove")} == {"consult", "tax-vat"}
    with agent_desk.db.session() as session:
        states = [(r.state, r.reason) for r in session.query(AgentStateChange)
                  .filter_by(username="agent1").order_by(AgentStateChange.id)]
    assert states == [("ready", None), ("paused", "用餐"), ("logged_out", None)]


async def test_refused_requests(desk: tuple[AgentDesk, Subscription]) -> None:
    agent_desk, _sub = desk
    with pytest.raises(DeskError, match="不能暂停") as paused:
        await agent_desk.pause("agent1", "break", by="agent1")
    assert paused.value.status == 409
    with pytest.raises(DeskError, match="没有任何技能队列"):
        await agent_desk.go_ready("noskill", by="noskill")
    with pytest.raises(DeskError, match="未配置话机"):
        await agent_desk.go_ready("nophone", by="nophone")
    with pytest.raises(DeskError, match="不存在") as missing:
        await agent_desk.go_ready("ghost", by="ghost")
    assert missing.value.status == 404
    await agent_desk.go_ready("agent1", by="agent1")
    with pytest.raises(DeskError, match="未知的暂停原因") as reason:
        await agent_desk.pause("agent1", "nap", by="agent1")
    assert reason.value.status == 422
    with pytest.raises(DeskError, match="当前没有通话"):
        await agent_desk.transfer("agent1", "experts", by="agent1")


async def test_a_call_rings_connects_transfers_and_wraps_up(
        desk: tuple[AgentDesk, Subscription], fake: FakeAmi, contacts: ContactService) -> None:
    agent_desk, sub = desk
    at = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    timeline: list[EventRecord] = [
        CallStarted(caller="13800001111"),
        MenuNodeEntered(node="welcome"),
        MenuNodeEntered(node="main"),
        FaqPlayed(node="faq", faq_id="vat-001", question="增值税税率是多少？", score=0.9,
                  category="增值税", via="speech"),
        ServiceResult(node="query", result="found", service="taxpayer_query",
                      tin="91310000MA1FL8XQ3X"),
        Escalated(node="answer_any", queue="consult", reason="declined", faq_id=None,
                  text="我们公司的发票怎么红冲；那个红字发票"),
        Escalated(node="faq", queue="consult", reason="caller_asked", faq_id="vat-001"),
        QueueJoined(queue="consult")]
    for record in timeline:
        contacts.apply(ContactEvent(L1, record, at=at))
    await agent_desk.go_ready("agent1", by="agent1")

    fake.push(queue_event("AgentCalled"))
    card = await next_call_message(sub, "ringing")
    assert card["caller"] == "13800001111"
    assert card["ivr_path"] == ["welcome", "main"]
    assert card["ivr_path_labels"] == ["欢迎语", "主菜单"]  # the shipped menu's titles
    assert card["taxpayer"] == "91310000MA1FL8XQ3X（已验证）"
    assert card["queue"] == "consult"
    assert card["wait_s"] is not None
    assert card["faqs"] == [{"id": "vat-001", "question": "增值税税率是多少？", "node": "faq",
                             "node_label": "faq"}]  # a node the menu does not have: its id
    assert card["asked"] == ["我们公司的发票怎么红冲；那个红字发票"]  # the caller's words
    assert state_of(agent_desk) is AgentState.RINGING

    fake.push(queue_event("AgentConnect", HoldTime="12", RingTime="2"))
    await next_call_message(sub, "connected")
    assert state_of(agent_desk) is AgentState.ON_CALL
    for request in (agent_desk.go_ready("agent1", by="agent1"),
                    agent_desk.pause("agent1", "break", by="agent1"),
                    agent_desk.log_out("agent1", by="agent1")):
        with pytest.raises(DeskError, match="通话中") as refused:
            await request
        assert refused.value.status == 409
    with pytest.raises(DeskError, match="不存在"):
        await agent_desk.transfer("agent1", "nowhere", by="agent1")
    with pytest.raises(DeskError, match="当前所在队列"):
        await agent_desk.transfer("agent1", "consult", by="agent1")
    await agent_desk.transfer("agent1", "experts", by="agent1")
    redirect = fake.named("Redirect")[-1]
    assert (redirect["Channel"], redirect["Context"], redirect["Exten"]) == (
        CALLER_CHANNEL, "hotline-queue", "experts")

    fake.push(queue_event("AgentComplete", TalkTime="30", HoldTime="12", Reason="transfer"))
    await next_call_message(sub, "completed")
    assert state_of(agent_desk) is AgentState.WRAP_UP
    assert fake.named("QueuePause")[-1]["Reason"] == "话后处理"
    # notes can still be written in wrap-up; the disposition must be a known code
    assert agent_desk.handled(L1, "agent1")
    with pytest.raises(DeskError, match="未知的处理结果"):
        agent_desk.save_note(L1, "agent1", "x", "bogus")
    agent_desk.save_note(L1, "agent1", "已转专家", "transferred")
    assert [(n.username, n.disposition) for n in agent_desk.notes(L1)] == [
        ("agent1", "transferred")]
    # the wrap-up ends by itself: unpaused and ready
    await eventually(lambda: agent_desk.agents["agent1"].state is AgentState.READY, 5,
                     "ready after wrap-up")
    assert fake.named("QueuePause")[-1]["Paused"] == "false"


async def test_a_blind_transfer_ends_the_agents_call_when_their_phone_hangs_up(
        desk: tuple[AgentDesk, Subscription], fake: FakeAmi) -> None:
    """After a blind transfer Asterisk hangs the agent's phone up at once but sends their
    ``AgentComplete`` only when the caller's channel ends (the expert's talk and the survey
    later: seen on the real Asterisk). The agent's own leg hanging up ends the call for the
    desk; the late ``AgentComplete`` then changes nothing."""
    agent_desk, sub = desk
    await agent_desk.go_ready("agent1", by="agent1")
    fake.push(queue_event("AgentCalled"))
    await next_call_message(sub, "ringing")
    fake.push(queue_event("AgentConnect", HoldTime="5", RingTime="1",
                          DestChannel="PJSIP/agent1-00000012"))
    await next_call_message(sub, "connected")
    await agent_desk.transfer("agent1", "experts", by="agent1")
    # someone else's channel ending is not the agent's call
    fake.push(event("Hangup", Channel="PJSIP/agent2-00000013", Uniqueid="1764300000.13",
                    Linkedid=L1))
    fake.push(event("Hangup", Channel="PJSIP/agent1-00000012", Uniqueid="1764300000.12",
                    Linkedid=L1, Cause="16"))
    completed = await next_call_message(sub, "completed")
    assert (completed["linkedid"], completed["reason"]) == (L1, "agent")
    assert state_of(agent_desk) is AgentState.WRAP_UP
    assert fake.named("QueuePause")[-1]["Reason"] == "话后处理"
    await eventually(lambda: state_of(agent_desk) is AgentState.READY, 5, "ready after wrap-up")
    pauses = len(fake.named("QueuePause"))

    # the caller hangs up after the expert: Asterisk's AgentComplete for agent1 comes now,
    # then the queue offers agent1 the next caller (the events of one agent are taken in order)
    fake.push(queue_event("AgentComplete", TalkTime="30", HoldTime="5", Reason="transfer"))
    fake.push(event("AgentCalled", Channel="PJSIP/caller-00000020", Uniqueid="1764300000.20",
                    Linkedid="1764300000.20", CallerIDNum="13800002222", Queue="consult",
                    Interface="PJSIP/agent1", MemberName="agent1"))
    kinds: list[object] = []
    while "ringing" not in kinds:
        message = await sub.get(5)
        if message.topic == "calls.agent1":
            kinds.append(message.payload.get("type"))
    assert kinds == ["ringing"]  # no second "completed"
    assert len(fake.named("QueuePause")) == pauses  # not put into wrap-up a second time
    assert state_of(agent_desk) is AgentState.RINGING
    assert agent_desk.agents["agent1"].linkedid == "1764300000.20"


async def test_unanswered_ring_returns_to_ready_and_outside_pause_is_shown(
        desk: tuple[AgentDesk, Subscription], fake: FakeAmi) -> None:
    agent_desk, sub = desk
    await agent_desk.go_ready("agent1", by="agent1")
    fake.push(queue_event("AgentCalled"))
    await next_call_message(sub, "ringing")
    fake.push(queue_event("AgentRingNoAnswer", RingTime="15"))
    await next_call_message(sub, "missed")
    assert state_of(agent_desk) is AgentState.READY
    # paused from the Asterisk CLI: the console shows it
    fake.push(event("QueueMemberStatus", Queue="consult", MemberName="agent1",
                    Interface="PJSIP/agent1", Paused="1", PausedReason="现场支援"))
    await eventually(lambda: agent_desk.agents["agent1"].state is AgentState.PAUSED, 5,
                     "paused from outside")
    assert agent_desk.agents["agent1"].reason == "现场支援"
    await asyncio.sleep(0)


async def test_an_answer_while_the_card_is_built_still_follows_the_ring(
        desk: tuple[AgentDesk, Subscription], fake: FakeAmi,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The AMI client runs each handler as a task; a card that takes longer to build (a busy
    database) than the agent takes to answer must still reach the console before
    ``connected``, or the card says 振铃 for the whole call (seen in CI under load)."""
    agent_desk, sub = desk
    build = agent_desk.events.cards.build
    started = asyncio.Event()

    async def slow_build(*args: object) -> object:
        started.set()
        await asyncio.sleep(0.3)
        return await build(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(agent_desk.events.cards, "build", slow_build)
    await agent_desk.go_ready("agent1", by="agent1")
    fake.push(queue_event("AgentCalled"))
    await asyncio.wait_for(started.wait(), 5)
    fake.push(queue_event("AgentConnect", HoldTime="3", RingTime="1"))
    kinds: list[object] = []
    while len(kinds) < 2:
        message = await sub.get(5)
        if message.topic == "calls.agent1":
            kinds.append(message.payload.get("type"))
    assert kinds == ["ringing", "connected"]
    assert state_of(agent_desk) is AgentState.ON_CALL


async def test_callback_offer_accepted_in_the_queue_creates_a_callback(
        desk: tuple[AgentDesk, Subscription], fake: FakeAmi, tmp_path: Path) -> None:
    agent_desk, _sub = desk
    hours = tmp_path / "hours.yaml"
    hours.write_text(ALWAYS_OPEN)
    agent_desk.events.callbacks = IvrTicketDesk(TicketService(
        agent_desk.db, ServiceCalendar.load(hours), {"complaint": 5}, 4.0, clock=SUITE_CLOCK))

    recorder = agent_desk.events.recorder = Recorded()
    with agent_desk.db.transaction() as session:
        session.execute(delete(CallbackRequest))
    fake.push(event("UserEvent", UserEvent="HotlineCallback", Channel=CALLER_CHANNEL,
                    Uniqueid=L1, Linkedid=L1, Queue="tax-vat", Number="13800002222"))
    await eventually(lambda: agent_desk.events.callbacks_taken == 1, 5, "callback taken")
    with agent_desk.db.session() as session:
        rows = session.query(CallbackRequest).all()
        assert [(r.number, r.linkedid, r.status) for r in rows] == [
            ("13800002222", L1, "pending")]
        assert "tax-vat" in rows[0].reason
    assert [(e.kind, e.data.get("outcome")) for e in recorder.events] == [
        (EventKind.CALLBACK, None), (EventKind.OUTCOME, "callback_requested")]
