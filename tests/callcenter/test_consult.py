"""Consultative transfer against a fake AMI: the actions each step sends, the refusals, the
contact's steps, the notifications to both agents, the audit log and the expert's card notes.

The real Asterisk: tests/callcenter/test_consult_pbx.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from callcenter.agents.models import AgentState
from callcenter.agents.services import AgentDesk
from callcenter.agents.state import DeskError
from callcenter.auth.services import UserService
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.notify.services import Notifier, Subscription
from callcenter.queues.services import QueueService
from ivr.clock import FixedClock
from ivr.events import (
    AgentCompleted,
    AgentConnected,
    AgentRinging,
    CallHeld,
    CallResumed,
    Consulted,
)
from tests.callcenter.test_hold import AGENT_CHANNEL, CALLER_CHANNEL, L1, connect, queue_event
from tests.callcenter.util import ensure_user
from tests.support import SUITE_CLOCK
from tests.unit.fake_ami import Clients, FakeAmi, event, eventually
from tests.unit.test_menu_engine import ListRecorder as Recorded

LOCAL = "Local/1@hotline-consult-00000001;2"
EXPERT_CHANNEL = "PJSIP/agent2-00000023"


class Setup:
    def __init__(self, desk: AgentDesk, recorded: Recorded, notes: Subscription) -> None:
        self.desk = desk
        self.recorded = recorded
        self.notes = notes

    def published(self) -> list[tuple[str, dict[str, Any]]]:
        found = []
        while not self.notes.queue.empty():
            message = self.notes.queue.get_nowait()
            found.append((message.topic, dict(message.payload)))
        return found

    def steps(self) -> list[str]:
        return [f"{topic}:{p['step']}" for topic, p in self.published()
                if p.get("type") == "consult"]


@pytest.fixture
async def setup(fake: FakeAmi, clean_users: Database, contacts: ContactService
                ) -> AsyncIterator[Setup]:
    db = clean_users
    ensure_user(db, "agent1", "agent", interface="PJSIP/agent1")
    ensure_user(db, "agent2", "expert", interface="PJSIP/agent2")
    pool = Clients(fake)
    ami = await pool.ready()
    dialer = await pool.ready()
    recorded = Recorded()
    notifier = Notifier(SUITE_CLOCK)
    agent_desk = AgentDesk.build(db, QueueService(db, SUITE_CLOCK), notifier, contacts,
                                 recorded, ami, wrapup_seconds=0.2, clock=SUITE_CLOCK,
                                 dialer=dialer, consult_ring_s=30)
    agent_desk.load()
    try:
        yield Setup(agent_desk, recorded, notifier.subscribe("calls.agent1", "calls.agent2"))
    finally:
        await agent_desk.close()
        await pool.close()


def expert_event(name: str, **headers: str) -> bytes:
    """A queue event of the consultation's leg: the Local channel queueing for experts."""
    return event(name, Channel=LOCAL, Uniqueid="1764300000.30", Linkedid=L1,
                 CallerIDNum="12366", Queue="experts", Interface="PJSIP/agent2",
                 MemberName="agent2", **headers)


def consult_actions(fake: FakeAmi) -> list[tuple[str, ...]]:
    return [(a["Action"], *(a.get(k, "") for k in ("Channel", "Variable", "Value", "Exten",
                                                   "Context", "Digit", "Receive")))
            for a in fake.actions
            if a["Action"] in ("Setvar", "Atxfer", "CancelAtxfer", "PlayDTMF", "Hangup")]


async def consulting(s: Setup, fake: FakeAmi) -> None:
    """agent1 on a call, consulting the expert seat, and the expert answered."""
    await connect(s.desk, fake)
    await s.desk.consult_call("agent1", "start", None, "需专家确认")
    fake.push(expert_event("AgentConnect", DestChannel=EXPERT_CHANNEL, HoldTime="1"))
    await eventually(lambda: "agent1" in s.desk.consult.active
                     and s.desk.consult.active["agent1"].step == "talking")


