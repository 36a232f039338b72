"""SMS: the sending queue (when a text went, when a held one may go); the survey by text;
a taxpayer's registered mobile number; subscriptions and bulk reminder jobs

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sms_messages", sa.Column("sent_at", sa.DateTime(timezone=True),
                                            nullable=True))
    op.add_column("sms_messages", sa.Column("send_after", sa.DateTime(timezone=True),
                                            nullable=True))
    op.create_index("ix_sms_messages_sent_at", "sms_messages", ["sent_at"])
    op.create_index("ix_sms_messages_status_send_after", "sms_messages",
                    ["status", "send_after"])
    # texts sent before the queue: they went when they were recorded
    op.execute("UPDATE sms_messages SET sent_at = at WHERE direction = 'mt'")
    op.create_table(
        "sms_surveys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("contact_id", sa.Integer, sa.ForeignKey("contacts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.Integer,
                  sa.ForeignKey("sms_messages.id", ondelete="SET NULL"), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("score", sa.Integer, nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("contact_id", name="uq_sms_surveys_contact_id"),
    )
    op.create_index("ix_sms_surveys_number_id", "sms_surveys", ["number", "id"])
    op.add_column("taxpayers", sa.Column("mobile", sa.String(32), nullable=True))
    op.create_table(
        "sms_subscriptions",
        sa.Column("number", sa.String(32), primary_key=True),
        sa.Column("topic", sa.String(32), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "sms_reminder_jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "sms_reminder_recipients",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer,
                  sa.ForeignKey("sms_reminder_jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message_id", sa.Integer,
                  sa.ForeignKey("sms_messages.id", ondelete="SET NULL"), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("job_id", "number", name="uq_sms_reminder_recipient"),
    )
    op.create_index("ix_sms_reminder_recipients_job_status", "sms_reminder_recipients",
                    ["job_id", "status", "id"])


def downgrade() -> None:
    op.drop_index("ix_sms_reminder_recipients_job_status",
                  table_name="sms_reminder_recipients")
    op.drop_table("sms_reminder_recipients")
    op.drop_table("sms_reminder_jobs")
    op.drop_table("sms_subscriptions")
    op.drop_column("taxpayers", "mobile")
    op.drop_index("ix_sms_surveys_number_id", table_name="sms_surveys")
    op.drop_table("sms_surveys")
    op.drop_index("ix_sms_messages_status_send_after", table_name="sms_messages")
    op.drop_index("ix_sms_messages_sent_at", table_name="sms_messages")
    op.drop_column("sms_messages", "send_after")
    op.drop_column("sms_messages", "sent_at")
