"""SMS: texts in and out, their delivery reports, opt-outs; contacts get a medium

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # no batch (table copy) on contacts: on SQLite dropping the old table would cascade to
    # contact_events; ADD COLUMN and DROP COLUMN are native there
    op.add_column("contacts", sa.Column("medium", sa.String(8), nullable=False,
                                        server_default="phone"))
    op.create_index("ix_contacts_medium", "contacts", ["medium"])
    op.create_table(
        "sms_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("direction", sa.String(2), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("service_number", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("segments", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("intent", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offer", sa.String(256), nullable=True),
    )
    op.create_index("ix_sms_messages_at", "sms_messages", ["at"])
    op.create_index("ix_sms_messages_linkedid", "sms_messages", ["linkedid"])
    op.create_index("ix_sms_messages_number_id", "sms_messages", ["number", "id"])
    op.create_table(
        "sms_delivery_reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.Integer,
                  sa.ForeignKey("sms_messages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("dlr_type", sa.Integer, nullable=False),
        sa.Column("smsc_reply", sa.String(256), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sms_delivery_reports_message_id", "sms_delivery_reports",
                    ["message_id"])
    op.create_table(
        "sms_opt_outs",
        sa.Column("number", sa.String(32), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.String(160), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sms_opt_outs")
    op.drop_table("sms_delivery_reports")
    op.drop_table("sms_messages")
    op.drop_index("ix_contacts_medium", table_name="contacts")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE contacts DROP COLUMN medium")  # SQLite 3.35+
    else:
        op.drop_column("contacts", "medium")
