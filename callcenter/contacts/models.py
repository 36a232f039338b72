"""Contact log tables: one row per inbound call (keyed by Linkedid) and its timeline."""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.db import Base, UtcDateTime
from ivr.events import (
    AgentConnected,
    CallResumed,
    EventFormatError,
    EventRecord,
    record_from_dict,
)

log = logging.getLogger(__name__)


class Direction(enum.StrEnum):
    """Who called whom (``contacts.direction``)."""

    INBOUND = "inbound"    # a caller (or a text, a web question) reached the hotline
    OUTBOUND = "outbound"  # an agent's callback attempt (callcenter/outbound)


class Outcome(enum.StrEnum):
    SELF_SERVICE = "self_service"
    ANSWERED = "answered"
    ABANDONED_IVR = "abandoned_ivr"
    ABANDONED_QUEUE = "abandoned_queue"
    CALLBACK_REQUESTED = "callback_requested"
    MESSAGE_LEFT = "message_left"
    FAILED = "failed"
    # outbound callbacks only (direction outbound): the number did not answer, was busy, or
    # the agent found it was the wrong person's
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    WRONG_NUMBER = "wrong_number"


class ContactChannel(enum.StrEnum):
    """How the contact was served, for the province's statistics."""

    AUTOMATIC_VOICE = "automatic_voice"
    MANUAL = "manual"
    OTHER = "other"


def channel_of(outcome: str | None) -> ContactChannel:
    if outcome == Outcome.ANSWERED:
        return ContactChannel.MANUAL
    if outcome == Outcome.SELF_SERVICE:
        return ContactChannel.AUTOMATIC_VOICE
    return ContactChannel.OTHER


class Contact(Base):
    __tablename__ = "contacts"
    # open contacts by start, for the statistics' live view and reconciliation (migration 0004)
    __table_args__ = (Index("ix_stats_contacts_open", "ended_at", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    linkedid: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    caller_number: Mapped[str] = mapped_column(String(64), default="")
    channel: Mapped[str] = mapped_column(String(128), default="")
    # how the taxpayer reached us: phone | sms | web (migration 0006; `channel` above is the
    # Asterisk channel of a call)
    medium: Mapped[str] = mapped_column(String(8), nullable=False, default="phone",
                                        server_default="phone", index=True)
    # inbound (a caller reached us) or outbound (an agent called back; callcenter/outbound,
    # migration 0013): outbound contacts are counted apart in the statistics
    direction: Mapped[str] = mapped_column(String(8), nullable=False, default="inbound",
                                           server_default="inbound", index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str | None] = mapped_column(String(32), index=True)
    queue: Mapped[str | None] = mapped_column(String(64), index=True)
    agent: Mapped[str | None] = mapped_column(String(128), index=True)
    queue_joined_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    agent_connected_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ivr_seconds: Mapped[float | None] = mapped_column(Float)
    queue_wait_seconds: Mapped[float | None] = mapped_column(Float)
    talk_seconds: Mapped[float | None] = mapped_column(Float)
    self_served: Mapped[bool] = mapped_column(Boolean, default=False)
    explicit_outcome: Mapped[str | None] = mapped_column(String(32))
    last_node: Mapped[str | None] = mapped_column(String(64))
    ivr_end_reason: Mapped[str | None] = mapped_column(String(64))
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_cause_txt: Mapped[str | None] = mapped_column(String(128))
    reconciled: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    # 1 满意, 2 基本满意, 3 不满意 (the survey's last answer; migration 0002)
    survey_score: Mapped[int | None] = mapped_column(Integer)

    events: Mapped[list[ContactEventRow]] = relationship(
        back_populates="contact", order_by="ContactEventRow.id", cascade="all, delete-orphan"
    )

    @property
    def contact_channel(self) -> ContactChannel:
        return channel_of(self.outcome)

    def records(self) -> list[EventRecord]:
        """The timeline as typed records (a stored row that fits no record class, which
        only a hand-edited database holds, is left out and logged)."""
        return readable_records(self.linkedid, ((row.kind, row.data) for row in self.events))

    def agents(self) -> list[str]:
        """Every agent connected to the caller, in order (a transfer adds the second one)."""
        return connected_agents(self.records())


def readable_records(linkedid: str, rows: Iterable[tuple[str, Mapping[str, Any] | None]]
                     ) -> list[EventRecord]:
    """The records of stored (kind, data) rows; one that fits no record class (only a
    hand-edited database holds one) is left out and logged, not a failed request."""
    out: list[EventRecord] = []
    for kind, data in rows:
        try:
            out.append(record_from_dict(kind, data or {}))
        except EventFormatError as exc:
            log.warning("contact %s: a %s event left out: %s", linkedid, kind, exc)
    return out


def connected_agents(records: Iterable[EventRecord]) -> list[str]:
    """Every agent connected to the caller, in order, once each: the one answer to "who
    handled this contact" (the contact detail, its access check, the desk's)."""
    names: list[str] = []
    for record in records:
        if isinstance(record, AgentConnected) and record.agent and record.agent not in names:
            names.append(record.agent)
    return names


def held_seconds(records: Iterable[EventRecord]) -> float:
    """The seconds the caller spent on hold (the ``call_resumed`` events' ``held_seconds``,
    every agent's; callcenter/agents/hold.py)."""
    return round(sum(r.held_seconds for r in records if isinstance(r, CallResumed)), 3)


class ContactEventRow(Base):
    __tablename__ = "contact_events"
    __table_args__ = (Index("ix_contact_events_contact_id_id", "contact_id", "id"),
                      UniqueConstraint("event_key", name="uq_contact_events_event_key"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # the event's idempotence key (callcenter/contacts/spool.py event_key; migration 0005):
    # an event whose key is stored is not applied again; rows from before 0005 have none
    event_key: Mapped[str | None] = mapped_column(String(64))

    contact: Mapped[Contact] = relationship(back_populates="events")

    def record(self) -> EventRecord:
        """The stored event as its typed record (ivr.events; rows stored before a field
        existed read with its legacy default)."""
        return record_from_dict(self.kind, self.data or {})
