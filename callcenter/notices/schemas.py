"""API shapes of notices to staff: the request; the answers are the service's views
(``NoticeView``, ``RecipientView``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class NoticeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=2000, description="the notice (at most 300 characters once "
                                                   "blanks are folded)")
    audience: Literal["all", "queue", "users"] = Field(
        description="all agents and experts, one queue's agents, or the users named")
    queue: str | None = Field(default=None, max_length=32)
    usernames: list[str] = Field(default_factory=list, max_length=200)
