"""A restarted bridge takes over the calls it finds in Asterisk (ivr/recovery.py), against the
fake AMI's CoreShowChannels transcript and a recorder that holds the contacts' stored events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from datetime import UTC, datetime

import pytest

from ivr.bridge import IvrBridge, channel_key
from ivr.clock import RunningClock
from ivr.events import (
    AgentCompleted,
    AgentConnected,
    CallStarted,
    EventRecord,
    MenuNodeEntered,
    PromptSent,
    QueueJoined,
    Transfer,
)
from ivr.menu.loader import load_menu
from ivr.menu.schema import Menu
from ivr.ports import EventKind
from ivr.recovery import (
    RESTART_REASON,
    LiveChannel,
    live_channels,
    resume_node,
    whereabouts,
)
from ivr.services import IvrServices
from tests.conftest import MENU_FILE
from tests.unit.fake_ami import Clients, FakeAmi, eventually, message
from tests.unit.test_menu_engine import MAIN, ListRecorder

CLOCK_START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def show_channel(uniqueid: str, linkedid: str, application: str, data: str = "",
                 bridgeid: str = "", number: str = "13800001111") -> dict[str, str]:
    """One CoreShowChannel event as Asterisk 22 sends it (the fields the bridge reads)."""
    return {"Event": "CoreShowChannel", "Channel": f"PJSIP/caller-{uniqueid[-8:]}",
            "ChannelState": "6", "ChannelStateDesc": "Up", "CallerIDNum": number,
            "Context": "hotline", "Exten": "12366", "Priority": "4",
            "Uniqueid": uniqueid, "Linkedid": linkedid, "Application": application,
            "ApplicationData": data, "BridgeId": bridgeid, "Duration": "00:00:12"}


class HistoryRecorder(ListRecorder):
    """The contact log's part the recovery uses: open contacts and their stored events."""

    def __init__(self, stored: dict[str, list[EventRecord]], fail: bool = False) -> None:
        super().__init__()
        self.stored = stored
        self.fail = fail
        self.asked: list[set[str]] = []
        self.answered = False

    async def open_contacts(self) -> list[str]:
        return list(self.stored)

    async def contact_histories(self, linkedids: Collection[str]
                                ) -> dict[str, list[EventRecord]]:
        self.asked.append(set(linkedids))
        if self.fail:
            raise ConnectionError("database down")
        return {k: v for k, v in self.stored.items() if k in linkedids}


def in_main(uniqueid: str) -> list[EventRecord]:
    return [CallStarted(caller="13800001111", channel="PJSIP/caller-1", uniqueid=uniqueid),
            MenuNodeEntered(node="welcome", type="play"),
            PromptSent(node="welcome", prompts=("welcome",)),
            MenuNodeEntered(node="main", type="menu"),
            PromptSent(node="main", prompts=("main_menu",), on_key="barge_in", attempt=1)]


async def started(server: FakeAmi, clients: Clients, recorder: ListRecorder, menu: Menu
                  ) -> IvrBridge:
    client = clients.make()
    bridge = IvrBridge(client, lambda: menu, recorder,
                       IvrServices(clock=RunningClock(CLOCK_START)))
    await client.start()
    await client.wait_ready(5)
    await eventually(lambda: bridge.reconciliations == 1, what="the first reconciliation")
    return bridge


def agi_commands(server: FakeAmi) -> list[str]:
    return [a.get("Command", "") for a in server.named("AGI")]


async def test_a_channel_parked_in_asyncagi_resumes_at_its_last_menu_node(
        server: FakeAmi, clients: Clients) -> None:
    server.lists["coreshowchannels"] = [show_channel("1700.1", "1700.1", "AGI", "agi:async")]
    recorder = HistoryRecorder({"1700.1": in_main("1700.1")})
    bridge = await started(server, clients, recorder, MAIN)
    await eventually(lambda: len(agi_commands(server)) >= 1, what="the resumed prompt")

    # the node's prompt is played again, on the parked channel
    assert "main_menu" in agi_commands(server)[0]
    assert server.named("AGI")[0]["Channel"] == "PJSIP/caller-1700.1"
    assert recorder.asked == [{"1700.1"}]
    assert bridge.adopted == 1
    call = bridge.calls["1700.1"]
    assert (call.linkedid, call.caller) == ("1700.1", "13800001111")
    # call_started carries the key of the original one (stored once), then resumed at main
    first, resumed = recorder.events[:2]
    assert first.kind is EventKind.CALL_STARTED
    assert first.key == channel_key(EventKind.CALL_STARTED, "1700.1")
    assert first.data["adopted"] is True
    assert resumed.kind is EventKind.RESUMED
    assert resumed.data == {"node": "main", "reason": RESTART_REASON}
    assert recorder.kinds()[2:4] == [EventKind.MENU_NODE, EventKind.PROMPT_SENT]
    assert recorder.data(EventKind.MENU_NODE)[0]["node"] == "main"

    # the caller hangs up: the adopted call ends like any other
    server.push(message(("Event", "Hangup"), ("Channel", "PJSIP/caller-1700.1"),
                        ("Uniqueid", "1700.1"), ("Linkedid", "1700.1"), ("Cause", "16"),
                        ("Cause-txt", "Normal Clearing")))
    await eventually(lambda: EventKind.CALL_ENDED in recorder.kinds(), what="call_ended")
    assert bridge.calls == {}
    assert recorder.data(EventKind.CALL_ENDED)[0]["reconciled"] is False


