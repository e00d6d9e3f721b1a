"""The sandbox (Art. 14): operators' authorisations and their datasets, the columns' release
levels, privacy budgets, and the history of queries with their output review.

Revision ID: 0017
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import gongshu.core.db

revision = "0017"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sandbox_authorization',
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('operator_org_id', sa.Uuid(), nullable=False),
    sa.Column('operator_path', sa.String(length=1024), nullable=False),
    sa.Column('bureau_org_id', sa.Uuid(), nullable=False),
    sa.Column('bureau_path', sa.String(length=1024), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('scenarios', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('product_categories', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('fee_cap', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('k', sa.Integer(), nullable=False),
    sa.Column('review_all', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=False),
    sa.Column('status_changed_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status_changed_by', sa.String(length=64), nullable=False),
    sa.Column('agreement_name', sa.String(length=255), nullable=False),
    sa.Column('agreement_sha256', sa.String(length=64), nullable=False),
    sa.Column('agreement_size', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bureau_org_id'], ['organization.id'], name=op.f('fk_sandbox_authorization_bureau_org_id_organization')),
    sa.ForeignKeyConstraint(['operator_org_id'], ['organization.id'], name=op.f('fk_sandbox_authorization_operator_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_authorization')),
    sa.UniqueConstraint('number', name=op.f('uq_sandbox_authorization_number'))
    )
    op.create_index(op.f('ix_sandbox_authorization_bureau_org_id'), 'sandbox_authorization', ['bureau_org_id'], unique=False)
    op.create_index(op.f('ix_sandbox_authorization_bureau_path'), 'sandbox_authorization', ['bureau_path'], unique=False)
    op.create_index(op.f('ix_sandbox_authorization_ends_on'), 'sandbox_authorization', ['ends_on'], unique=False)
    op.create_index(op.f('ix_sandbox_authorization_operator_org_id'), 'sandbox_authorization', ['operator_org_id'], unique=False)
    op.create_index(op.f('ix_sandbox_authorization_operator_path'), 'sandbox_authorization', ['operator_path'], unique=False)
    op.create_index(op.f('ix_sandbox_authorization_status'), 'sandbox_authorization', ['status'], unique=False)
    op.create_table('sandbox_query',
    sa.Column('operator_org_id', sa.Uuid(), nullable=True),
    sa.Column('operator_path', sa.String(length=1024), nullable=False),
    sa.Column('bureau_path', sa.String(length=1024), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('sql', sa.Text(), nullable=False),
    sa.Column('normalised', sa.Text(), nullable=False),
    sa.Column('authorization_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('tables', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('dp', sa.Boolean(), nullable=False),
    sa.Column('epsilon', sa.Float(), nullable=True),
    sa.Column('export', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('message_params', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('columns', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('rows', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('suppressed_groups', sa.Integer(), nullable=False),
    sa.Column('truncated', sa.Boolean(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('reviewed_by', sa.String(length=64), nullable=False),
    sa.Column('reviewed_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('review_reason', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['operator_org_id'], ['organization.id'], name=op.f('fk_sandbox_query_operator_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_query'))
    )
    op.create_index(op.f('ix_sandbox_query_bureau_path'), 'sandbox_query', ['bureau_path'], unique=False)
    op.create_index(op.f('ix_sandbox_query_operator_path'), 'sandbox_query', ['operator_path'], unique=False)
    op.create_index('ix_sandbox_query_org_created', 'sandbox_query', ['operator_org_id', 'created_at'], unique=False)
    op.create_index(op.f('ix_sandbox_query_status'), 'sandbox_query', ['status'], unique=False)
    op.create_table('sandbox_authorization_table',
    sa.Column('authorization_id', sa.Uuid(), nullable=False),
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('resource_code', sa.String(length=32), nullable=False),
    sa.Column('table_name', sa.String(length=64), nullable=False),
    sa.Column('epsilon_per_month', sa.Float(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['authorization_id'], ['sandbox_authorization.id'], name=op.f('fk_sandbox_authorization_table_authorization_id_sandbox_authorization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_sandbox_authorization_table_entry_id_catalog_entry')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_authorization_table')),
    sa.UniqueConstraint('authorization_id', 'entry_id', name=op.f('uq_sandbox_authorization_table_authorization_id_entry_id')),
    sa.UniqueConstraint('authorization_id', 'table_name', name=op.f('uq_sandbox_authorization_table_authorization_id_table_name'))
    )
    op.create_index(op.f('ix_sandbox_authorization_table_authorization_id'), 'sandbox_authorization_table', ['authorization_id'], unique=False)
    op.create_index(op.f('ix_sandbox_authorization_table_entry_id'), 'sandbox_authorization_table', ['entry_id'], unique=False)
    op.create_table('sandbox_budget',
    sa.Column('operator_org_id', sa.Uuid(), nullable=False),
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('total', sa.Float(), nullable=False),
    sa.Column('spent', sa.Float(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('spent >= 0 AND spent <= total + 0.000000001', name=op.f('ck_sandbox_budget_spent_within_total')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_sandbox_budget_entry_id_catalog_entry')),
    sa.ForeignKeyConstraint(['operator_org_id'], ['organization.id'], name=op.f('fk_sandbox_budget_operator_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_budget')),
    sa.UniqueConstraint('operator_org_id', 'entry_id', 'period', name=op.f('uq_sandbox_budget_operator_org_id_entry_id_period'))
    )
    op.create_index(op.f('ix_sandbox_budget_entry_id'), 'sandbox_budget', ['entry_id'], unique=False)
    op.create_index(op.f('ix_sandbox_budget_operator_org_id'), 'sandbox_budget', ['operator_org_id'], unique=False)
    op.create_table('sandbox_column_policy',
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('column', sa.String(length=128), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('lo', sa.Float(), nullable=True),
    sa.Column('hi', sa.Float(), nullable=True),
    sa.Column('contributor', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('updated_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_sandbox_column_policy_entry_id_catalog_entry')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_column_policy')),
    sa.UniqueConstraint('entry_id', 'column', name=op.f('uq_sandbox_column_policy_entry_id_column'))
    )
    op.create_index(op.f('ix_sandbox_column_policy_entry_id'), 'sandbox_column_policy', ['entry_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_sandbox_column_policy_entry_id'), table_name='sandbox_column_policy')
    op.drop_table('sandbox_column_policy')
    op.drop_index(op.f('ix_sandbox_budget_operator_org_id'), table_name='sandbox_budget')
    op.drop_index(op.f('ix_sandbox_budget_entry_id'), table_name='sandbox_budget')
    op.drop_table('sandbox_budget')
    op.drop_index(op.f('ix_sandbox_authorization_table_entry_id'), table_name='sandbox_authorization_table')
    op.drop_index(op.f('ix_sandbox_authorization_table_authorization_id'), table_name='sandbox_authorization_table')
    op.drop_table('sandbox_authorization_table')
    op.drop_index(op.f('ix_sandbox_query_status'), table_name='sandbox_query')
    op.drop_index('ix_sandbox_query_org_created', table_name='sandbox_query')
    op.drop_index(op.f('ix_sandbox_query_operator_path'), table_name='sandbox_query')
    op.drop_index(op.f('ix_sandbox_query_bureau_path'), table_name='sandbox_query')
    op.drop_table('sandbox_query')
    op.drop_index(op.f('ix_sandbox_authorization_status'), table_name='sandbox_authorization')
    op.drop_index(op.f('ix_sandbox_authorization_operator_path'), table_name='sandbox_authorization')
    op.drop_index(op.f('ix_sandbox_authorization_operator_org_id'), table_name='sandbox_authorization')
    op.drop_index(op.f('ix_sandbox_authorization_ends_on'), table_name='sandbox_authorization')
    op.drop_index(op.f('ix_sandbox_authorization_bureau_path'), table_name='sandbox_authorization')
    op.drop_index(op.f('ix_sandbox_authorization_bureau_org_id'), table_name='sandbox_authorization')
    op.drop_table('sandbox_authorization')
