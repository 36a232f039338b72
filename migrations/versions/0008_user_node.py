"""Users: the Asterisk node an agent's phone is registered to (process roles, deployment.md)

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL: the default node (HOTLINE_NODE), so a single-node centre sets nothing
    op.add_column("users", sa.Column("node", sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "node")