async def test_a_caller_in_a_queue_is_followed_without_a_session(
        server: FakeAmi, clients: Clients) -> None:
    history = [*in_main("1700.2"), Transfer(node="agent", queue="consult"),
               QueueJoined(queue="consult", position=1)]
    server.lists["coreshowchannels"] = [
        show_channel("1700.2", "1700.2", "Queue", "consult,c,,,300"),
        # another channel of the same contact (e.g. the agent's, ringing): not the caller's
        show_channel("1700.3", "1700.2", "AppQueue", "(Outgoing Line)", number="agent1"),
        # a channel of no contact of ours, outside AsyncAGI: left alone
        show_channel("1700.9", "1700.9", "Dial", "PJSIP/elsewhere"),
    ]
    recorder = HistoryRecorder({"1700.2": history})
    bridge = await started(server, clients, recorder, MAIN)
    # the reconciliation is counted before it reads the histories and adopts
    await eventually(lambda: set(bridge.calls) == {"1700.2"}, what="the queued caller adopted")
    call = bridge.calls["1700.2"]
    assert (call.queue, call.agent, call.session) == ("consult", None, None)
    assert recorder.kinds() == [EventKind.CALL_STARTED]  # no session, no resumed
    assert agi_commands(server) == []
    # its queue events are followed again
    server.push(message(("Event", "QueueCallerAbandon"), ("Channel", "PJSIP/caller-1700.2"),
                        ("Uniqueid", "1700.2"), ("Linkedid", "1700.2"), ("Queue", "consult"),
                        ("Position", "1"), ("OriginalPosition", "1"), ("HoldTime", "40")))
    await eventually(lambda: EventKind.QUEUE_ABANDONED in recorder.kinds(),
                     what="queue_abandoned")


async def test_without_history_a_parked_channel_starts_at_its_entry(
        server: FakeAmi, clients: Clients) -> None:
    # the database does not answer: the AGI entry the dialplan named decides
    menu = load_menu(MENU_FILE)
    server.lists["coreshowchannels"] = [
        show_channel("1700.4", "1700.4", "AGI", "agi:async,after_agent")]
    recorder = HistoryRecorder({"1700.4": in_main("1700.4")}, fail=True)
    bridge = await started(server, clients, recorder, menu)
    await eventually(lambda: len(recorder.events) >= 2, what="the adoption")
    assert recorder.data(EventKind.RESUMED)[0]["node"] == "survey_after_agent"
    assert bridge.calls["1700.4"].caller == "13800001111"  # from CoreShowChannel


async def test_a_recorder_without_history_starts_at_the_top(
        server: FakeAmi, clients: Clients) -> None:
    server.lists["coreshowchannels"] = [show_channel("1700.5", "1700.5", "AGI", "agi:async")]
    recorder = ListRecorder()
    bridge = await started(server, clients, recorder, MAIN)
    await eventually(lambda: len(recorder.events) >= 2, what="the adoption")
    assert recorder.data(EventKind.RESUMED)[0]["node"] == "welcome"
    assert bridge.adopted == 1


async def test_a_channel_hung_up_while_its_history_is_read_is_not_adopted(
        server: FakeAmi, clients: Clients) -> None:
    server.lists["coreshowchannels"] = [show_channel("1700.6", "1700.6", "AGI", "agi:async")]

    class HangsUpMeanwhile(HistoryRecorder):
        async def contact_histories(self, linkedids: Collection[str]
                                    ) -> dict[str, list[EventRecord]]:
            server.push(message(("Event", "Hangup"), ("Channel", "PJSIP/caller-1700.6"),
                                ("Uniqueid", "1700.6"), ("Linkedid", "1700.6"),
                                ("Cause", "16"), ("Cause-txt", "Normal Clearing")))
            await asyncio.sleep(0.2)  # the Hangup arrives meanwhile
            try:
                return await super().contact_histories(linkedids)
            finally:
                self.answered = True

    recorder = HangsUpMeanwhile({"1700.6": in_main("1700.6")})
    bridge = await started(server, clients, recorder, MAIN)
    await eventually(lambda: recorder.answered, what="the history read")
    # the reconciliation goes on from there, to the end of the open contact
    await eventually(lambda: len(recorder.events) >= 1, what="the open contact ended")
    assert recorder.asked == [{"1700.6"}]
    assert (bridge.adopted, bridge.calls) == (0, {})
    assert agi_commands(server) == []
    # its open contact is ended, as found gone
    [ended] = recorder.events
    assert (ended.linkedid, ended.kind) == ("1700.6", EventKind.CALL_ENDED)
    assert ended.data["reconciled"] is True


