"""Schema migrations (Alembic), run by `gongshu init` and, when needed, at server start."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from gongshu.core.db import Database

#: any constant; every process that migrates PostgreSQL takes this advisory lock first
_PG_MIGRATION_LOCK = 0x67_6F_6E_67  # "gong"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("gongshu") / "migrations"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revisions() -> tuple[str, ...]:
    """The newest revision of every branch (modules may branch off the foundation)."""
    return tuple(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def current_revisions(database: Database) -> tuple[str, ...]:
    with database.engine.connect() as conn:
        return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))


def is_current(database: Database) -> bool:
    return current_revisions(database) == head_revisions()


def _label(revisions: tuple[str, ...]) -> str | None:
    return "+".join(revisions) or None


def upgrade(database: Database, revision: str = "heads") -> tuple[str | None, str | None]:
    """Bring the schema to ``revision``; returns (before, after). Safe to run concurrently."""
    cfg = alembic_config(database.url)
    with database.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        before = tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        after = tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
    return _label(before), _label(after)
