"""statistics by channel: the contact rollups get a medium (phone | sms | web)

The rollups are derived data: the two tables are made again with ``medium`` in their key and
the rollup state is cleared, so the next report rebuilds them from the contact log.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _contact_table(name: str, key: str, with_medium: bool) -> None:
    columns: list[Any] = [
        sa.Column(key, sa.BigInteger(), nullable=False),
        *([sa.Column("medium", sa.String(8), nullable=False)] if with_medium else []),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.Column("ivr_sum", sa.Float(), nullable=False),
        sa.Column("survey_offered", sa.Integer(), nullable=False),
        sa.Column("surveyed", sa.Integer(), nullable=False),
        sa.Column("satisfied", sa.Integer(), nullable=False),
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
    keys = [key, "medium", "outcome"] if with_medium else [key, "outcome"]
    op.drop_table(name)
    op.create_table(name, *columns, sa.PrimaryKeyConstraint(*keys))
    op.execute("DELETE FROM stats_rollup_state")  # rebuilt by the next report


def upgrade() -> None:
    _contact_table("stats_contacts_15m", "bucket", True)
    _contact_table("stats_contacts_1d", "day", True)


def downgrade() -> None:
    _contact_table("stats_contacts_15m", "bucket", False)
    _contact_table("stats_contacts_1d", "day", False)
