"""Versioned dataset storage: immutable Parquet versions, on a local disk or in an object store.

Layout under the storage root (``<data_dir>/datasets``, or ``s3://bucket/prefix/datasets``)::

    <dataset_id>/
        v1/part-00000.parquet …  _version.json
        v2/…
        v3/_writing  part-00000.parquet     a version being written: never read
        CURRENT          "v2": the version ``current()`` gives
        .lock            (local only) serialises numbering and publishing between processes

Why: a dataset (Art. 10, the library of public data) changes by new versions, never in place, so
a reader, a running sandbox query or a shared copy (Art. 12) always sees one whole version, and
an earlier version stays available for audit and rollback.

Writing a version works the same on a disk and in an object store (which has no rename):
1. under the dataset's lock, take the next number and mark ``v<N>/`` as being written (the
   ``_writing`` object), so concurrent writers get distinct numbers;
2. without the lock, stream the part files into ``v<N>/``; then write ``_version.json`` (one
   object: it appears whole or not at all) — only a version with its manifest exists;
3. under the lock again, point ``CURRENT`` at ``v<N>`` unless a newer version already is.

The metadata store (``library``) decides which version readers get; ``CURRENT`` is the store's
own answer for tools and tests. A write that fails removes ``v<N>/`` and leaves ``CURRENT`` as it
was; a crashed writer's ``v<N>/`` (no manifest) is never read and is removed by
``clean_temporary`` once it is old.

Locks: by default a ``flock`` on ``<dataset>/.lock`` (threads and processes of one machine) for a
local root, and a lock of this process for an object store. Several machines sharing an object
store must pass ``lock=``: the library passes a lock on the dataset's row in the database
(``library.service.dataset_store``).

Readers get a version as a ``pyarrow.dataset`` on the right file system
(``DatasetVersion.arrow_dataset()``), or as what an engine registers
(``DatasetVersion.engine_source()``: file paths, which DuckDB reads itself, on a local disk; in
an object store, this machine's copy of the version (``VersionCache``) or else the Arrow
dataset, since DuckDB's ``httpfs`` extension is not available offline).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePath, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from gongshu.core.errors import InvalidState, NotFound, ValidationFailed
from gongshu.engine.base import Batches, Engine, Source, write_parquet

_DATASET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_VERSION_DIR = re.compile(r"^v([1-9][0-9]*)$")
CURRENT = "CURRENT"
MANIFEST = "_version.json"
WRITING = "_writing"

#: ``lock(dataset_id)``: a context manager held while numbering or publishing a version
LockFactory = Callable[[str], AbstractContextManager[Any]]


# ------------------------------------------------------------------------------- locations


@dataclass(frozen=True)
class Location:
    """A place for files: a ``pyarrow.fs`` file system and a directory (prefix) in it."""

    filesystem: pafs.FileSystem
    base: str  # local: an absolute directory; object store: "bucket/prefix"
    url: str  # shown to people: file:/… or s3://bucket/prefix (never a secret)

    @property
    def local(self) -> bool:
        return isinstance(self.filesystem, pafs.LocalFileSystem)

    def child(self, name: str) -> Location:
        return Location(self.filesystem, f"{self.base.rstrip('/')}/{name}",
                        f"{self.url.rstrip('/')}/{name}")

    def path(self, key: str) -> str:
        """The file system path of ``key`` (relative, ``/``-separated) under the base."""
        return f"{self.base.rstrip('/')}/{key}" if key else self.base

    def put(self, key: str, data: bytes) -> None:
        """Write one whole file (synced on a local disk; one object in a store)."""
        path = self.path(key)
        if self.local:  # written beside, then renamed: never seen half-written
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.parent / f".{target.name}.{os.getpid()}.{threading.get_ident()}"
            _write_synced(tmp, data)
            os.replace(tmp, target)
        else:
            with self.filesystem.open_output_stream(path) as out:
                out.write(data)

    def get(self, key: str) -> bytes | None:
        try:
            with self.filesystem.open_input_stream(self.path(key)) as fh:
                return bytes(fh.read())
        except FileNotFoundError:
            return None
        except OSError as exc:
            if _not_found(exc):
                return None
            raise

    def info(self, key: str) -> pafs.FileInfo:
        return self.filesystem.get_file_info(self.path(key))

    def listing(self, key: str = "", *, recursive: bool = False) -> list[pafs.FileInfo]:
        selector = pafs.FileSelector(self.path(key), allow_not_found=True, recursive=recursive)
        try:
            return list(self.filesystem.get_file_info(selector))
        except FileNotFoundError:
            return []

    def remove(self, key: str) -> None:
        """Remove a file or a whole directory (prefix); nothing if it is not there."""
        path = self.path(key)
        info = self.filesystem.get_file_info(path)
        try:
            if info.type == pafs.FileType.Directory:
                self.filesystem.delete_dir(path)
            elif info.type == pafs.FileType.File:
                self.filesystem.delete_file(path)
        except FileNotFoundError:
            pass


def _not_found(exc: OSError) -> bool:
    text = str(exc).lower()
    return "not found" in text or "nosuchkey" in text or "no such" in text or "404" in text


@lru_cache(maxsize=16)
def s3_filesystem(endpoint: str, access_key: str, secret_key: str, region: str,
                  connect_timeout: float = 10.0, request_timeout: float = 120.0
                  ) -> pafs.S3FileSystem:
    """One ``S3FileSystem`` per configuration and process (it keeps its connections)."""
    options: dict[str, Any] = {"region": region, "connect_timeout": connect_timeout,
                               "request_timeout": request_timeout}
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        options["endpoint_override"] = parts.netloc
        options["scheme"] = parts.scheme or "https"
    if access_key:
        options["access_key"] = access_key
        options["secret_key"] = secret_key
    return pafs.S3FileSystem(**options)


def storage_location(settings: Any) -> Location:
    """Where ``settings`` keep datasets and uploads (``GONGSHU_STORAGE_URL``): the data
    directory, another local directory, or an S3-compatible bucket and prefix."""
    url = (getattr(settings, "storage_url", "") or "").strip()
    if url in ("", "file:", "file://"):
        base = Path(settings.resolved_data_dir)
        return Location(pafs.LocalFileSystem(), str(base), base.as_uri())
    parts = urlsplit(url)
    if parts.scheme == "file":
        base = Path(parts.path).expanduser().resolve()
        return Location(pafs.LocalFileSystem(), str(base), base.as_uri())
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"GONGSHU_STORAGE_URL {url!r} names no bucket (s3://bucket/prefix).")
        prefix = parts.path.strip("/")
        bucket = f"{parts.netloc}/{prefix}" if prefix else parts.netloc
        secret = settings.s3_secret_key
        fs = s3_filesystem(settings.s3_endpoint, settings.s3_access_key,
                           secret.get_secret_value() if hasattr(secret, "get_secret_value")
                           else str(secret or ""), settings.s3_region,
                           float(getattr(settings, "s3_connect_timeout", 10.0)),
                           float(getattr(settings, "s3_request_timeout", 120.0)))
        return Location(fs, bucket, f"s3://{bucket}")
    raise ValueError(f"GONGSHU_STORAGE_URL {url!r}: use file:/path or s3://bucket/prefix.")


# -------------------------------------------------------------------------------- versions


@dataclass(frozen=True)
class DatasetVersion:
    dataset_id: str
    version: int
    path: PurePath  # local: ``Path``; object store: "bucket/prefix/…/v<N>"
    rows: int
    bytes: int
    files: tuple[str, ...]
    created_at: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    filesystem: pafs.FileSystem | None = field(default=None, compare=False, repr=False)
    cache: VersionCache | None = field(default=None, compare=False, repr=False)

    @property
    def file_paths(self) -> list[PurePath]:
        """The part files, as paths of :attr:`filesystem` (``Path`` on a local disk)."""
        return [self.path / name for name in self.files]

    @property
    def local(self) -> bool:
        return self.filesystem is None or isinstance(self.filesystem, pafs.LocalFileSystem)

    def arrow_dataset(self) -> pads.Dataset:
        """The version as a ``pyarrow.dataset`` on its file system (lazy: nothing is read until
        scanned) — the way every reader reaches the data, on a disk or in an object store. In
        an object store the dataset (its schema, read from a file footer) is kept per process:
        a version never changes."""
        if self.local:
            return pads.dataset([str(p) for p in self.file_paths], format="parquet",
                                filesystem=pafs.LocalFileSystem())
        key = ("dataset", id(self.filesystem), str(self.path))
        found = _CACHE.get(key)
        if found is None:
            found = _CACHE.put(key, pads.dataset([str(p) for p in self.file_paths],
                                                 format="parquet", filesystem=self.filesystem))
        return found

    def engine_source(self) -> Source:
        """What ``Engine.register`` takes for this version: the Parquet paths on a local disk
        (DuckDB reads them itself); from an object store, the paths of this machine's copy
        (``VersionCache``, when the store has one and the version fits), else the Arrow
        dataset."""
        if self.local:
            return [Path(p) for p in self.file_paths]
        if self.cache is not None:
            copied = self.cache.paths(self)
            if copied is not None:
                return copied
        return self.arrow_dataset()


class VersionCache:
    """Copies of an object store's versions on this machine's disk, for the engine to read.

    A version never changes, so a copy never goes stale: it is fetched whole on first use
    (into a temporary directory renamed into place, so readers never see half a copy) and the
    least recently used copies go when the cache outgrows ``max_bytes`` — never one used in the
    last ``keep_seconds`` (a query may still be reading it). Without it, a short read (a page of
    20 rows) would fetch the version's whole row group over the network every time.
    """

    def __init__(self, directory: Path, max_bytes: int, *, keep_seconds: float = 600.0) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.keep_seconds = keep_seconds

    def paths(self, version: DatasetVersion) -> list[Path] | None:
        """Local paths of the version's parts (fetched now if need be), or None when it does
        not fit in the cache."""
        if version.bytes > self.max_bytes or version.filesystem is None:
            return None
        name = hashlib.sha256(f"{id(version.filesystem)}:{version.path}".encode()).hexdigest()
        folder = self.directory / name[:32]
        done = folder / ".complete"
        if not done.is_file():
            self._fetch(version, folder)
            self._evict()
        with contextlib.suppress(OSError):
            os.utime(done)  # last used
        return [folder / part for part in version.files]

    def _fetch(self, version: DatasetVersion, folder: Path) -> None:
        assert version.filesystem is not None
        tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            for part in version.files:
                with version.filesystem.open_input_stream(str(version.path / part)) as src, \
                        open(tmp / part, "wb") as out:
                    while chunk := src.read(1 << 22):
                        out.write(chunk)
            (tmp / ".complete").write_text(str(version.path))
            try:
                os.rename(tmp, folder)
            except OSError:  # another thread or process put it there first
                if not (folder / ".complete").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _evict(self) -> None:
        copies = []
        for folder in self.directory.iterdir():
            done = folder / ".complete"
            if folder.is_dir() and done.is_file():
                size = sum(p.stat().st_size for p in folder.iterdir())
                copies.append((done.stat().st_mtime, size, folder))
        total = sum(size for _t, size, _f in copies)
        cutoff = time.time() - self.keep_seconds
        for used, size, folder in sorted(copies):
            if total <= self.max_bytes or used >= cutoff:
                break
            shutil.rmtree(folder, ignore_errors=True)
            total -= size


class DatasetStore:
    """Versions of datasets under one root: a local directory (``settings.parquet_dir``) or a
    :class:`Location` (``dataset_store_of(settings)``: the configured storage)."""

    def __init__(self, root: Path | str | Location, *, lock: LockFactory | None = None,
                 cache: VersionCache | None = None) -> None:
        if isinstance(root, Location):
            self.location = root
        else:
            local = Path(root)
            self.location = Location(pafs.LocalFileSystem(), str(local), local.as_uri())
        self.fs = self.location.filesystem
        self.local = self.location.local
        #: the root as a path: ``Path`` on a local disk, "bucket/prefix/datasets" in a store
        self.root: PurePath = Path(self.location.base) if self.local else \
            PurePosixPath(self.location.base)
        self._lock_factory = lock
        #: this machine's copies of an object store's versions (``engine_source``)
        self.cache = None if self.local else cache

    # -- writing
    def write(
        self,
        dataset_id: str,
        data: Batches,
        *,
        metadata: Mapping[str, Any] | None = None,
        **parquet_options: Any,
    ) -> DatasetVersion:
        """Write ``data`` as the dataset's next version and make it current (unless a newer
        version became current meanwhile)."""
        base = self._dataset_key(dataset_id)
        with self._locked(dataset_id):
            version = self._highest(base) + 1
            self.location.put(f"{base}/v{version}/{WRITING}",
                              dt.datetime.now(dt.UTC).isoformat().encode())
        folder = f"{base}/v{version}"
        try:
            stats = write_parquet(data, self._path(folder), filesystem=self.fs,
                                  **parquet_options)
            manifest = {
                "rows": stats.rows,
                "bytes": stats.bytes,
                "files": [PurePosixPath(str(p)).name for p in stats.files],
                "created_at": dt.datetime.now(dt.UTC).isoformat(),
                "metadata": dict(metadata or {}),
            }
            self.location.put(f"{folder}/{MANIFEST}",
                              json.dumps(manifest, ensure_ascii=False).encode())
            self.location.remove(f"{folder}/{WRITING}")
            with self._locked(dataset_id):
                pointed = self._pointer(base)
                if pointed is None or pointed < version:
                    self._point_current(base, version)
        except BaseException:
            self.location.remove(folder)
            raise
        return self._load(dataset_id, version)

    def set_current(self, dataset_id: str, version: int) -> DatasetVersion:
        """Point ``CURRENT`` at an existing version (a rollback); the others stay as they are."""
        base = self._dataset_key(dataset_id)
        with self._locked(dataset_id):
            found = self._load(dataset_id, version)
            self._point_current(base, version)
        return found

    # -- reading
    def current(self, dataset_id: str) -> DatasetVersion | None:
        number = self._pointer(self._dataset_key(dataset_id))
        return None if number is None else self._load(dataset_id, number)

    def versions(self, dataset_id: str) -> list[DatasetVersion]:
        """Every complete version, oldest first."""
        base = self._dataset_key(dataset_id)
        complete = {PurePosixPath(i.path).parent.name for i in
                    self.location.listing(base, recursive=True)
                    if PurePosixPath(i.path).name == MANIFEST}
        numbers = sorted(int(m.group(1)) for m in map(_VERSION_DIR.match, complete) if m)
        return [self._load(dataset_id, n) for n in numbers]

    def get(self, dataset_id: str, version: int | None = None) -> DatasetVersion:
        """One version (default: the current one); ``NotFound`` if there is none."""
        if version is None:
            found = self.current(dataset_id)
            if found is None:
                raise NotFound("The dataset has no data yet.", code="dataset_no_version")
            return found
        return self._load(dataset_id, version)

    def dataset(self, dataset_id: str, version: int | None = None) -> pads.Dataset:
        """The version as a ``pyarrow.dataset`` (lazy: nothing is read until scanned)."""
        return self.get(dataset_id, version).arrow_dataset()

    def read(
        self, dataset_id: str, version: int | None = None, *, columns: list[str] | None = None
    ) -> pa.Table:
        return self.dataset(dataset_id, version).to_table(columns=columns)

    def register(
        self, engine: Engine, name: str, dataset_id: str, version: int | None = None
    ) -> DatasetVersion:
        """Make a version queryable in ``engine`` as table ``name``; returns which version."""
        found = self.get(dataset_id, version)
        engine.register(name, found.engine_source())
        return found

    # -- housekeeping
    def discard(self, dataset_id: str, version: int) -> None:
        """Remove a version that no record names: one an ingest published and then died before
        its record committed (the library's sweep). Never the version ``CURRENT`` names."""
        base = self._dataset_key(dataset_id)
        with self._locked(dataset_id):
            if self._pointer(base) == version:
                raise InvalidState(f"Version {version} of {dataset_id} is current.",
                                   code="dataset_version_current")
            self.location.remove(f"{base}/v{version}")

    def clean_temporary(self, dataset_id: str, *, older_than: float = 3600.0) -> int:
        """Remove versions a crashed writer left unfinished (only old ones: a live writer's
        version is younger than any write takes), and temporary directories of the earlier
        local layout (``.tmp-*``). Returns how many went."""
        base = self._dataset_key(dataset_id)
        cutoff = time.time() - older_than
        removed = 0
        for info in self.location.listing(base):
            name = PurePosixPath(info.path).name
            if info.type != pafs.FileType.Directory:
                continue
            if name.startswith(".tmp-"):
                marker = info
            elif _VERSION_DIR.match(name):
                if self.location.info(f"{base}/{name}/{MANIFEST}").type == pafs.FileType.File:
                    continue
                marker = self.location.info(f"{base}/{name}/{WRITING}")
                if marker.type != pafs.FileType.File:  # neither complete nor claimed: debris
                    marker = info
            else:
                continue
            mtime = marker.mtime
            if mtime is None or mtime.timestamp() < cutoff:
                self.location.remove(f"{base}/{name}")
                removed += 1
        return removed

    def clean_all_temporary(self, *, older_than: float = 3600.0) -> int:
        """``clean_temporary`` for every dataset under the root (for a scheduled sweep)."""
        return sum(self.clean_temporary(PurePosixPath(i.path).name, older_than=older_than)
                   for i in self.location.listing()
                   if i.type == pafs.FileType.Directory
                   and _DATASET_ID.match(PurePosixPath(i.path).name))

    # -- internals
    def _dataset_key(self, dataset_id: str) -> str:
        if not _DATASET_ID.match(dataset_id) or dataset_id in (".", ".."):
            raise ValidationFailed.single(
                "dataset_id", "invalid", "A dataset id is letters, digits, '.', '_' or '-'."
            )
        return dataset_id

    def _path(self, key: str) -> str:
        return self.location.path(key)

    def _highest(self, base: str) -> int:
        """The highest version number taken (complete or being written)."""
        found = (_VERSION_DIR.match(PurePosixPath(i.path).name)
                 for i in self.location.listing(base) if i.type == pafs.FileType.Directory)
        return max((int(m.group(1)) for m in found if m), default=0)

    def _pointer(self, base: str) -> int | None:
        data = self.location.get(f"{base}/{CURRENT}")
        if data is None:
            return None
        pointer = data.decode().strip()
        match = _VERSION_DIR.match(pointer)
        if match is None:
            raise ValueError(f"{self._path(base)}/{CURRENT} does not name a version: {pointer!r}")
        return int(match.group(1))

    def _point_current(self, base: str, version: int) -> None:
        content = f"v{version}\n".encode()
        if not self.local:  # one PUT replaces the object whole
            self.location.put(f"{base}/{CURRENT}", content)
            return
        folder = Path(self._path(base))
        tmp = folder / f".{CURRENT}.{os.getpid()}.{threading.get_ident()}"
        _write_synced(tmp, content)
        os.replace(tmp, folder / CURRENT)
        _fsync_dir(folder)

    def _load(self, dataset_id: str, version: int) -> DatasetVersion:
        key = f"{self._dataset_key(dataset_id)}/v{version}"
        cache_key = ("version", id(self.fs), id(self.cache), self._path(key))
        if not self.local:  # a complete version never changes: one request per process
            cached = _CACHE.get(cache_key)
            if cached is not None:
                return cached
        data = self.location.get(f"{key}/{MANIFEST}")
        if data is None:
            raise NotFound(
                f"Dataset {dataset_id} has no version {version}.",
                code="dataset_version_not_found",
                version=version,
            )
        manifest = json.loads(data)
        path = self._path(key)
        loaded = DatasetVersion(
            dataset_id=dataset_id,
            version=version,
            path=Path(path) if self.local else PurePosixPath(path),
            rows=manifest["rows"],
            bytes=manifest["bytes"],
            files=tuple(manifest["files"]),
            created_at=manifest["created_at"],
            metadata=manifest.get("metadata", {}),
            filesystem=self.fs,
            cache=self.cache,
        )
        return loaded if self.local else _CACHE.put(cache_key, loaded)

    @contextmanager
    def _locked(self, dataset_id: str) -> Iterator[None]:
        if self._lock_factory is not None:
            with self._lock_factory(dataset_id):
                yield
            return
        if not self.local:
            with _process_lock(f"{self.location.url}/{dataset_id}"):
                yield
            return
        folder = Path(self._path(dataset_id))
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


class _Cache:
    """A small LRU of immutable things read from an object store (manifests, datasets)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.items: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Any:
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], value: Any) -> Any:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


_CACHE = _Cache()

_PROCESS_LOCKS: dict[str, threading.Lock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def _process_lock(name: str) -> threading.Lock:
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(name, threading.Lock())


@lru_cache(maxsize=16)
def _shared_cache(directory: Path, max_bytes: int) -> VersionCache:
    """One cache object per directory and process (so the manifests read stay read)."""
    return VersionCache(directory, max_bytes)


def dataset_store_of(settings: Any, *, lock: LockFactory | None = None) -> DatasetStore:
    """The configured dataset store (``GONGSHU_STORAGE_URL``; default ``<data_dir>/datasets``),
    with a copy cache of ``GONGSHU_STORAGE_CACHE_MB`` under ``<data_dir>/cache/datasets`` when
    the store is an object store."""
    mb = int(getattr(settings, "storage_cache_mb", 0) or 0)
    cache = _shared_cache(Path(settings.resolved_data_dir) / "cache" / "datasets",
                          mb * 1024 * 1024) if mb > 0 else None
    return DatasetStore(storage_location(settings).child("datasets"), lock=lock, cache=cache)


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
