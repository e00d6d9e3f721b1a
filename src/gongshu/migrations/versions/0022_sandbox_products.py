"""Data products and the revenue ledger (Art. 14).

Revision ID: 0022
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import gongshu.core.db

revision = "0022"
down_revision = "0017"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')
UTC = gongshu.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('sandbox_product',
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('authorization_id', sa.Uuid(), nullable=False),
    sa.Column('operator_org_id', sa.Uuid(), nullable=False),
    sa.Column('operator_path', sa.String(length=1024), nullable=False),
    sa.Column('bureau_path', sa.String(length=1024), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('method', sa.Text(), nullable=False),
    sa.Column('output_schema', JSON, nullable=False),
    sa.Column('price', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=False),
    sa.Column('status_changed_at', UTC, nullable=True),
    sa.Column('status_changed_by', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', UTC, nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.CheckConstraint('price >= 0', name=op.f('ck_sandbox_product_price_not_negative')),
    sa.ForeignKeyConstraint(['authorization_id'], ['sandbox_authorization.id'], name=op.f('fk_sandbox_product_authorization_id_sandbox_authorization')),
    sa.ForeignKeyConstraint(['operator_org_id'], ['organization.id'], name=op.f('fk_sandbox_product_operator_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_product')),
    sa.UniqueConstraint('authorization_id', 'name', name=op.f('uq_sandbox_product_authorization_id_name')),
    sa.UniqueConstraint('number', name=op.f('uq_sandbox_product_number'))
    )
    for column in ('authorization_id', 'operator_org_id', 'operator_path', 'bureau_path',
                   'category', 'status'):
        op.create_index(op.f(f'ix_sandbox_product_{column}'), 'sandbox_product', [column],
                        unique=False)
    op.create_table('sandbox_revenue',
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('operator_org_id', sa.Uuid(), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('counterparty', sa.String(length=200), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_sandbox_revenue_amount_not_negative')),
    sa.CheckConstraint('quantity >= 1', name=op.f('ck_sandbox_revenue_quantity_positive')),
    sa.ForeignKeyConstraint(['operator_org_id'], ['organization.id'], name=op.f('fk_sandbox_revenue_operator_org_id_organization')),
    sa.ForeignKeyConstraint(['product_id'], ['sandbox_product.id'], name=op.f('fk_sandbox_revenue_product_id_sandbox_product')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_revenue'))
    )
    op.create_index('ix_sandbox_revenue_org_day', 'sandbox_revenue', ['operator_org_id', 'occurred_on'], unique=False)
    op.create_index(op.f('ix_sandbox_revenue_product_id'), 'sandbox_revenue', ['product_id'], unique=False)


def downgrade() -> None:
    op.drop_table('sandbox_revenue')
    op.drop_table('sandbox_product')
