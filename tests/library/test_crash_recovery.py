"""Crashes leave nothing behind (issue 13 §2), with a real ``gongshu worker`` process:

- killed with SIGKILL mid-ingest: once its lease runs out the reaper fails the job and the
  ingest (with the reason), the scheduled sweep removes the temporary version and the upload,
  the previous version stays current and readable, and the audit chain verifies;
- sent SIGTERM mid-ingest: the worker finishes the job (a grace long enough) or hands it back
  (a short one), exits 0, and the ingest ends settled (succeeded, at once or after a re-run).

The worker is the real command (``gongshu worker``), started by a small wrapper that only
slows the ingest down (smaller batches, a pause at each progress report) and says when the
ingest is under way, so the signal lands mid-ingest."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from gongshu.audit import service as audit_service
from gongshu.core import jobs
from gongshu.core.config import Settings
from gongshu.core.jobs import Job, JobStatus, Worker
from gongshu.core.runtime import Runtime
from gongshu.engine import DatasetStore
from gongshu.library import service
from gongshu.library.models import Dataset, DatasetVersion, Ingest
from library.data import SYSTEM, register_rows, write_file

#: the leftovers these tests look for (uploads, unfinished versions) are files of the local data
#: directory; with storage on an object store (``GONGSHU_TEST_STORAGE=s3``) they are elsewhere
pytestmark = pytest.mark.skipif(os.environ.get("GONGSHU_TEST_STORAGE") == "s3",
                                reason="looks for leftovers on the local disk")

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = """
import pathlib, sys, time
marker, delay = pathlib.Path(sys.argv[1]), float(sys.argv[2])
from gongshu.library import jobs as library_jobs
library_jobs.INGEST_BATCH_ROWS = 500
original = library_jobs._Progress.__call__
def slow(self, rows, batch):
    marker.write_text(str(rows))
    time.sleep(delay)
    original(self, rows, batch)
library_jobs._Progress.__call__ = slow
if delay < 0:  # stop after the version is published, before its record is committed
    def stuck(ctx, plan, result):
        marker.write_text("999999")
        time.sleep(120)
    library_jobs._quality = stuck
    library_jobs._Progress.__call__ = original
from gongshu.cli.main import main
sys.argv = ["gongshu", "worker", *sys.argv[3:]]
main()
"""
STALE = 2


@pytest.fixture
def reaper(settings: Settings) -> Any:
    """A second runtime on the same platform, whose leases run out after STALE seconds."""
    rt = Runtime(settings.model_copy(update={"job_stale_seconds": STALE}))
    yield rt
    rt.close()


def _start_worker(settings: Settings, tmp_path: Path, *, delay: float,
                  grace: float = 30.0) -> tuple[subprocess.Popen[bytes], Path]:
    marker = tmp_path / f"progress-{secrets.token_hex(4)}"
    script = tmp_path / "worker_wrapper.py"
    script.write_text(WRAPPER)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"),
           "GONGSHU_DATA_DIR": str(settings.resolved_data_dir),
           "GONGSHU_DATABASE_URL": settings.effective_database_url,
           "GONGSHU_JOB_STALE_SECONDS": str(STALE),
           "GONGSHU_WORKER_GRACE_SECONDS": str(grace),
           "GONGSHU_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, str(script), str(marker), str(delay)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc, marker


def _wait_for(marker: Path, proc: subprocess.Popen[bytes], rows: int = 1000,
              timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = marker.read_text() if marker.exists() else ""
        if text and int(text) >= rows:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the worker ended early: {proc.stdout.read().decode()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"the ingest did not get under way: {proc.stdout.read().decode()}")


def _upload(runtime: Runtime, tmp_path: Path, rows: int) -> Path:
    folder = runtime.settings.resolved_data_dir / "uploads" / secrets.token_hex(8)
    folder.mkdir(parents=True)
    return write_file(folder / "people.csv", register_rows(rows, seed=7))


def _first_version(runtime: Runtime, entry: Any, people: Any, run_ingest: Any,
                   tmp_path: Path) -> tuple[Dataset, DatasetVersion]:
    done = run_ingest(people.steward.actor, entry, write_file(tmp_path / "v1.csv",
                                                              register_rows(20)))
    assert done.status == "succeeded", done.error
    with runtime.db.transaction(write=False) as db:
        dataset = db.get(Dataset, done.dataset_id)
        version = db.get(DatasetVersion, dataset.current_version_id)
        db.expunge_all()
    return dataset, version


def _queue_ingest(runtime: Runtime, people: Any, entry: Any, path: Path) -> tuple[Any, Any]:
    with runtime.db.transaction() as db:
        # an upload is named by its key in the upload area: <folder>/<file name>
        ingest = service.start_ingest(people.steward.actor, db, entry_id=entry.id,
                                      source=f"{path.parent.name}/{path.name}",
                                      source_kind="upload")
        return ingest.id, ingest.job_id


def _state(runtime: Runtime, ingest_id: Any, job_id: Any) -> tuple[Ingest, Job]:
    with runtime.db.transaction(write=False) as db:
        ingest, job = db.get(Ingest, ingest_id), db.get(Job, job_id)
        db.expunge_all()
    return ingest, job


def _leftovers(runtime: Runtime) -> list[Path]:
    data = runtime.settings.resolved_data_dir
    # a version being written holds a _writing marker until its manifest is in
    return [*data.glob("datasets/*/.tmp-*"), *data.glob("datasets/*/v*/_writing"),
            *data.glob("uploads/*/*"), *data.glob("tmp/duckdb/*")]


def _verifies(runtime: Runtime) -> None:
    runtime.audit_checkpoints.flush()
    with runtime.db.transaction(write=False) as db:
        report = audit_service.verify(SYSTEM, db)
    assert report.ok, report.verdict()


def _age_everything(runtime: Runtime) -> None:
    """Make the leftovers older than the sweep's minimum age (as if time had passed)."""
    old = time.time() - 2 * service.SWEEP_MIN_AGE.total_seconds()
    for path in _leftovers(runtime):
        os.utime(path, (old, old))
        os.utime(path.parent, (old, old))


