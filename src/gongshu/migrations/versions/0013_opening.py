"""Opening (Art. 13): portal developers, their API keys and rate windows, conditional-opening
applications and their steps, usage per dataset and day.

Revision ID: 0013
Revises: 0010 (sharing: conditional opening ends in a share grant of kind "opening")
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import gongshu.core.db

revision = "0013"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('opening_developer',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('organisation', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opening_developer')),
    sa.UniqueConstraint('email', name=op.f('uq_opening_developer_email'))
    )
    op.create_table('opening_rate_window',
    sa.Column('key_id', sa.Uuid(), nullable=False),
    sa.Column('window', sa.BigInteger(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key_id', 'window', name=op.f('pk_opening_rate_window'))
    )
    op.create_table('opening_api_key',
    sa.Column('developer_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('revoked_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['developer_id'], ['opening_developer.id'], name=op.f('fk_opening_api_key_developer_id_opening_developer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opening_api_key')),
    sa.UniqueConstraint('prefix', name=op.f('uq_opening_api_key_prefix'))
    )
    with op.batch_alter_table('opening_api_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opening_api_key_developer_id'), ['developer_id'], unique=False)

    op.create_table('opening_application',
    sa.Column('developer_id', sa.Uuid(), nullable=False),
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('resource_code', sa.String(length=32), nullable=False),
    sa.Column('entry_name', sa.String(length=200), nullable=False),
    sa.Column('provider_org_id', sa.Uuid(), nullable=False),
    sa.Column('provider_path', sa.String(length=1024), nullable=False),
    sa.Column('bureau_path', sa.String(length=1024), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('safeguards', sa.Text(), nullable=False),
    sa.Column('items', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('grant_id', sa.Uuid(), nullable=True),
    sa.Column('agreement', sa.Text(), nullable=False),
    sa.Column('decided_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['developer_id'], ['opening_developer.id'], name=op.f('fk_opening_application_developer_id_opening_developer')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_opening_application_entry_id_catalog_entry')),
    sa.ForeignKeyConstraint(['provider_org_id'], ['organization.id'], name=op.f('fk_opening_application_provider_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opening_application'))
    )
    with op.batch_alter_table('opening_application', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opening_application_bureau_path'), ['bureau_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_opening_application_developer_id'), ['developer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_opening_application_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_opening_application_provider_org_id'), ['provider_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_opening_application_provider_path'), ['provider_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_opening_application_status'), ['status'], unique=False)

    op.create_table('opening_usage_day',
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_opening_usage_day_entry_id_catalog_entry')),
    sa.PrimaryKeyConstraint('entry_id', 'day', 'channel', name=op.f('pk_opening_usage_day'))
    )
    op.create_table('opening_application_step',
    sa.Column('application_id', sa.Uuid(), nullable=False),
    sa.Column('step', sa.String(length=16), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=False),
    sa.Column('decided_by_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['opening_application.id'], name=op.f('fk_opening_application_step_application_id_opening_application')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opening_application_step')),
    sa.UniqueConstraint('application_id', 'step', name=op.f('uq_opening_application_step_application_id_step'))
    )
    with op.batch_alter_table('opening_application_step', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opening_application_step_application_id'), ['application_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('opening_application_step', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opening_application_step_application_id'))

    op.drop_table('opening_application_step')
    op.drop_table('opening_usage_day')
    with op.batch_alter_table('opening_application', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opening_application_status'))
        batch_op.drop_index(batch_op.f('ix_opening_application_provider_path'))
        batch_op.drop_index(batch_op.f('ix_opening_application_provider_org_id'))
        batch_op.drop_index(batch_op.f('ix_opening_application_entry_id'))
        batch_op.drop_index(batch_op.f('ix_opening_application_developer_id'))
        batch_op.drop_index(batch_op.f('ix_opening_application_bureau_path'))

    op.drop_table('opening_application')
    with op.batch_alter_table('opening_api_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opening_api_key_developer_id'))

    op.drop_table('opening_api_key')
    op.drop_table('opening_rate_window')
    op.drop_table('opening_developer')
