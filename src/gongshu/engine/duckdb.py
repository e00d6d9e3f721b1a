"""The DuckDB engine: one in-process database, a cursor per call, Parquet read in place.

Why it is shaped like this
- A DuckDB connection must not be used by two threads at once. The engine keeps one base
  connection (the database and its views) and gives every call its own ``cursor()``: a cheap
  (a few µs) connection to the same database, closed when the call is done.
- Parquet paths become views (``read_parquet``) in the shared catalog, visible to every cursor.
  Arrow objects (tables, ``pyarrow.dataset`` datasets) cannot be shared that way in DuckDB —
  registration is per connection — so the engine keeps them and registers them on each cursor.
- Hardening, for the sandbox (Art. 14, ``domain/SANDBOX.md``): ``enable_external_access=False``
  takes the file system and network away from SQL entirely (``read_csv('/etc/passwd')``,
  ``COPY … TO``, ``ATTACH``, ``INSTALL``/``LOAD`` all fail); registered Parquet is then scanned
  through ``pyarrow.dataset`` by Python, not by DuckDB. ``lock_configuration=True`` stops SQL
  from changing settings back; ``timeout`` interrupts a query after that many seconds; the
  memory limit bounds each query. Extensions are never installed or loaded from the network:
  only the ones built in (core, icu, json, parquet) exist.
- One statement per call: ``query("SELECT 1; DROP VIEW x")`` is refused, whatever the caller
  checked before.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads

from gongshu.engine.base import (
    Batches,
    Params,
    QueryError,
    QueryOutOfMemory,
    QueryTimeout,
    Source,
    WriteStats,
    write_parquet,
)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"



@contextmanager
def interrupt_after(cur: duckdb.DuckDBPyConnection,
                    seconds: float | None) -> Iterator[threading.Event]:
    """Interrupt what ``cur`` runs once ``seconds`` have passed (``None``: never); the event
    yielded tells whether it fired (an interrupt from elsewhere leaves it unset)."""
    fired = threading.Event()
    timer = None
    if seconds is not None:

        def interrupt() -> None:
            fired.set()
            cur.interrupt()

        timer = threading.Timer(seconds, interrupt)
        timer.daemon = True
        timer.start()
    try:
        yield fired
    finally:
        if timer is not None:
            timer.cancel()


class DuckDBEngine:
    """SQL over Parquet and Arrow with DuckDB; safe to share between threads."""

    name = "duckdb"

    def __init__(
        self,
        parquet_dir: Path,
        *,
        memory_limit: str = "4GB",
        threads: int = 2,
        enable_external_access: bool = True,
        lock_configuration: bool = False,
        timeout: float | None = None,
        temp_directory: Path | None = None,
        max_temp_directory_size: str | None = None,
    ) -> None:
        self.parquet_dir = Path(parquet_dir)
        self.timeout = timeout
        self.external_access = enable_external_access
        config: dict[str, Any] = {
            "memory_limit": memory_limit,
            "threads": threads,
            # never fetch extensions from the network; the built-in ones are all we use
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
        if temp_directory is not None:
            config["temp_directory"] = str(temp_directory)
        if max_temp_directory_size is not None:
            config["max_temp_directory_size"] = max_temp_directory_size
        self._con = duckdb.connect(":memory:", config=config)
        if not enable_external_access:
            self._con.execute("SET enable_external_access = false")
        if lock_configuration:
            self._con.execute("SET lock_configuration = true")
        self._lock = threading.Lock()  # guards the base connection and the registry
        self._arrow: dict[str, Any] = {}
        self._closed = False

    # -- registration
    def register(self, name: str, source: Source) -> None:
        """Make ``source`` queryable as ``name``: Parquet path(s) (relative ones under the
        engine's ``parquet_dir``; a directory means every ``*.parquet`` below it), an Arrow
        table or batch, a ``pyarrow.dataset`` dataset, or a stream (read into memory once)."""
        if not _NAME.match(name):
            raise QueryError(f"{name!r} is not a valid table name.", code="engine_bad_name")
        arrow = self._as_arrow(source)
        with self._lock:
            self._check_open()
            self._con.execute(f'DROP VIEW IF EXISTS "{name}"')
            self._arrow.pop(name, None)
            if arrow is not None:
                self._arrow[name] = arrow
                return
            paths = self._paths(source)  # type: ignore[arg-type]
            if self.external_access:
                listed = ", ".join(_quote_literal(str(p)) for p in paths)
                self._con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet([{listed}])')
            else:  # no file system for SQL: Python scans the files
                self._arrow[name] = pads.dataset([str(p) for p in paths], format="parquet")

    def unregister(self, name: str) -> None:
        with self._lock:
            self._check_open()
            self._arrow.pop(name, None)
            if _NAME.match(name):
                self._con.execute(f'DROP VIEW IF EXISTS "{name}"')

    @staticmethod
    def _as_arrow(source: Source) -> Any:
        if isinstance(source, pa.RecordBatchReader):
            return source.read_all()
        if isinstance(source, pa.RecordBatch):
            return pa.Table.from_batches([source])
        if isinstance(source, pa.Table | pads.Dataset):
            return source
        return None

    def _paths(self, source: str | Path | Sequence[str | Path]) -> list[Path]:
        items = [source] if isinstance(source, str | Path) else list(source)
        paths: list[Path] = []
        for item in items:
            path = Path(item)
            if not path.is_absolute():
                path = self.parquet_dir / path
            if path.is_dir():
                paths.extend(sorted(path.rglob("*.parquet")))
            else:
                paths.append(path)
        if not paths:
            raise QueryError("No Parquet files to register.", code="engine_no_files")
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise QueryError(f"No such Parquet file: {missing[0]}", code="engine_no_files")
        return paths

    # -- queries
    def query(self, sql: str, params: Params = None) -> pa.Table:
        with self._cursor() as cur, self._guard(cur):
            return self._relation(cur, sql, params).to_arrow_table()

    def query_batches(
        self, sql: str, params: Params = None, *, batch_size: int = 122_880
    ) -> pa.RecordBatchReader:
        """Stream the result; the query's cursor lives until the reader is exhausted or closed."""
        cm = self._cursor()
        cur = cm.__enter__()
        try:
            with self._guard(cur):
                reader = self._relation(cur, sql, params).to_arrow_reader(batch_size)
        except BaseException:
            cm.__exit__(None, None, None)
            raise

        def stream() -> Iterator[pa.RecordBatch]:
            try:
                with self._guard(cur):
                    yield from reader
            finally:
                cm.__exit__(None, None, None)

        return pa.RecordBatchReader.from_batches(reader.schema, stream())

    def _relation(self, cur: duckdb.DuckDBPyConnection, sql: str, params: Params) -> Any:
        statements = cur.extract_statements(sql)
        if len(statements) != 1:
            raise QueryError(
                "Exactly one SQL statement is allowed per query.", code="query_one_statement"
            )
        return cur.sql(sql, params=params) if params is not None else cur.sql(sql)

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            self._check_open()
            cur = self._con.cursor()
            arrow = dict(self._arrow)
        try:
            for name, obj in arrow.items():
                cur.register(name, obj)
            yield cur
        finally:
            cur.close()

    @contextmanager
    def _guard(self, cur: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """Turn DuckDB's errors into the platform's, and interrupt after ``timeout``."""
        with interrupt_after(cur, self.timeout) as fired:
            try:
                yield
            except duckdb.InterruptException as exc:
                if fired.is_set():
                    raise QueryTimeout(
                        f"The query ran longer than {self.timeout:g} s and was stopped.",
                        seconds=self.timeout,
                    ) from exc
                raise QueryError("The query was interrupted.", code="query_interrupted") from exc
            except duckdb.OutOfMemoryException as exc:
                raise QueryOutOfMemory(f"The query needs more memory than allowed: {exc}") from exc
            except duckdb.PermissionException as exc:
                raise QueryError(f"Not permitted: {exc}", code="query_not_permitted") from exc
            except (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException) as exc:
                raise QueryError(str(exc), code="query_invalid") from exc
            except duckdb.Error as exc:
                raise QueryError(str(exc)) from exc

    # -- writing and lifecycle
    def write_parquet(self, data: Batches, dest: Path, **options: Any) -> WriteStats:
        """Write Arrow data (e.g. a ``query_batches`` stream) as Parquet part files."""
        return write_parquet(data, dest, **options)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._arrow.clear()
                self._con.close()

    def _check_open(self) -> None:
        if self._closed:
            raise QueryError("The data engine is closed.", code="engine_closed")

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