def test_a_worker_killed_mid_ingest_leaves_nothing_behind(
        runtime: Runtime, reaper: Runtime, entry: Any, people: Any, run_ingest: Any,
        tmp_path: Path) -> None:
    dataset, v1 = _first_version(runtime, entry, people, run_ingest, tmp_path)
    upload = _upload(runtime, tmp_path, 5000)
    ingest_id, job_id = _queue_ingest(runtime, people, entry, upload)
    proc, marker = _start_worker(runtime.settings, tmp_path, delay=0.5)
    try:
        _wait_for(marker, proc)
        assert list(runtime.settings.parquet_dir.glob(f"{dataset.storage_id}/v*/_writing")), \
            "the ingest is writing its temporary version"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    ingest, job = _state(runtime, ingest_id, job_id)
    assert (ingest.status, job.status) == ("running", "running")

    time.sleep(STALE + 0.5)  # the lease runs out
    assert Worker(reaper).reap_stale() == 1
    ingest, job = _state(runtime, ingest_id, job_id)
    assert (job.status, job.error_code) == ("failed", "worker_lost")
    assert ingest.status == "failed"
    assert "did not finish" in ingest.error and "stopped responding" in ingest.error
    assert upload.exists() and _leftovers(runtime), "the files wait for the sweep"

    # the scheduled sweep, as a worker's housekeeping submits it once it is due
    assert "library.sweep_uploads" in jobs.SCHEDULES
    _age_everything(runtime)
    sweeper = Worker(reaper)
    sweeper.sync_schedules()
    sweeper.run_schedules(now=jobs.utcnow() + dt.timedelta(days=1))
    sweeper.run_pending()  # (the killed worker submitted one at its start; it waited queued)
    with runtime.db.transaction(write=False) as db:
        swept = list(db.scalars(jobs.select(Job).where(Job.kind == "library.sweep_uploads")))
    assert swept and all(j.status == JobStatus.SUCCEEDED for j in swept), [j.error for j in swept]
    assert sum(j.result["orphan_uploads"] for j in swept) == 1
    assert sum(j.result["temporary_versions"] for j in swept) >= 1
    assert not _leftovers(runtime), _leftovers(runtime)
    assert not upload.parent.exists()

    # the previous version is intact and still current
    with runtime.db.transaction(write=False) as db:
        current = db.get(Dataset, dataset.id)
        assert current.current_version_id == v1.id
    stored = DatasetStore(runtime.settings.parquet_dir).get(dataset.storage_id,
                                                            v1.storage_version)
    assert sum(pq.read_metadata(p).num_rows for p in stored.file_paths) == v1.rows == 20
    _verifies(runtime)


