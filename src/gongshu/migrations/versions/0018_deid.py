"""De-identification (Art. 16): profiles per dataset, releases with their measured risk.

Revision ID: 0018
Revises: 0013 (catalog entries; the library's datasets)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import gongshu.core.db

revision = "0018"
down_revision = "0013"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('deid_profile',
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('spec', _json(), nullable=False),
    sa.Column('provider_path', sa.String(length=1024), nullable=False),
    sa.Column('bureau_path', sa.String(length=1024), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_deid_profile_entry_id_catalog_entry')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deid_profile')),
    sa.UniqueConstraint('entry_id', 'name', name=op.f('uq_deid_profile_entry_id_name'))
    )
    with op.batch_alter_table('deid_profile', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deid_profile_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deid_profile_provider_path'), ['provider_path'], unique=False)

    op.create_table('deid_release',
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('profile_id', sa.Uuid(), nullable=True),
    sa.Column('profile_name', sa.String(length=100), nullable=False),
    sa.Column('spec', _json(), nullable=False),
    sa.Column('provider_path', sa.String(length=1024), nullable=False),
    sa.Column('bureau_path', sa.String(length=1024), nullable=False),
    sa.Column('dataset_version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('assessment', _json(), nullable=False),
    sa.Column('reasons', _json(), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('columns', _json(), nullable=False),
    sa.Column('file_name', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('released_by', sa.String(length=64), nullable=False),
    sa.Column('released_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_deid_release_entry_id_catalog_entry')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deid_release'))
    )
    with op.batch_alter_table('deid_release', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deid_release_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deid_release_profile_id'), ['profile_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deid_release_provider_path'), ['provider_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_deid_release_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('deid_release', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deid_release_status'))
        batch_op.drop_index(batch_op.f('ix_deid_release_provider_path'))
        batch_op.drop_index(batch_op.f('ix_deid_release_profile_id'))
        batch_op.drop_index(batch_op.f('ix_deid_release_entry_id'))
    op.drop_table('deid_release')
    with op.batch_alter_table('deid_profile', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deid_profile_provider_path'))
        batch_op.drop_index(batch_op.f('ix_deid_profile_entry_id'))
    op.drop_table('deid_profile')
