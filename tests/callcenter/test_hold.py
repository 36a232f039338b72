"""Hold and supervisors' monitoring against a fake AMI (the actions sent, the refusals, the
hold events), and the hold-time accounting of the agents report from stored events.

The real Asterisk: tests/callcenter/test_hold_pbx.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callcenter.agents.hold import channel_age
from callcenter.agents.models import AgentState
from callcenter.agents.services import AgentDesk
from callcenter.agents.state import DeskError
from callcenter.auth.services import UserService
from callcenter.contacts.schemas import ContactDetail
from callcenter.contacts.services import ContactService
from callcenter.db import Database
from callcenter.notify.services import Notifier
from callcenter.queues.services import QueueService
from callcenter.stats.services import StatsService
from ivr.events import (
    AgentCompleted,
    AgentConnected,
    CallEnded,
    CallHeld,
    CallResumed,
    CallStarted,
    EventRecord,
    QueueJoined,
)
from ivr.ports import ContactEvent
from tests.callcenter.util import ensure_user
from tests.support import SUITE_CLOCK
from tests.unit.fake_ami import Clients, FakeAmi, event, eventually
from tests.unit.test_menu_engine import ListRecorder as Recorded

L1 = "1764300000.21"
CALLER_CHANNEL = "PJSIP/caller-00000021"
AGENT_CHANNEL = "PJSIP/agent1-00000022"


@pytest.fixture
async def desk(fake: FakeAmi, clean_users: Database, contacts: ContactService
               ) -> AsyncIterator[tuple[AgentDesk, Recorded]]:
    db = clean_users
    ensure_user(db, "agent1", "agent", interface="PJSIP/agent1")
    pool = Clients(fake)
    ami = await pool.ready()
    dialer = await pool.ready()
    recorded = Recorded()
    agent_desk = AgentDesk.build(db, QueueService(db, SUITE_CLOCK), Notifier(SUITE_CLOCK),
                                 contacts, recorded, ami, wrapup_seconds=0.2,
                                 clock=SUITE_CLOCK, dialer=dialer)
    agent_desk.load()
    try:
        yield agent_desk, recorded
    finally:
        await agent_desk.close()
        await pool.close()


def queue_event(name: str, **headers: str) -> bytes:
    return event(name, Channel=CALLER_CHANNEL, Uniqueid=L1, Linkedid=L1,
                 CallerIDNum="13800002222", Queue="consult", Interface="PJSIP/agent1",
                 MemberName="agent1", **headers)


async def connect(agent_desk: AgentDesk, fake: FakeAmi) -> None:
    fake.push(queue_event("AgentConnect", DestChannel=AGENT_CHANNEL, HoldTime="3"))
    await eventually(lambda: agent_desk.agents["agent1"].state is AgentState.ON_CALL)


def kinds(recorded: Recorded) -> list[str]:
    return [str(e.kind) for e in recorded.events]


async def test_hold_and_resume_send_the_actions_and_record_the_seconds(
        desk: tuple[AgentDesk, Recorded], fake: FakeAmi) -> None:
    agent_desk, recorded = desk
    await connect(agent_desk, fake)
    agent = await agent_desk.hold_call("agent1")
    assert agent.as_json()["on_hold"] is True
    assert agent.as_json()["held_since"] is not None
    [originate] = fake.named("Originate")
    assert (originate["Channel"], originate["Context"], originate["Exten"]) == (
        "PJSIP/holdmusic", "hotline-hold", "spy")
    assert originate["Variable"] == f"HOTLINE_HOLD_CHANNEL={CALLER_CHANNEL}"
    music = originate["ChannelId"]
    assert [(a["Channel"], a["Direction"], a["State"]) for a in fake.named("MuteAudio")] == [
        (CALLER_CHANNEL, "in", "on")]
    assert [(a["Channel"], a["Variable"], a["Value"]) for a in fake.named("Setvar")] == [
        (AGENT_CHANNEL, "VOLUME(RX)", "-32767")]
    with pytest.raises(DeskError, match="已处于保持状态") as twice:
        await agent_desk.hold_call("agent1")
    assert twice.value.status == 409

    back, _seconds = await agent_desk.resume_call("agent1")
    assert back.held_since is None
    assert back.as_json()["on_hold"] is False
    assert {a["Channel"] for a in fake.named("Hangup")} == {music, f"{music}-2"}
    assert fake.named("MuteAudio")[-1]["State"] == "off"
    assert fake.named("Setvar")[-1]["Value"] == "0"
    assert kinds(recorded) == ["call_held", "call_resumed"]
    held, resumed = recorded.events
    assert held.record == CallHeld(agent="agent1", queue="consult")
    assert isinstance(resumed.record, CallResumed)
    # the seconds are the suite clock's, between the two events
    assert resumed.record.held_seconds == pytest.approx(
        (resumed.at - held.at).total_seconds(), abs=0.002)
    assert resumed.record.ended is False
    with pytest.raises(DeskError, match="未处于保持状态") as not_held:
        await agent_desk.resume_call("agent1")
    assert not_held.value.status == 409


async def test_a_call_that_ends_on_hold_stops_the_music(
        desk: tuple[AgentDesk, Recorded], fake: FakeAmi) -> None:
    agent_desk, recorded = desk
    await connect(agent_desk, fake)
    await agent_desk.hold_call("agent1")
    music = fake.named("Originate")[0]["ChannelId"]
    fake.push(queue_event("AgentComplete", TalkTime="20", HoldTime="3", Reason="caller"))
    await eventually(lambda: agent_desk.agents["agent1"].state is AgentState.WRAP_UP)
    assert music in {a["Channel"] for a in fake.named("Hangup")}
    assert kinds(recorded) == ["call_held", "call_resumed"]
    assert isinstance(recorded.events[1].record, CallResumed)
    assert recorded.events[1].record.ended is True
    assert agent_desk.agents["agent1"].held_since is None


async def test_hold_refusals(desk: tuple[AgentDesk, Recorded], fake: FakeAmi) -> None:
    agent_desk, recorded = desk
    with pytest.raises(DeskError, match="当前没有通话") as idle:
        await agent_desk.hold_call("agent1")
    assert idle.value.status == 409
    with pytest.raises(DeskError, match="当前没有通话"):
        await agent_desk.resume_call("agent1")
    with pytest.raises(DeskError) as ghost:
        await agent_desk.hold_call("ghost")
    assert ghost.value.status == 404
    assert not fake.named("Originate")
    assert recorded.events == []


async def test_monitor_rings_the_supervisors_phone_and_is_audited(
        desk: tuple[AgentDesk, Recorded], fake: FakeAmi, clean_users: Database) -> None:
    agent_desk, recorded = desk
    with pytest.raises(DeskError, match="当前没有进行中的通话") as idle:
        await agent_desk.monitor_call("agent1", "listen", supervisor="sup1",
                                      interface="PJSIP/supervisor1")
    assert idle.value.status == 409
    await connect(agent_desk, fake)
    with pytest.raises(DeskError, match="未配置话机") as no_phone:
        await agent_desk.monitor_call("agent1", "listen", supervisor="sup1", interface=None)
    assert no_phone.value.status == 409
    with pytest.raises(DeskError, match="未知的监听方式") as mode:
        await agent_desk.monitor_call("agent1", "record", supervisor="sup1",
                                      interface="PJSIP/supervisor1")
    assert mode.value.status == 422
    with pytest.raises(DeskError, match="坐席本人的话机") as own:
        await agent_desk.monitor_call("agent1", "listen", supervisor="sup1",
                                      interface="PJSIP/agent1")
    assert own.value.status == 422
    assert not fake.named("Originate")

    for mode_name in ("listen", "whisper", "barge"):
        done = await agent_desk.monitor_call("agent1", mode_name, supervisor="sup1",
                                             interface="PJSIP/supervisor1")
        assert done == {"agent": "agent1", "linkedid": L1, "mode": mode_name,
                        "mode_title": {"listen": "监听", "whisper": "耳语",
                                       "barge": "强插"}[mode_name],
                        "interface": "PJSIP/supervisor1"}
    sent = fake.named("Originate")
    assert [(a["Channel"], a["Context"], a["Exten"], a["Variable"]) for a in sent] == [
        ("PJSIP/supervisor1", "hotline-spy", m, f"HOTLINE_SPY_CHANNEL={AGENT_CHANNEL}")
        for m in ("listen", "whisper", "barge")]
    audit = UserService(clean_users, SUITE_CLOCK).audit_log(action="call.monitor")
    assert [(a.actor, a.target, a.detail["mode"], a.detail["linkedid"])
            for a in reversed(audit)] == [("sup1", "agent1", m, L1)
                                          for m in ("listen", "whisper", "barge")]
    assert recorded.events == []  # nothing on the contact: the agent is not told


# -- a restart while on hold ------------------------------------------------------------------

def show_channels(music_id: str, caller: str = CALLER_CHANNEL) -> list[dict[str, str]]:
    """CoreShowChannels while ``caller`` is held: the music call's two sides (the calling side
    whispering into the caller), the caller and the agent bridged, and an unrelated call."""
    def channel(name: str, uniqueid: str, linkedid: str, app: str, data: str, bridge: str,
                duration: str) -> dict[str, str]:
        return {"Event": "CoreShowChannel", "Channel": name, "Uniqueid": uniqueid,
                "Linkedid": linkedid, "Application": app, "ApplicationData": data,
                "BridgeId": bridge, "Duration": duration, "CallerIDNum": "13800002222"}
    return [
        channel("PJSIP/holdmusic-00000030", music_id, music_id, "ChanSpy",
                f"{caller},qwE", "", "00:01:02"),
        channel("PJSIP/holdmusic-00000031", "1764300000.31", "1764300000.31", "MusicOnHold",
                "hotline", "", "00:01:02"),
        channel(caller, L1, L1, "Queue", "consult,,,,,,hotline", "b-1", "00:02:30"),
        channel(AGENT_CHANNEL, "1764300000.22", L1, "AppQueue", "(Outgoing Line)", "b-1",
                "00:02:00"),
        channel("PJSIP/caller-00000040", "1764300000.40", "1764300000.40", "AGI",
                "agi:async", "", "00:00:10"),
    ]


async def test_a_hold_forgotten_by_a_restart_puts_the_caller_back(
        desk: tuple[AgentDesk, Recorded], fake: FakeAmi) -> None:
    """The desk restarted while agent1's caller was held: its resync finds the music call in
    CoreShowChannels, hangs it up, unmutes the caller, turns agent1 back up and records the
    hold's seconds (the music channel's age)."""
    agent_desk, recorded = desk
    fake.lists["queuestatus"] = []
    fake.lists["coreshowchannels"] = show_channels("hold-0123456789abcdef")
    before = len(fake.actions)
    await agent_desk.events.resync()
    sent = fake.actions[before:]
    assert [a["Channel"] for a in sent if a["Action"] == "Hangup"] == ["hold-0123456789abcdef"]
    assert [(a["Channel"], a["State"]) for a in sent if a["Action"] == "MuteAudio"] == [
        (CALLER_CHANNEL, "off")]
    assert [(a["Channel"], a["Variable"], a["Value"]) for a in sent if a["Action"] == "Setvar"
            ] == [(AGENT_CHANNEL, "VOLUME(RX)", "0")]
    assert kinds(recorded) == ["call_resumed"]
    [resumed] = recorded.events
    assert resumed.linkedid == L1
    assert resumed.record == CallResumed(agent="agent1", held_seconds=62.0, ended=False)


async def test_a_resync_leaves_the_holds_the_desk_knows(
        desk: tuple[AgentDesk, Recorded], fake: FakeAmi) -> None:
    """An AMI reconnection (the desk kept its memory): the hold agent1 made stays, music and
    mutes untouched; resume still ends it."""
    agent_desk, recorded = desk
    await connect(agent_desk, fake)
    await agent_desk.hold_call("agent1")
    music = fake.named("Originate")[0]["ChannelId"]
    fake.lists["queuestatus"] = [{"Event": "QueueMember", "Queue": "consult",
                                  "Name": "agent1", "StateInterface": "PJSIP/agent1",
                                  "InCall": "1", "Status": "2"}]
    fake.lists["coreshowchannels"] = show_channels(music)
    before = len(fake.actions)
    await agent_desk.events.resync()
    assert any(a["Action"] == "CoreShowChannels" for a in fake.actions[before:])
    assert not [a for a in fake.actions[before:]
                if a["Action"] in ("Hangup", "MuteAudio", "Setvar")]
    assert agent_desk.agents["agent1"].held_since is not None
    assert kinds(recorded) == ["call_held"]
    await agent_desk.resume_call("agent1")
    assert kinds(recorded) == ["call_held", "call_resumed"]


async def test_a_call_lost_on_hold_ends_the_hold(
        desk: tuple[AgentDesk, Recorded], fake: FakeAmi) -> None:
    """The resync finds agent1 no longer in a call (it ended out of sight) while held: the
    hold ends as at a call's end (music hung up, ``call_resumed`` with ``ended``)."""
    agent_desk, recorded = desk
    await connect(agent_desk, fake)
    await agent_desk.hold_call("agent1")
    music = fake.named("Originate")[0]["ChannelId"]
    fake.lists["queuestatus"] = []
    fake.lists["coreshowchannels"] = []
    await agent_desk.events.resync()
    assert music in {a["Channel"] for a in fake.named("Hangup")}
    agent = agent_desk.agents["agent1"]
    assert (agent.held_since, agent.hold_music) == (None, None)
    assert agent.state is AgentState.WRAP_UP
    assert kinds(recorded) == ["call_held", "call_resumed"]
    assert isinstance(recorded.events[1].record, CallResumed)
    assert recorded.events[1].record.ended is True


