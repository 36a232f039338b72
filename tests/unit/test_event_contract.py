"""The contact-event contract (ivr/events.py): one record class per kind, each one round-trips
through its JSON form, a form that does not fit is refused with a clear error, old forms stay
readable, and every field a reader of the stored form names is a field of its record."""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from callcenter.contacts.spool import from_line, to_line
from callcenter.settings import PROJECT_ROOT
from ivr.events import (
    RECORDS,
    CallEnded,
    EventFormatError,
    EventKind,
    EventRecord,
    FaqPlayed,
    JsonRecord,
    ServiceResult,
    field_name,
    record_from_dict,
)
from ivr.menu.loader import load_menu
from ivr.ports import ContactEvent

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def sample_value(hint: Any, name: str) -> Any:
    """A value of type ``hint`` for field ``name`` (the first arm of a union)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        arms = [arm for arm in typing.get_args(hint) if arm is not type(None)]
        return sample_value(arms[0], name)
    if hint is bool:
        return True
    if hint is int:
        return 2
    if hint is float:
        return 1.5
    if hint is str:
        return f"{name}-值"
    if origin is tuple:
        arm = typing.get_args(hint)[0]
        return (sample_value(arm, name), sample_value(arm, name))
    return {"extra_note": "春节"}


R = typing.TypeVar("R", bound=JsonRecord)


def full_record(cls: type[R]) -> R:
    """An instance of ``cls`` with every field set (optional ones too)."""
    hints = typing.get_type_hints(cls)
    values = {f.name: sample_value(hints[f.name], f.name) for f in dataclasses.fields(cls)}
    return cls(**values)


def minimal_form(cls: type[EventRecord]) -> dict[str, Any]:
    """The JSON form of ``cls`` with its required fields only."""
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING}
    return {k: v for k, v in full_record(cls).to_dict().items() if k in required}


def test_every_kind_has_one_record_class() -> None:
    assert set(RECORDS) == set(EventKind)
    for kind, cls in RECORDS.items():
        assert cls.KIND is kind
        assert dataclasses.is_dataclass(cls)
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", list(EventKind), ids=str)
def test_every_kind_round_trips_through_json(kind: EventKind) -> None:
    cls = RECORDS[kind]
    for record in (full_record(cls), record_from_dict(kind, minimal_form(cls))):
        form = record.to_dict()
        again = record_from_dict(str(kind), json.loads(json.dumps(form, ensure_ascii=False)))
        assert again == record
        assert type(again) is cls
        # and through a spool line, as it crosses a process boundary
        event = ContactEvent("L-rt", record, at=T0, key="k")
        assert from_line(to_line(event)) == event


@pytest.mark.parametrize("kind", list(EventKind), ids=str)
def test_a_missing_required_field_is_refused_by_name(kind: EventKind) -> None:
    cls = RECORDS[kind]
    form = minimal_form(cls)
    for name in form:
        if name in cls.LEGACY_DEFAULTS:
            continue
        broken = {k: v for k, v in form.items() if k != name}
        with pytest.raises(EventFormatError, match=f"{kind}: missing field.*{name}"):
            record_from_dict(kind, broken)


def test_unknown_kinds_fields_and_wrong_types_are_refused() -> None:
    with pytest.raises(EventFormatError, match="unknown event kind 'call_teleported'"):
        record_from_dict("call_teleported", {})
    with pytest.raises(EventFormatError, match="call_ended: unknown field 'caus'"):
        record_from_dict("call_ended", {"cause": 16, "caus": 16})
    with pytest.raises(EventFormatError, match="call_ended: field 'cause' must be int"):
        record_from_dict("call_ended", {"cause": "sixteen"})
    with pytest.raises(EventFormatError, match="field 'cause' must be int"):
        record_from_dict("call_ended", {"cause": True})  # a bool is not a number here
    with pytest.raises(EventFormatError, match="field 'prompts'"):
        record_from_dict("prompt", {"node": "main", "prompts": [1, 2]})
    with pytest.raises(EventFormatError, match="not an object"):
        CallEnded.from_dict([16])  # type: ignore[arg-type]
    # an int where a float is wanted is a float (JSON does not tell 12 from 12.0)
    connected = record_from_dict("agent_connected",
                                 {"queue": "consult", "agent": "a1", "hold_time": 12})
    assert connected.to_dict()["hold_time"] == 12.0


def test_the_json_form_is_the_shape_stored_before_the_records() -> None:
    """Optional fields left None are left out, so that new rows look like old ones."""
    assert CallEnded(cause=16).to_dict() == {"cause": 16}
    # a required field that may be None is written
    assert record_from_dict("survey", {"score": None, "node": "survey"}).to_dict() == {
        "score": None, "node": "survey"}
    # a self-service's own details are flattened beside the declared fields
    result = record_from_dict("service_result", {"node": "hours_gate", "service": "hours",
                                                 "result": "closed", "holiday": "春节",
                                                 "at": "2026-02-17T09:00:00+08:00"})
    assert isinstance(result, ServiceResult)
    assert result.details == {"holiday": "春节", "at": "2026-02-17T09:00:00+08:00"}
    assert result.to_dict() == {"node": "hours_gate", "service": "hours", "result": "closed",
                                "holiday": "春节", "at": "2026-02-17T09:00:00+08:00"}


def test_old_spool_lines_and_stored_rows_stay_readable() -> None:
    """Lines written before the records (no ``schema``), and a faq_played row stored before
    producers wrote the question, read as records."""
    old_lines = [
        '{"v":1,"key":"k1","linkedid":"L-old","kind":"call_started",'
        '"at":"2026-11-27T09:00:00+08:00","data":{"caller":"13800000000",'
        '"channel":"PJSIP/caller-1","uniqueid":"L-old","dnid":"12366","extension":"s"}}',
        '{"v":1,"key":"k2","linkedid":"L-old","kind":"prompt",'
        '"at":"2026-11-27T09:00:02+08:00","data":{"node":"main","prompts":["main_menu"],'
        '"attempt":1,"interrupted_by":"1","endpos":8000}}',
        '{"v":1,"key":"k3","linkedid":"L-old","kind":"faq_played",'
        '"at":"2026-11-27T09:00:09+08:00","data":{"node":"faq_vat_law",'
        '"faq_id":"vat.law.effective_date","score":1.0,"via":"key"}}',
        '{"v":1,"key":"k4","linkedid":"L-old","kind":"call_ended",'
        '"at":"2026-11-27T09:01:00+08:00","data":{"cause":16,"cause_txt":"Normal Clearing",'
        '"reconciled":false},"error":"db down","given_up_at":"2026-11-27T09:02:00+08:00"}',
    ]
    events = [from_line(line) for line in old_lines]
    assert [e.kind for e in events] == [EventKind.CALL_STARTED, EventKind.PROMPT,
                                        EventKind.FAQ_PLAYED, EventKind.CALL_ENDED]
    assert [e.key for e in events] == ["k1", "k2", "k3", "k4"]
    played = events[2].record
    assert isinstance(played, FaqPlayed)
    assert (played.question, played.category) == ("", "")  # not written then
    assert events[3].record == CallEnded(cause=16, cause_txt="Normal Clearing",
                                         reconciled=False)
    # what the old line held is what the new line holds (plus the schema version)
    for line, event in zip(old_lines[:2], events[:2], strict=True):
        new = json.loads(to_line(event))
        assert new["data"] == json.loads(line)["data"]
        assert new["schema"] == 1


def test_a_spool_line_of_a_newer_contract_is_refused() -> None:
    line = json.loads(to_line(ContactEvent("L-n", CallEnded(cause=16), at=T0)))
    with pytest.raises(ValueError, match="schema 2, newer than ours"):
        from_line(json.dumps({**line, "schema": 2}))
    with pytest.raises(ValueError, match="v 9, newer than ours"):
        from_line(json.dumps({**line, "v": 9}))


def test_readers_of_the_stored_form_name_only_fields_of_their_records() -> None:
    """SQL over ``contact_events.data`` names its fields through ``field_name``, checked
    against the record class; no module indexes the stored JSON with a bare string."""
    assert field_name(CallEnded, "cause") == "cause"
    with pytest.raises(AttributeError, match="CallEnded has no field 'question'"):
        field_name(CallEnded, "question")
    bare = re.compile(r"\.data\[\"|\.data\.get\(")
    offenders = []
    for package in ("ivr", "callcenter"):
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if "ContactEventRow" in text or "ContactEvent" in text:
                offenders += [f"{path.relative_to(PROJECT_ROOT)}:{n}"
                              for n, line in enumerate(text.splitlines(), 1)
                              if bare.search(line)]
    assert offenders == []


def test_every_node_of_the_shipped_menu_has_a_chinese_title() -> None:
    menu = load_menu(Path(PROJECT_ROOT) / "ivr/menus/12366.yaml")
    titles = menu.titles()
    assert set(titles) == set(menu.nodes)
    assert all(re.search(r"[\u4e00-\u9fff]", title) for title in titles.values())
    assert titles["main"] == "主菜单"
