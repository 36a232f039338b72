"""baseline: contacts and their timeline

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-28 18:27:44.218741
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('contacts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('linkedid', sa.String(length=64), nullable=False),
    sa.Column('caller_number', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=128), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('queue', sa.String(length=64), nullable=True),
    sa.Column('agent', sa.String(length=128), nullable=True),
    sa.Column('queue_joined_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('agent_connected_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ivr_seconds', sa.Float(), nullable=True),
    sa.Column('queue_wait_seconds', sa.Float(), nullable=True),
    sa.Column('talk_seconds', sa.Float(), nullable=True),
    sa.Column('self_served', sa.Boolean(), nullable=False),
    sa.Column('explicit_outcome', sa.String(length=32), nullable=True),
    sa.Column('last_node', sa.String(length=64), nullable=True),
    sa.Column('ivr_end_reason', sa.String(length=64), nullable=True),
    sa.Column('hangup_cause', sa.Integer(), nullable=True),
    sa.Column('hangup_cause_txt', sa.String(length=128), nullable=True),
    sa.Column('reconciled', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('linkedid')
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contacts_agent'), ['agent'], unique=False)
        batch_op.create_index(batch_op.f('ix_contacts_outcome'), ['outcome'], unique=False)
        batch_op.create_index(batch_op.f('ix_contacts_queue'), ['queue'], unique=False)
        batch_op.create_index(batch_op.f('ix_contacts_started_at'), ['started_at'], unique=False)

    op.create_table('contact_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('contact_events', schema=None) as batch_op:
        batch_op.create_index('ix_contact_events_contact_id_id', ['contact_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_events_kind'), ['kind'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('contact_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_events_kind'))
        batch_op.drop_index('ix_contact_events_contact_id_id')

    op.drop_table('contact_events')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contacts_started_at'))
        batch_op.drop_index(batch_op.f('ix_contacts_queue'))
        batch_op.drop_index(batch_op.f('ix_contacts_outcome'))
        batch_op.drop_index(batch_op.f('ix_contacts_agent'))

    op.drop_table('contacts')

