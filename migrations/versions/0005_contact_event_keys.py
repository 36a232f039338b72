"""contact events: an idempotence key (a replayed or re-derived event is applied once)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contact_events") as batch:
        batch.add_column(sa.Column("event_key", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_contact_events_event_key", ["event_key"])


def downgrade() -> None:
    with op.batch_alter_table("contact_events") as batch:
        batch.drop_constraint("uq_contact_events_event_key", type_="unique")
        batch.drop_column("event_key")
