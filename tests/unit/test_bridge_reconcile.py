"""The bridge's reconciliation after an AMI outage, against the fake AMI: a call whose channel is
gone ends at the moment the connection was lost when Asterisk restarted meanwhile (its
FullyBooted ``Uptime`` is shorter than the outage), and at the reconciliation when the same
Asterisk ran on (the end is then only known to lie somewhere in the outage)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from ivr.ami.client import AmiClient
from ivr.bridge import Call, IvrBridge
from ivr.clock import RunningClock
from ivr.menu.schema import Menu
from ivr.ports import EventKind
from ivr.services import IvrServices
from tests.unit.fake_ami import Clients, FakeAmi, eventually
from tests.unit.test_menu_engine import MAIN, ListRecorder

OUTAGE_S = 0.3


def no_menu() -> Menu:
    raise AssertionError("no menu session was expected")


@dataclass
class BridgeRig:
    bridge: IvrBridge
    client: AmiClient
    recorder: ListRecorder
    clock: RunningClock


async def running_bridge(clients: Clients) -> BridgeRig:
    """A bridge (no menu session expected) on a new connection to the fake AMI, recording into
    a list on its own running clock, once its first reconciliation is done."""
    client = clients.make()
    recorder = ListRecorder()
    clock = RunningClock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    bridge = IvrBridge(client, no_menu, recorder, IvrServices(clock=clock))
    await client.start()
    await client.wait_ready(5)
    await eventually(lambda: bridge.reconciliations == 1, what="the first reconciliation")
    return BridgeRig(bridge, client, recorder, clock)


@pytest.mark.parametrize(("uptime_after", "restarted"), [(0, True), (3600, False)],
                         ids=["asterisk-restarted", "connection-lost-only"])
async def test_a_call_gone_in_an_outage_ends_at_the_crash_or_when_found_gone(
        server: FakeAmi, clients: Clients, uptime_after: int, restarted: bool) -> None:
    server.uptime = 3600
    server.lists["coreshowchannels"] = []  # no channel left in Asterisk
    rig = await running_bridge(clients)
    bridge, client, recorder, clock = rig.bridge, rig.client, rig.recorder, rig.clock
    assert recorder.events == []
    bridge.calls["u1"] = Call("L1", "u1", "PJSIP/caller-00000001", "13800001111")

    # Asterisk is gone for a while (connections refused), then answers again
    server.down = True
    server.drop_connections()
    await eventually(lambda: not client.ready, what="the connection lost")
    await asyncio.sleep(OUTAGE_S)
    server.uptime = uptime_after
    server.down = False
    await eventually(lambda: bridge.reconciliations == 2, 5, "the reconciliation after it")
    found_gone = clock()

    [ended] = recorder.events
    assert (ended.linkedid, ended.kind) == ("L1", EventKind.CALL_ENDED)
    assert ended.data["reconciled"] is True
    assert ended.data["asterisk_restarted"] is restarted
    assert ("restarted" in str(ended.data["cause_txt"])) is restarted
    assert bridge.calls == {}
    gap = (found_gone - ended.at).total_seconds()
    if restarted:
        assert gap >= OUTAGE_S  # ended when the connection was lost
    else:
        assert 0 <= gap < OUTAGE_S  # ended when found gone

    # a later outage with nothing to end records nothing, and starts from a clean slate
    server.drop_connections()
    await eventually(lambda: bridge.reconciliations == 3, 5, "the next reconciliation")
    assert len(recorder.events) == 1


class CallArrivesWhileRead(ListRecorder):
    """A contact log in which a new call's start lands while the reconciliation reads the
    open contacts: its AsyncAGIStart is handled by the bridge meanwhile (put in its calls
    here, as ``IvrBridge._on_agi_start`` does, with its ``call_started`` recorded)."""

    bridge: IvrBridge | None = None

    async def open_contacts(self) -> list[str]:
        assert self.bridge is not None
        self.bridge.calls["u2"] = Call("L2", "u2", "PJSIP/caller-00000002", "13800002222")
        return ["L2"]


async def test_a_call_that_starts_while_the_log_is_read_is_not_ended(
        server: FakeAmi, clients: Clients) -> None:
    """Before, the calls known were taken before the open contacts were read: a call that came
    in meanwhile was open in the log and not known, so it was ended at once (cause 0,
    "vanished while the bridge was away") while the caller went on in the menu."""
    rig = await running_bridge(clients)
    recorder = CallArrivesWhileRead()
    recorder.bridge = rig.bridge
    rig.bridge.recorder = recorder
    rig.bridge.menu = lambda: MAIN  # what a reconciliation adopts would start from it
    await rig.bridge.reconcile()
    assert recorder.events == []
    assert set(rig.bridge.calls) == {"u2"}


async def test_a_call_whose_start_comes_with_the_channel_list_is_not_ended(
        server: FakeAmi, clients: Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    """The list of channels is Asterisk's when it was asked for; a call whose start is handled
    while the list comes (AMI events and the list share the connection) is not in it, and is
    live: it keeps its call and its menu session. A call known before, missing from the list,
    has vanished and ends."""
    rig = await running_bridge(clients)
    bridge = rig.bridge
    bridge.calls["u1"] = Call("L1", "u1", "PJSIP/caller-00000001", "13800001111")
    asking = rig.client.send_action

    async def list_while_a_call_starts(action: dict[str, str], **kwargs: object) -> object:
        response = await asking(action, **kwargs)  # type: ignore[arg-type]
        bridge.calls["u3"] = Call("L3", "u3", "PJSIP/caller-00000003", "13800003333")
        return response

    monkeypatch.setattr(rig.client, "send_action", list_while_a_call_starts)
    bridge.menu = lambda: MAIN
    await bridge.reconcile()
    assert [(e.linkedid, e.kind) for e in rig.recorder.events] == [
        ("L1", EventKind.CALL_ENDED)]
    assert set(bridge.calls) == {"u3"}
