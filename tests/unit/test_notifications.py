"""The notifications (callcenter/notify/messages.py): one record class per kind, published by
one named method of the notifier on its topics, and read back from what a subscriber gets."""

from __future__ import annotations

import dataclasses
import json
import typing

import pytest

from callcenter.notify.messages import (
    NOTIFICATIONS,
    AgentStateChanged,
    CallRinging,
    Notification,
    WallboardFigures,
    notification_from_dict,
)
from callcenter.notify.services import Notifier
from ivr.events import EventFormatError
from tests.support import SUITE_CLOCK
from tests.unit.test_event_contract import full_record

# the topics each kind goes to, ``{user}`` standing for the agent's name
TOPICS = {
    "agent_state": {"agents", "agents.{user}"},
    "agents_resynced": {"agents"},
    "queue_board": {"queues"},
    "callback_offered": {"queues"},
    "call_ringing": {"calls.{user}"},
    "call_connected": {"calls.{user}"},
    "call_completed": {"calls.{user}"},
    "consult_changed": {"calls.{user}"},
    "call_missed": {"calls.{user}"},
    "call_abandoned": {"calls.{user}"},
    "callback_preview": {"calls.{user}"},
    "callback_progress": {"calls.{user}"},
    "consult_submitted": {"consult"},
    "wallboard": {"wallboard"},
}


def methods() -> dict[type[Notification], str]:
    """The notifier's method for each kind (the one whose ``note`` parameter is that kind)."""
    found: dict[type[Notification], str] = {}
    for name, member in vars(Notifier).items():
        if callable(member) and not name.startswith("_") and name != "publish":
            note = typing.get_type_hints(member).get("note")
            if isinstance(note, type) and issubclass(note, Notification):
                assert note not in found, f"two methods publish {note.NAME}"
                found[note] = name
    return found


def test_every_kind_has_one_notifier_method_and_known_topics() -> None:
    assert set(methods()) == set(NOTIFICATIONS.values())
    assert set(TOPICS) == set(NOTIFICATIONS)


@pytest.mark.parametrize("name", sorted(NOTIFICATIONS))
async def test_a_kind_is_published_on_its_topics_and_reads_back(name: str) -> None:
    cls = NOTIFICATIONS[name]
    note = full_record(cls)
    assert isinstance(note, Notification)
    bus = Notifier(SUITE_CLOCK)
    topics = {t.format(user=getattr(note, "username", "agent7")) for t in TOPICS[name]}
    listener = bus.subscribe("*")
    method = getattr(bus, methods()[cls])
    if "{user}" in "".join(TOPICS[name]) and not hasattr(note, "username"):
        method("agent7", note)
    else:
        method(note)
    got = [await listener.get(1) for _ in topics]
    assert {m.topic for m in got} == topics
    for message in got:
        wire = json.loads(json.dumps(message.as_json(), ensure_ascii=False))
        assert wire["kind"] == name
        assert notification_from_dict(wire["kind"], wire["payload"]) == note
        assert message.notification() == note


def test_the_payloads_keep_the_shape_the_console_reads() -> None:
    card = CallRinging(linkedid="L1", caller="13800000000", queue="consult", contact_id=None,
                       ivr_path=("welcome", "main"), ivr_path_labels=("欢迎语", "主菜单"),
                       digits=(), faqs=(), asked=(), taxpayer=None, wait_s=None)
    payload = card.to_dict()
    assert payload["type"] == "ringing"
    assert payload["ivr_path_labels"] == ["欢迎语", "主菜单"]
    assert payload["taxpayer"] is None  # sent as null, not left out
    state = full_record(AgentStateChanged).to_dict()
    assert "type" not in state
    assert state["username"] == "username-值"
    assert WallboardFigures(figures={"waiting": 2}).to_dict() == {"waiting": 2}


def test_a_payload_that_does_not_fit_is_refused() -> None:
    with pytest.raises(EventFormatError, match="unknown notification 'call_teleported'"):
        notification_from_dict("call_teleported", {})
    with pytest.raises(EventFormatError, match="call_missed: type must be 'missed'"):
        notification_from_dict("call_missed", {"type": "ringing", "linkedid": "L1"})
    with pytest.raises(EventFormatError, match=r"call_missed: missing field.*linkedid"):
        notification_from_dict("call_missed", {"type": "missed"})
    with pytest.raises(EventFormatError, match="call_connected: field 'hold_time'"):
        notification_from_dict("call_connected", {"type": "connected", "linkedid": "L1",
                                                  "queue": "consult", "hold_time": "12"})


def test_every_notification_is_a_frozen_record() -> None:
    for cls in NOTIFICATIONS.values():
        assert dataclasses.is_dataclass(cls)
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
