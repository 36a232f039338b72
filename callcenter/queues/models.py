"""Queue configuration tables (the database is the source of truth; Asterisk gets a copy)."""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String, true
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base


class Skill(Base):
    __tablename__ = "skills"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(64), nullable=False)


class QueueConfig(Base):
    __tablename__ = "cc_queues"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)  # Asterisk queue name
    title: Mapped[str] = mapped_column(String(64), nullable=False)
    skill: Mapped[str] = mapped_column(String(32), nullable=False)
    strategy: Mapped[str] = mapped_column(String(16), default="rrmemory")
    ring_timeout_s: Mapped[int] = mapped_column(Integer, default=15)
    # a caller still waiting after overflow_after_s moves to overflow_to (None: waits on)
    overflow_to: Mapped[str | None] = mapped_column(String(32))
    overflow_after_s: Mapped[int] = mapped_column(Integer, default=120)
    announce_position: Mapped[bool] = mapped_column(Boolean, default=True)
    announce_frequency_s: Mapped[int] = mapped_column(Integer, default=30)
    # the callback offer (press 1) is played once the caller has waited this long
    callback_offer_after_s: Mapped[int] = mapped_column(Integer, default=120)
    expert: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # its agent calls are recorded (MixMonitor) after the recording notice (migration 0010)
    record: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True,
                                         server_default=true())


class AgentSkill(Base):
    __tablename__ = "agent_skills"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    skill: Mapped[str] = mapped_column(String(32), primary_key=True)
    penalty: Mapped[int] = mapped_column(Integer, default=0)  # 0 = preferred


class PauseReason(Base):
    __tablename__ = "pause_reasons"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(64), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Disposition(Base):
    __tablename__ = "dispositions"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(64), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
