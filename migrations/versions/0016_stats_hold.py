"""statistics count hold time: every rollup table gets ``hold_sum``

The seconds callers spent on hold (the ``call_resumed`` events' ``held_seconds``), per contact in
the contact rollups and per queue and agent in the queue rollups. The rollups are derived data:
the rollup state is cleared, so the next report rebuilds them from the contact log with the
hold time of the calls already held.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("stats_contacts_15m", "stats_contacts_1d", "stats_queues_15m", "stats_queues_1d")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("hold_sum", sa.Float(), nullable=False,
                                       server_default="0"))
    op.execute("DELETE FROM stats_rollup_state")  # rebuilt by the next report


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("hold_sum")
    op.execute("DELETE FROM stats_rollup_state")
