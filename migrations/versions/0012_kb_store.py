"""Knowledge operations: the FAQ base in the database (live entries, published versions,
drafts, seed files' headers); seeded from the repository YAML on first start

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kb_entries",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("file", sa.String(128), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("retired", sa.Boolean, nullable=False),
        sa.Column("seed_fields", sa.JSON, nullable=True),
        sa.Column("seed_text", sa.Text, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "kb_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("retired", sa.Boolean, nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("published_by", sa.String(64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(255), nullable=False),
        sa.UniqueConstraint("entry_id", "version", name="uq_kb_versions_entry"),
    )
    op.create_table(
        "kb_drafts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("file", sa.String(128), nullable=False),
        sa.Column("base_version", sa.Integer, nullable=True),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(255), nullable=False),
    )
    op.create_index("ix_kb_drafts_status", "kb_drafts", ["status"])
    op.create_table(
        "kb_seed_files",
        sa.Column("file", sa.String(128), primary_key=True),
        sa.Column("header", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("kb_seed_files")
    op.drop_index("ix_kb_drafts_status", table_name="kb_drafts")
    op.drop_table("kb_drafts")
    op.drop_table("kb_versions")
    op.drop_table("kb_entries")
