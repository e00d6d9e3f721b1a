"""Shared fixtures: a runtime per test on each database backend, users with roles, clients.

The suite runs on SQLite always and also on PostgreSQL when ``GONGSHU_TEST_DATABASE_URL`` is
set: every fixture that touches the metadata store is parametrised over the backends, so a test
id shows ``[sqlite]`` or ``[postgresql]``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from gongshu.core.config import Settings
from gongshu.core.db import Base, make_engine
from gongshu.core.migrations import upgrade
from gongshu.core.runtime import Runtime
from gongshu.modules import import_models

PG_URL = os.environ.get("GONGSHU_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])

import_models()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (much faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "gongshu.db"
    rt = Runtime(Settings(data_dir=path.parent, database_url=f"sqlite:///{path}"))
    upgrade(rt.db)
    rt.close()
    return path


@pytest.fixture(scope="session")
def pg_migrated() -> str | None:
    """Migrate the PostgreSQL test database once per session, from an empty schema."""
    if not PG_URL:
        return None
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    rt = Runtime(Settings(data_dir=Path("/tmp/gongshu-pg-migrate"), database_url=PG_URL))
    upgrade(rt.db)
    rt.close()
    return PG_URL


def _reset_pg(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE TABLE {tables} RESTART IDENTITY CASCADE"))
        conn.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h)"), {"h": "0" * 64})
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(backend: str, tmp_path: Path, sqlite_template: Path, pg_migrated: str | None) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if backend == "sqlite":
        shutil.copy(sqlite_template, data_dir / "gongshu.db")
        url = f"sqlite:///{data_dir / 'gongshu.db'}"
    else:
        assert pg_migrated
        _reset_pg(pg_migrated)
        url = pg_migrated
    return Settings(data_dir=data_dir, database_url=url, job_threads=0, password_min_length=10)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime(settings)
    yield rt
    rt.close()
