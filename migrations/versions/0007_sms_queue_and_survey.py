"""SMS: the sending queue (when a text went, when a held one may go)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sms_messages", sa.Column("sent_at", sa.DateTime(timezone=True),
                                            nullable=True))
    op.add_column("sms_messages", sa.Column("send_after", sa.DateTime(timezone=True),
                                            nullable=True))
    op.create_index("ix_sms_messages_sent_at", "sms_messages", ["sent_at"])
    # texts sent before the queue: they went when they were recorded
    op.execute("UPDATE sms_messages SET sent_at = at WHERE direction = 'mt'")


def downgrade() -> None:
    op.drop_index("ix_sms_messages_sent_at", table_name="sms_messages")
    op.drop_column("sms_messages", "send_after")
    op.drop_column("sms_messages", "sent_at")
