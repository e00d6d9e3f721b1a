"""Jobs: their progress message and their error as i18n keys beside the English text, so the
pages say them in the reader's language.

Revision ID: 0006
Revises: 0001 (the jobs table; the module heads 0003, 0004 and 0005 are unaffected)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_key", sa.String(length=64), server_default="",
                                      nullable=False))
        batch_op.add_column(sa.Column(
            "message_params",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default="{}", nullable=False))
        batch_op.add_column(sa.Column("error_code", sa.String(length=64), server_default="",
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_column("error_code")
        batch_op.drop_column("message_params")
        batch_op.drop_column("message_key")
