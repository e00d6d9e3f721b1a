"""Sharing (Art. 12): scenarios, share requests and their steps, grants, pulls, calendar days.

Revision ID: 0010
Revises: 0004 (catalog entries and the library)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import gongshu.core.db

revision = "0010"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('share_calendar_day',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('is_working', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_calendar_day')),
    sa.UniqueConstraint('day', name=op.f('uq_share_calendar_day_day'))
    )
    op.create_table('share_scenario',
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('org_path', sa.String(length=1024), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('legal_basis', sa.Text(), nullable=False),
    sa.Column('expected_volume', sa.String(length=200), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_share_scenario_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_scenario')),
    sa.UniqueConstraint('org_id', 'name', name=op.f('uq_share_scenario_org_id_name'))
    )
    op.create_index(op.f('ix_share_scenario_org_id'), 'share_scenario', ['org_id'], unique=False)
    op.create_index(op.f('ix_share_scenario_org_path'), 'share_scenario', ['org_path'], unique=False)
    op.create_table('share_grant',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=True),
    sa.Column('application_id', sa.Uuid(), nullable=True),
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('resource_code', sa.String(length=32), nullable=False),
    sa.Column('provider_org_id', sa.Uuid(), nullable=False),
    sa.Column('provider_path', sa.String(length=1024), nullable=False),
    sa.Column('holder_org_id', sa.Uuid(), nullable=True),
    sa.Column('holder_path', sa.String(length=1024), nullable=False),
    sa.Column('holder_user_id', sa.Uuid(), nullable=True),
    sa.Column('bureau_path', sa.String(length=1024), nullable=False),
    sa.Column('scenario_id', sa.Uuid(), nullable=True),
    sa.Column('items', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('clear_items', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('row_filter', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('starts_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('daily_row_limit', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('agreement', sa.Text(), nullable=False),
    sa.Column('revoked_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.String(length=64), nullable=False),
    sa.Column('revoke_reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('last_pulled_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_share_grant_entry_id_catalog_entry')),
    sa.ForeignKeyConstraint(['holder_org_id'], ['organization.id'], name=op.f('fk_share_grant_holder_org_id_organization')),
    sa.ForeignKeyConstraint(['provider_org_id'], ['organization.id'], name=op.f('fk_share_grant_provider_org_id_organization')),
    sa.ForeignKeyConstraint(['scenario_id'], ['share_scenario.id'], name=op.f('fk_share_grant_scenario_id_share_scenario')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_grant'))
    )
    op.create_index(op.f('ix_share_grant_application_id'), 'share_grant', ['application_id'], unique=False)
    op.create_index(op.f('ix_share_grant_entry_id'), 'share_grant', ['entry_id'], unique=False)
    op.create_index('ix_share_grant_entry_status', 'share_grant', ['entry_id', 'status'], unique=False)
    op.create_index(op.f('ix_share_grant_expires_at'), 'share_grant', ['expires_at'], unique=False)
    op.create_index(op.f('ix_share_grant_holder_org_id'), 'share_grant', ['holder_org_id'], unique=False)
    op.create_index(op.f('ix_share_grant_holder_path'), 'share_grant', ['holder_path'], unique=False)
    op.create_index(op.f('ix_share_grant_holder_user_id'), 'share_grant', ['holder_user_id'], unique=False)
    op.create_index(op.f('ix_share_grant_provider_org_id'), 'share_grant', ['provider_org_id'], unique=False)
    op.create_index(op.f('ix_share_grant_provider_path'), 'share_grant', ['provider_path'], unique=False)
    op.create_index(op.f('ix_share_grant_request_id'), 'share_grant', ['request_id'], unique=False)
    op.create_index(op.f('ix_share_grant_resource_code'), 'share_grant', ['resource_code'], unique=False)
    op.create_index(op.f('ix_share_grant_status'), 'share_grant', ['status'], unique=False)
    op.create_table('share_request',
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('requester_org_id', sa.Uuid(), nullable=False),
    sa.Column('requester_path', sa.String(length=1024), nullable=False),
    sa.Column('bureau_path', sa.String(length=1024), nullable=False),
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('resource_code', sa.String(length=32), nullable=False),
    sa.Column('provider_org_id', sa.Uuid(), nullable=False),
    sa.Column('provider_path', sa.String(length=1024), nullable=False),
    sa.Column('share_type', sa.String(length=16), nullable=False),
    sa.Column('items', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('scenario_id', sa.Uuid(), nullable=False),
    sa.Column('contact_name', sa.String(length=64), nullable=False),
    sa.Column('contact_phone', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('step_due_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('step_started_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('escalated_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('escalated_to_path', sa.String(length=1024), nullable=False),
    sa.Column('decided_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('refusal_reason', sa.Text(), nullable=False),
    sa.Column('grant_id', sa.Uuid(), nullable=True),
    sa.Column('submitted_by', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_share_request_entry_id_catalog_entry')),
    sa.ForeignKeyConstraint(['provider_org_id'], ['organization.id'], name=op.f('fk_share_request_provider_org_id_organization')),
    sa.ForeignKeyConstraint(['requester_org_id'], ['organization.id'], name=op.f('fk_share_request_requester_org_id_organization')),
    sa.ForeignKeyConstraint(['scenario_id'], ['share_scenario.id'], name=op.f('fk_share_request_scenario_id_share_scenario')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_request')),
    sa.UniqueConstraint('number', name=op.f('uq_share_request_number'))
    )
    op.create_index(op.f('ix_share_request_bureau_path'), 'share_request', ['bureau_path'], unique=False)
    op.create_index(op.f('ix_share_request_entry_id'), 'share_request', ['entry_id'], unique=False)
    op.create_index(op.f('ix_share_request_escalated_to_path'), 'share_request', ['escalated_to_path'], unique=False)
    op.create_index(op.f('ix_share_request_provider_org_id'), 'share_request', ['provider_org_id'], unique=False)
    op.create_index(op.f('ix_share_request_provider_path'), 'share_request', ['provider_path'], unique=False)
    op.create_index(op.f('ix_share_request_requester_org_id'), 'share_request', ['requester_org_id'], unique=False)
    op.create_index(op.f('ix_share_request_requester_path'), 'share_request', ['requester_path'], unique=False)
    op.create_index(op.f('ix_share_request_resource_code'), 'share_request', ['resource_code'], unique=False)
    op.create_index(op.f('ix_share_request_scenario_id'), 'share_request', ['scenario_id'], unique=False)
    op.create_index(op.f('ix_share_request_status'), 'share_request', ['status'], unique=False)
    op.create_index(op.f('ix_share_request_step_due_at'), 'share_request', ['step_due_at'], unique=False)
    op.create_index(op.f('ix_share_request_updated_at'), 'share_request', ['updated_at'], unique=False)
    op.create_table('share_grant_pull',
    sa.Column('grant_id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('bytes', sa.BigInteger(), nullable=False),
    sa.Column('format', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('via', sa.String(length=16), nullable=False),
    sa.Column('holder_org_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['grant_id'], ['share_grant.id'], name=op.f('fk_share_grant_pull_grant_id_share_grant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_grant_pull'))
    )
    op.create_index('ix_share_grant_pull_grant_day', 'share_grant_pull', ['grant_id', 'day'], unique=False)
    op.create_index(op.f('ix_share_grant_pull_holder_org_id'), 'share_grant_pull', ['holder_org_id'], unique=False)
    op.create_table('share_request_step',
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('org_path', sa.String(length=1024), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('due_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['share_request.id'], name=op.f('fk_share_request_step_request_id_share_request')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_request_step')),
    sa.UniqueConstraint('request_id', 'seq', name=op.f('uq_share_request_step_request_id_seq'))
    )
    op.create_index(op.f('ix_share_request_step_request_id'), 'share_request_step', ['request_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_share_request_step_request_id'), table_name='share_request_step')
    op.drop_table('share_request_step')
    op.drop_index(op.f('ix_share_grant_pull_holder_org_id'), table_name='share_grant_pull')
    op.drop_index('ix_share_grant_pull_grant_day', table_name='share_grant_pull')
    op.drop_table('share_grant_pull')
    op.drop_index(op.f('ix_share_request_updated_at'), table_name='share_request')
    op.drop_index(op.f('ix_share_request_step_due_at'), table_name='share_request')
    op.drop_index(op.f('ix_share_request_status'), table_name='share_request')
    op.drop_index(op.f('ix_share_request_scenario_id'), table_name='share_request')
    op.drop_index(op.f('ix_share_request_resource_code'), table_name='share_request')
    op.drop_index(op.f('ix_share_request_requester_path'), table_name='share_request')
    op.drop_index(op.f('ix_share_request_requester_org_id'), table_name='share_request')
    op.drop_index(op.f('ix_share_request_provider_path'), table_name='share_request')
    op.drop_index(op.f('ix_share_request_provider_org_id'), table_name='share_request')
    op.drop_index(op.f('ix_share_request_entry_id'), table_name='share_request')
    op.drop_index(op.f('ix_share_request_escalated_to_path'), table_name='share_request')
    op.drop_index(op.f('ix_share_request_bureau_path'), table_name='share_request')
    op.drop_table('share_request')
    op.drop_index(op.f('ix_share_grant_status'), table_name='share_grant')
    op.drop_index(op.f('ix_share_grant_resource_code'), table_name='share_grant')
    op.drop_index(op.f('ix_share_grant_request_id'), table_name='share_grant')
    op.drop_index(op.f('ix_share_grant_provider_path'), table_name='share_grant')
    op.drop_index(op.f('ix_share_grant_provider_org_id'), table_name='share_grant')
    op.drop_index(op.f('ix_share_grant_holder_user_id'), table_name='share_grant')
    op.drop_index(op.f('ix_share_grant_holder_path'), table_name='share_grant')
    op.drop_index(op.f('ix_share_grant_holder_org_id'), table_name='share_grant')
    op.drop_index(op.f('ix_share_grant_expires_at'), table_name='share_grant')
    op.drop_index('ix_share_grant_entry_status', table_name='share_grant')
    op.drop_index(op.f('ix_share_grant_entry_id'), table_name='share_grant')
    op.drop_index(op.f('ix_share_grant_application_id'), table_name='share_grant')
    op.drop_table('share_grant')
    op.drop_index(op.f('ix_share_scenario_org_path'), table_name='share_scenario')
    op.drop_index(op.f('ix_share_scenario_org_id'), table_name='share_scenario')
    op.drop_table('share_scenario')
    op.drop_table('share_calendar_day')
