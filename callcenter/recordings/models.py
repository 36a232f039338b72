"""The recordings table: one row per recorded agent call or voice message (migration 0010)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base, UtcDateTime


class RecordingKind(enum.StrEnum):
    CALL = "call"            # an agent call (both parties mixed), expert leg included
    COMPLAINT = "complaint"  # the caller's voice message of a complaint (ticket)
    REPORT = "report"        # the caller's voice message of a report (ticket)
    DIRECTOR = "director"    # a message on the director's line (ticket)
    CONSULT = "consult"      # a declined question's message (ticket)


class Recording(Base):
    __tablename__ = "recordings"
    __table_args__ = (UniqueConstraint("path", name="uq_recordings_path"),
                      Index("ix_recordings_linkedid", "linkedid"),
                      Index("ix_recordings_started_at", "started_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    linkedid: Mapped[str] = mapped_column(String(64), nullable=False)  # the contact's
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    # relative to the recordings store (HOTLINE_RECORDINGS_DIR); never a machine path
    path: Mapped[str] = mapped_column(String(255), nullable=False)
    queue: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
