"""Notices to staff by text: users.mobile, staff_notices and their recipients

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("mobile", sa.String(20), nullable=True))
    op.create_table(
        "staff_notices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_by", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("audience", sa.String(16), nullable=False),
        sa.Column("queue", sa.String(32), nullable=True),
    )
    op.create_index("ix_staff_notices_created_at", "staff_notices", ["created_at"])
    op.create_table(
        "staff_notice_recipients",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("notice_id", sa.Integer,
                  sa.ForeignKey("staff_notices.id", ondelete="CASCADE"), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("number", sa.String(32), nullable=True),
        sa.Column("message_id", sa.Integer,
                  sa.ForeignKey("sms_messages.id", ondelete="SET NULL"), nullable=True),
    )
    op.create_index("ix_staff_notice_recipients_notice_id", "staff_notice_recipients",
                    ["notice_id"])


def downgrade() -> None:
    op.drop_index("ix_staff_notice_recipients_notice_id", "staff_notice_recipients")
    op.drop_table("staff_notice_recipients")
    op.drop_index("ix_staff_notices_created_at", "staff_notices")
    op.drop_table("staff_notices")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("mobile")
