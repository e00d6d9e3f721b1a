"""Consistent backups and restores: the metadata store, the datasets, the audit checkpoints.

A backup is a directory::

    manifest.json                 written last: a backup without it is incomplete
    audit/audit-head.json         the signed checkpoint file, as the signers left it
    audit/audit-checkpoints.jsonl the checkpoint log, as the signers left it
    db/gongshu.db                 SQLite: a copy made with SQLite's backup API
    db/gongshu.pgdump             PostgreSQL: pg_dump -Fc of one exported snapshot
    data/datasets/…               the Parquet versions (immutable once written)
    data/grading/…                optional grading schemes and rule packs
    data/gongshu.toml             the settings file, when there is one
    keys/…                        only with ``--with-keys`` (keep keys apart, encrypted)

The order is what makes the restored audit chain verify under write load:

1. **The audit files first**, under the signers' shared lock (never between a log line and the
   checkpoint file). A checkpoint is signed only after its events committed, so every
   checkpoint copied now names an event that any later snapshot of the database holds.
2. **Then the database, in one snapshot** (SQLite's backup API copies the file in one step
   under one read transaction; on PostgreSQL a REPEATABLE READ transaction exports its snapshot,
   reads the chain's head in it and ``pg_dump --snapshot`` dumps exactly that snapshot). The
   snapshot's head ``(seq, hash)`` goes into the manifest, and the backup is refused if a copied
   checkpoint lies beyond it (a checkpoint log shared with another installation).
3. **Then the datasets.** A version is written under a temporary name and renamed into place
   before the database names it, and never changed afterwards: every version the snapshot
   names is on disk by now. Versions written after the snapshot are copied too and unused.

The naive order (database, then data directory) copies checkpoints signed after the snapshot:
the restored chain then ends before its checkpoint, which ``audit verify`` rightly calls a
cut-off end. With this order, the restored chain ends at or after its newest checkpoint; the
events after it (committed before the snapshot, signed after the copy) count as unattested.

``restore`` checks the manifest (every file's size and SHA-256, no file missing or added, the
audit key's fingerprint), refuses a target that is not empty unless ``force``, restores into the
target's database and data directory, then brings the schema up to date.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, make_url

from gongshu import __version__
from gongshu.core.config import Settings
from gongshu.core.errors import Conflict, InvalidState, ValidationFailed
from gongshu.core.security import KeyStore

MANIFEST = "manifest.json"
FORMAT = 1
SQLITE_FILE = "db/gongshu.db"
PG_FILE = "db/gongshu.pgdump"
HEAD_FILE = "audit/audit-head.json"
LOG_FILE = "audit/audit-checkpoints.jsonl"
#: what of the data directory is backed up (besides the database and the audit files)
DATA_PARTS = ("datasets", "grading", "gongshu.toml")
#: never copied: a version being written, a lock
_SKIP_PREFIXES = (".tmp-", ".lock", ".current.")

#: called between the steps with the step just done ("audit", "database", "data"); for tests
Hook = Callable[[str], None]


class BackupRefused(InvalidState):
    """A backup or restore that cannot go ahead (the message says why)."""


@dataclass(frozen=True)
class Result:
    path: Path
    manifest: dict[str, Any]


# ----------------------------------------------------------------------------------- helpers


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def key_fingerprint(keys: KeyStore) -> str | None:
    """SHA-256 of the audit public key (raw), or None when there is no audit key."""
    if not (keys.directory / "audit-ed25519.pem").is_file():
        return None
    raw = keys.verify_key("audit").public_bytes(serialization.Encoding.Raw,
                                                 serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupRefused("Only a SQLite database in a file can be backed up.",
                            code="backup_unsupported")
    return Path(database)


def pg_tool(settings: Settings, name: str) -> str:
    """The path of ``pg_dump`` or ``pg_restore``: ``GONGSHU_PG_BIN_DIR``, the PATH, else the
    newest ``/usr/lib/postgresql/*/bin``."""
    if settings.pg_bin_dir is not None:
        candidate = Path(settings.pg_bin_dir).expanduser() / name
        if candidate.is_file():
            return str(candidate)
        raise BackupRefused(f"{candidate} does not exist (GONGSHU_PG_BIN_DIR).",
                            code="backup_tool_missing")
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                      else 0)
    if versions:
        return str(versions[-1])
    raise BackupRefused(f"{name} was not found: install the PostgreSQL client tools of the "
                        "server's version or set GONGSHU_PG_BIN_DIR.", code="backup_tool_missing")


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string for the tools, and the environment carrying the password
    (never on a command line, where ``ps`` shows it)."""
    parsed: URL = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise BackupRefused(f"{what} failed: {proc.stderr.strip()[-2000:]}", code="backup_failed")


@contextlib.contextmanager
def _signers_paused(settings: Settings) -> Iterator[None]:
    """Hold the signers' lock (shared: they write under it exclusively) while the checkpoint
    file and the log are copied, so the copy is never between a log line and the file."""
    lock_path = settings.audit_checkpoint_path.with_suffix(".lock")
    if not lock_path.exists():
        yield
        return
    with open(lock_path) as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        yield


def _files_under(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(_SKIP_PREFIXES))
        for name in sorted(filenames):
            if not name.startswith(_SKIP_PREFIXES):
                yield Path(dirpath) / name


def _log_last_seq(path: Path) -> int | None:
    last = None
    if path.is_file():
        for line in path.read_bytes().splitlines():
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                seq = json.loads(line).get("seq")
                if isinstance(seq, int):
                    last = seq if last is None else max(last, seq)
    return last


# ------------------------------------------------------------------------------------ backup


def backup(settings: Settings, target: Path, *, with_keys: bool = False,
           hook: Hook | None = None) -> Result:
    """Back up the platform of ``settings`` into ``target`` (a new or empty directory)."""
    target = target.expanduser().resolve()
    if target.exists() and any(target.iterdir()):
        raise BackupRefused(f"{target} is not empty: back up into a new directory.",
                            code="backup_target_not_empty")
    data_dir = settings.resolved_data_dir
    if target == data_dir or data_dir in target.parents:
        raise BackupRefused("Back up outside the data directory.", code="backup_target_inside")
    target.mkdir(parents=True, exist_ok=True)
    started = _now()
    url = settings.effective_database_url

    # 1. the audit files, as the signers left them
    (target / "audit").mkdir()
    with _signers_paused(settings):
        if settings.audit_checkpoint_path.is_file():
            shutil.copy2(settings.audit_checkpoint_path, target / HEAD_FILE)
        if settings.audit_checkpoint_log_path.is_file():
            shutil.copy2(settings.audit_checkpoint_log_path, target / LOG_FILE)
    if hook:
        hook("audit")

    # 2. the database, in one snapshot, with the chain's head in that snapshot
    (target / "db").mkdir()
    if _is_sqlite(url):
        head, revisions = _backup_sqlite(_sqlite_path(url), target / SQLITE_FILE)
        backend = "sqlite"
    else:
        head, revisions = _backup_postgres(settings, url, target / PG_FILE)
        backend = "postgresql"
    snapshot_at = _now()
    if hook:
        hook("database")
    checkpoint_seq = max(
        (s for s in (_log_last_seq(target / LOG_FILE), _head_file_seq(target / HEAD_FILE))
         if s is not None), default=None)
    if checkpoint_seq is not None and head is not None and checkpoint_seq > head[0]:
        shutil.rmtree(target, ignore_errors=True)
        raise BackupRefused(
            f"The audit checkpoints name event {checkpoint_seq} but the database holds events "
            f"up to {head[0]}: the checkpoint files belong to another database (is "
            "GONGSHU_AUDIT_CHECKPOINT_DIR shared?). Nothing was backed up.",
            code="backup_checkpoint_ahead")

    # 3. the datasets and the other files of the data directory
    for part in DATA_PARTS:
        source = data_dir / part
        if source.is_file():
            (target / "data").mkdir(exist_ok=True)
            shutil.copy2(source, target / "data" / part)
        elif source.is_dir():
            for path in _files_under(source):
                dest = target / "data" / path.relative_to(data_dir)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
    if with_keys and settings.keys_dir.is_dir():
        for path in _files_under(settings.keys_dir):
            dest = target / "keys" / path.relative_to(settings.keys_dir)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
    if hook:
        hook("data")

    files = []
    for path in _files_under(target):
        rel = path.relative_to(target).as_posix()
        files.append({"path": rel, "bytes": path.stat().st_size, "sha256": _sha256(path)})
    manifest = {
        "format": FORMAT,
        "gongshu": __version__,
        "started_at": started,
        "snapshot_at": snapshot_at,
        "finished_at": _now(),
        "backend": backend,
        "schema": sorted(revisions),
        "audit": {"head_seq": head[0] if head else None, "head_hash": head[1] if head else None,
                  "checkpoint_seq": checkpoint_seq},
        "audit_key": key_fingerprint(KeyStore(settings.keys_dir)),
        "with_keys": with_keys,
        "files": files,
    }
    tmp = target / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, target / MANIFEST)
    return Result(target, manifest)


def _head_file_seq(path: Path) -> int | None:
    try:
        seq = json.loads(path.read_text()).get("seq")
    except (OSError, ValueError, AttributeError):
        return None
    return seq if isinstance(seq, int) else None


def _backup_sqlite(source: Path, dest: Path) -> tuple[tuple[int, str] | None, list[str]]:
    """SQLite's online backup: one step (``pages=-1``) copies every page under one read
    transaction, so the copy is one snapshot even while other connections write."""
    src = sqlite3.connect(source, timeout=60)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst, pages=-1)
    finally:
        src.close()
    try:
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        head = dst.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        revisions = [r[0] for r in dst.execute("SELECT version_num FROM alembic_version")]
    except sqlite3.DatabaseError as exc:
        raise BackupRefused(f"The database is not a gongshu metadata store: {exc}",
                            code="backup_failed") from None
    finally:
        dst.close()
    return ((int(head[0]), str(head[1])) if head else None), revisions


def _backup_postgres(settings: Settings, url: str,
                     dest: Path) -> tuple[tuple[int, str] | None, list[str]]:
    """pg_dump of the snapshot of a REPEATABLE READ transaction that read the chain's head:
    the dump holds exactly the events up to that head."""
    pg_dump = pg_tool(settings, "pg_dump")
    engine = create_engine(url, isolation_level="REPEATABLE READ")
    try:
        with engine.connect() as conn:
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            row = conn.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).first()
            revisions = [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
            dsn, env = _libpq(url)
            # the snapshot lives as long as this transaction: dump while it is open
            _run([pg_dump, "--format=custom", "--no-owner", "--no-privileges",
                  f"--snapshot={snapshot}", f"--file={dest}", f"--dbname={dsn}"], env, "pg_dump")
            conn.rollback()
    finally:
        engine.dispose()
    return ((int(row[0]), str(row[1])) if row else None), revisions


# ----------------------------------------------------------------------------------- restore


def read_manifest(source: Path) -> dict[str, Any]:
    """The manifest of the backup in ``source``, after checking every file against it;
    raises ``ValidationFailed`` naming what is damaged or missing."""
    source = source.expanduser().resolve()
    path = source / MANIFEST
    if not source.is_dir():
        raise ValidationFailed.single("backup", "not_found", f"{source}: no such directory.")
    if not path.is_file():
        raise ValidationFailed.single(
            "backup", "incomplete", f"{source} has no {MANIFEST}: the backup did not finish "
            "(or this is not a backup). Use another backup.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files = {f["path"]: f for f in manifest["files"]}
        int(manifest["format"])
        manifest["backend"]  # noqa: B018 - must be there
    except (OSError, ValueError, KeyError, TypeError):
        raise ValidationFailed.single("backup", "damaged", f"{path} does not read as a "
                                      "backup manifest: the backup is damaged.") from None
    if manifest["format"] != FORMAT:
        raise ValidationFailed.single("backup", "format", f"backup format {manifest['format']} "
                                      f"is not {FORMAT}: restore it with its own gongshu version.")
    problems = []
    present = {p.relative_to(source).as_posix() for p in _files_under(source)} - {MANIFEST}
    for rel in sorted(set(files) - present):
        problems.append(f"{rel} is missing")
    for rel in sorted(present - set(files)):
        problems.append(f"{rel} is not in the manifest (added after the backup)")
    for rel in sorted(set(files) & present):
        entry, file = files[rel], source / rel
        if file.stat().st_size != entry["bytes"]:
            problems.append(f"{rel} has {file.stat().st_size} bytes, the manifest says "
                            f"{entry['bytes']}")
        elif _sha256(file) != entry["sha256"]:
            problems.append(f"{rel} differs from the manifest (SHA-256): changed or damaged")
    needed = SQLITE_FILE if manifest["backend"] == "sqlite" else PG_FILE
    if needed not in files:
        problems.append(f"{needed} (the database) is not in the backup")
    if problems:
        raise ValidationFailed.single(
            "backup", "damaged", f"The backup in {source} is damaged or incomplete; nothing was "
            "restored: " + "; ".join(problems[:10])
            + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""))
    return manifest


def _target_state(settings: Settings) -> list[str]:
    """What already is in the target (empty list: an empty target)."""
    found = []
    url = settings.effective_database_url
    if _is_sqlite(url):
        path = _sqlite_path(url)
        if path.is_file() and path.stat().st_size > 0:
            con = sqlite3.connect(path)
            try:
                tables = [r[0] for r in con.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")]
            finally:
                con.close()
            if tables:
                found.append(f"the database {path} has {len(tables)} tables")
    else:
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                tables = inspect(conn).get_table_names()
        finally:
            engine.dispose()
        if tables:
            found.append(f"the database has {len(tables)} tables")
    data_dir = settings.resolved_data_dir
    datasets = data_dir / "datasets"
    if datasets.is_dir() and any(datasets.iterdir()):
        found.append(f"{datasets} is not empty")
    for path in (settings.audit_checkpoint_path, settings.audit_checkpoint_log_path):
        if path.is_file():
            found.append(f"{path} exists")
    return found


def _set_aside(path: Path, stamp: str) -> None:
    if path.exists():
        os.replace(path, path.with_name(f"{path.name}.before-restore-{stamp}"))


def restore(settings: Settings, source: Path, *, force: bool = False) -> dict[str, Any]:
    """Restore the backup in ``source`` into the platform of ``settings``. Returns the manifest.

    The target must be empty (no tables, no datasets, no audit checkpoint files) unless
    ``force``: then its database is emptied, its datasets removed, and its audit checkpoint
    files set aside as ``….before-restore-<time>`` (evidence is never deleted)."""
    source = source.expanduser().resolve()
    manifest = read_manifest(source)
    url = settings.effective_database_url
    backend = "sqlite" if _is_sqlite(url) else "postgresql"
    if manifest["backend"] != backend:
        raise BackupRefused(f"This backup is of a {manifest['backend']} database; the target "
                            f"is {backend}.", code="restore_backend_mismatch")
    keys = KeyStore(settings.keys_dir)
    if manifest.get("with_keys"):
        mine = key_fingerprint(keys)
        if mine is not None and mine != manifest.get("audit_key") and not force:
            raise Conflict(f"{settings.keys_dir} holds another audit key than the backup's: "
                           "restore into a data directory without keys (or --force to replace "
                           "them).", code="restore_keys_differ")
    else:
        mine = key_fingerprint(keys)
        if manifest.get("audit_key") and mine != manifest["audit_key"]:
            raise BackupRefused(
                f"The audit key in {settings.keys_dir} is not the key that signed this backup's "
                "checkpoints" + (" (there is none)" if mine is None else "") + ": copy the "
                "keys/ directory from your key backup into the data directory first.",
                code="restore_key_mismatch")
    existing = _target_state(settings)
    if existing and not force:
        raise Conflict("The target is not empty (" + "; ".join(existing) + "): restore into "
                       "an empty database and data directory, or pass --force to replace it.",
                       code="restore_target_not_empty")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    data_dir = settings.resolved_data_dir
    data_dir.mkdir(parents=True, exist_ok=True)

    # the database
    if backend == "sqlite":
        path = _sqlite_path(url)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        src = sqlite3.connect(f"file:{source / SQLITE_FILE}?mode=ro", uri=True)
        dst = sqlite3.connect(path)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        # the search index is derived: rebuilt from the restored store when missing
        for suffix in ("", "-wal", "-shm"):
            Path(f"{data_dir / 'catalog-search.db'}{suffix}").unlink(missing_ok=True)
    else:
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                if force:
                    conn.execute(text("DROP SCHEMA public CASCADE"))
                    conn.execute(text("CREATE SCHEMA public"))
        finally:
            engine.dispose()
        dsn, env = _libpq(url)
        _run([pg_tool(settings, "pg_restore"), "--no-owner", "--no-privileges",
              "--exit-on-error", "--single-transaction", f"--dbname={dsn}",
              str(source / PG_FILE)], env, "pg_restore")

    # the data directory
    for part in DATA_PARTS:
        if force:
            dest = data_dir / part
            if dest.is_dir():
                shutil.rmtree(dest)
    data_root = source / "data"
    if data_root.is_dir():
        for path in _files_under(data_root):
            dest = data_dir / path.relative_to(data_root)
            if dest.name == "gongshu.toml" and dest.exists():
                continue  # the target's own settings stay
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
    if manifest.get("with_keys") and (source / "keys").is_dir():
        settings.keys_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(settings.keys_dir, 0o700)
        for path in _files_under(source / "keys"):
            dest = settings.keys_dir / path.relative_to(source / "keys")
            if dest.exists():
                _set_aside(dest, stamp)
            shutil.copy2(path, dest)
            os.chmod(dest, 0o600)

    # the audit checkpoint files: the backup's, the target's own set aside (never deleted)
    for name, dest in ((HEAD_FILE, settings.audit_checkpoint_path),
                       (LOG_FILE, settings.audit_checkpoint_log_path)):
        _set_aside(dest, stamp)
        if (source / name).is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
                tmp.write((source / name).read_bytes())
            os.replace(tmp.name, dest)
            os.chmod(dest, 0o640)
    return manifest
