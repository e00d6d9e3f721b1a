"""Library and grading fixtures: catalog entries with data items, the people around a dataset,
and a way to run an ingest to its end. Shared with tests/grading through its conftest."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gongshu.catalog import service as catalog
from gongshu.core.jobs import Worker
from gongshu.core.permissions import Actor
from gongshu.library import service
from gongshu.library.models import Ingest
from gongshu.modules import import_job_handlers
from library.data import ENTRY, SYSTEM

import_job_handlers()

__all__ = ["People", "entry", "make_entry", "people", "run_ingest"]


class People:
    """The people around a dataset of the province's HR department, made on first use (each
    user costs a password hash)."""

    SPEC = {
        "steward": ("data_steward", "province.hr", False),
        "editor": ("catalog_editor", "province.hr", False),
        "reviewer": ("bureau_reviewer", "province.bureau", False),
        "outsider": ("data_steward", "province.health", False),
        "other_steward": ("data_steward", "taiyuan.hr", False),
        "admin": ("admin", "province", True),
        "nobody": (None, "province.hr", False),
    }

    def __init__(self, make_user: Any) -> None:
        self._make = make_user
        self._made: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self.SPEC:
            raise AttributeError(name)
        if name not in self._made:
            role, org, subtree = self.SPEC[name]
            self._made[name] = self._make(name.replace("_", ""), role, org, subtree=subtree)
        return self._made[name]


@pytest.fixture
def people(make_user: Any) -> People:
    return People(make_user)


@pytest.fixture
def make_entry(runtime: Any, tree: dict[str, Any]) -> Callable[..., Any]:
    """make_entry(items=…, name=…, org=…, **changes) -> the catalog entry (a draft)."""

    def make(items: list[dict[str, Any]] | None = None, *, name: str | None = None,
             org: str = "province.hr", **changes: Any) -> Any:
        data = copy.deepcopy(ENTRY)
        if items is not None:
            data["items"] = items
        if name:
            data["name"] = name
        data.update(changes)
        with runtime.db.transaction() as db:
            entry = catalog.create_entry(SYSTEM, db, data, provider_org_id=tree[org].id)
            db.flush()
            db.expunge(entry)
        return entry

    return make


@pytest.fixture
def entry(make_entry: Callable[..., Any]) -> Any:
    return make_entry()


@pytest.fixture
def run_ingest(runtime: Any) -> Callable[..., Ingest]:
    """run_ingest(actor, entry, path, **options) -> the finished Ingest (the job ran)."""

    def run(actor: Actor, entry: Any, path: Path | str, *, kind: str | None = None,
            source_kind: str | None = None, **options: Any) -> Ingest:
        database = "://" in str(path)
        with runtime.db.transaction() as db:
            ingest = service.start_ingest(
                actor, db, entry_id=entry.id, source=str(path),
                source_kind=source_kind or ("database" if database else "file"),
                options=service.IngestOptions(**options), kind=kind)
            ingest_id = ingest.id
        Worker(runtime).run_pending()
        with runtime.db.transaction(write=False) as db:
            done = db.get(Ingest, ingest_id)
            assert done is not None
            db.expunge(done)
            return done

    return run
