"""statistics: 15-minute rollups, dirty buckets, report indexes

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sums() -> list[sa.Column[Any]]:
    return [
        sa.Column("offered", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("abandoned", sa.Integer(), nullable=False),
        sa.Column("short_abandoned", sa.Integer(), nullable=False),
        sa.Column("answered_in_sl", sa.Integer(), nullable=False),
        sa.Column("wait_answered_sum", sa.Float(), nullable=False),
        sa.Column("wait_abandoned_sum", sa.Float(), nullable=False),
        sa.Column("max_wait", sa.Float(), nullable=False),
        sa.Column("talk_sum", sa.Float(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "stats_contacts_15m",
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.Column("ivr_sum", sa.Float(), nullable=False),
        sa.Column("survey_offered", sa.Integer(), nullable=False),
        sa.Column("surveyed", sa.Integer(), nullable=False),
        sa.Column("satisfied", sa.Integer(), nullable=False),
        *_sums(),
        sa.PrimaryKeyConstraint("bucket", "outcome"),
    )
    op.create_table(
        "stats_queues_15m",
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("agent", sa.String(128), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        *_sums(),
        sa.PrimaryKeyConstraint("bucket", "queue", "agent"),
    )
    op.create_table(
        "stats_contacts_1d",
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.Column("ivr_sum", sa.Float(), nullable=False),
        sa.Column("survey_offered", sa.Integer(), nullable=False),
        sa.Column("surveyed", sa.Integer(), nullable=False),
        sa.Column("satisfied", sa.Integer(), nullable=False),
        *_sums(),
        sa.PrimaryKeyConstraint("day", "outcome"),
    )
    op.create_table(
        "stats_queues_1d",
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("agent", sa.String(128), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        *_sums(),
        sa.PrimaryKeyConstraint("day", "queue", "agent"),
    )
    op.create_table(
        "stats_dirty_buckets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "stats_rollup_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("params", sa.String(255), nullable=False),
        sa.Column("rebuilt_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    # the live wallboard reads open contacts; refresh and reports read by start time
    op.create_index("ix_stats_contacts_open", "contacts", ["ended_at", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_stats_contacts_open", table_name="contacts")
    op.drop_table("stats_rollup_state")
    op.drop_table("stats_dirty_buckets")
    op.drop_table("stats_queues_1d")
    op.drop_table("stats_contacts_1d")
    op.drop_table("stats_queues_15m")
    op.drop_table("stats_contacts_15m")
