"""Agent state (current + history) and the notes/disposition an agent writes on a call."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base, UtcDateTime


class AgentState(enum.StrEnum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    PAUSED = "paused"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"


class AgentStateRow(Base):
    """The current state of each agent (survives a restart of the app)."""

    __tablename__ = "agent_states"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(64))
    since: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class AgentStateChange(Base):
    """Every state change (pause time by reason, occupancy... for the statistics)."""

    __tablename__ = "agent_state_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, index=True)
    linkedid: Mapped[str | None] = mapped_column(String(64))
    by: Mapped[str | None] = mapped_column(String(64))  # who made the change (None: Asterisk)


class CallNote(Base):
    """What an agent wrote about one call (keyed by the contact's Linkedid)."""

    __tablename__ = "call_notes"
    __table_args__ = (UniqueConstraint("linkedid", "username"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    linkedid: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    notes: Mapped[str] = mapped_column(Text, default="")
    disposition: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
