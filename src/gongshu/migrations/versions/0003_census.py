"""Census (Art. 9): campaigns, responses of public bodies, information systems, reminders.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import gongshu.core.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('census',
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('bureau_org_id', sa.Uuid(), nullable=False),
    sa.Column('bureau_path', sa.String(length=1024), nullable=False),
    sa.Column('area_path', sa.String(length=1024), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('closed_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bureau_org_id'], ['organization.id'], name=op.f('fk_census_bureau_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_census'))
    )
    with op.batch_alter_table('census', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_census_bureau_org_id'), ['bureau_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_census_status'), ['status'], unique=False)

    op.create_table('census_response',
    sa.Column('census_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('org_path', sa.String(length=1024), nullable=False),
    sa.Column('org_name', sa.String(length=200), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('catalog_confirmed', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('updated_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('submitted_by', sa.String(length=64), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['census_id'], ['census.id'], name=op.f('fk_census_response_census_id_census'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_census_response_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_census_response')),
    sa.UniqueConstraint('census_id', 'org_id', name=op.f('uq_census_response_census_id_org_id'))
    )
    with op.batch_alter_table('census_response', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_census_response_census_id'), ['census_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_census_response_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_census_response_org_path'), ['org_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_census_response_status'), ['status'], unique=False)

    op.create_table('census_info_system',
    sa.Column('response_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('on_government_cloud', sa.Boolean(), nullable=False),
    sa.Column('classified', sa.Boolean(), nullable=False),
    sa.Column('entry_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['response_id'], ['census_response.id'], name=op.f('fk_census_info_system_response_id_census_response'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_census_info_system'))
    )
    with op.batch_alter_table('census_info_system', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_census_info_system_response_id'), ['response_id'], unique=False)

    op.create_table('census_reminder',
    sa.Column('response_id', sa.Uuid(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('sent_by', sa.String(length=64), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['response_id'], ['census_response.id'], name=op.f('fk_census_reminder_response_id_census_response'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_census_reminder'))
    )
    with op.batch_alter_table('census_reminder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_census_reminder_response_id'), ['response_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('census_reminder', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_census_reminder_response_id'))

    op.drop_table('census_reminder')

    with op.batch_alter_table('census_info_system', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_census_info_system_response_id'))

    op.drop_table('census_info_system')

    with op.batch_alter_table('census_response', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_census_response_status'))
        batch_op.drop_index(batch_op.f('ix_census_response_org_path'))
        batch_op.drop_index(batch_op.f('ix_census_response_org_id'))
        batch_op.drop_index(batch_op.f('ix_census_response_census_id'))

    op.drop_table('census_response')

    with op.batch_alter_table('census', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_census_status'))
        batch_op.drop_index(batch_op.f('ix_census_bureau_org_id'))

    op.drop_table('census')
