"""parse_event: raw AMI headers to typed events; never raises."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from ivr.ami.events import (
    AgentConnect,
    AmiEvent,
    AsyncAgiEnd,
    AsyncAgiExec,
    AsyncAgiStart,
    DtmfEnd,
    FullyBooted,
    Hangup,
    MalformedEvent,
    QueueCallerJoin,
    QueueEvent,
    parse_event,
)

ENV = (
    "agi_request: async\n"
    "agi_channel: PJSIP/caller-00000001\n"
    "agi_uniqueid: 1700000000.1\n"
    "agi_callerid: 13800138000\n"
    "agi_calleridname: 张三\n"
    "agi_dnid: 12366\n"
    "agi_network_script: agi://host:4573/x\n"
    "\n"
)


def test_async_agi_start_decodes_the_url_encoded_env() -> None:
    event = parse_event({
        "Event": "AsyncAGIStart", "Channel": "PJSIP/caller-00000001",
        "Uniqueid": "1700000000.1", "Linkedid": "1700000000.0", "CallerIDNum": "13800138000",
        "Env": quote(ENV, safe=""),
    })
    assert isinstance(event, AsyncAgiStart)
    assert event.channel == "PJSIP/caller-00000001"
    assert event.uniqueid == "1700000000.1"
    assert event.linkedid == "1700000000.0"
    assert event.caller_id_num == "13800138000"
    assert dict(event.env) == {
        "agi_request": "async",
        "agi_channel": "PJSIP/caller-00000001",
        "agi_uniqueid": "1700000000.1",
        "agi_callerid": "13800138000",
        "agi_calleridname": "张三",
        "agi_dnid": "12366",
        "agi_network_script": "agi://host:4573/x",
    }


def test_linkedid_defaults_to_uniqueid() -> None:
    event = parse_event({"Event": "AsyncAGIEnd", "Channel": "PJSIP/a-1", "Uniqueid": "9.9"})
    assert isinstance(event, AsyncAgiEnd)
    assert event.linkedid == "9.9"


def test_async_agi_exec_carries_command_id_and_result() -> None:
    # panoramisk URL-decodes the Result header before the event is parsed
    event = parse_event({"Event": "AsyncAGIExec", "Channel": "PJSIP/a-1",
                         "CommandId": "agi-1-7", "Result": "200 result=49 endpos=1234"})
    assert isinstance(event, AsyncAgiExec)
    assert event.command_id == "agi-1-7"
    assert event.result == "200 result=49 endpos=1234"


def test_async_agi_exec_requires_a_command_id() -> None:
    event = parse_event({"Event": "AsyncAGIExec", "Channel": "PJSIP/a-1",
                         "Result": "200 result=0"})
    assert isinstance(event, MalformedEvent)
    assert event.name == "AsyncAGIExec"
    assert "CommandId" in event.error


def test_queue_caller_join_fields() -> None:
    event = parse_event({
        "Event": "QueueCallerJoin", "Channel": "Local/12366@hotline-00000001;2",
        "Uniqueid": "5.2", "Linkedid": "5.0", "CallerIDNum": "13800138000",
        "Queue": "consult", "Position": "3", "Count": "3",
    })
    assert isinstance(event, QueueCallerJoin)
    assert isinstance(event, QueueEvent)
    assert (event.queue, event.position, event.linkedid) == ("consult", 3, "5.0")
    assert event.hold_time == 0


def test_agent_connect_fields() -> None:
    event = parse_event({
        "Event": "AgentConnect", "Channel": "PJSIP/caller-1", "Uniqueid": "5.2",
        "Linkedid": "5.0", "Queue": "consult", "Interface": "PJSIP/agent1",
        "MemberName": "agent1", "HoldTime": "12", "RingTime": "3",
        "DestChannel": "PJSIP/agent1-00000002",
    })
    assert isinstance(event, AgentConnect)
    assert event.queue == "consult"
    assert event.member == "PJSIP/agent1"
    assert event.member_name == "agent1"
    assert (event.hold_time, event.ring_time) == (12, 3)


def test_headers_are_case_insensitive() -> None:
    event = parse_event({"event": "dtmfend", "CHANNEL": "PJSIP/a-1", "digit": "#",
                         "DiReCtIoN": "Received"})
    assert isinstance(event, DtmfEnd)
    assert (event.channel, event.digit, event.direction) == ("PJSIP/a-1", "#", "Received")
    assert event.header("channel") == "PJSIP/a-1"


def test_repeated_header_takes_the_last_value() -> None:
    event = parse_event({"Event": "Hangup", "Channel": "PJSIP/a-1", "Cause": ["1", "16"]})
    assert isinstance(event, Hangup)
    assert event.cause == 16


@pytest.mark.parametrize("headers", [
    {"Event": "PeerStatus", "Peer": "PJSIP/agent1", "PeerStatus": "Reachable"},
    {"Event": "VarSet", "Variable": "X", "Value": "1"},
])
def test_unknown_events_stay_plain(headers: dict[str, str]) -> None:
    event = parse_event(headers)
    assert type(event) is AmiEvent
    assert event.name == headers["Event"]
    assert event.header("event") == headers["Event"]


def test_fully_booted_is_typed() -> None:
    assert isinstance(parse_event({"Event": "FullyBooted", "Status": "Fully Booted"}),
                      FullyBooted)


@pytest.mark.parametrize("headers", [
    {"Event": "Hangup", "Channel": "PJSIP/a-1", "Cause": "x"},
    {"Event": "QueueCallerJoin", "Queue": "consult", "Position": "first"},
    {"Event": "AgentConnect", "Queue": "consult", "HoldTime": "1s"},
    {"Event": "AsyncAGIExec", "Channel": "PJSIP/a-1", "CommandId": ""},
])
def test_bad_headers_give_a_malformed_event(headers: dict[str, str]) -> None:
    event = parse_event(headers)
    assert isinstance(event, MalformedEvent)
    assert event.name == headers["Event"]
    assert event.error


def test_message_without_event_header() -> None:
    event = parse_event({"Response": "Success"})
    assert type(event) is AmiEvent
    assert event.name == ""
