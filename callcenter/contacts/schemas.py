"""API shapes of contacts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from callcenter.contacts.models import ContactChannel


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


class ContactDetail(ContactOut):
    events: list[ContactEventOut]


class ContactPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[ContactOut]
