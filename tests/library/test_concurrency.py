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


def test_a_second_run_of_one_ingest_leaves_the_first_finishers_version_current(
    runtime: Any, people: Any, entry: Any, tmp_path: Path, run_ingest: Any, monkeypatch: Any
) -> None:
    """Two jobs of one ingest (a retried job): the one that finishes second gets
    ``ingest_finished``, records no second version, and leaves storage pointing at the version
    the first one recorded (not back at the version before the ingest)."""
    from gongshu.core.jobs import Worker
    from gongshu.library import jobs as library_jobs

    path = write_file(tmp_path / "register.csv", register_rows(5))
    actor = people.steward.actor
    run_ingest(actor, entry, path)  # the version before
    with runtime.db.transaction() as db:
        ingest = service.start_ingest(actor, db, entry_id=entry.id, source=str(path))
        ingest_id, params = ingest.id, service.job_params(db, ingest, str(path))
    real_quality = library_jobs._quality
    calls: list[int] = []

    def second_run_first(ctx: Any, plan: Any, result: Any) -> Any:
        calls.append(result.version.version)
        if len(calls) == 1:  # the first job has stored its data; a second job overtakes it
            library_jobs._ingest(ctx, ingest_id, service.job_source(runtime.keys, params))
        return real_quality(ctx, plan, result)

    monkeypatch.setattr(library_jobs, "_quality", second_run_first)
    Worker(runtime).run_pending()
    assert len(calls) == 2
    with runtime.db.transaction(write=False) as db:
        done = db.get(Ingest, ingest_id)
        assert done is not None and done.status == IngestStatus.SUCCEEDED
        recorded = db.get(DatasetVersion, done.version_id)
        assert recorded is not None and recorded.storage_version == calls[1]
        assert _count(runtime, DatasetVersion, DatasetVersion.dataset_id == done.dataset_id) == 2
        storage_id = db.get(Dataset, done.dataset_id).storage_id  # type: ignore[union-attr]
    current = service.dataset_store(runtime).current(storage_id)
    assert current is not None and current.version == calls[1]
