"""The library with its storage in an S3-compatible bucket (a real SeaweedFS server): an upload
through the API reaches the worker through the bucket, and every reader of the data (preview,
read_columns, quality, rescan) reads the version there; nothing lands in the data directory.
Versions written by several processes at once get distinct numbers (the lock is a database
row, not a file)."""

from __future__ import annotations

import multiprocessing
import re
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from gongshu.core.config import Settings
from gongshu.core.jobs import Job, Worker
from gongshu.core.runtime import Runtime
from gongshu.grading import service as grading
from gongshu.library import service
from gongshu.library.models import Dataset, Ingest
from library.data import register_rows, uploaded_files, write_file

ROWS = register_rows(30)


@pytest.fixture
def settings(settings: Settings, s3_prefix: dict[str, Any]) -> Settings:
    """The suite's settings (SQLite or PostgreSQL), storage in a fresh prefix of the bucket."""
    return Settings(**{**settings.model_dump(), **s3_prefix})


def test_an_upload_travels_through_the_bucket_and_every_reader_reads_there(
        runtime: Any, client: Any, entry: Any, people: Any, token_for: Any,
        tmp_path: Path) -> None:
    steward = token_for(people.steward)
    path = write_file(tmp_path / "人口.csv", ROWS)
    with path.open("rb") as fh:
        answer = client.post("/api/v1/library/ingests", headers=steward,
                             data={"entry_id": str(entry.id)},
                             files={"file": (path.name, fh, "text/csv")})
    assert answer.status_code == 202, answer.text
    ingest = answer.json()
    with runtime.db.transaction(write=False) as db:
        params = db.get(Job, uuid.UUID(ingest["job_id"])).params
    assert re.fullmatch(r"[0-9a-f]{16}/人口\.csv", params["upload"])
    assert uploaded_files(runtime) and uploaded_files(runtime)[0].startswith("gongshu-test/")
    assert Worker(runtime).run_pending() == 1
    actor = people.steward.actor
    with runtime.db.transaction(write=False) as db:
        done = db.get(Ingest, uuid.UUID(ingest["id"]))
        assert done is not None and done.status == "succeeded", done.error
        dataset = db.get(Dataset, done.dataset_id)
        assert dataset is not None
        storage_id = dataset.storage_id
    assert not uploaded_files(runtime)  # read once, then removed from the bucket
    data_dir = runtime.settings.resolved_data_dir
    assert not (data_dir / "datasets").exists() and not (data_dir / "uploads").exists()
    store = service.dataset_store(runtime)
    [stored] = store.versions(storage_id)
    assert str(stored.path).startswith("gongshu-test/") and not stored.local
    assert stored.arrow_dataset().count_rows() == len(ROWS)
    # a version never changes: its manifest is read once per process, whichever store asks
    assert service.dataset_store(runtime).get(storage_id, stored.version) is \
        service.dataset_store(runtime).get(storage_id, stored.version)

    with runtime.db.transaction() as db:
        page = service.preview(actor, db, dataset.id, limit=5)
        assert len(page.rows) == 5
        stream = service.read_columns(actor, db, entry_id=entry.id, columns=["XM"],
                                      where=[("XM", "=", ROWS[3][0])])
        assert [r["XM"] for r in stream.batches.read_all().to_pylist()] == [ROWS[3][0]]
        quality_job = service.request_quality(actor, db, dataset.id).id
        rescan_job = grading.request_rescan(actor, db, entry.id).id
    Worker(runtime).run_pending()
    with runtime.db.transaction(write=False) as db:
        for job_id in (quality_job, rescan_job):
            job = db.get(Job, job_id)
            assert job is not None and job.status == "succeeded", job.error
        assert grading.latest_scan(actor, db, entry.id).rows_scanned == len(ROWS)


def _write(settings: dict[str, Any], storage_id: str, value: int, out: Any) -> None:
    rt = Runtime(Settings(**settings))
    try:
        version = service.dataset_store(rt).write(storage_id, pa.table({"v": [value]}))
        out.put(version.version)
    finally:
        rt.close()


def test_processes_writing_one_dataset_get_distinct_versions(
        runtime: Any, entry: Any, people: Any, run_ingest: Any, tmp_path: Path) -> None:
    """Four processes (as if on four machines: they share only the database and the bucket)
    write versions of one dataset at once; the database row lock numbers them."""
    assert run_ingest(people.steward.actor, entry,
                      write_file(tmp_path / "p.csv", ROWS)).status == "succeeded"
    with runtime.db.transaction(write=False) as db:
        storage_id = db.scalars(sa.select(Dataset.storage_id)).one()
    raw = runtime.settings.model_dump(mode="json")
    raw["s3_secret_key"] = runtime.settings.s3_secret_key.get_secret_value()
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_write, args=(raw, storage_id, i, out)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    got = sorted(out.get(timeout=5) for _ in procs)
    assert got == [2, 3, 4, 5]
    store = service.dataset_store(runtime)
    assert [v.version for v in store.versions(storage_id)] == [1, 2, 3, 4, 5]
    assert store.current(storage_id).version == 5  # type: ignore[union-attr]


def test_an_upload_gone_from_the_bucket_fails_its_ingest(
        runtime: Any, entry: Any, people: Any, tmp_path: Path) -> None:
    from gongshu.library import uploads

    area = service.upload_area(runtime.settings)
    key = "0123456789abcdef/人口.csv"
    area.put(key, write_file(tmp_path / "p.csv", ROWS).read_bytes())
    with runtime.db.transaction() as db:
        ingest = service.start_ingest(people.steward.actor, db, entry_id=entry.id, source=key,
                                      source_kind="upload")
        ingest_id = ingest.id
    uploads.discard(area, key)  # e.g. swept while the job waited
    Worker(runtime).run_pending()
    with runtime.db.transaction(write=False) as db:
        done = db.get(Ingest, ingest_id)
        assert done is not None and done.status == "failed"
        assert "could not be read from the storage" in (done.error or "")
