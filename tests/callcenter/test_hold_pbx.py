"""Hold and supervisors' listen / barge through the real Asterisk, with SIPp phones.

* Hold: a SIPp caller presses 0, a silent SIPp agent phone answers; the desk (the real
  AgentDesk on the bridge's AMI connection) holds the call: Asterisk shows the music call
  (PJSIP/holdmusic) playing the hotline's music class and whispering it (ChanSpy) into the
  caller's channel, the audio the caller receives (RTP captured on loopback) has sound during
  the hold and none before or after it (the agent's phone sends silence, as a phone does); the
  contact's timeline has ``call_held`` and
  ``call_resumed`` with the seconds, which the agents report counts as hold time.
* Listen and barge: a speaking SIPp phone of the supervisor (PJSIP/supervisor1) is dialled into
  the agent's call: Asterisk shows its channel in ChanSpy on the agent's channel (options q,
  then qB); the caller does not hear the supervisor while they listen and does while they
  barge; both uses are in the audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from callcenter.agents.models import AgentState
from callcenter.agents.reporting import AgentStateLogSource
from callcenter.agents.services import AgentDesk
from callcenter.auth.services import UserService
from callcenter.contacts.models import held_seconds
from callcenter.notify.services import Notifier
from callcenter.queues.services import QueueService
from callcenter.stats.services import StatsService
from ivr.ami.client import AmiClient
from ivr.pbx.sandbox import AsteriskSandbox
from ivr.pbx.sipp import Dtmf, Hangup, Pause, SippRunner
from tests.callcenter.util import ensure_user, wait_for
from tests.caller_audio import RtpCapture, frames_of, level
from tests.conftest import Harness, events_of
from tests.support import CALL_LIMIT_S, SUITE_CLOCK, TEST_PORTS

pytestmark = pytest.mark.asterisk

SOUND = 100.0  # RMS (16-bit) above which a 20 ms frame carries sound; silence is 0
HOLD_S = 6.0
SETTLE_S = 0.5  # the music starts and stops within this of the desk's answer


@dataclass
class Desk:
    desk: AgentDesk
    harness: Harness

    async def on_call(self) -> str | None:
        agent = self.desk.agents["agent1"]
        return agent.agent_channel if agent.state is AgentState.ON_CALL else None

    async def channels(self) -> list[dict[str, str]]:
        reply = await self.harness.driver.send_action({"Action": "CoreShowChannels"},
                                                      as_list=True, timeout=10)
        return [{k: str(v) for k, v in m.items()} for m in reply
                if str(m.get("Event")) == "CoreShowChannel"]


def dial_account(pbx: AsteriskSandbox) -> AmiClient:
    """The desk's Originate-only account (manager.conf), as the runtime builds it."""
    return AmiClient("127.0.0.1", TEST_PORTS.ami, pbx.credentials.dial_user,
                     pbx.credentials.dial_secret, backoff_max=1.0)


@contextlib.asynccontextmanager
async def live_desk(harness: Harness, users: dict[str, tuple[str, str]],
                    notifier: Notifier | None = None, **build: Any
                    ) -> AsyncIterator[AgentDesk]:
    """The real AgentDesk on the bridge's AMI connection and the Originate account, with
    ``users`` (name: role, interface)."""
    db = harness.contacts.db
    for name, (role, interface) in users.items():
        ensure_user(db, name, role, interface=interface)
    dialer = dial_account(harness.pbx)
    await dialer.start()
    await dialer.wait_ready(20)
    clock = harness.services.clock  # the bridge's: one clock for the whole contact
    agent_desk = AgentDesk.build(db, QueueService(db, clock),
                                 notifier or Notifier(clock), harness.contacts,
                                 harness.log, harness.ami, wrapup_seconds=0.5,
                                 clock=clock, dialer=dialer, **build)
    agent_desk.load()
    try:
        yield agent_desk
    finally:
        await agent_desk.close()
        await dialer.close()


