"""Backups and restores (docs/operations.md, "Backup and restore"): the restored platform's audit
chain verifies — also for a backup taken while audited writes go on — its data reads back, and a
damaged, incomplete or misdirected restore is refused before anything is written."""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from gongshu.audit import service as audit_service
from gongshu.core import audit, backup
from gongshu.core.config import Settings
from gongshu.core.errors import Conflict, InvalidState, ValidationFailed
from gongshu.core.migrations import upgrade
from gongshu.core.permissions import Actor
from gongshu.core.runtime import Runtime
from gongshu.core.security import KeyStore
from gongshu.engine import DatasetStore
from gongshu.library.models import Dataset, DatasetVersion
from gongshu.orgs.models import Organization
from library.data import write_file

SYSTEM = Actor.system("test", via="system")
ROWS = [["王伟", "140105199001011234", "13800000000", "太原市迎泽大街1号", "5000.00",
         "1990-01-01", "是"]]


def _write(rt: Runtime, n: int, tag: str) -> None:
    for i in range(n):
        with rt.db.transaction() as db:
            audit.record(db, SYSTEM, "audit.verify", target_type="audit_chain",
                         details={"write": f"{tag}-{i}"})


@pytest.fixture
def target(settings: Settings, tmp_path: Path) -> Settings:
    """An empty platform to restore into, holding the source's keys (copied from the key
    backup, as the drill says): another data directory, and on PostgreSQL another database."""
    data_dir = tmp_path / "restored"
    KeyStore(settings.keys_dir).ensure()
    shutil.copytree(settings.keys_dir, data_dir / "keys",  # not another thread's half key
                    ignore=shutil.ignore_patterns(".tmp-*"))
    if settings.is_sqlite:
        url = f"sqlite:///{data_dir / 'gongshu.db'}"
    else:
        source = make_url(settings.effective_database_url)
        name = f"{source.database}_restore"
        admin = create_engine(source.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = source.set(database=name).render_as_string(hide_password=False)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    return Settings(data_dir=data_dir, database_url=url, job_threads=0)


def _verify(settings: Settings) -> Any:
    rt = Runtime(settings)
    try:
        upgrade(rt.db)
        with rt.db.transaction(write=False) as db:
            return audit_service.verify(SYSTEM, db)
    finally:
        rt.close()


def test_backup_and_restore_verify_and_read_back(runtime: Runtime, tree: Any, entry: Any,
                                                 people: Any, run_ingest: Any, tmp_path: Path,
                                                 target: Settings) -> None:
    write_file(tmp_path / "people.csv", ROWS)
    done = run_ingest(people.steward.actor, entry, tmp_path / "people.csv")
    assert done.status == "succeeded", done.error
    runtime.audit_checkpoints.flush()
    result = backup.backup(runtime.settings, tmp_path / "backup")
    manifest = json.loads((result.path / backup.MANIFEST).read_text())
    assert manifest["backend"] == ("sqlite" if runtime.settings.is_sqlite else "postgresql")
    assert manifest["audit"]["head_seq"] >= manifest["audit"]["checkpoint_seq"] > 0
    assert any(f["path"].startswith("data/datasets/") for f in manifest["files"])
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])

    backup.restore(target, result.path)
    report = _verify(target)
    assert report.ok, report.verdict()

    rt = Runtime(target)
    try:
        with rt.db.transaction(write=False) as db:
            assert db.scalar(select(func.count()).select_from(Organization)) == len(tree)
            dataset = db.scalar(select(Dataset).where(Dataset.entry_id == entry.id))
            version = db.get(DatasetVersion, dataset.current_version_id)
            stored = DatasetStore(target.parquet_dir).get(dataset.storage_id,
                                                          version.storage_version)
            table = pq.read_table([str(p) for p in stored.file_paths][0])
            assert table.num_rows == version.rows == len(ROWS)
            assert table.column("XM").to_pylist() == [ROWS[0][0]]
        # the restored platform goes on: a new audited change is signed onto the restored log
        _write(rt, 2, "after")
        rt.audit_checkpoints.flush()
    finally:
        rt.close()
    assert _verify(target).ok


def test_a_backup_under_write_load_restores_into_a_verifying_chain(
        runtime: Runtime, tree: Any, tmp_path: Path, target: Settings) -> None:
    """Writes and signed checkpoints land between every step of the backup (the hook), and a
    thread writes all along. Copying the checkpoints after the database snapshot (the order of
    the old advice) would restore a chain that ends before its checkpoint: TAMPERED."""
    _write(runtime, 5, "before")
    runtime.audit_checkpoints.flush()
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        n = 0
        while not stop.is_set():
            try:
                _write(runtime, 1, f"load-{n}")
                n += 1
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    def between(step: str) -> None:
        _write(runtime, 5, step)
        runtime.audit_checkpoints.flush()  # signed now: past the snapshot after "database"

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        result = backup.backup(runtime.settings, tmp_path / "backup", hook=between)
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    runtime.audit_checkpoints.flush()
    live = runtime.audit_checkpoints.read()
    assert live is not None and live.seq > result.manifest["audit"]["head_seq"], \
        "checkpoints were signed after the snapshot (else this test shows nothing)"

    backup.restore(target, result.path)
    report = _verify(target)
    assert report.ok, report.verdict()
    assert report.head_seq == result.manifest["audit"]["head_seq"]


