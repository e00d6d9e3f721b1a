"""Versioned dataset storage: immutable Parquet versions and an atomic ``CURRENT`` pointer.

Layout under ``settings.parquet_dir`` (``<data_dir>/datasets``)::

    <dataset_id>/
        v1/part-00000.parquet …  _version.json
        v2/…
        CURRENT          "v2": the version readers get
        .lock            serialises publishing (flock; threads and processes)
        .tmp-<random>/   a version being written; never read

Why: a dataset (Art. 10, the library of public data) changes by new versions, never in place, so
a reader, a running sandbox query or a shared copy (Art. 12) always sees one whole version, and
an earlier version stays available for audit and rollback.

Writing a version: the data streams into a fresh temporary directory; only when every file is
written and synced is the directory renamed to ``v<N>`` and ``CURRENT`` replaced (``os.replace``)
— both under the dataset's lock, so concurrent writers get distinct, gapless numbers and
``CURRENT`` always names the newest. A write that fails (bad data, full disk, a crash) leaves no
version and the previous ``CURRENT`` untouched; a crash's leftover temporary directory is
removed by ``clean_temporary``.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads

from gongshu.core.errors import InvalidState, NotFound, ValidationFailed
from gongshu.engine.base import Batches, Engine, write_parquet

_DATASET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_VERSION_DIR = re.compile(r"^v([1-9][0-9]*)$")
CURRENT = "CURRENT"
MANIFEST = "_version.json"


@dataclass(frozen=True)
class DatasetVersion:
    dataset_id: str
    version: int
    path: Path
    rows: int
    bytes: int
    files: tuple[str, ...]
    created_at: str
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def file_paths(self) -> list[Path]:
        return [self.path / name for name in self.files]


class DatasetStore:
    """Versions of datasets under one root directory (``settings.parquet_dir``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- writing
    def write(
        self,
        dataset_id: str,
        data: Batches,
        *,
        metadata: Mapping[str, Any] | None = None,
        **parquet_options: Any,
    ) -> DatasetVersion:
        """Write ``data`` as the dataset's next version and make it current, atomically."""
        base = self._dataset_dir(dataset_id)
        base.mkdir(parents=True, exist_ok=True)
        tmp = base / f".tmp-{secrets.token_hex(8)}"
        try:
            stats = write_parquet(data, tmp, **parquet_options)
            manifest = {
                "rows": stats.rows,
                "bytes": stats.bytes,
                "files": [p.name for p in stats.files],
                "created_at": dt.datetime.now(dt.UTC).isoformat(),
                "metadata": dict(metadata or {}),
            }
            _write_synced(tmp / MANIFEST, json.dumps(manifest, ensure_ascii=False).encode())
            _fsync_dir(tmp)
            with self._locked(base):
                version = self._latest_number(base) + 1
                final = base / f"v{version}"
                os.rename(tmp, final)
                _fsync_dir(base)
                self._point_current(base, version)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self._load(dataset_id, base, version)

    def set_current(self, dataset_id: str, version: int) -> DatasetVersion:
        """Point ``CURRENT`` at an existing version (a rollback); the others stay as they are."""
        base = self._dataset_dir(dataset_id)
        with self._locked(base):
            found = self._load(dataset_id, base, version)
            self._point_current(base, version)
        return found

    # -- reading
    def current(self, dataset_id: str) -> DatasetVersion | None:
        base = self._dataset_dir(dataset_id)
        try:
            pointer = (base / CURRENT).read_text().strip()
        except FileNotFoundError:
            return None
        match = _VERSION_DIR.match(pointer)
        if match is None:
            raise ValueError(f"{base / CURRENT} does not name a version: {pointer!r}")
        return self._load(dataset_id, base, int(match.group(1)))

    def versions(self, dataset_id: str) -> list[DatasetVersion]:
        """Every complete version, oldest first."""
        base = self._dataset_dir(dataset_id)
        return [self._load(dataset_id, base, n) for n in self._numbers(base)]

    def get(self, dataset_id: str, version: int | None = None) -> DatasetVersion:
        """One version (default: the current one); ``NotFound`` if there is none."""
        if version is None:
            found = self.current(dataset_id)
            if found is None:
                raise NotFound("The dataset has no data yet.", code="dataset_no_version")
            return found
        return self._load(dataset_id, self._dataset_dir(dataset_id), version)

    def dataset(self, dataset_id: str, version: int | None = None) -> pads.Dataset:
        """The version as a ``pyarrow.dataset`` (lazy: nothing is read until scanned)."""
        found = self.get(dataset_id, version)
        return pads.dataset([str(p) for p in found.file_paths], format="parquet")

    def read(
        self, dataset_id: str, version: int | None = None, *, columns: list[str] | None = None
    ) -> pa.Table:
        return self.dataset(dataset_id, version).to_table(columns=columns)

    def register(
        self, engine: Engine, name: str, dataset_id: str, version: int | None = None
    ) -> DatasetVersion:
        """Make a version queryable in ``engine`` as table ``name``; returns which version."""
        found = self.get(dataset_id, version)
        engine.register(name, found.file_paths)
        return found

    # -- housekeeping
    def discard(self, dataset_id: str, version: int) -> None:
        """Remove a version that no record names: one an ingest published and then died before
        its record committed (the library's sweep). Never the version ``CURRENT`` names."""
        base = self._dataset_dir(dataset_id)
        with self._locked(base):
            current = self.current(dataset_id)
            if current is not None and current.version == version:
                raise InvalidState(f"Version {version} of {dataset_id} is current.",
                                   code="dataset_version_current")
            shutil.rmtree(base / f"v{version}", ignore_errors=True)

    def clean_temporary(self, dataset_id: str, *, older_than: float = 3600.0) -> int:
        """Remove temporary directories a crashed writer left (only old ones: a live writer's
        directory is younger than any write takes). Returns how many went."""
        base = self._dataset_dir(dataset_id)
        cutoff = time.time() - older_than
        removed = 0
        for path in base.glob(".tmp-*"):
            if path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
        return removed

    # -- internals
    def _dataset_dir(self, dataset_id: str) -> Path:
        if not _DATASET_ID.match(dataset_id) or dataset_id in (".", ".."):
            raise ValidationFailed.single(
                "dataset_id", "invalid", "A dataset id is letters, digits, '.', '_' or '-'."
            )
        return self.root / dataset_id

    @staticmethod
    def _numbers(base: Path) -> list[int]:
        if not base.is_dir():
            return []
        found = (_VERSION_DIR.match(p.name) for p in base.iterdir() if p.is_dir())
        return sorted(int(m.group(1)) for m in found if m)

    def _latest_number(self, base: Path) -> int:
        numbers = self._numbers(base)
        return numbers[-1] if numbers else 0

    @staticmethod
    def _point_current(base: Path, version: int) -> None:
        tmp = base / f".{CURRENT}.{secrets.token_hex(4)}"
        _write_synced(tmp, f"v{version}\n".encode())
        os.replace(tmp, base / CURRENT)
        _fsync_dir(base)

    @staticmethod
    def _load(dataset_id: str, base: Path, version: int) -> DatasetVersion:
        path = base / f"v{version}"
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except FileNotFoundError:
            raise NotFound(
                f"Dataset {dataset_id} has no version {version}.",
                code="dataset_version_not_found",
                version=version,
            ) from None
        return DatasetVersion(
            dataset_id=dataset_id,
            version=version,
            path=path,
            rows=manifest["rows"],
            bytes=manifest["bytes"],
            files=tuple(manifest["files"]),
            created_at=manifest["created_at"],
            metadata=manifest.get("metadata", {}),
        )

    @staticmethod
    @contextmanager
    def _locked(base: Path) -> Iterator[None]:
        with open(base / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