async def test_start_holds_the_caller_and_rings_the_expert_seat(
        setup: Setup, fake: FakeAmi, clean_users: Database) -> None:
    s = setup
    await connect(s.desk, fake)
    started = await s.desk.consult_call("agent1", "start", None, "需专家确认")
    assert started == {"agent": "agent1", "linkedid": L1, "queue": "experts",
                       "step": "calling", "expert": None, "named": None}
    assert consult_actions(fake) == [
        ("Setvar", AGENT_CHANNEL, "__HOTLINE_CONSULT_QUEUE", "experts", "", "", "", ""),
        # a named agent consulted earlier on the same channel is not dialled again
        ("Setvar", AGENT_CHANNEL, "__HOTLINE_CONSULT_AGENT", "", "", "", "", ""),
        ("Setvar", AGENT_CHANNEL, "__HOTLINE_CONSULT_RING_S", "35", "", "", "", ""),
        ("Atxfer", AGENT_CHANNEL, "", "", "1", "hotline-consult", "", "")]
    # the note written so far is saved: the expert's card shows it
    [note] = s.desk.notes(L1)
    assert (note.username, note.notes) == ("agent1", "需专家确认")
    card = s.desk.cards.card(L1, "13800002222", "experts", None)
    assert card.notes == ({"username": "agent1", "notes": "需专家确认", "disposition": None},)

    fake.push(expert_event("AgentCalled"))
    fake.push(expert_event("AgentConnect", DestChannel=EXPERT_CHANNEL, HoldTime="1"))
    await eventually(lambda: s.desk.consult.active["agent1"].step == "talking")
    expert = s.desk.agents["agent2"]
    assert (expert.state, expert.linkedid) == (AgentState.ON_CALL, L1)
    assert s.desk.consult.active["agent1"].expert == "agent2"
    assert [e.record for e in s.recorded.events] == [
        Consulted(agent="agent1", queue="experts", step="started"),
        Consulted(agent="agent1", queue="experts", step="answered", expert="agent2")]
    published = s.published()
    steps = [f"{t}:{p['step']}" for t, p in published if p.get("type") == "consult"]
    assert steps == ["calls.agent1:calling", "calls.agent1:talking", "calls.agent2:talking"]
    [ringing] = [p for t, p in published if t == "calls.agent2" and p["type"] == "ringing"]
    assert ringing["notes"] == [{"username": "agent1", "notes": "需专家确认",
                                 "disposition": None}]
    audit = UserService(clean_users, SUITE_CLOCK).audit_log(action="call.consult")
    assert [(r.actor, r.target) for r in audit] == [("agent1", "agent1")]


async def test_complete_hangs_the_first_agent_up(setup: Setup, fake: FakeAmi) -> None:
    s = setup
    await consulting(s, fake)
    done = await s.desk.consult_call("agent1", "complete")
    assert done["step"] == "completed"
    assert consult_actions(fake)[-1] == ("Hangup", AGENT_CHANNEL, "", "", "", "", "", "")
    assert "agent1" not in s.desk.consult.active
    # Asterisk ends the first agent's queue call: wrap-up
    fake.push(queue_event("AgentComplete", TalkTime="40", HoldTime="3", Reason="transfer"))
    await eventually(lambda: s.desk.agents["agent1"].state is AgentState.WRAP_UP)
    assert s.desk.agents["agent2"].state is AgentState.ON_CALL
    assert {"calls.agent1:completed", "calls.agent2:completed"} <= set(s.steps())
    assert s.recorded.events[-1].record == Consulted(
        agent="agent1", queue="experts", step="completed", expert="agent2")


async def test_three_way_sends_the_transfers_three_way_code(
        setup: Setup, fake: FakeAmi) -> None:
    s = setup
    await consulting(s, fake)
    await s.desk.consult_call("agent1", "conference")
    assert consult_actions(fake)[-2:] == [
        ("PlayDTMF", AGENT_CHANNEL, "", "", "", "", "*", "yes"),
        ("PlayDTMF", AGENT_CHANNEL, "", "", "", "", "3", "yes")]
    assert "agent1" not in s.desk.consult.active
    assert s.desk.agents["agent1"].state is AgentState.ON_CALL


