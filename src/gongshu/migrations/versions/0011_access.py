"""Access hardening: failed logins per source address (login throttling), and the owning
organisation of a data element (a bureau manages the elements under its scope).

Revision ID: 0011
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gongshu.core.db

revision = "0011"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_throttle',
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('address', name=op.f('pk_login_throttle'))
    )
    with op.batch_alter_table('catalog_data_element', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner_org_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('owner_path', sa.String(length=1024), nullable=True))
        batch_op.create_index(batch_op.f('ix_catalog_data_element_owner_path'), ['owner_path'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('catalog_data_element', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_data_element_owner_path'))
        batch_op.drop_column('owner_path')
        batch_op.drop_column('owner_org_id')
    op.drop_table('login_throttle')
