"""Library and grading (Arts. 10, 11): datasets bound to catalog entries, their versions,
ingests and quality rules and reports; grading scans per dataset version, per-column
detections, stewards' decisions, and grading settings (the active scheme).

Revision ID: 0004
Revises: 0002 (the catalog; the census branch 0003 hangs off 0002 as well)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import gongshu.core.db

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('grading_setting',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('updated_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_grading_setting'))
    )
    op.create_table('grading_scan',
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('provider_path', sa.String(length=1024), nullable=False),
    sa.Column('bureau_path', sa.String(length=1024), nullable=False),
    sa.Column('dataset_id', sa.Uuid(), nullable=False),
    sa.Column('dataset_version_id', sa.Uuid(), nullable=False),
    sa.Column('storage_id', sa.String(length=128), nullable=False),
    sa.Column('storage_version', sa.Integer(), nullable=False),
    sa.Column('rows_scanned', sa.BigInteger(), nullable=False),
    sa.Column('scheme', sa.String(length=64), nullable=False),
    sa.Column('rule_packs', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('classification', sa.String(length=200), nullable=False),
    sa.Column('proposed_grade', sa.String(length=32), nullable=False),
    sa.Column('reasons', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_grading_scan_entry_id_catalog_entry')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grading_scan'))
    )
    with op.batch_alter_table('grading_scan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grading_scan_dataset_id'), ['dataset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_grading_scan_dataset_version_id'), ['dataset_version_id'], unique=False)
        batch_op.create_index('ix_grading_scan_entry_created', ['entry_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_grading_scan_provider_path'), ['provider_path'], unique=False)

    op.create_table('library_dataset',
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('resource_code', sa.String(length=32), nullable=False),
    sa.Column('provider_org_id', sa.Uuid(), nullable=False),
    sa.Column('provider_path', sa.String(length=1024), nullable=False),
    sa.Column('bureau_path', sa.String(length=1024), nullable=False),
    sa.Column('storage_id', sa.String(length=128), nullable=False),
    sa.Column('current_version_id', sa.Uuid(), nullable=True),
    sa.Column('version_count', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_library_dataset_entry_id_catalog_entry')),
    sa.ForeignKeyConstraint(['provider_org_id'], ['organization.id'], name=op.f('fk_library_dataset_provider_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_library_dataset')),
    sa.UniqueConstraint('entry_id', name=op.f('uq_library_dataset_entry_id')),
    sa.UniqueConstraint('storage_id', name=op.f('uq_library_dataset_storage_id'))
    )
    with op.batch_alter_table('library_dataset', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_library_dataset_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_library_dataset_provider_org_id'), ['provider_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_library_dataset_provider_path'), ['provider_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_library_dataset_resource_code'), ['resource_code'], unique=False)

    op.create_table('grading_decision',
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('scan_id', sa.Uuid(), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('proposed_grade', sa.String(length=32), nullable=True),
    sa.Column('grade', sa.String(length=32), nullable=False),
    sa.Column('previous_grade', sa.String(length=32), nullable=True),
    sa.Column('scheme', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('decided_by_id', sa.Uuid(), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_grading_decision_entry_id_catalog_entry')),
    sa.ForeignKeyConstraint(['scan_id'], ['grading_scan.id'], name=op.f('fk_grading_decision_scan_id_grading_scan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grading_decision'))
    )
    with op.batch_alter_table('grading_decision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grading_decision_entry_id'), ['entry_id'], unique=False)

    op.create_table('grading_scan_column',
    sa.Column('scan_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('code', sa.String(length=128), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('nonempty', sa.BigInteger(), nullable=False),
    sa.Column('detections', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('hinted', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('counted', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('proposed_grade', sa.String(length=32), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('reasons', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['scan_id'], ['grading_scan.id'], name=op.f('fk_grading_scan_column_scan_id_grading_scan'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grading_scan_column'))
    )
    with op.batch_alter_table('grading_scan_column', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grading_scan_column_scan_id'), ['scan_id'], unique=False)

    op.create_table('library_dataset_version',
    sa.Column('dataset_id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('storage_version', sa.Integer(), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('bytes', sa.BigInteger(), nullable=False),
    sa.Column('columns', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('source_name', sa.String(length=255), nullable=False),
    sa.Column('source_format', sa.String(length=16), nullable=False),
    sa.Column('source_encoding', sa.String(length=32), nullable=True),
    sa.Column('source_sheet', sa.String(length=100), nullable=True),
    sa.Column('source_bytes', sa.BigInteger(), nullable=False),
    sa.Column('header_row', sa.Integer(), nullable=True),
    sa.Column('ingest_id', sa.Uuid(), nullable=True),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('quality_score', sa.Float(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['library_dataset.id'], name=op.f('fk_library_dataset_version_dataset_id_library_dataset')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_library_dataset_version')),
    sa.UniqueConstraint('dataset_id', 'number', name=op.f('uq_library_dataset_version_dataset_id_number'))
    )
    with op.batch_alter_table('library_dataset_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_library_dataset_version_dataset_id'), ['dataset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_library_dataset_version_ingest_id'), ['ingest_id'], unique=False)

    op.create_table('library_ingest',
    sa.Column('dataset_id', sa.Uuid(), nullable=False),
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('provider_path', sa.String(length=1024), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source_name', sa.String(length=255), nullable=False),
    sa.Column('source_kind', sa.String(length=16), nullable=False),
    sa.Column('options', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('source_bytes', sa.BigInteger(), nullable=False),
    sa.Column('report', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('version_id', sa.Uuid(), nullable=True),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('finished_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['library_dataset.id'], name=op.f('fk_library_ingest_dataset_id_library_dataset')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_library_ingest'))
    )
    with op.batch_alter_table('library_ingest', schema=None) as batch_op:
        batch_op.create_index('ix_library_ingest_dataset_created', ['dataset_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_library_ingest_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_library_ingest_job_id'), ['job_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_library_ingest_provider_path'), ['provider_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_library_ingest_status'), ['status'], unique=False)

    op.create_table('library_quality_rule',
    sa.Column('dataset_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('column', sa.String(length=128), nullable=True),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['library_dataset.id'], name=op.f('fk_library_quality_rule_dataset_id_library_dataset')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_library_quality_rule'))
    )
    with op.batch_alter_table('library_quality_rule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_library_quality_rule_dataset_id'), ['dataset_id'], unique=False)

    op.create_table('library_quality_report',
    sa.Column('dataset_id', sa.Uuid(), nullable=False),
    sa.Column('version_id', sa.Uuid(), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('results', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('evaluated_by', sa.String(length=64), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['library_dataset.id'], name=op.f('fk_library_quality_report_dataset_id_library_dataset')),
    sa.ForeignKeyConstraint(['version_id'], ['library_dataset_version.id'], name=op.f('fk_library_quality_report_version_id_library_dataset_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_library_quality_report'))
    )
    with op.batch_alter_table('library_quality_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_library_quality_report_dataset_id'), ['dataset_id'], unique=False)
        batch_op.create_index('ix_library_quality_report_version_created', ['version_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('library_quality_report', schema=None) as batch_op:
        batch_op.drop_index('ix_library_quality_report_version_created')
        batch_op.drop_index(batch_op.f('ix_library_quality_report_dataset_id'))

    op.drop_table('library_quality_report')
    with op.batch_alter_table('library_quality_rule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_library_quality_rule_dataset_id'))

    op.drop_table('library_quality_rule')
    with op.batch_alter_table('library_ingest', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_library_ingest_status'))
        batch_op.drop_index(batch_op.f('ix_library_ingest_provider_path'))
        batch_op.drop_index(batch_op.f('ix_library_ingest_job_id'))
        batch_op.drop_index(batch_op.f('ix_library_ingest_entry_id'))
        batch_op.drop_index('ix_library_ingest_dataset_created')

    op.drop_table('library_ingest')
    with op.batch_alter_table('library_dataset_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_library_dataset_version_ingest_id'))
        batch_op.drop_index(batch_op.f('ix_library_dataset_version_dataset_id'))

    op.drop_table('library_dataset_version')
    with op.batch_alter_table('grading_scan_column', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grading_scan_column_scan_id'))

    op.drop_table('grading_scan_column')
    with op.batch_alter_table('grading_decision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grading_decision_entry_id'))

    op.drop_table('grading_decision')
    with op.batch_alter_table('library_dataset', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_library_dataset_resource_code'))
        batch_op.drop_index(batch_op.f('ix_library_dataset_provider_path'))
        batch_op.drop_index(batch_op.f('ix_library_dataset_provider_org_id'))
        batch_op.drop_index(batch_op.f('ix_library_dataset_kind'))

    op.drop_table('library_dataset')
    with op.batch_alter_table('grading_scan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grading_scan_provider_path'))
        batch_op.drop_index('ix_grading_scan_entry_created')
        batch_op.drop_index(batch_op.f('ix_grading_scan_dataset_version_id'))
        batch_op.drop_index(batch_op.f('ix_grading_scan_dataset_id'))

    op.drop_table('grading_scan')
    op.drop_table('grading_setting')