@pytest.fixture
async def desk(harness: Harness) -> AsyncIterator[Desk]:
    async with live_desk(harness, {"agent1": ("agent", "PJSIP/agent1"),
                                   "sup1": ("supervisor", "PJSIP/supervisor1")}) as agent_desk:
        yield Desk(agent_desk, harness)


async def test_the_dial_account_may_originate_into_the_dialplan_and_nothing_else(
        pbx: AsteriskSandbox) -> None:
    """Originate is on an account of its own: with the bridge's "system" class it could run
    System() or Exec(); alone it may not, nor run CLI commands or list channels."""
    client = dial_account(pbx)
    await client.start()
    try:
        await client.wait_ready(20)
        for action in ({"Action": "Originate", "Channel": "Local/12366@hotline",
                        "Application": "System", "Data": "true"},
                       {"Action": "Command", "Command": "core show version"},
                       {"Action": "Redirect", "Channel": "PJSIP/agent1-00000000",
                        "Context": "hotline", "Exten": "12366", "Priority": "1"}):
            response = await client.send_action(action, timeout=10)
            assert str(response.get("Response")) == "Error", (action, response)
            message = str(response.get("Message"))
            assert any(w in message for w in ("Permission denied", "Forbidden")), response
    finally:
        await client.close()


def caller_steps(talk_ms: int) -> list[Any]:
    return [Pause(7000), Dtmf("0"), Pause(talk_ms), Hangup()]


@contextlib.asynccontextmanager
async def agent_call(harness: Harness, desk: Desk, caller: str, port: int
                     ) -> AsyncIterator[tuple[RtpCapture, str]]:
    """A SIPp caller (the audio it receives captured) who presses 0 and talks 30 s, answered by
    agent1's silent phone; yields once agent1 is on the call, and waits for the caller's end."""
    await harness.add_agent(1, ring_ms=300, talk_ms=90_000, sends_silence=True)
    with RtpCapture(SippRunner.media_port(port)) as capture:
        call = harness.sipp.start_call(caller_steps(30_000), port, caller,
                                       timeout_s=CALL_LIMIT_S)
        try:
            agent_channel = await wait_for(desk.on_call, 60, "agent1 on the call")
            yield capture, agent_channel
        finally:
            _out, err = await asyncio.to_thread(call.communicate, None, CALL_LIMIT_S + 15)
    assert call.returncode == 0, err[-500:]


