"""Catalog: the name key of each data item, indexed, so that the items of other bodies'
published entries a draft's items would duplicate are found by one indexed query (Art. 12,
duplicate collection; ``catalog/duplicates.py``).

Revision ID: 0014
Revises: 0005 (the catalog with its secrecy column)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0005"
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade() -> None:
    op.add_column("catalog_data_item", sa.Column("name_key", sa.String(length=128),
                                                 server_default="", nullable=False))
    # the keys of the items there are (the rules are data: `gongshu catalog reindex` keys the
    # items again after they change)
    from gongshu.catalog.duplicates import name_key

    bind = op.get_bind()
    items = sa.table("catalog_data_item", sa.column("id", sa.Uuid()), sa.column("name"),
                     sa.column("name_key"))
    last = None
    while True:
        stmt = sa.select(items.c.id, items.c.name).order_by(items.c.id).limit(BATCH)
        if last is not None:
            stmt = stmt.where(items.c.id > last)
        rows = bind.execute(stmt).all()
        if not rows:
            break
        bind.execute(items.update().where(items.c.id == sa.bindparam("item_id"))
                     .values(name_key=sa.bindparam("key")),
                     [{"item_id": r.id, "key": name_key(r.name)} for r in rows])
        last = rows[-1].id
    op.create_index("ix_catalog_data_item_name_key", "catalog_data_item",
                    ["name_key", "version_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_catalog_data_item_name_key", table_name="catalog_data_item")
    with op.batch_alter_table("catalog_data_item", schema=None) as batch_op:
        batch_op.drop_column("name_key")