async def test_cancel_aborts_the_transfer(setup: Setup, fake: FakeAmi) -> None:
    s = setup
    await consulting(s, fake)
    cancelled = await s.desk.consult_call("agent1", "cancel")
    assert cancelled["step"] == "cancelled"
    assert consult_actions(fake)[-1] == ("CancelAtxfer", AGENT_CHANNEL, "", "", "", "", "",
                                         "")
    assert "agent1" not in s.desk.consult.active
    assert s.desk.agents["agent1"].state is AgentState.ON_CALL
    assert "calls.agent2:cancelled" in s.steps()


async def test_nobody_answering_cancels_and_tells_the_agent(
        setup: Setup, fake: FakeAmi) -> None:
    s = setup
    # the others ring 30 s: a loaded machine took longer than a short ring between the start
    # and the expert's answer (CI)
    s.desk.consult.ring_s = 0.3
    await connect(s.desk, fake)
    await s.desk.consult_call("agent1", "start", "experts")
    await eventually(lambda: "agent1" not in s.desk.consult.active, 5.0)
    assert consult_actions(fake)[-1][:2] == ("CancelAtxfer", AGENT_CHANNEL)
    [told] = [p for _t, p in s.published() if p.get("step") == "no_answer"]
    assert "无人应答" in str(told["message"])
    assert s.recorded.events[-1].record == Consulted(agent="agent1", queue="experts",
                                                     step="no_answer")


async def test_refusals(setup: Setup, fake: FakeAmi) -> None:
    s = setup

    async def refused(action: str, queue: str | None = None) -> DeskError:
        with pytest.raises(DeskError) as caught:
            await s.desk.consult_call("agent1", action, queue)
        return caught.value

    idle = await refused("start")
    assert (idle.status, idle.detail) == (409, "当前没有通话，不能咨询转接")
    none = await refused("cancel")
    assert (none.status, none.detail) == (409, "当前没有进行中的咨询转接")
    await connect(s.desk, fake)
    unknown = await refused("start", "nosuch")
    assert (unknown.status, unknown.detail) == (422, "队列 nosuch 不存在或未启用")
    bad = await refused("swap")
    assert bad.status == 422
    assert not consult_actions(fake)
    await s.desk.consult_call("agent1", "start")
    again = await refused("start")
    assert (again.status, again.detail) == (409, "已在咨询转接中，请先完成、三方通话或取消")
    early = await refused("complete")
    assert (early.status, early.detail) == (409, "专家尚未接听，不能完成转接；可继续等待或取消")
    assert (await refused("conference")).status == 409
    with pytest.raises(DeskError) as ghost:
        await s.desk.consult_call("ghost", "start")
    assert ghost.value.status == 404
    # the caller already waits on the transfer's hold: no hold, no blind transfer meanwhile
    for name, attempt in (("保持", s.desk.hold_call("agent1")),
                          ("转接", s.desk.transfer("agent1", "tax-vat", by="agent1"))):
        with pytest.raises(DeskError) as busy:
            await attempt
        assert (busy.value.status, busy.value.detail) == (
            409, f"咨询转接进行中，不能{name}；请先完成转接、三方通话或取消")
    assert not fake.named("Originate")
    assert not fake.named("Redirect")


async def test_the_call_ending_ends_the_consultation(setup: Setup, fake: FakeAmi) -> None:
    s = setup
    await consulting(s, fake)
    fake.push(queue_event("AgentComplete", TalkTime="20", HoldTime="3", Reason="caller"))
    await eventually(lambda: "agent1" not in s.desk.consult.active)
    assert "calls.agent1:ended" in s.steps()


