"""Online consultation tables (migration 0011): the SMS codes that verify a taxpayer's mobile
number, the short sessions scoped to a verified number, and the staff's replies to a
consultation (a ``consult`` ticket)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base, UtcDateTime


class ConsultCode(Base):
    """One verification code sent by text: only its salted hash is kept."""

    __tablename__ = "consult_codes"
    __table_args__ = (Index("ix_consult_codes_number_id", "number", "id"),
                      Index("ix_consult_codes_address_created", "address", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), nullable=False)
    code_hash: Mapped[str] = mapped_column(String(96), nullable=False)  # "salt$sha256"
    address: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("sms_messages.id", ondelete="SET NULL"))


class ConsultSession(Base):
    """A verified number's session on the consultation page (the token's hash only)."""

    __tablename__ = "consult_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, index=True)


class ConsultReply(Base):
    """A reply of an agent or expert to a consultation; sent by text to the number."""

    __tablename__ = "consult_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    by: Mapped[str] = mapped_column(String(128), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("sms_messages.id", ondelete="SET NULL"))
