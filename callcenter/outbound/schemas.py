"""Request and answer bodies of the outbound callback routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from callcenter.auth.schemas import USERNAME_REF_PATTERN


class ResultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    result: Literal["wrong_number"]


class DialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent: str = Field(pattern=USERNAME_REF_PATTERN,
                       description="the agent (or expert) who calls back, now")


class OutboundCallbackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    status: str
    queue: str | None
    owner: str | None
    offered_to: str | None
    decision: str | None
    attempts: int
    result: str | None
    attempt_linkedid: str | None
    due_at: datetime
    done_at: datetime | None
