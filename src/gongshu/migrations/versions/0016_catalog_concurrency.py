"""Catalog: constraints that make concurrent duplicates impossible (issue 13).

- ``catalog_data_item``: one item per (version, position), so concurrent edits of a draft
  cannot multiply its items;
- ``catalog_review``: one approval, publication and withdrawal per version
  (``uq_catalog_review_decision``, a partial unique index);
- ``census_info_system``: one system per (response, position).

Duplicates the races left before these constraints are removed first (the earliest row of each
place is kept; the others were copies written by the racing requests).

Revision ID: 0016
Revises: 0003 (the census, after the catalog)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0003"
branch_labels = None
depends_on = None

DECISION_WHERE = "action IN ('approve', 'publish', 'withdraw')"


def _dedupe(table: str, keys: tuple[str, ...], order: str, where: str = "") -> None:
    """Delete every row but the first (by ``order``, then id) of each group of ``keys``."""
    cols = ", ".join(keys)
    extra = f"WHERE {where}" if where else ""
    op.execute(sa.text(
        f"DELETE FROM {table} WHERE id IN (SELECT id FROM ("
        f"SELECT id, ROW_NUMBER() OVER (PARTITION BY {cols} ORDER BY {order}, id) AS n "
        f"FROM {table} {extra}) ranked WHERE n > 1)"))


def upgrade() -> None:
    _dedupe("catalog_data_item", ("version_id", "position"), "id")
    _dedupe("catalog_review", ("version_id", "action"), "created_at",
            f"version_id IS NOT NULL AND {DECISION_WHERE}")
    _dedupe("census_info_system", ("response_id", "position"), "id")
    with op.batch_alter_table("catalog_data_item", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_catalog_data_item_version_id_position"), ["version_id", "position"])
    op.create_index("uq_catalog_review_decision", "catalog_review", ["version_id", "action"],
                    unique=True, postgresql_where=sa.text(DECISION_WHERE),
                    sqlite_where=sa.text(DECISION_WHERE))
    with op.batch_alter_table("census_info_system", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_census_info_system_response_id_position"), ["response_id", "position"])


def downgrade() -> None:
    with op.batch_alter_table("census_info_system", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_census_info_system_response_id_position"),
                                 type_="unique")
    op.drop_index("uq_catalog_review_decision", table_name="catalog_review")
    with op.batch_alter_table("catalog_data_item", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_catalog_data_item_version_id_position"),
                                 type_="unique")
