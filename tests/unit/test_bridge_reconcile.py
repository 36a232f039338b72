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
from tests.unit.test_menu_engine import ListRecorder

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
