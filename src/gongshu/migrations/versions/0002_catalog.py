"""Catalog (Arts. 3, 9, 11, 12, 47): entries, versions, data items, data elements, review
records, resource-code sequences and the search documents.

The SQLite full-text index (FTS5) is not here: it lives in catalog-search.db beside the
database, created when a connection attaches it (gongshu.catalog.models).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import gongshu.core.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('catalog_data_element',
    sa.Column('identifier', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('data_type', sa.String(length=4), nullable=False),
    sa.Column('length', sa.BigInteger(), nullable=True),
    sa.Column('value_domain', sa.Text(), nullable=True),
    sa.Column('definition', sa.Text(), nullable=True),
    sa.Column('standard', sa.String(length=200), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_data_element')),
    sa.UniqueConstraint('identifier', name=op.f('uq_catalog_data_element_identifier'))
    )
    with op.batch_alter_table('catalog_data_element', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_data_element_name'), ['name'], unique=False)

    op.create_table('catalog_sequence',
    sa.Column('front_segment', sa.String(length=12), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('front_segment', name=op.f('pk_catalog_sequence'))
    )

    op.create_table('catalog_entry',
    sa.Column('resource_code', sa.String(length=32), nullable=False),
    sa.Column('front_segment', sa.String(length=12), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('provider_org_id', sa.Uuid(), nullable=False),
    sa.Column('provider_path', sa.String(length=1024), nullable=False),
    sa.Column('bureau_org_id', sa.Uuid(), nullable=True),
    sa.Column('bureau_path', sa.String(length=1024), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('published_version_id', sa.Uuid(), nullable=True),
    sa.Column('working_version_id', sa.Uuid(), nullable=True),
    sa.Column('last_number', sa.Integer(), nullable=False),
    sa.Column('grade', sa.String(length=32), nullable=True),
    sa.Column('grade_reasons', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('graded_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('graded_by', sa.String(length=64), nullable=False),
    sa.Column('first_published_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bureau_org_id'], ['organization.id'], name=op.f('fk_catalog_entry_bureau_org_id_organization')),
    sa.ForeignKeyConstraint(['provider_org_id'], ['organization.id'], name=op.f('fk_catalog_entry_provider_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_entry')),
    sa.UniqueConstraint('resource_code', name=op.f('uq_catalog_entry_resource_code'))
    )
    with op.batch_alter_table('catalog_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_entry_bureau_path'), ['bureau_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_entry_front_segment'), ['front_segment'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_entry_grade'), ['grade'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_entry_provider_org_id'), ['provider_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_entry_provider_path'), ['provider_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_entry_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_entry_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_entry_updated_at'), ['updated_at'], unique=False)

    op.create_table('catalog_search_doc',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('version_id', sa.Uuid(), nullable=False),
    sa.Column('scope', sa.String(length=10), nullable=False),
    sa.Column('has_working', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('resource_code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('provider_name', sa.String(length=200), nullable=False),
    sa.Column('provider_org_id', sa.Uuid(), nullable=False),
    sa.Column('provider_path', sa.String(length=1024), nullable=False),
    sa.Column('bureau_path', sa.String(length=1024), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=True),
    sa.Column('resource_kind', sa.String(length=16), nullable=False),
    sa.Column('sharing_type', sa.String(length=16), nullable=False),
    sa.Column('opening_type', sa.String(length=16), nullable=False),
    sa.Column('grade', sa.String(length=32), nullable=True),
    sa.Column('update_cycle', sa.String(length=16), nullable=False),
    sa.Column('format_class', sa.String(length=24), nullable=False),
    sa.Column('secrecy', sa.String(length=16), nullable=False),
    sa.Column('updated_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('terms', sa.Text().with_variant(postgresql.TSVECTOR(), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_catalog_search_doc_entry_id_catalog_entry'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_search_doc')),
    sa.UniqueConstraint('entry_id', 'scope', name=op.f('uq_catalog_search_doc_entry_id_scope'))
    )
    with op.batch_alter_table('catalog_search_doc', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_search_doc_provider_org_id'), ['provider_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_search_doc_provider_path'), ['provider_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_search_doc_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_search_doc_resource_kind'), ['resource_kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_search_doc_scope'), ['scope'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_search_doc_sharing_type'), ['sharing_type'], unique=False)
        batch_op.create_index('ix_catalog_search_doc_terms', ['terms'], unique=False, postgresql_using='gin')
        batch_op.create_index('ix_catalog_search_doc_facets', ['id', 'scope', 'has_working', 'updated_at', 'region_code', 'resource_kind', 'sharing_type', 'opening_type', 'grade', 'update_cycle', 'format_class', 'provider_org_id', 'provider_name'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_search_doc_updated_at'), ['updated_at'], unique=False)

    op.create_table('catalog_search_terms',
    sa.Column('doc_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('keywords', sa.Text(), nullable=False),
    sa.Column('provider', sa.Text(), nullable=False),
    sa.Column('items', sa.Text(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['doc_id'], ['catalog_search_doc.id'], name=op.f('fk_catalog_search_terms_doc_id_catalog_search_doc'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('doc_id', name=op.f('pk_catalog_search_terms'))
    )

    op.create_table('catalog_version',
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('content', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('resource_kind', sa.String(length=16), nullable=False),
    sa.Column('sharing_type', sa.String(length=16), nullable=False),
    sa.Column('opening_type', sa.String(length=16), nullable=False),
    sa.Column('update_cycle', sa.String(length=16), nullable=False),
    sa.Column('change_note', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Uuid(), nullable=True),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('submitted_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('submitted_by_id', sa.Uuid(), nullable=True),
    sa.Column('submitted_by', sa.String(length=64), nullable=False),
    sa.Column('reviewed_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reviewed_by_id', sa.Uuid(), nullable=True),
    sa.Column('reviewed_by', sa.String(length=64), nullable=False),
    sa.Column('published_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_catalog_version_entry_id_catalog_entry'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_version')),
    sa.UniqueConstraint('entry_id', 'number', name=op.f('uq_catalog_version_entry_id_number'))
    )
    with op.batch_alter_table('catalog_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_version_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_version_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_version_submitted_at'), ['submitted_at'], unique=False)

    op.create_table('catalog_data_item',
    sa.Column('version_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('data_type', sa.String(length=4), nullable=False),
    sa.Column('length', sa.BigInteger(), nullable=True),
    sa.Column('data_element_id', sa.Uuid(), nullable=True),
    sa.Column('sharing_type', sa.String(length=16), nullable=True),
    sa.Column('sharing_condition', sa.Text(), nullable=True),
    sa.Column('legal_basis', sa.Text(), nullable=True),
    sa.Column('opening_type', sa.String(length=16), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['data_element_id'], ['catalog_data_element.id'], name=op.f('fk_catalog_data_item_data_element_id_catalog_data_element')),
    sa.ForeignKeyConstraint(['version_id'], ['catalog_version.id'], name=op.f('fk_catalog_data_item_version_id_catalog_version'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_data_item'))
    )
    with op.batch_alter_table('catalog_data_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_data_item_data_element_id'), ['data_element_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_data_item_version_id'), ['version_id'], unique=False)

    op.create_table('catalog_review',
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('version_id', sa.Uuid(), nullable=True),
    sa.Column('version_number', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('actor_name', sa.String(length=128), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_catalog_review_entry_id_catalog_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['version_id'], ['catalog_version.id'], name=op.f('fk_catalog_review_version_id_catalog_version'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_review'))
    )
    with op.batch_alter_table('catalog_review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_review_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_review_version_id'), ['version_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('catalog_review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_review_version_id'))
        batch_op.drop_index(batch_op.f('ix_catalog_review_entry_id'))

    op.drop_table('catalog_review')

    with op.batch_alter_table('catalog_data_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_data_item_version_id'))
        batch_op.drop_index(batch_op.f('ix_catalog_data_item_data_element_id'))

    op.drop_table('catalog_data_item')

    with op.batch_alter_table('catalog_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_version_submitted_at'))
        batch_op.drop_index(batch_op.f('ix_catalog_version_status'))
        batch_op.drop_index(batch_op.f('ix_catalog_version_entry_id'))

    op.drop_table('catalog_version')

    op.drop_table('catalog_search_terms')
    with op.batch_alter_table('catalog_search_doc', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_search_doc_updated_at'))
        batch_op.drop_index('ix_catalog_search_doc_facets')
        batch_op.drop_index('ix_catalog_search_doc_terms', postgresql_using='gin')
        batch_op.drop_index(batch_op.f('ix_catalog_search_doc_sharing_type'))
        batch_op.drop_index(batch_op.f('ix_catalog_search_doc_scope'))
        batch_op.drop_index(batch_op.f('ix_catalog_search_doc_resource_kind'))
        batch_op.drop_index(batch_op.f('ix_catalog_search_doc_region_code'))
        batch_op.drop_index(batch_op.f('ix_catalog_search_doc_provider_path'))
        batch_op.drop_index(batch_op.f('ix_catalog_search_doc_provider_org_id'))

    op.drop_table('catalog_search_doc')

    with op.batch_alter_table('catalog_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_entry_updated_at'))
        batch_op.drop_index(batch_op.f('ix_catalog_entry_status'))
        batch_op.drop_index(batch_op.f('ix_catalog_entry_region_code'))
        batch_op.drop_index(batch_op.f('ix_catalog_entry_provider_path'))
        batch_op.drop_index(batch_op.f('ix_catalog_entry_provider_org_id'))
        batch_op.drop_index(batch_op.f('ix_catalog_entry_grade'))
        batch_op.drop_index(batch_op.f('ix_catalog_entry_front_segment'))
        batch_op.drop_index(batch_op.f('ix_catalog_entry_bureau_path'))

    op.drop_table('catalog_entry')

    op.drop_table('catalog_sequence')

    with op.batch_alter_table('catalog_data_element', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_data_element_name'))

    op.drop_table('catalog_data_element')