async def test_hold_plays_music_to_the_caller_and_counts_in_the_agent_report(
        harness: Harness, desk: Desk) -> None:
    caller, port = "13900000801", TEST_PORTS.sip + 52
    async with agent_call(harness, desk, caller, port) as (capture, agent_channel):
        agent = desk.desk.agents["agent1"]
        caller_channel = agent.caller_channel
        await asyncio.sleep(2)
        before = time.monotonic()
        held = await desk.desk.hold_call("agent1")
        assert held.held_since is not None
        assert held.as_json()["on_hold"] is True
        hold_started = time.monotonic()

        async def music() -> list[dict[str, str]]:
            found = await desk.channels()
            moh = [c for c in found if c.get("Application") == "MusicOnHold"
                   and c.get("ApplicationData") == "hotline"]
            spy = [c for c in found if c.get("Application") == "ChanSpy"
                   and c.get("ApplicationData") == f"{caller_channel},qwE"]
            return [*moh, *spy] if moh and spy else []

        seen = await wait_for(music, 10, "the music on hold channel")
        # both legs of the music call Asterisk places to itself
        assert all(c["Channel"].startswith("PJSIP/holdmusic-") for c in seen), seen
        with pytest.raises(Exception, match="已处于保持状态"):
            await desk.desk.hold_call("agent1")
        await asyncio.sleep(HOLD_S)
        _agent, seconds = await desk.desk.resume_call("agent1")
        resumed = time.monotonic()
        assert _agent.held_since is None
        assert seconds == pytest.approx(resumed - hold_started, abs=1.0)
        await wait_for(lambda: _no_music(desk), 10, "the music channel gone")
        await asyncio.sleep(3)
        after = time.monotonic()
    assert agent_channel.startswith("PJSIP/agent1-")
    frames = frames_of(capture.packets)
    talk = level(frames, before - 2 + SETTLE_S, before, SOUND)
    hold = level(frames, hold_started + SETTLE_S, resumed, SOUND)
    back = level(frames, resumed + SETTLE_S, after, SOUND)
    assert talk.frames > 0, talk
    assert talk.loud == 0, talk  # the agent's phone sends silence
    assert hold.loud_seconds > HOLD_S * 0.6, (hold, talk, back)  # the music
    assert back.loud == 0, back  # the caller is back with the silent agent

    contact = await harness.wait_contact(caller)
    story = "\n".join(f"{e.at:%H:%M:%S.%f} {e.kind} {dict(e.data)}" for e in contact.events)
    assert contact.outcome == "answered", story
    [on] = events_of(contact, "call_held")
    [off] = events_of(contact, "call_resumed")
    assert on == {"agent": "agent1", "queue": "consult"}, story
    assert off["agent"] == "agent1"
    assert off["ended"] is False
    assert off["held_seconds"] == pytest.approx(seconds, abs=0.01)
    assert held_seconds(contact.records()) == pytest.approx(seconds, abs=0.01)
    assert contact.talk_seconds is not None
    assert contact.talk_seconds > seconds

    # the agents report: the hold seconds, inside the talk time and so the AHT
    db = harness.contacts.db
    clock = harness.services.clock
    stats = StatsService(db, clock=clock, agents=AgentStateLogSource(db, clock))
    stats.rebuild()
    assert contact.ended_at is not None
    rng = stats.range(*_window(contact.started_at, contact.ended_at), "hour")
    [row] = [a for a in stats.agents(rng)["agents"] if a["agent"] == "agent1"]
    assert row["handled"] == 1, row
    assert row["hold_seconds"] == pytest.approx(seconds, abs=0.01), row
    assert row["aht"] is not None, row
    assert row["aht"] >= row["hold_seconds"], row


