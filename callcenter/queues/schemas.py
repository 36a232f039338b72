"""API shapes of the queue configuration."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

NAME = r"^[a-z][a-z0-9_-]{1,31}$"


class QueueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=64)
    skill: str = Field(pattern=NAME)
    strategy: Literal["ringall", "leastrecent", "fewestcalls", "random", "rrmemory",
                      "linear", "wrandom", "rrordered"] = "rrmemory"
    ring_timeout_s: int = Field(default=15, ge=5, le=120)
    overflow_to: str | None = Field(default=None, pattern=NAME)
    overflow_after_s: int = Field(default=120, ge=10, le=3600)
    announce_position: bool = True
    announce_frequency_s: int = Field(default=30, ge=15, le=600)
    callback_offer_after_s: int = Field(default=120, ge=15, le=3600)
    expert: bool = False
    active: bool = True
    record: bool = Field(default=True, description="record its agent calls (after a notice)")


class QueueOut(QueueIn):
    model_config = ConfigDict(from_attributes=True, extra="ignore")

    name: str


class SkillIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=64)


class SkillOut(SkillIn):
    model_config = ConfigDict(from_attributes=True)

    name: str


class AgentSkillsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skills: dict[str, int] = Field(description="skill -> penalty (0 preferred .. 10)")


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=64)
    active: bool = True


class CodeOut(CodeIn):
    model_config = ConfigDict(from_attributes=True)

    code: str
