"""Recordings: one row per recorded agent call or voice message; queues get a record switch

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ADD COLUMN is native on SQLite and PostgreSQL: no batch table copy
    op.add_column("cc_queues", sa.Column("record", sa.Boolean, nullable=False,
                                         server_default=sa.true()))
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("path", sa.String(255), nullable=False),
        sa.Column("queue", sa.String(32), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("path", name="uq_recordings_path"),
    )
    op.create_index("ix_recordings_linkedid", "recordings", ["linkedid"])
    op.create_index("ix_recordings_started_at", "recordings", ["started_at"])


def downgrade() -> None:
    op.drop_table("recordings")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE cc_queues DROP COLUMN record")  # SQLite 3.35+
    else:
        op.drop_column("cc_queues", "record")