async def test_the_expert_hanging_up_ends_the_consultation(
        setup: Setup, fake: FakeAmi) -> None:
    """The queue expert hangs up while the two agents talk: Asterisk gives the caller back to
    the first agent, and the consultation ends (it stayed 'talking' before)."""
    s = setup
    await consulting(s, fake)
    s.published()
    fake.push(expert_event("AgentComplete", DestChannel=EXPERT_CHANNEL, TalkTime="12",
                           HoldTime="1", Reason="agent"))
    await eventually(lambda: "agent1" not in s.desk.consult.active)
    notes = [(t, p["step"], p["message"]) for t, p in s.published()
             if p.get("type") == "consult"]
    left = "专家 agent2 已挂断，咨询结束，来电已回到您的通话"
    assert ("calls.agent1", "cancelled", left) in notes
    assert [t for t, *_ in notes] == ["calls.agent1", "calls.agent2"]
    assert s.recorded.events[-1].record == Consulted(
        agent="agent1", queue="experts", step="cancelled", expert="agent2")
    assert s.desk.agents["agent1"].state is AgentState.ON_CALL   # back with the caller
    await eventually(lambda: s.desk.agents["agent2"].state is AgentState.WRAP_UP)


async def test_the_expert_holds_the_caller_after_a_completed_transfer(
        setup: Setup, fake: FakeAmi) -> None:
    """After 完成转接 the expert is alone with the caller: their hold plays the music to the
    caller's own channel (the consultation's Local leg is gone: Asterisk joined the caller to
    the expert) and is the expert's on the contact."""
    s = setup
    await consulting(s, fake)
    await s.desk.consult_call("agent1", "complete")
    fake.push(queue_event("AgentComplete", TalkTime="40", HoldTime="3", Reason="transfer"))
    await eventually(lambda: s.desk.agents["agent1"].state is AgentState.WRAP_UP)
    expert = await s.desk.hold_call("agent2")
    assert expert.held_since is not None
    [music] = fake.named("Originate")
    assert music["Variable"] == f"HOTLINE_HOLD_CHANNEL={CALLER_CHANNEL}"
    assert [(a["Channel"], a["Direction"], a["State"]) for a in fake.named("MuteAudio")] == [
        (CALLER_CHANNEL, "in", "on")]
    assert [a["Channel"] for a in fake.named("Setvar")
            if a["Variable"] == "VOLUME(RX)"] == [EXPERT_CHANNEL]
    _again, seconds = await s.desk.resume_call("agent2")
    assert seconds >= 0
    assert [a["Channel"] for a in fake.named("MuteAudio")] == [CALLER_CHANNEL, CALLER_CHANNEL]
    held = [(e.linkedid, e.record) for e in s.recorded.events
            if isinstance(e.record, CallHeld | CallResumed)]
    assert held == [(L1, CallHeld(agent="agent2", queue="experts")),
                    (L1, CallResumed(agent="agent2", held_seconds=seconds, ended=False))]


# -- one named agent (rung directly by the dialplan) --------------------------------------

NAMED_UNIQUEID = "1764300000.31"


def dial_event(name: str, **headers: str) -> bytes:
    """The consultation's Local leg dialling agent2's phone (Dial in hotline-consult)."""
    return event(name, Channel=LOCAL, Uniqueid="1764300000.30", Linkedid=L1,
                 DestChannel=EXPERT_CHANNEL, DestUniqueid=NAMED_UNIQUEID, DestLinkedid=L1,
                 DialString="agent2", **headers)


def named_hangup() -> bytes:
    return event("Hangup", Channel=EXPERT_CHANNEL, Uniqueid=NAMED_UNIQUEID, Linkedid=L1,
                 Cause="16", **{"Cause-txt": "Normal Clearing"})


def pauses(fake: FakeAmi) -> list[tuple[str, str, str]]:
    return [(a["Interface"], a["Paused"], a.get("Reason", "")) for a in fake.named("QueuePause")
            if a["Interface"] == "PJSIP/agent2"]


