"""Jobs: queues with limits, priorities and delays; scheduled jobs (``job_schedule``).

Revision ID: 0015
Revises: 0006 (the job table's newest migration)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import gongshu.core.db

revision = "0015"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("queue", sa.String(length=32), server_default="default",
                                      nullable=False))
        batch_op.add_column(sa.Column("priority", sa.Integer(), server_default="0",
                                      nullable=False))
        batch_op.add_column(sa.Column("run_after", gongshu.core.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_index(batch_op.f("ix_job_queue"), ["queue"], unique=False)
    # jobs queued before this migration go to the queues their handlers declare now
    op.execute("UPDATE job SET queue = 'ingest' WHERE kind = 'library.ingest'")
    op.execute("UPDATE job SET queue = 'scan' WHERE kind IN ('grading.rescan', 'library.quality')")
    op.create_table(
        "job_schedule",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()),
                                                   "postgresql"), nullable=False),
        sa.Column("period_seconds", sa.Integer(), nullable=False),
        sa.Column("next_run_at", gongshu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", gongshu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_job_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_schedule")),
    )


def downgrade() -> None:
    op.drop_table("job_schedule")
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_queue"))
        batch_op.drop_column("run_after")
        batch_op.drop_column("priority")
        batch_op.drop_column("queue")
