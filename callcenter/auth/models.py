"""Users, login sessions (opaque tokens, stored hashed) and the audit log."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base, UtcDateTime


class Role(enum.StrEnum):
    AGENT = "agent"
    EXPERT = "expert"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    EDITOR = "editor"      # knowledge base: writes drafts (callcenter/kb)
    REVIEWER = "reviewer"  # knowledge base: publishes others' drafts, restores versions


# the roles of the call centre's routes (desk, queues, tickets, callbacks, consultations):
# the seats and those who run them, not the knowledge base's content roles
CALL_CENTRE_ROLES = (Role.AGENT, Role.EXPERT, Role.SUPERVISOR, Role.ADMIN)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # the agent's phone as Asterisk knows it, e.g. PJSIP/agent1 (agents and experts)
    interface: Mapped[str | None] = mapped_column(String(128))
    # the Asterisk node the phone is registered to (None: the default node, HOTLINE_NODE);
    # that node's `hotline bridge` keeps the agent's queue membership (docs/deployment.md)
    node: Mapped[str | None] = mapped_column(String(32))
    # the staff member's mobile, for notices to staff by text (callcenter/notices)
    mobile: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class AuthSession(Base):
    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    target: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