async def ready(s: Setup, username: str) -> None:
    await s.desk.transitions.set(s.desk.agents[username], AgentState.READY, None, by=None)


async def consulting_named(s: Setup, fake: FakeAmi) -> None:
    """agent1 on a call consults agent2 by name, and agent2 answered."""
    await ready(s, "agent2")
    await connect(s.desk, fake)
    await s.desk.consult_call("agent1", "start", None, "请协助核实", named="agent2")
    fake.push(dial_event("DialBegin"))
    fake.push(dial_event("DialEnd", DialStatus="ANSWER"))
    await eventually(lambda: s.desk.consult.active["agent1"].step == "talking")


async def test_a_named_agent_is_reserved_rung_and_connected(
        setup: Setup, fake: FakeAmi) -> None:
    s = setup
    await ready(s, "agent2")
    await connect(s.desk, fake)
    started = await s.desk.consult_call("agent1", "start", None, "请协助核实", named="agent2")
    # the call's own queue (test_hold's call came through queue consult)
    assert started == {"agent": "agent1", "linkedid": L1, "queue": "consult",
                       "step": "calling", "expert": None, "named": "agent2"}
    assert consult_actions(fake) == [
        ("Setvar", AGENT_CHANNEL, "__HOTLINE_CONSULT_QUEUE", "consult", "", "", "", ""),
        ("Setvar", AGENT_CHANNEL, "__HOTLINE_CONSULT_AGENT", "PJSIP/agent2", "", "", "", ""),
        ("Setvar", AGENT_CHANNEL, "__HOTLINE_CONSULT_RING_S", "35", "", "", "", ""),
        ("Atxfer", AGENT_CHANNEL, "", "", "1", "hotline-consult", "", "")]
    named = s.desk.agents["agent2"]
    # reserved like the dialler's callback agent: no queue offers them a caller meanwhile
    assert (named.state, named.reason, named.linkedid) == (AgentState.RINGING, "咨询来电", L1)
    assert pauses(fake) == [("PJSIP/agent2", "true", "咨询来电")]
    published = s.published()
    [ringing] = [p for t, p in published if t == "calls.agent2" and p["type"] == "ringing"]
    assert ringing["notes"] == [{"username": "agent1", "notes": "请协助核实",
                                 "disposition": None}]
    told = {t: p["message"] for t, p in published if p.get("type") == "consult"}
    assert told == {t: "坐席 agent1 正在呼叫坐席 agent2 咨询，来电方正在听保持音乐"
                    for t in ("calls.agent1", "calls.agent2")}

    clock = FixedClock(SUITE_CLOCK())
    s.desk.consult.clock = clock
    fake.push(dial_event("DialBegin"))
    await eventually(lambda: NAMED_UNIQUEID in s.desk.consult.legs)
    clock.advance(timedelta(seconds=4))
    fake.push(dial_event("DialEnd", DialStatus="ANSWER"))
    await eventually(lambda: s.desk.consult.active["agent1"].step == "talking")
    assert (named.state, named.linkedid, named.agent_channel) == (
        AgentState.ON_CALL, L1, EXPERT_CHANNEL)
    assert [e.record for e in s.recorded.events] == [
        Consulted(agent="agent1", queue="consult", step="started", named="agent2"),
        AgentRinging(queue="consult", agent="agent2"),
        AgentConnected(queue="consult", agent="agent2", hold_time=0, ring_time=4.0),
        Consulted(agent="agent1", queue="consult", step="answered", expert="agent2",
                  named="agent2")]
    steps = s.steps()
    assert {"calls.agent1:talking", "calls.agent2:talking"} <= set(steps)
    # a queue call of the same call is not taken for the named agent's answer
    assert s.desk.consult.active["agent1"].expert == "agent2"


