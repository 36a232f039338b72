"""IVR self-services: invoices, taxpayers and filings, halls/slots/bookings, tickets with their
status history, callback requests; contacts.survey_score

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 18:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("seller_tin", sa.String(20), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code", "number", name="uq_invoices_code_number"),
    )
    op.create_table(
        "taxpayers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tin", sa.String(20), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("pin_hash", sa.String(255), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tin"),
    )
    op.create_table(
        "tax_filings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("taxpayer_id", sa.Integer(), nullable=False),
        sa.Column("tax", sa.String(16), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("filed", sa.Boolean(), nullable=False),
        sa.Column("unpaid_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["taxpayer_id"], ["taxpayers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("taxpayer_id", "tax", "period",
                            name="uq_tax_filings_taxpayer_tax_period"),
    )
    op.create_index("ix_tax_filings_taxpayer_id", "tax_filings", ["taxpayer_id"])
    op.create_table(
        "service_halls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("address", sa.String(256), nullable=False),
        sa.Column("prompt", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "booking_slots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hall_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", TZ, nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["hall_id"], ["service_halls.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hall_id", "starts_at", name="uq_booking_slots_hall_start"),
    )
    op.create_index("ix_booking_slots_hall_id", "booking_slots", ["hall_id"])
    op.create_index("ix_booking_slots_starts_at", "booking_slots", ["starts_at"])
    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("confirmation_no", sa.String(16), nullable=False),
        sa.Column("slot_id", sa.Integer(), nullable=False),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(["slot_id"], ["booking_slots.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("confirmation_no"),
    )
    op.create_index("ix_bookings_slot_id", "bookings", ["slot_id"])
    op.create_index("ix_bookings_linkedid", "bookings", ["linkedid"])
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_no", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("recording_path", sa.String(512), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("due_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_no"),
    )
    for column in ("kind", "status", "linkedid", "owner", "created_at", "due_at"):
        op.create_index(f"ix_tickets_{column}", "tickets", [column])
    op.create_table(
        "ticket_status_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ticket_status_changes_ticket_id", "ticket_status_changes", ["ticket_id"])
    op.create_table(
        "callback_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("due_at", TZ, nullable=False),
        sa.Column("done_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("linkedid", "status", "due_at"):
        op.create_index(f"ix_callback_requests_{column}", "callback_requests", [column])
    with op.batch_alter_table("contacts") as batch_op:
        batch_op.add_column(sa.Column("survey_score", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch_op:
        batch_op.drop_column("survey_score")
    for table in ("callback_requests", "ticket_status_changes", "tickets", "bookings",
                  "booking_slots", "service_halls", "tax_filings", "taxpayers", "invoices"):
        op.drop_table(table)
