"""The bridge follows a consultation's Local leg (callcenter/agents/consult.py) against the fake
AMI: the leg entering the expert queue is that queue's offer (``queue_joined`` marked
``consult``), the expert's answer is marked too, and the caller's own queue events stay as
they were. docs/metrics.md "Queue level"."""

from __future__ import annotations

import asyncio

from ivr.bridge import Call
from ivr.events import AgentCompleted, AgentConnected, QueueJoined
from ivr.ports import EventKind
from tests.unit.fake_ami import Clients, FakeAmi, event, eventually
from tests.unit.test_bridge_reconcile import running_bridge

L1 = "1764300000.10"
CALLER = "PJSIP/caller-00000010"
LOCAL = "Local/1@hotline-consult-00000001;2"


def caller_event(name: str, **headers: str) -> bytes:
    return event(name, Channel=CALLER, Uniqueid=L1, Linkedid=L1, CallerIDNum="13800001111",
                 Queue="consult", **headers)


def local_event(name: str, **headers: str) -> bytes:
    return event(name, Channel=LOCAL, Uniqueid="1764300000.30", Linkedid=L1,
                 CallerIDNum="12366", Queue="experts", **headers)


async def test_the_consultation_leg_is_an_offer_of_the_expert_queue(
        server: FakeAmi, clients: Clients) -> None:
    server.lists["coreshowchannels"] = []
    rig = await running_bridge(clients)
    bridge, recorder = rig.bridge, rig.recorder
    bridge.calls[L1] = Call(L1, L1, CALLER, "13800001111")

    agent1 = {"Interface": "PJSIP/agent1", "MemberName": "agent1"}
    agent2 = {"Interface": "PJSIP/agent2", "MemberName": "agent2"}
    server.push(caller_event("QueueCallerJoin", Position="1", Count="1"))
    server.push(caller_event("AgentConnect", HoldTime="7", RingTime="1", **agent1))
    # agent1 consults the expert seat: the Local channel queues for experts
    server.push(local_event("QueueCallerJoin", Position="1", Count="1"))
    server.push(local_event("AgentCalled", **agent2))
    server.push(local_event("AgentConnect", HoldTime="3", RingTime="3", **agent2))
    server.push(caller_event("AgentComplete", HoldTime="7", TalkTime="100", Reason="transfer",
                             **agent1))
    server.push(local_event("AgentComplete", HoldTime="3", TalkTime="100", Reason="caller",
                            **agent2))
    await eventually(lambda: len(recorder.events) == 7, what="the seven queue events")

    records = [e.record for e in recorder.events]
    assert records == [
        QueueJoined(queue="consult", position=1),
        AgentConnected(queue="consult", agent="agent1", hold_time=7, ring_time=1),
        QueueJoined(queue="experts", position=1, consult=True),
        records[3],  # the expert ringing
        AgentConnected(queue="experts", agent="agent2", hold_time=3, ring_time=3,
                       consult=True),
        AgentCompleted(queue="consult", agent="agent1", talk_time=100, hold_time=7,
                       reason="transfer"),
        AgentCompleted(queue="experts", agent="agent2", talk_time=100, hold_time=3,
                       reason="caller"),
    ]
    assert recorder.events[3].kind == EventKind.AGENT_RINGING
    assert {e.linkedid for e in recorder.events} == {L1}
    # the stored form: the caller's own join has no consult key at all
    assert "consult" not in recorder.events[0].data
    assert recorder.events[2].data["consult"] is True
    # the bridge still knows the caller's queue as the caller's
    assert bridge.calls[L1].queue == "consult"


async def test_an_agent_leg_ending_after_the_hang_up_is_still_the_contacts(
        server: FakeAmi, clients: Clients) -> None:
    server.lists["coreshowchannels"] = []
    rig = await running_bridge(clients)
    bridge, recorder = rig.bridge, rig.recorder
    bridge.calls[L1] = Call(L1, L1, CALLER, "13800001111")
    agent2 = {"Interface": "PJSIP/agent2", "MemberName": "agent2"}
    server.push(event("Hangup", Channel=CALLER, Uniqueid=L1, Linkedid=L1, Cause="16",
                      **{"Cause-txt": "Normal Clearing"}))
    # the expert's queue call ends after the caller's hang-up, on the caller's channel (the
    # Local pair optimised away), then one of a call the bridge never followed
    server.push(caller_event("AgentComplete", HoldTime="3", TalkTime="40", Reason="caller",
                             **agent2))
    server.push(event("AgentComplete", Channel="PJSIP/other-1", Uniqueid="9.1", Linkedid="9.1",
                      Queue="consult", HoldTime="1", TalkTime="5", Reason="caller", **agent2))
    await eventually(lambda: len(recorder.events) >= 2, what="the end and the late completion")
    await asyncio.sleep(0.2)
    assert [(e.linkedid, e.kind) for e in recorder.events] == [
        (L1, EventKind.CALL_ENDED), (L1, EventKind.AGENT_COMPLETED)]
    assert recorder.events[1].record == AgentCompleted(
        queue="consult", agent="agent2", talk_time=40, hold_time=3, reason="caller")