async def test_complete_then_the_named_agents_hangup_ends_their_call(
        setup: Setup, fake: FakeAmi) -> None:
    s = setup
    await consulting_named(s, fake)
    clock = FixedClock(SUITE_CLOCK())
    s.desk.consult.clock = clock
    s.desk.consult.legs[NAMED_UNIQUEID].answered_at = clock()
    done = await s.desk.consult_call("agent1", "complete")
    assert done["step"] == "completed"
    assert consult_actions(fake)[-1][:2] == ("Hangup", AGENT_CHANNEL)
    named = s.desk.agents["agent2"]
    assert named.state is AgentState.ON_CALL
    assert named.caller_channel == CALLER_CHANNEL  # alone with the caller: their hold works
    assert "calls.agent2:completed" in s.steps()
    clock.advance(timedelta(seconds=42))
    fake.push(named_hangup())
    await eventually(lambda: named.state is AgentState.WRAP_UP)
    assert s.recorded.events[-1].record == AgentCompleted(
        queue="consult", agent="agent2", talk_time=42.0, hold_time=0, reason="hangup")
    # wrap-up (0.2 s here), then ready and unpaused
    await eventually(lambda: named.state is AgentState.READY)
    assert pauses(fake)[-1][1] == "false"


async def test_cancel_while_ringing_releases_the_named_agent(
        setup: Setup, fake: FakeAmi) -> None:
    s = setup
    await ready(s, "agent2")
    await connect(s.desk, fake)
    await s.desk.consult_call("agent1", "start", named="agent2")
    cancelled = await s.desk.consult_call("agent1", "cancel")
    assert cancelled["step"] == "cancelled"
    assert consult_actions(fake)[-1][:2] == ("CancelAtxfer", AGENT_CHANNEL)
    named = s.desk.agents["agent2"]
    assert (named.state, named.reason, named.linkedid) == (AgentState.READY, None, None)
    assert pauses(fake) == [("PJSIP/agent2", "true", "咨询来电"), ("PJSIP/agent2", "false", "")]
    [told] = [p for t, p in s.published() if t == "calls.agent2" and p.get("step") == "cancelled"]
    assert told["message"] == "坐席 agent1 已取消对坐席 agent2 的咨询，来电已回到坐席 agent1 的通话"


async def test_cancel_after_the_answer_puts_the_named_agent_back_to_ready(
        setup: Setup, fake: FakeAmi) -> None:
    s = setup
    await consulting_named(s, fake)
    await s.desk.consult_call("agent1", "cancel")
    named = s.desk.agents["agent2"]
    assert named.state is AgentState.ON_CALL  # until their phone's leg ends
    fake.push(named_hangup())  # CancelAtxfer hangs the consultation's legs up
    await eventually(lambda: named.state is AgentState.READY)
    assert isinstance(s.recorded.events[-1].record, AgentCompleted)
    assert pauses(fake)[-1] == ("PJSIP/agent2", "false", "")


async def test_the_named_agent_hanging_up_ends_the_consultation(
        setup: Setup, fake: FakeAmi, clean_users: Database) -> None:
    """Their leg gone while talking, Asterisk gives the caller back to agent1: the desk ends
    the consultation (agent1 can neither complete nor conference it) and tells both."""
    s = setup
    await consulting_named(s, fake)
    fake.push(named_hangup())
    named = s.desk.agents["agent2"]
    await eventually(lambda: named.state is AgentState.READY)
    assert "agent1" not in s.desk.consult.active
    assert s.desk.agents["agent1"].state is AgentState.ON_CALL
    told = {t: p["message"] for t, p in s.published() if p.get("step") == "cancelled"}
    assert told == {t: "坐席 agent2 已挂断，咨询结束，来电已回到坐席 agent1 的通话"
                    for t in ("calls.agent1", "calls.agent2")}
    audit = UserService(clean_users, SUITE_CLOCK).audit_log(action="call.consult")
    assert [(r.actor, r.detail["named"]) for r in audit] == [("agent1", "agent2")]


