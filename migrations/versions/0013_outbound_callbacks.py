"""Outbound callbacks: contacts get a direction; callback requests the dialler's fields

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CALLBACK_COLUMNS = ("queue", "attempts", "claimed_by", "claimed_at", "offered_to",
                    "decision", "result", "attempt_linkedid")


def upgrade() -> None:
    # every contact before this one was a call (or a text) that came in
    op.add_column("contacts", sa.Column("direction", sa.String(8), nullable=False,
                                        server_default="inbound"))
    op.create_index("ix_contacts_direction", "contacts", ["direction"])
    # the queue whose agents call back (NULL: any agent), attempts made, the claim of the
    # dialler that offers or dials it (callcenter/outbound), the agent's decision, the result
    op.add_column("callback_requests", sa.Column("queue", sa.String(64), nullable=True))
    op.add_column("callback_requests", sa.Column("attempts", sa.Integer, nullable=False,
                                                 server_default="0"))
    op.add_column("callback_requests", sa.Column("claimed_by", sa.String(64), nullable=True))
    op.add_column("callback_requests", sa.Column("claimed_at", sa.DateTime(timezone=True),
                                                 nullable=True))
    op.add_column("callback_requests", sa.Column("offered_to", sa.String(64), nullable=True))
    op.add_column("callback_requests", sa.Column("decision", sa.String(8), nullable=True))
    op.add_column("callback_requests", sa.Column("result", sa.String(16), nullable=True))
    op.add_column("callback_requests", sa.Column("attempt_linkedid", sa.String(64),
                                                 nullable=True))


def downgrade() -> None:
    op.drop_index("ix_contacts_direction", table_name="contacts")
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column in [("contacts", "direction"),
                          *(("callback_requests", c) for c in CALLBACK_COLUMNS)]:
        if sqlite:
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")  # SQLite 3.35+
        else:
            op.drop_column(table, column)
