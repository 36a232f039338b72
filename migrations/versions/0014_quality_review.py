"""Quality review: review forms (one row per version) and the reviews scored on them

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# the form every hotline starts with (the admin changes it in the console: a new version)
STANDARD_CRITERIA = [
    {"key": "greeting", "title": "开场问候", "max_score": 10, "weight": 15},
    {"key": "accuracy", "title": "政策解答准确性", "max_score": 10, "weight": 40},
    {"key": "attitude", "title": "服务态度", "max_score": 10, "weight": 30},
    {"key": "closing", "title": "结束语", "max_score": 10, "weight": 15},
]


def upgrade() -> None:
    forms = op.create_table(
        "qa_forms",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("title", sa.String(64), nullable=False),
        sa.Column("criteria", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_qa_forms_name_version"),
    )
    op.bulk_insert(forms, [{
        "name": "standard", "version": 1, "title": "通话质检标准评分表",
        "criteria": STANDARD_CRITERIA, "created_by": "system",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC)}])
    op.create_table(
        "qa_reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("form_id", sa.Integer, sa.ForeignKey("qa_forms.id"), nullable=False),
        sa.Column("contact_id", sa.Integer, sa.ForeignKey("contacts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("total", sa.Float, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("call_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("contact_id", "agent", "reviewer",
                            name="uq_qa_reviews_leg_reviewer"),
    )
    op.create_index("ix_qa_reviews_agent_call_at", "qa_reviews", ["agent", "call_at"])
    op.create_index("ix_qa_reviews_call_at", "qa_reviews", ["call_at"])


def downgrade() -> None:
    op.drop_table("qa_reviews")
    op.drop_table("qa_forms")
