"""Concurrent steps of one ingest (issue 13): the ingest row is locked by each step, so an
ingest finishes once (a second completion answers 409 ``ingest_finished``, never a second
dataset version), and concurrent first ingests of an entry make one dataset. Meaningful on
PostgreSQL; SQLite serialises writers anyway, where the same outcomes must hold."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from concurrency import race
from gongshu.core.errors import Conflict, InvalidState
from gongshu.library import service
from gongshu.library.models import Dataset, DatasetVersion, Ingest, IngestStatus
from library.data import register_rows, write_file

N = 20


def _count(runtime: Any, model: Any, *where: Any) -> int:
    with runtime.db.transaction(write=False) as db:
        return db.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0


def _started(runtime: Any, actor: Any, entry: Any, path: Path) -> Any:
    with runtime.db.transaction() as db:
        ingest = service.start_ingest(actor, db, entry_id=entry.id, source=str(path),
                                      queue=False)
        ingest_id = ingest.id
    with runtime.db.transaction() as db:
        service.begin_ingest(actor, db, ingest_id)
    return ingest_id


def _result(storage_version: int) -> Any:
    """What the pipeline hands to ``complete_ingest`` (the stored version, its schema …)."""
    return SimpleNamespace(version=SimpleNamespace(version=storage_version, bytes=100), rows=3,
                           scanned_rows=0, detections=[], warnings=[], seconds=0.0,
                           schema=pa.schema([]))


def test_concurrent_first_ingests_make_one_dataset(runtime: Any, people: Any, entry: Any,
                                                   tmp_path: Path) -> None:
    path = write_file(tmp_path / "register.csv", register_rows(5))
    actor = people.steward.actor
    outcomes = race(runtime, 10, lambda db, i: service.start_ingest(
        actor, db, entry_id=entry.id, source=str(path), queue=False).dataset_id)
    assert outcomes.unexpected(Conflict) == []
    assert outcomes.successes >= 1 and len(set(outcomes.results)) == 1
    assert _count(runtime, Dataset, Dataset.entry_id == entry.id) == 1
    assert _count(runtime, Ingest, Ingest.entry_id == entry.id) == outcomes.successes


def test_twenty_concurrent_completions_store_one_version(runtime: Any, people: Any, entry: Any,
                                                         tmp_path: Path) -> None:
    path = write_file(tmp_path / "register.csv", register_rows(5))
    actor = people.steward.actor
    ingest_id = _started(runtime, actor, entry, path)
    outcomes = race(runtime, N, lambda db, i: service.complete_ingest(
        actor, db, ingest_id, result=_result(i + 1), report={}, source={},
        quality_outcome=None).number)
    assert outcomes.unexpected(Conflict) == []
    assert outcomes.successes == 1 and outcomes.errors_of(InvalidState) == N - 1
    assert {e.code for e in outcomes.errors} == {"ingest_finished"}
    with runtime.db.transaction(write=False) as db:
        ingest = db.get(Ingest, ingest_id)
        assert ingest is not None and ingest.status == IngestStatus.SUCCEEDED
        versions = db.scalars(sa.select(DatasetVersion).where(
            DatasetVersion.dataset_id == ingest.dataset_id)).all()
        assert [v.id for v in versions] == [ingest.version_id]
        assert db.get(Dataset, ingest.dataset_id).version_count == 1  # type: ignore[union-attr]


def test_a_completion_racing_a_failure_finishes_the_ingest_once(
    runtime: Any, people: Any, entry: Any, tmp_path: Path
) -> None:
    path = write_file(tmp_path / "register.csv", register_rows(5))
    actor = people.steward.actor
    ingest_id = _started(runtime, actor, entry, path)

    def finish(db: Any, i: int) -> str:
        if i % 2:
            return service.fail_ingest(actor, db, ingest_id, message="读取失败").status and "failed"
        return service.complete_ingest(actor, db, ingest_id, result=_result(i + 1), report={},
                                       source={}, quality_outcome=None) and "succeeded"

    outcomes = race(runtime, 10, finish)
    assert outcomes.unexpected(Conflict) == []
    assert outcomes.successes == 1 and outcomes.errors_of(InvalidState) == 9
    with runtime.db.transaction(write=False) as db:
        ingest = db.get(Ingest, ingest_id)
        assert ingest is not None and IngestStatus(ingest.status).value == outcomes.results[0]
    assert _count(runtime, DatasetVersion) == (1 if outcomes.results[0] == "succeeded" else 0)