@pytest.mark.parametrize("how", ["ring time", "busy", "unreachable"])
async def test_no_answer_releases_the_named_agent(setup: Setup, fake: FakeAmi,
                                                  how: str) -> None:
    s = setup
    s.desk.consult.ring_s = 0.3 if how == "ring time" else 30
    await ready(s, "agent2")
    await connect(s.desk, fake)
    await s.desk.consult_call("agent1", "start", named="agent2")
    if how == "busy":  # the phone refused: no need to wait for the ring time
        fake.push(dial_event("DialBegin"))
        fake.push(dial_event("DialEnd", DialStatus="BUSY"))
    if how == "unreachable":  # Dial gave up at once (not registered): its Local leg ends
        fake.push(event("Hangup", Channel=LOCAL, Uniqueid="1764300000.30", Linkedid=L1,
                        Cause="20", **{"Cause-txt": "Subscriber absent"}))
    named = s.desk.agents["agent2"]
    await eventually(lambda: named.state is AgentState.READY, 5.0)
    assert "agent1" not in s.desk.consult.active
    assert consult_actions(fake)[-1][:2] == ("CancelAtxfer", AGENT_CHANNEL)
    assert pauses(fake)[-1] == ("PJSIP/agent2", "false", "")
    told = [p["message"] for t, p in s.published() if p.get("step") == "no_answer"]
    ring = "0.3" if how == "ring time" else "30"
    message = f"坐席 agent2 在 {ring} 秒内未接听，已取消咨询，来电已回到坐席 agent1 的通话"
    assert told == [message, message]  # to both agents
    assert s.recorded.events[-1].record == Consulted(
        agent="agent1", queue="consult", step="no_answer", named="agent2")


async def test_named_agent_refusals(setup: Setup, fake: FakeAmi,
                                    clean_users: Database) -> None:
    s = setup
    ensure_user(clean_users, "agent3", "agent")  # no phone
    s.desk.load()
    await connect(s.desk, fake)

    async def refused(named: str, queue: str | None = None) -> DeskError:
        with pytest.raises(DeskError) as caught:
            await s.desk.consult_call("agent1", "start", queue, named=named)
        return caught.value

    both = await refused("agent2", "experts")
    assert (both.status, both.detail) == (422, "请只选择一个咨询对象：队列或坐席，不能同时指定")
    ghost = await refused("ghost")
    assert (ghost.status, ghost.detail) == (422, "坐席 ghost 不存在（或不在本交换机节点）")
    phoneless = await refused("agent3")
    assert (phoneless.status, phoneless.detail) == (
        422, "坐席 agent3 未配置话机（interface），不能咨询")
    me = await refused("agent1")
    assert (me.status, me.detail) == (409, "不能咨询自己，请选择其他坐席")
    busy = await refused("agent2")  # logged out
    assert (busy.status, busy.detail) == (409, "坐席 agent2 当前状态「未签入」，只能咨询就绪的坐席")
    assert not consult_actions(fake)
    assert not pauses(fake)


async def test_a_resync_keeps_the_named_agent_reserved(setup: Setup, fake: FakeAmi) -> None:
    """After an AMI reconnection the named agent, rung by Dial (no queue call), stays 振铃
    and paused with 咨询来电: an unpause would let a queue offer them a caller."""
    s = setup
    await ready(s, "agent2")
    await connect(s.desk, fake)
    await s.desk.consult_call("agent1", "start", named="agent2")
    fake.lists["queuestatus"] = [{
        "Event": "QueueMember", "Queue": "experts", "Name": "agent2",
        "Location": "PJSIP/agent2", "StateInterface": "PJSIP/agent2", "Status": "6",
        "Paused": "1", "PausedReason": "咨询来电", "InCall": "0"}]
    before = len(pauses(fake))
    await s.desk.events.resync()
    named = s.desk.agents["agent2"]
    assert (named.state, named.reason, named.linkedid) == (AgentState.RINGING, "咨询来电", L1)
    assert pauses(fake)[before:] == [("PJSIP/agent2", "true", "咨询来电")]