def test_channel_age() -> None:
    assert channel_age("00:01:02") == 62
    assert channel_age("01:00:00") == 3600
    assert channel_age("17") == 17
    assert channel_age("") == 0
    assert channel_age("soon") == 0


# -- accounting -------------------------------------------------------------------------------

AT = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def store(contacts: ContactService, linkedid: str, timeline: list[tuple[float, EventRecord]]
          ) -> None:
    for seconds, record in timeline:
        contacts.apply(ContactEvent(linkedid, record, at=AT + timedelta(seconds=seconds)))


def test_hold_seconds_per_call_and_per_agent_in_the_agents_report(
        contacts: ContactService, database: Database) -> None:
    connected = AgentConnected(queue="consult", agent="agent1", hold_time=4.0)
    store(contacts, "L-hold-1", [
        (0, CallStarted(caller="13800003333")),
        (10, QueueJoined(queue="consult")),
        (14, connected),
        (30, CallHeld(agent="agent1", queue="consult")),
        (42.5, CallResumed(agent="agent1", held_seconds=12.5)),
        (60, CallHeld(agent="agent1", queue="consult")),
        (67.5, CallResumed(agent="agent1", held_seconds=7.5, ended=True)),
        (67.5, AgentCompleted(queue="consult", agent="agent1", talk_time=53.5, hold_time=4.0,
                              reason="caller")),
        (68, CallEnded(cause=16, cause_txt="Normal Clearing")),
    ])
    store(contacts, "L-hold-2", [
        (100, CallStarted(caller="13800004444")),
        (110, QueueJoined(queue="consult")),
        (112, AgentConnected(queue="consult", agent="agent1", hold_time=2.0)),
        (142, AgentCompleted(queue="consult", agent="agent1", talk_time=30.0, hold_time=2.0,
                             reason="agent")),
        (143, CallEnded(cause=16, cause_txt="Normal Clearing")),
    ])
    contact = contacts.get_by_linkedid("L-hold-1")
    assert contact is not None
    detail: Any = ContactDetail.model_validate(contacts.get(contact.id))
    assert detail.hold_seconds == 20.0

    stats = StatsService(database, clock=SUITE_CLOCK)
    # the rollups from the contact log alone: a statistics test run before on this database
    # (same day, same agent) leaves rows whose contacts the fixture deleted
    stats.rebuild()
    report = stats.agents(stats.range("2026-11-27", "2026-11-27", "day"))
    [row] = [a for a in report["agents"] if a["agent"] == "agent1"]
    assert row["handled"] == 2
    assert row["talk_seconds"] == 83.5
    assert row["hold_seconds"] == 20.0
    assert row["avg_hold"] == 10.0
    # hold is inside Asterisk's talk time: AHT = (talk without hold + hold) / handled here
    assert row["aht"] == round((83.5 - 20.0 + 20.0) / 2, 2)
    [series] = [s for s in report["series"] if s["agent"] == "agent1"]
    assert series["hold_seconds"] == 20.0
    # a day without holds
    other = stats.agents(stats.range("2026-11-26", "2026-11-26", "day"))
    assert [a for a in other["agents"] if a["agent"] == "agent1"] == []
