"""Tickets (complaints, reports, director's-line messages) and callback requests.

A ticket has a number callers can key in (digits only), a due time from the service
commitment, the recording of the caller's message, a status with its history and an owner
(nullable until someone takes it).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.db import Base, UtcDateTime


class TicketKind(enum.StrEnum):
    COMPLAINT = "complaint"    # 纳税服务投诉
    REPORT = "report"          # 涉税检举
    DIRECTOR = "director"      # 局长热线留言
    CONSULT = "consult"        # 短信/网上咨询: a question the knowledge base declined


class TicketStatus(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"
    CLOSED = "closed"


TICKET_TRANSITIONS: dict[str, set[str]] = {
    TicketStatus.OPEN: {TicketStatus.IN_PROGRESS, TicketStatus.CLOSED},
    TicketStatus.IN_PROGRESS: {TicketStatus.ANSWERED, TicketStatus.OPEN, TicketStatus.CLOSED},
    TicketStatus.ANSWERED: {TicketStatus.CLOSED, TicketStatus.IN_PROGRESS},
    TicketStatus.CLOSED: set(),
}


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_no: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True,
                                        default=TicketStatus.OPEN)
    caller: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    linkedid: Mapped[str] = mapped_column(String(64), nullable=False, default="", index=True)
    recording_path: Mapped[str | None] = mapped_column(String(512))
    summary: Mapped[str] = mapped_column(Text, nullable=False, default="")
    owner: Mapped[str | None] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, index=True)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)

    history: Mapped[list[TicketStatusChange]] = relationship(
        back_populates="ticket", order_by="TicketStatusChange.id", cascade="all, delete-orphan")


class TicketStatusChange(Base):
    __tablename__ = "ticket_status_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16), nullable=False)
    by: Mapped[str] = mapped_column(String(128), nullable=False, default="ivr")
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")

    ticket: Mapped[Ticket] = relationship(back_populates="history")


class CallbackStatus(enum.StrEnum):
    PENDING = "pending"
    OFFERED = "offered"      # the dialler offers it to an agent (preview card)
    DIALLING = "dialling"    # the dialler is calling: agent first, then the number
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class CallbackRequest(Base):
    __tablename__ = "callback_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), nullable=False)
    linkedid: Mapped[str] = mapped_column(String(64), nullable=False, default="", index=True)
    reason: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True,
                                        default=CallbackStatus.PENDING)
    owner: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, index=True)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # the outbound dialler (callcenter/outbound; migration 0013): the queue whose agents call
    # back (None: any agent), attempts made, the dialler's claim (node and moment), the agent
    # offered to, the agent's decision on the preview (accept | skip), the last attempt's
    # result and its contact
    queue: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0,
                                          server_default="0")
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    offered_to: Mapped[str | None] = mapped_column(String(64))
    decision: Mapped[str | None] = mapped_column(String(8))
    result: Mapped[str | None] = mapped_column(String(16))
    attempt_linkedid: Mapped[str | None] = mapped_column(String(64))
