"""Online consultation: SMS verification codes (hashed), page sessions, replies

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consult_codes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("code_hash", sa.String(96), nullable=False),
        sa.Column("address", sa.String(64), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.Integer,
                  sa.ForeignKey("sms_messages.id", ondelete="SET NULL"), nullable=True),
    )
    op.create_index("ix_consult_codes_number_id", "consult_codes", ["number", "id"])
    op.create_index("ix_consult_codes_address_created", "consult_codes",
                    ["address", "created_at"])
    op.create_index("ix_consult_codes_created_at", "consult_codes", ["created_at"])
    op.create_table(
        "consult_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_consult_sessions_number", "consult_sessions", ["number"])
    op.create_index("ix_consult_sessions_expires_at", "consult_sessions", ["expires_at"])
    op.create_table(
        "consult_replies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("message_id", sa.Integer,
                  sa.ForeignKey("sms_messages.id", ondelete="SET NULL"), nullable=True),
    )
    op.create_index("ix_consult_replies_ticket_id", "consult_replies", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("consult_replies")
    op.drop_table("consult_sessions")
    op.drop_table("consult_codes")
