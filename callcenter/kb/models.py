"""The knowledge base kept in the database (migration 0012): the live entries, every
published version of each, the drafts awaiting a second person, and the seed files' text
(for `hotline kb export` to write unchanged entries back exactly as they were read)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.db import Base, UtcDateTime


class DraftKind(enum.StrEnum):
    EDIT = "edit"      # new fields for an existing entry
    NEW = "new"        # a new entry
    RETIRE = "retire"  # take the entry out of service (kept, restorable)


class DraftStatus(enum.StrEnum):
    OPEN = "open"
    PUBLISHED = "published"
    DISCARDED = "discarded"


class KbEntry(Base):
    """One entry as served now (retired ones are kept, not served)."""

    __tablename__ = "kb_entries"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    file: Mapped[str] = mapped_column(String(128), nullable=False)  # its YAML file's name
    position: Mapped[int] = mapped_column(Integer, nullable=False)  # order in that file
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    retired: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # the entry as the seed file had it: its fields and its exact text (comments included)
    seed_fields: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    seed_text: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class KbVersion(Base):
    """Every published version of every entry, the first (seeded) one included."""

    __tablename__ = "kb_versions"
    __table_args__ = (UniqueConstraint("entry_id", "version", name="uq_kb_versions_entry"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(String(128), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    retired: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    author: Mapped[str] = mapped_column(String(64), nullable=False)     # who wrote it
    published_by: Mapped[str] = mapped_column(String(64), nullable=False)
    published_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    note: Mapped[str] = mapped_column(String(255), nullable=False, default="")


class KbDraft(Base):
    """An edit, a new entry or a retirement awaiting publication by a second person."""

    __tablename__ = "kb_drafts"
    __table_args__ = (Index("ix_kb_drafts_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(String(128), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    file: Mapped[str] = mapped_column(String(128), nullable=False)
    base_version: Mapped[int | None] = mapped_column(Integer)  # the version it was edited from
    author: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    note: Mapped[str] = mapped_column(String(255), nullable=False, default="")


class KbSeedFile(Base):
    """A seed file's text before its first entry (its header comments)."""

    __tablename__ = "kb_seed_files"

    file: Mapped[str] = mapped_column(String(128), primary_key=True)
    header: Mapped[str] = mapped_column(Text, nullable=False, default="")