@pytest.mark.parametrize(("grace", "outcome"), [(30.0, "finished"), (0.2, "handed back")])
def test_a_worker_told_to_stop_mid_ingest_drains(
        runtime: Runtime, reaper: Runtime, entry: Any, people: Any, run_ingest: Any,
        tmp_path: Path, grace: float, outcome: str) -> None:
    dataset, v1 = _first_version(runtime, entry, people, run_ingest, tmp_path)
    upload = _upload(runtime, tmp_path, 3000)
    ingest_id, job_id = _queue_ingest(runtime, people, entry, upload)
    proc, marker = _start_worker(runtime.settings, tmp_path, delay=0.3, grace=grace)
    try:
        _wait_for(marker, proc)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(grace + 30)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = proc.stdout.read().decode()
    assert code == 0, output
    assert "Traceback" not in output, output
    ingest, job = _state(runtime, ingest_id, job_id)
    if outcome == "finished":
        assert "1 job(s) finished" in output, output
        assert (job.status, ingest.status) == ("succeeded", "succeeded")
        assert not upload.parent.exists()
    else:
        assert "1 handed back" in output, output
        assert job.status == "queued" and not job.worker
        assert ingest.status == "running"  # not failed: it runs again
        assert upload.exists(), "a handed-back ingest keeps its upload"
        assert Worker(reaper).run_pending() >= 1  # another worker takes it up
        ingest, job = _state(runtime, ingest_id, job_id)
        assert (job.status, ingest.status) == ("succeeded", "succeeded"), ingest.error
    with runtime.db.transaction(write=False) as db:
        current = db.get(Dataset, dataset.id)
        version = db.get(DatasetVersion, current.current_version_id)
        assert version.number == 2 and version.rows == 3000
        assert db.scalar(jobs.select(jobs.func.count()).select_from(jobs.JobWorker)) == 0, \
            "the worker removed itself from job_worker"
    assert not list(runtime.settings.parquet_dir.glob(f"{dataset.storage_id}/v*/_writing"))
    _verifies(runtime)


def test_an_ingest_cancelled_while_queued_is_settled(runtime: Runtime, entry: Any,
                                                     people: Any, tmp_path: Path) -> None:
    upload = _upload(runtime, tmp_path, 10)
    ingest_id, job_id = _queue_ingest(runtime, people, entry, upload)
    with runtime.db.transaction() as db:
        jobs.cancel(people.steward.actor, db, job_id)
    ingest, job = _state(runtime, ingest_id, job_id)
    assert (job.status, ingest.status) == ("cancelled", "failed")
    assert "cancelled before it started" in ingest.error


def test_the_sweep_removes_only_what_no_live_work_uses(runtime: Runtime, entry: Any,
                                                       people: Any, tmp_path: Path) -> None:
    live = _upload(runtime, tmp_path, 10)
    ingest_id, job_id = _queue_ingest(runtime, people, entry, live)  # queued: in use
    orphan = _upload(runtime, tmp_path, 10)
    _age_everything(runtime)
    young = _upload(runtime, tmp_path, 10)  # a request may be about to queue its ingest
    with runtime.db.transaction() as db:
        swept = service.sweep_leftovers(SYSTEM, db)
    assert swept.orphan_uploads == 1
    assert live.exists() and young.exists() and not orphan.exists()
    # an ingest whose job ended without settling it (e.g. a settle that failed) is settled
    with runtime.db.transaction() as db:
        db.execute(jobs.update(Job).where(Job.id == job_id)
                   .values(status=JobStatus.FAILED, error="worker x stopped responding"))
    with runtime.db.transaction() as db:
        swept = service.sweep_leftovers(SYSTEM, db)
    assert swept.settled == 1
    ingest, _job = _state(runtime, ingest_id, job_id)
    assert ingest.status == "failed" and "worker x stopped responding" in ingest.error
    with pytest.raises(jobs.PermissionDenied), runtime.db.transaction() as db:
        service.sweep_leftovers(people.steward.actor, db)


def test_a_worker_killed_after_publishing_leaves_no_unrecorded_version(
        runtime: Runtime, reaper: Runtime, entry: Any, people: Any, run_ingest: Any,
        tmp_path: Path) -> None:
    """Killed between writing the new version and recording it: the version is on disk and
    the storage pointer names it, the metadata store does not. The sweep removes it and points
    storage back at the recorded version."""
    dataset, v1 = _first_version(runtime, entry, people, run_ingest, tmp_path)
    upload = _upload(runtime, tmp_path, 100)
    ingest_id, job_id = _queue_ingest(runtime, people, entry, upload)
    proc, marker = _start_worker(runtime.settings, tmp_path, delay=-1)
    try:
        _wait_for(marker, proc, rows=999999)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    store = DatasetStore(runtime.settings.parquet_dir)
    assert len(store.versions(dataset.storage_id)) == 2
    assert store.current(dataset.storage_id).version != v1.storage_version
    time.sleep(STALE + 0.5)
    assert Worker(reaper).reap_stale() == 1
    assert _state(runtime, ingest_id, job_id)[0].status == "failed"
    later = jobs.utcnow() + 2 * service.SWEEP_MIN_AGE  # as the sweep would see it later
    with runtime.db.transaction() as db:
        swept = service.sweep_leftovers(SYSTEM, db, now=later)
    assert (swept.orphan_versions, swept.repointed, swept.orphan_uploads) == (1, 1, 1)
    assert [v.version for v in store.versions(dataset.storage_id)] == [v1.storage_version]
    assert store.current(dataset.storage_id).version == v1.storage_version
    assert not _leftovers(runtime)
    _verifies(runtime)
