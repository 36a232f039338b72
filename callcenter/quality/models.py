"""The quality review tables (migration 0014): review forms, one row per version, and the
reviews scored on them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base, UtcDateTime


class ReviewForm(Base):
    """One version of a review form: saving a form adds a version, never changes one, so a
    review keeps the criteria it was scored on."""

    __tablename__ = "qa_forms"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_qa_forms_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(32), nullable=False)  # the form's code
    version: Mapped[int] = mapped_column(Integer, nullable=False)  # 1, 2, ... per name
    title: Mapped[str] = mapped_column(String(64), nullable=False)
    # [{"key": "greeting", "title": "开场问候", "max_score": 10, "weight": 15}, ...]
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)


class Review(Base):
    """A reviewer's scores of one agent's leg of a recorded call."""

    __tablename__ = "qa_reviews"
    __table_args__ = (
        UniqueConstraint("contact_id", "agent", "reviewer", name="uq_qa_reviews_leg_reviewer"),
        Index("ix_qa_reviews_agent_call_at", "agent", "call_at"),
        Index("ix_qa_reviews_call_at", "call_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("qa_forms.id"), nullable=False)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"),
                                            nullable=False)
    linkedid: Mapped[str] = mapped_column(String(64), nullable=False)
    agent: Mapped[str] = mapped_column(String(64), nullable=False)  # the leg's agent
    reviewer: Mapped[str] = mapped_column(String(64), nullable=False)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)  # criterion -> score
    total: Mapped[float] = mapped_column(Float, nullable=False)  # weighted, out of 100
    comment: Mapped[str] = mapped_column(Text, nullable=False, default="")
    call_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)  # the call's start
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