def test_the_old_order_would_have_failed(runtime: Runtime, tree: Any, tmp_path: Path,
                                         target: Settings) -> None:
    """The control: the same backup with the live checkpoint files copied at the end (after
    the writes that follow the snapshot) restores into a chain that does not verify."""
    runtime.audit_checkpoints.flush()

    def between(step: str) -> None:
        if step == "database":
            _write(runtime, 5, step)
            runtime.audit_checkpoints.flush()

    result = backup.backup(runtime.settings, tmp_path / "backup", hook=between)
    backup.restore(target, result.path)
    shutil.copy(runtime.settings.audit_checkpoint_path, target.audit_checkpoint_path)
    shutil.copy(runtime.settings.audit_checkpoint_log_path, target.audit_checkpoint_log_path)
    assert not _verify(target).ok


@pytest.mark.parametrize("damage", ["edit_dataset", "edit_database", "drop_file", "add_file",
                                    "no_manifest", "edit_manifest"])
def test_a_damaged_or_incomplete_backup_is_refused(runtime: Runtime, tree: Any, entry: Any,
                                                   people: Any, run_ingest: Any, tmp_path: Path,
                                                   target: Settings, damage: str) -> None:
    write_file(tmp_path / "people.csv", ROWS)
    run_ingest(people.steward.actor, entry, tmp_path / "people.csv")
    runtime.audit_checkpoints.flush()
    path = backup.backup(runtime.settings, tmp_path / "backup").path
    parquet = next(p for p in (path / "data" / "datasets").rglob("*.parquet"))
    database = path / (backup.SQLITE_FILE if runtime.settings.is_sqlite else backup.PG_FILE)
    if damage == "edit_dataset":
        data = bytearray(parquet.read_bytes())
        data[len(data) // 2] ^= 0xFF
        parquet.write_bytes(bytes(data))
    elif damage == "edit_database":
        data = bytearray(database.read_bytes())
        data[-100] ^= 0x01
        database.write_bytes(bytes(data))
    elif damage == "drop_file":
        (path / backup.LOG_FILE).unlink()
    elif damage == "add_file":
        (path / "data" / "datasets" / "extra.parquet").write_bytes(b"x")
    elif damage == "no_manifest":
        (path / backup.MANIFEST).unlink()
    else:
        (path / backup.MANIFEST).write_text("{not json")
    with pytest.raises(ValidationFailed) as refused:
        backup.restore(target, path)
    assert "nothing was restored" in refused.value.detail or "did not finish" in \
        refused.value.detail or "damaged" in refused.value.detail
    assert not target.audit_checkpoint_log_path.exists()
    assert not (target.parquet_dir).exists()


def test_restore_only_into_an_empty_target_unless_forced(runtime: Runtime, tree: Any,
                                                         tmp_path: Path,
                                                         target: Settings) -> None:
    runtime.audit_checkpoints.flush()
    path = backup.backup(runtime.settings, tmp_path / "backup").path
    backup.restore(target, path)
    with pytest.raises(Conflict) as refused:
        backup.restore(target, path)
    assert refused.value.code == "restore_target_not_empty"
    # --force replaces it, and keeps the target's checkpoint files aside as evidence
    backup.restore(target, path, force=True)
    aside = list(target.audit_checkpoint_log_path.parent.glob("*.before-restore-*"))
    assert aside
    assert _verify(target).ok


def test_restore_needs_the_audit_key_of_the_backup(runtime: Runtime, tree: Any, tmp_path: Path,
                                                   target: Settings) -> None:
    runtime.audit_checkpoints.flush()
    path = backup.backup(runtime.settings, tmp_path / "backup").path
    shutil.rmtree(target.keys_dir)
    with pytest.raises(InvalidState) as refused:
        backup.restore(target, path)
    assert refused.value.code == "restore_key_mismatch"
    # a backup made --with-keys brings them
    keyed = backup.backup(runtime.settings, tmp_path / f"keyed-{uuid.uuid4().hex[:6]}",
                          with_keys=True).path
    backup.restore(target, keyed)
    assert _verify(target).ok


def test_a_backup_goes_into_a_new_directory(runtime: Runtime, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InvalidState):
        backup.backup(runtime.settings, tmp_path / "full")
    with pytest.raises(InvalidState):
        backup.backup(runtime.settings, runtime.settings.resolved_data_dir / "backup")