def _window(start: datetime, end: datetime) -> tuple[str, str]:
    """Whole quarter hours around the call (the report's range)."""
    lo = int(start.timestamp()) // 900 * 900
    hi = (int(end.timestamp()) // 900 + 1) * 900
    return (datetime.fromtimestamp(lo, UTC).isoformat(),
            datetime.fromtimestamp(hi, UTC).isoformat())


async def test_a_hold_forgotten_by_a_restart_puts_the_caller_back(
        harness: Harness, desk: Desk) -> None:
    """The desk forgets a hold (as a restart of ``hotline serve`` does) while Asterisk plays the
    music: the resync finds the music call in CoreShowChannels, hangs it up and puts the caller
    back to the agent (no more music on the caller's line), and records the hold's seconds."""
    caller, port = "13900000803", TEST_PORTS.sip + 54
    async with agent_call(harness, desk, caller, port) as (capture, _channel):
        agent = desk.desk.agents["agent1"]
        await asyncio.sleep(1)
        await desk.desk.hold_call("agent1")
        hold_started = time.monotonic()
        await wait_for(lambda: _music(desk), 10, "the music on hold channel")
        await asyncio.sleep(HOLD_S)
        # the restart: the desk's memory of the hold is gone, Asterisk's is not
        agent.held_since, agent.hold_music = None, None
        await desk.desk.events.resync()
        recovered = time.monotonic()
        await wait_for(lambda: _no_music(desk), 10, "the music channel gone")
        assert agent.state is AgentState.ON_CALL  # the call itself goes on
        await asyncio.sleep(3)
        after = time.monotonic()
    frames = frames_of(capture.packets)
    hold = level(frames, hold_started + SETTLE_S, recovered - SETTLE_S, SOUND)
    back = level(frames, recovered + SETTLE_S, after, SOUND)
    assert hold.loud_seconds > HOLD_S * 0.6, (hold, back)  # the music
    assert back.frames > 0, back
    assert back.loud == 0, back  # the caller is back with the (silent) agent

    contact = await harness.wait_contact(caller)
    story = "\n".join(f"{e.at:%H:%M:%S.%f} {e.kind} {dict(e.data)}" for e in contact.events)
    [off] = events_of(contact, "call_resumed")
    assert off["agent"] == "agent1", story
    assert off["ended"] is False, story
    # CoreShowChannel's Duration is whole seconds
    assert off["held_seconds"] == pytest.approx(recovered - hold_started, abs=1.5), story


async def _music(desk: Desk) -> bool:
    return bool([c for c in await desk.channels() if c.get("Application") == "MusicOnHold"])


async def _no_music(desk: Desk) -> bool:
    return not [c for c in await desk.channels() if c.get("Application") == "MusicOnHold"]


async def test_a_supervisor_listens_then_barges_unheard_then_heard_and_audited(
        harness: Harness, desk: Desk) -> None:
    caller, port = "13900000802", TEST_PORTS.sip + 53
    await harness.add_agent(1, ring_ms=300, talk_ms=90_000, sends_silence=True)
    runner = harness.sipp
    sup_phone = runner.start_agent(TEST_PORTS.supervisor, ring_ms=300, talk_ms=5000, calls=2,
                                   speaks=True)
    marks: dict[str, float] = {}
    try:
        with RtpCapture(SippRunner.media_port(port)) as capture:
            call = runner.start_call(caller_steps(35_000), port, caller, timeout_s=CALL_LIMIT_S)
            try:
                agent_channel = await wait_for(desk.on_call, 60, "agent1 on the call")
                for mode, options in (("listen", "qE"), ("barge", "qBE")):
                    done = await desk.desk.monitor_call("agent1", mode, supervisor="sup1",
                                                        interface="PJSIP/supervisor1")
                    assert done["mode"] == mode
                    assert done["agent"] == "agent1"

                    async def spying(options: str = options) -> list[dict[str, str]]:
                        return [c for c in await desk.channels()
                                if c["Channel"].startswith("PJSIP/supervisor1-")
                                and c.get("Application") == "ChanSpy"
                                and c.get("ApplicationData") == f"{agent_channel},{options}"]

                    await wait_for(spying, 20, f"the supervisor's ChanSpy ({mode})")
                    marks[f"{mode}_start"] = time.monotonic()
                    await asyncio.sleep(3.5)  # the supervisor's phone speaks meanwhile
                    marks[f"{mode}_end"] = time.monotonic()
                    await wait_for(lambda: _gone(desk), 15, "the supervisor's phone hung up")
            finally:
                _out, err = await asyncio.to_thread(call.communicate, None, CALL_LIMIT_S + 15)
    finally:
        runner.stop(sup_phone)
    assert call.returncode == 0, err[-500:]
    frames = frames_of(capture.packets)
    listened = level(frames, marks["listen_start"] + SETTLE_S, marks["listen_end"], SOUND)
    barged = level(frames, marks["barge_start"] + SETTLE_S, marks["barge_end"], SOUND)
    assert listened.frames > 0, listened
    assert listened.loud == 0, listened  # the caller heard nothing
    assert barged.loud_seconds > 1.0, (barged, listened)  # the supervisor's speech

    audit = UserService(harness.contacts.db, SUITE_CLOCK).audit_log(action="call.monitor")
    contact = await harness.wait_contact(caller)
    assert [(a.actor, a.target, a.detail["mode"], a.detail["linkedid"], a.detail["interface"])
            for a in reversed(audit)] == [
        ("sup1", "agent1", "listen", contact.linkedid, "PJSIP/supervisor1"),
        ("sup1", "agent1", "barge", contact.linkedid, "PJSIP/supervisor1")]
    # the agent is not told: nothing of it on the contact's timeline
    assert not [e for e in contact.events if "supervisor" in str(e.data)]


async def _gone(desk: Desk) -> bool:
    return not [c for c in await desk.channels()
                if c["Channel"].startswith("PJSIP/supervisor1-")]
