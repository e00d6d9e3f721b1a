"""The data plane's contract: what every engine (DuckDB now, Spark later) offers the platform.

Services never talk to DuckDB or Spark directly; they hold an ``Engine`` (``runtime.data_engine``)
and speak SQL in, Arrow out. Datasets reach an engine by ``register`` (Parquet files written by
``gongshu.engine.storage``, or Arrow data already in memory) and leave it as Arrow tables or a
stream of record batches, so nothing is converted row by row in Python.

The sandbox (Art. 14, ``domain/SANDBOX.md``) will run operators' SQL on an engine built with its
hardening options (no file system, memory and time limits, locked configuration); the policy
check happens before, in ``sandbox/policy.py``, never here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath
from typing import Any, Protocol, TypeAlias, runtime_checkable

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from gongshu.core.errors import BadRequest

#: SQL parameters: positional (``?``) or named (``$name``)
Params: TypeAlias = Sequence[Any] | Mapping[str, Any] | None
#: what can be registered under a table name
Source: TypeAlias = (
    pa.Table
    | pa.RecordBatch
    | pa.RecordBatchReader
    | pads.Dataset
    | str
    | Path
    | Sequence[str | Path]
)
#: what can be written to Parquet
Batches: TypeAlias = pa.Table | pa.RecordBatchReader | Iterable[pa.RecordBatch]


class QueryError(BadRequest):
    """A query the engine refused or could not finish (bad SQL, unknown table, not permitted)."""

    default_code = "query_failed"


class QueryTimeout(QueryError):
    default_code = "query_timeout"


class QueryOutOfMemory(QueryError):
    default_code = "query_out_of_memory"


@dataclass(frozen=True)
class WriteStats:
    """What ``write_parquet`` wrote: part files in order, their rows and bytes on disk."""

    rows: int
    files: tuple[PurePath, ...]  # local: ``Path``; in an object store: its key
    bytes: int
    schema: pa.Schema = field(compare=False)


@runtime_checkable
class Engine(Protocol):
    """SQL over registered datasets; Arrow in and out. Safe to share between threads."""

    def query(self, sql: str, params: Params = None) -> pa.Table:
        """Run one statement and return its whole result."""
        ...

    def query_batches(
        self, sql: str, params: Params = None, *, batch_size: int = 122_880
    ) -> pa.RecordBatchReader:
        """Run one statement and stream its result (for results larger than memory)."""
        ...

    def register(self, name: str, source: Source) -> None:
        """Make ``source`` queryable as table ``name`` (replacing an earlier one)."""
        ...

    def unregister(self, name: str) -> None: ...

    def write_parquet(self, data: Batches, dest: Path, **options: Any) -> WriteStats:
        """Write ``data`` as Parquet part files into the directory ``dest``."""
        ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------------- parquet


def _batches(data: Batches) -> tuple[pa.Schema | None, Iterable[pa.RecordBatch]]:
    if isinstance(data, pa.Table):
        return data.schema, data.to_batches()
    if isinstance(data, pa.RecordBatchReader):
        return data.schema, data
    return None, data


def write_parquet(
    data: Batches,
    dest: str | PurePath,
    *,
    max_rows_per_file: int = 10_000_000,
    row_group_size: int = 1_000_000,
    compression: str = "zstd",
    fsync: bool = True,
    filesystem: pafs.FileSystem | None = None,
) -> WriteStats:
    """Write batches into ``dest/part-00000.parquet``, ``part-00001`` … (rolling by rows).

    Batches stream through: memory holds one row group, not the dataset. With ``fsync`` each
    local file is on disk when this returns, so a version published afterwards cannot point at
    data a power cut would lose (an object store has the object once its upload returns). An
    empty input still writes one (empty) file when its schema is known, so the version keeps
    its columns. ``filesystem``: a ``pyarrow.fs`` file system ``dest`` is a path of (default:
    the local one).
    """
    local = filesystem is None or isinstance(filesystem, pafs.LocalFileSystem)
    base: PurePath = Path(dest) if local else PurePosixPath(str(dest))
    if local:
        Path(base).mkdir(parents=True, exist_ok=True)
    schema, batches = _batches(data)
    files: list[PurePath] = []
    writer: pq.ParquetWriter | None = None
    rows_in_file = rows = 0

    def open_next(s: pa.Schema) -> pq.ParquetWriter:
        path = base / f"part-{len(files):05d}.parquet"
        files.append(path)
        return pq.ParquetWriter(str(path), s, compression=compression,
                                filesystem=None if local else filesystem)

    try:
        for batch in batches:
            if writer is None:
                schema = batch.schema
                writer = open_next(schema)
            offset = 0
            while offset < batch.num_rows:
                if rows_in_file >= max_rows_per_file:
                    writer.close()
                    writer, rows_in_file = open_next(batch.schema), 0
                take = min(batch.num_rows - offset, max_rows_per_file - rows_in_file)
                writer.write_batch(batch.slice(offset, take), row_group_size=row_group_size)
                offset += take
                rows_in_file += take
                rows += take
        if writer is None and schema is not None:
            writer = open_next(schema)
    finally:
        if writer is not None:
            writer.close()
    if local:
        if fsync:
            for path in files:
                _fsync_file(Path(path))
        size = sum(Path(p).stat().st_size for p in files)
    else:
        assert filesystem is not None
        size = sum(int(i.size or 0) for i in filesystem.get_file_info([str(p) for p in files]))
    return WriteStats(rows, tuple(files), size, schema if schema is not None else pa.schema([]))


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
