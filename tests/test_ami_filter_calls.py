"""The bridge's AMI session gets only the events its handlers subscribe to (the session's
filters, ivr/ami/client.py), on the real Asterisk: during an FAQ self-service call no other
event comes, and the actions whose answers are event lists still get their lists."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.conftest import Harness, events_of
from tests.test_ivr_calls import Keys, Tap, scripted_call

pytestmark = pytest.mark.asterisk

log = logging.getLogger(__name__)


async def filters_set(harness: Harness) -> frozenset[str]:
    subscribed = harness.ami.subscribed_events()
    assert subscribed is not None
    for _ in range(100):
        if harness.ami.filters_set == subscribed:
            return subscribed
        await asyncio.sleep(0.05)
    raise AssertionError(f"filters {sorted(harness.ami.filters_set)}, not {sorted(subscribed)}")


async def test_the_bridge_session_gets_only_subscribed_events(harness: Harness) -> None:
    subscribed = {name.lower() for name in await filters_set(harness)}
    tap = Tap(harness)
    harness.ami.events_by_name.clear()
    caller = "13700000071"
    # FAQ by key (1 consult, 2 personal income tax, 1 basic deduction), survey 1
    call = asyncio.create_task(scripted_call(harness, tap, caller, [
        Keys("main", "1"), Keys("consult", "2"), Keys("cat_iit", "1"), Keys("survey", "1")]))
    linkedid, _channel = await tap.call_of(caller)
    # the answers of list actions are not filtered: each list comes whole, with its end
    channels = await harness.ami.send_action({"Action": "CoreShowChannels"}, as_list=True)
    names = [str(m.get("Event", "")) for m in channels]
    assert "CoreShowChannel" in names, names
    assert names[-1] == "CoreShowChannelsComplete", names
    status = await harness.ami.send_action({"Action": "QueueStatus"}, as_list=True)
    names = [str(m.get("Event", "")) for m in status]
    assert "QueueParams" in names, names
    assert names[-1] == "QueueStatusComplete", names
    await call
    contact = await harness.wait_contact(caller)
    assert [e["faq_id"] for e in events_of(contact, "faq_played")] == ["iit.basic_deduction"]
    seen = dict(harness.ami.events_by_name)
    log.info("bridge session events during one FAQ call: %d %s", sum(seen.values()), seen)
    assert {name.lower() for name in seen} <= subscribed, seen
    assert linkedid
