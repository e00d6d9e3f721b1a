"""Catalog: the secrecy attribute of each version as a column (who may see a classified entry,
Arts. 9, 12), and the search rows without the wide covering index (searches read the narrow
rows of the search file on SQLite, and the rows themselves on PostgreSQL).

Revision ID: 0005
Revises: 0002 (the catalog; 0003 and 0004 hang off 0002 as well)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None

FACETS_INDEX = ("id", "scope", "has_working", "updated_at", "region_code", "resource_kind",
                "sharing_type", "opening_type", "grade", "update_cycle", "format_class",
                "provider_org_id", "provider_name")


def upgrade() -> None:
    op.add_column("catalog_version", sa.Column("secrecy", sa.String(length=16),
                                               server_default="unclassified", nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE catalog_version SET secrecy = 'classified' "
                   "WHERE content ->> 'secrecy' = 'classified'")
    else:
        op.execute("UPDATE catalog_version SET secrecy = 'classified' "
                   "WHERE json_extract(content, '$.secrecy') = 'classified'")
    with op.batch_alter_table("catalog_search_doc", schema=None) as batch_op:
        batch_op.drop_index("ix_catalog_search_doc_facets")


def downgrade() -> None:
    with op.batch_alter_table("catalog_search_doc", schema=None) as batch_op:
        batch_op.create_index("ix_catalog_search_doc_facets", list(FACETS_INDEX), unique=False)
    with op.batch_alter_table("catalog_version", schema=None) as batch_op:
        batch_op.drop_column("secrecy")
