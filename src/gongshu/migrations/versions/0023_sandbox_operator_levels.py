"""The sandbox's column release levels per operator (Art. 14): a column's level for one
authorisation, winning over the dataset's default for that authorisation's queries.

Revision ID: 0023
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gongshu.core.db

revision = "0023"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sandbox_column_override',
    sa.Column('authorization_id', sa.Uuid(), nullable=False),
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('column', sa.String(length=128), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('set_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['authorization_id'], ['sandbox_authorization.id'], name=op.f('fk_sandbox_column_override_authorization_id_sandbox_authorization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_sandbox_column_override_entry_id_catalog_entry')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_column_override')),
    sa.UniqueConstraint('authorization_id', 'entry_id', 'column', name=op.f('uq_sandbox_column_override_authorization_id_entry_id_column'))
    )
    op.create_index(op.f('ix_sandbox_column_override_authorization_id'), 'sandbox_column_override', ['authorization_id'], unique=False)
    op.create_index(op.f('ix_sandbox_column_override_entry_id'), 'sandbox_column_override', ['entry_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_sandbox_column_override_entry_id'), table_name='sandbox_column_override')
    op.drop_index(op.f('ix_sandbox_column_override_authorization_id'), table_name='sandbox_column_override')
    op.drop_table('sandbox_column_override')
