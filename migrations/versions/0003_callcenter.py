"""call center: users, sessions, audit log, agents, queues, notes and dispositions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 18:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("interface", sa.String(128), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_auth_sessions_user_id", "auth_sessions", ["user_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])
    op.create_table(
        "skills",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("title", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "cc_queues",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("title", sa.String(64), nullable=False),
        sa.Column("skill", sa.String(32), nullable=False),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("ring_timeout_s", sa.Integer(), nullable=False),
        sa.Column("overflow_to", sa.String(32), nullable=True),
        sa.Column("overflow_after_s", sa.Integer(), nullable=False),
        sa.Column("announce_position", sa.Boolean(), nullable=False),
        sa.Column("announce_frequency_s", sa.Integer(), nullable=False),
        sa.Column("callback_offer_after_s", sa.Integer(), nullable=False),
        sa.Column("expert", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "agent_skills",
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("skill", sa.String(32), nullable=False),
        sa.Column("penalty", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("username", "skill"),
    )
    for name in ("pause_reasons", "dispositions"):
        op.create_table(
            name,
            sa.Column("code", sa.String(32), nullable=False),
            sa.Column("title", sa.String(64), nullable=False),
            sa.Column("active", sa.Boolean(), nullable=False),
            sa.PrimaryKeyConstraint("code"),
        )
    op.create_table(
        "agent_states",
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("since", TZ, nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "agent_state_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=True),
        sa.Column("by", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_agent_state_log_username", "agent_state_log", ["username"])
    op.create_index("ix_agent_state_log_at", "agent_state_log", ["at"])
    op.create_table(
        "call_notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("disposition", sa.String(32), nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("linkedid", "username"),
    )
    op.create_index("ix_call_notes_linkedid", "call_notes", ["linkedid"])
    _seed()


def _seed() -> None:
    """The hotline's starting configuration (admins change it in the console)."""
    skills = sa.table("skills", sa.column("name"), sa.column("title"))
    op.bulk_insert(skills, [
        {"name": "general", "title": "综合咨询"}, {"name": "vat", "title": "增值税"},
        {"name": "iit", "title": "个人所得税"}, {"name": "invoice", "title": "发票"},
        {"name": "social", "title": "社保费"}, {"name": "expert", "title": "专家坐席"},
        {"name": "director", "title": "局长热线"},
    ])
    queues = sa.table("cc_queues", *(sa.column(c) for c in (
        "name", "title", "skill", "strategy", "ring_timeout_s", "overflow_to",
        "overflow_after_s", "announce_position", "announce_frequency_s",
        "callback_offer_after_s", "expert", "active")))
    base = {"strategy": "rrmemory", "ring_timeout_s": 15, "announce_position": True,
            "announce_frequency_s": 30, "callback_offer_after_s": 120, "expert": False,
            "active": True, "overflow_after_s": 90}
    op.bulk_insert(queues, [
        {**base, "name": "consult", "title": "综合咨询", "skill": "general",
         "overflow_to": None},
        # the IVR's category queues (ivr/menus/12366.yaml) overflow to general consultation
        {**base, "name": "tax-vat", "title": "增值税", "skill": "vat",
         "overflow_to": "consult"},
        {**base, "name": "tax-iit", "title": "个人所得税", "skill": "iit",
         "overflow_to": "consult"},
        {**base, "name": "tax-invoice", "title": "发票", "skill": "invoice",
         "overflow_to": "consult"},
        {**base, "name": "tax-ssc", "title": "社保费", "skill": "social",
         "overflow_to": "consult"},
        {**base, "name": "director", "title": "局长热线", "skill": "director",
         "overflow_to": None},
        {**base, "name": "experts", "title": "专家坐席", "skill": "expert", "strategy": "ringall",
         "expert": True, "overflow_to": None},
    ])
    codes = [("pause_reasons", [("break", "小休"), ("meeting", "会议"), ("training", "培训"),
                                ("meal", "用餐")]),
             ("dispositions", [("answered", "已解答"), ("transferred", "已转接"),
                               ("ticket", "已建工单"), ("callback", "需回电"),
                               ("complaint", "投诉"), ("invalid", "无效来电")])]
    for name, rows in codes:
        table = sa.table(name, sa.column("code"), sa.column("title"), sa.column("active"))
        op.bulk_insert(table, [{"code": c, "title": t, "active": True} for c, t in rows])


def downgrade() -> None:
    op.drop_index("ix_call_notes_linkedid", "call_notes")
    op.drop_table("call_notes")
    op.drop_index("ix_agent_state_log_at", "agent_state_log")
    op.drop_index("ix_agent_state_log_username", "agent_state_log")
    for name in ("agent_state_log", "agent_states", "dispositions", "pause_reasons",
                 "agent_skills", "cc_queues", "skills"):
        op.drop_table(name)
    op.drop_index("ix_audit_log_action", "audit_log")
    op.drop_index("ix_audit_log_at", "audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_auth_sessions_user_id", "auth_sessions")
    op.drop_table("auth_sessions")
    op.drop_table("users")