async def test_a_channel_already_followed_is_not_adopted_again(
        server: FakeAmi, clients: Clients) -> None:
    # a reconnection of the same bridge: the call is known, its session runs
    server.lists["coreshowchannels"] = []
    recorder = HistoryRecorder({})
    bridge = await started(server, clients, recorder, MAIN)
    await asyncio.sleep(0)
    assert bridge.adopted == 0
    assert recorder.asked == []  # nothing to adopt: the history is not read


# -- the pure parts ------------------------------------------------------------------------

def test_live_channels_reads_the_coreshowchannels_transcript() -> None:
    transcript: list[Mapping[str, object]] = [
        {"Response": "Success", "EventList": "start"},
        show_channel("1.1", "1.1", "AGI", "agi:async,queue_failed", bridgeid=""),
        show_channel("1.2", "1.1", "AppQueue", "(Outgoing Line)", bridgeid="b-1"),
        {"Event": "CoreShowChannelsComplete", "ListItems": "2"},
    ]
    live = live_channels(transcript)
    assert list(live) == ["1.1", "1.2"]
    assert live["1.1"].in_agi
    assert live["1.1"].agi_entry == "queue_failed"
    assert not live["1.2"].in_agi
    assert live["1.2"].bridged
    assert live["1.1"].linkedid == "1.1"
    assert live["1.1"].caller == "13800001111"


@pytest.mark.parametrize(("history", "data", "expected"), [
    ([], "agi:async", "welcome"),                                   # nothing stored
    (in_main("u"), "agi:async", "main"),                            # last node entered
    ([*in_main("u"), MenuNodeEntered(node="consult", type="menu"),
      MenuNodeEntered(node="cat_vat", type="menu")], "agi:async", "cat_vat"),
    # back from an agent (entry after_agent), killed before the survey was entered
    ([*in_main("u"), Transfer(node="agent", queue="consult"),
      QueueJoined(queue="consult", position=1),
      AgentConnected(queue="consult", agent="agent1", hold_time=2, ring_time=1),
      AgentCompleted(queue="consult", agent="agent1", talk_time=30, hold_time=2,
                     reason="agent")], "agi:async,after_agent", "survey_after_agent"),
    # ... and after it was entered
    ([*in_main("u"), Transfer(node="agent", queue="consult"),
      QueueJoined(queue="consult", position=1),
      MenuNodeEntered(node="survey_after_agent", type="survey")],
     "agi:async,after_agent", "survey_after_agent"),
    # a node the (reloaded) menu no longer has
    ([MenuNodeEntered(node="gone_node", type="menu")], "agi:async", "welcome"),
], ids=["empty", "main", "deeper", "after-agent-entry", "after-agent-entered", "unknown"])
def test_resume_node(history: list[EventRecord], data: str, expected: str) -> None:
    menu = load_menu(MENU_FILE)
    channel = LiveChannel("u", "u", "PJSIP/caller-1", "138", "AGI", data)
    assert resume_node(menu, channel, whereabouts(history)) == expected


def test_whereabouts_follows_queue_and_agent() -> None:
    where = whereabouts([*in_main("u1"), Transfer(node="agent", queue="consult"),
                         QueueJoined(queue="consult", position=2),
                         AgentConnected(queue="consult", agent="agent3", hold_time=1,
                                        ring_time=1)])
    assert (where.node, where.queue, where.agent) == (None, "consult", "agent3")
    assert (where.caller_uniqueid, where.caller) == ("u1", "13800001111")


def test_whereabouts_keeps_the_callers_queue_during_a_consultation() -> None:
    # the consultation's Local leg queues for the expert seat: the caller is still in consult
    where = whereabouts([*in_main("u1"), Transfer(node="agent", queue="consult"),
                         QueueJoined(queue="consult", position=1),
                         AgentConnected(queue="consult", agent="agent1", hold_time=1),
                         QueueJoined(queue="experts", position=1, consult=True)])
    assert (where.queue, where.agent) == ("consult", "agent1")
