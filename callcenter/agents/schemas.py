"""API shapes of agent states, calls and notes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["ready", "paused", "logged_out"]
    reason: str | None = Field(default=None, min_length=1, max_length=32,
                               description="pause reason code or title (required to pause)")

    @model_validator(mode="after")
    def reason_with_pause(self) -> StateRequest:
        if self.state == "paused" and not self.reason:
            raise ValueError("暂停需要填写原因 reason")
        if self.state != "paused" and self.reason:
            raise ValueError("只有暂停需要原因 reason")
        return self


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,31}$")


class ConsultRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_-]{1,31}$",
                              description="the queue to consult (default: experts, the "
                                          "expert seat)")
    agent: str | None = Field(default=None, min_length=1, max_length=64,
                              description="instead of a queue: the username of a ready agent "
                                          "to consult (rung directly)")
    notes: str | None = Field(default=None, max_length=4000,
                              description="the agent's notes so far, saved first: the "
                                          "expert's call card shows them")


class MonitorRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["listen", "whisper", "barge"] = Field(
        description="listen: hears both sides; whisper: heard by the agent only; barge: "
                    "heard by both")


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notes: str = Field(default="", max_length=4000)
    disposition: str | None = Field(default=None, max_length=32)


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    linkedid: str
    username: str
    notes: str
    disposition: str | None
    updated_at: datetime
