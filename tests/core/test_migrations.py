"""The migrations build exactly the tables the models describe, on every backend."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gongshu.core import migrations
from gongshu.core.db import Base


def test_models_and_migrations_agree(runtime: Any) -> None:
    with runtime.db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations differ; write a migration: {diff}"


def test_schema_is_at_head(runtime: Any) -> None:
    assert migrations.current_revisions(runtime.db) == migrations.head_revisions()
    assert migrations.is_current(runtime.db)


def test_upgrade_is_idempotent(runtime: Any) -> None:
    before, after = migrations.upgrade(runtime.db)
    assert before == after == "+".join(migrations.head_revisions())
