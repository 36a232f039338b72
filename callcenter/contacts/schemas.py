"""API shapes of contacts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, computed_field

from callcenter.contacts.models import (
    ContactChannel,
    connected_agents,
    held_seconds,
    readable_records,
)
from ivr.events import EventKind


class ContactEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    kind: str
    data: dict[str, Any]


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    linkedid: str
    caller_number: str
    direction: str = "inbound"  # outbound: an agent's callback (callcenter/outbound)
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None
    contact_channel: ContactChannel
    queue: str | None
    agent: str | None
    ivr_seconds: float | None
    queue_wait_seconds: float | None
    talk_seconds: float | None
    last_node: str | None
    hangup_cause: int | None
    hangup_cause_txt: str | None
    reconciled: bool
    survey_score: int | None = None  # 1 满意, 2 基本满意, 3 不满意 (the IVR's survey)


class ContactDetail(ContactOut):
    events: list[ContactEventOut]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def agents(self) -> list[str]:
        """Every agent connected to the caller, in order (a transfer adds the second one)."""
        return connected_agents(readable_records(self.linkedid, (
            (e.kind, e.data) for e in self.events if e.kind == EventKind.AGENT_CONNECTED)))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def hold_seconds(self) -> float:
        """The seconds the caller spent on hold (``call_resumed`` events; docs/console.md
        "Hold"); part of ``talk_seconds``, which Asterisk counts while the caller is held."""
        return held_seconds(readable_records(self.linkedid, (
            (e.kind, e.data) for e in self.events if e.kind == EventKind.CALL_RESUMED)))


class ContactPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[ContactOut]
