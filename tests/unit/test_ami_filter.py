"""The AMI session's event filters (ivr/ami/client.py): after each login, one include filter
per event name some handler subscribed to, and nothing a handler did not name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ivr.ami.client import OWN_EVENTS, AmiClient
from ivr.ami.events import AmiEvent, DtmfEnd, QueueEvent
from ivr.bridge import IvrBridge
from ivr.clock import RunningClock
from ivr.services import IvrServices
from tests.unit.fake_ami import Clients, FakeAmi, event, eventually
from tests.unit.test_bridge_reconcile import no_menu
from tests.unit.test_menu_engine import ListRecorder

QUEUE_EVENTS = {"QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentCalled",
                "AgentConnect", "AgentComplete", "AgentRingNoAnswer"}


def filtered(server: FakeAmi, since: int = 0) -> list[str]:
    """The event names of the include filters sent (after the ``since``-th action)."""
    names = []
    for action in server.actions[since:]:
        if action.get("Action") == "Filter":
            assert action["Operation"] == "Add"
            criteria = action["MatchCriteria"]
            assert criteria.startswith("action(include),name(")
            assert criteria.endswith(")")
            names.append(criteria.removeprefix("action(include),name(").removesuffix(")"))
    return names


async def test_the_filters_are_the_subscriptions_set_again_at_each_login(
        server: FakeAmi, clients: Clients) -> None:
    client = clients.make(event_filter=True)
    client.on(QueueEvent, lambda e: None)
    client.on(DtmfEnd, lambda e: None)
    client.on(AmiEvent, lambda e: None, names=("UserEvent",))
    hook_at: list[int] = []

    async def on_ready() -> None:
        hook_at.append(len(server.actions))

    client.on_ready(on_ready)
    await client.start()
    await client.wait_ready(5)
    expected = {*QUEUE_EVENTS, "DTMFEnd", "UserEvent", *OWN_EVENTS}
    assert client.subscribed_events() == frozenset(expected)
    await eventually(lambda: hook_at != [], what="the ready hook")
    # every filter is set before the ready hooks run (their resync must miss no event)
    assert sorted(filtered(server)) == sorted(expected)
    assert client.filters_set == expected
    assert len(filtered(server, hook_at[0])) == 0

    server.drop_connections()  # a new session has no filter: all set again
    await eventually(lambda: len(hook_at) == 2, what="the ready hook after reconnecting")
    assert sorted(filtered(server, hook_at[0])) == sorted(expected)

    before = len(server.actions)  # subscribed while connected: that name let in at once
    client.on(AmiEvent, lambda e: None, names=("QueueMemberStatus",))
    await eventually(lambda: "QueueMemberStatus" in client.filters_set, what="a late filter")
    assert filtered(server, before) == ["QueueMemberStatus"]


async def test_a_ready_hook_registered_once_ready_waits_for_the_next_login(
        server: FakeAmi, clients: Clients) -> None:
    """The filters delay the ready hooks a little: a hook registered meanwhile (a desk built
    on a connection already up) must not run for this login, as it never did."""
    client = clients.make(event_filter=True)
    client.on(DtmfEnd, lambda e: None)
    runs: list[int] = []

    async def late() -> None:
        runs.append(server.logins)

    await client.start()
    await client.wait_ready(5)
    client.on_ready(late)
    await eventually(lambda: client.filters_set == {"DTMFEnd", *OWN_EVENTS}, what="filters")
    server.drop_connections()
    await eventually(lambda: runs != [], what="the hook after reconnecting")
    assert runs == [2]


async def test_the_bridge_session_filters_what_the_bridge_reads(
        server: FakeAmi, clients: Clients) -> None:
    client = clients.make(event_filter=True)
    IvrBridge(client, no_menu, ListRecorder(),
              IvrServices(clock=RunningClock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))))
    await client.start()
    await client.wait_ready(5)
    expected = {*QUEUE_EVENTS, "AsyncAGIStart", "AsyncAGIExec", "AsyncAGIEnd", "Hangup",
                "DTMFEnd", "FullyBooted", "Shutdown"}
    await eventually(lambda: client.filters_set == expected, what="the bridge's filters")
    assert sorted(filtered(server)) == sorted(expected)


async def test_a_handler_gets_only_the_names_it_subscribed_to(
        server: FakeAmi, clients: Clients) -> None:
    client = await clients.ready()
    seen: list[str] = []
    client.on(AmiEvent, lambda e: seen.append(e.name), names=("UserEvent",))
    server.push(event("MusicOnHoldStart", Channel="x"))
    server.push(event("UserEvent", UserEvent="HotlineCallback"))
    await eventually(lambda: client.events_by_name["UserEvent"] == 1, what="the UserEvent")
    assert seen == ["UserEvent"]
    assert filtered(server) == []  # no event_filter: no Filter action


def test_a_filtered_client_refuses_a_catch_all_handler() -> None:
    client = AmiClient("127.0.0.1", 1, "u", "s", event_filter=True)
    with pytest.raises(ValueError, match="name the events"):
        client.on(AmiEvent, lambda e: None)
    unfiltered = AmiClient("127.0.0.1", 1, "u", "s")
    unfiltered.on(AmiEvent, lambda e: None)
    assert unfiltered.subscribed_events() is None
