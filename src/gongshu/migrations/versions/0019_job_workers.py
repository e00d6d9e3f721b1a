"""Jobs: the live worker processes (``job_worker``), for ``/readyz`` and draining.

Revision ID: 0019
Revises: 0015 (the job tables' newest migration)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gongshu.core.db

revision = "0019"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_worker",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("threads", sa.Integer(), nullable=False),
        sa.Column("started_at", gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seen_at", gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("draining", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_worker")),
    )
    with op.batch_alter_table("job_worker", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_worker_seen_at"), ["seen_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job_worker", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_worker_seen_at"))
    op.drop_table("job_worker")
