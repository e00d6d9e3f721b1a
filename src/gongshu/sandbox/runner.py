"""Run a checked query in the sandbox (Art. 14, ``domain/SANDBOX.md``) and release what passes.

Every query gets a FRESH DuckDB connection that can reach nothing but the tables it is given.
The connections are cursors of one in-memory DuckDB database per process and set of limits
(opening a database costs ~15 ms, a cursor under 1 ms), locked down when it is opened:
``enable_external_access = false`` (no files, no network: ``read_csv('/etc/passwd')``, ``COPY``,
``ATTACH``, ``INSTALL``/``LOAD`` fail even if the policy had a hole), extensions are neither
installed nor loaded automatically, ``lock_configuration = true`` (SQL cannot change any of it
back), a memory limit (for the queries running at once in the process together), a thread
count. A connection sees only the tables registered on it (registrations are per connection:
another query's tables, even of the same name, are invisible to it), Arrow tables or
``pyarrow.dataset`` datasets scanned by Python; the policy lets no statement create anything,
so nothing outlives a query. A timer interrupts a query that runs too long; running out of
time or memory is ``Rejected(RESOURCE_LIMIT)``.

Two stages: the checked SQL (outputs + ``__gs_contributors``) runs on the data; its groups are
small, so the release step — drop groups with fewer than ``k`` contributors, count them, then
ORDER BY / LIMIT / OFFSET the rest (:meth:`Checked.release_sql`) — runs over that result on the
same connection. ``run_dp`` runs the exact per-group components instead and lets
:mod:`gongshu.sandbox.dp` add the noise.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from gongshu.engine.duckdb import interrupt_after
from gongshu.sandbox.policy import CONTRIBUTORS, RESULT, Checked, Reason, Rejected

log = logging.getLogger(__name__)

Source = Any  # a pyarrow Table or a pyarrow.dataset Dataset


@dataclass(frozen=True)
class Limits:
    """What one sandbox query may take (settings ``sandbox_*``)."""

    memory_limit: str = "1GB"
    timeout_seconds: float = 60.0
    max_rows: int = 10_000
    threads: int = 2

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        return cls(memory_limit=settings.sandbox_memory_limit,
                   timeout_seconds=settings.sandbox_timeout_seconds,
                   max_rows=settings.sandbox_max_rows, threads=settings.sandbox_threads)


@dataclass(frozen=True)
class Result:
    """The released answer: JSON-friendly values (dates as ISO strings, decimals as floats)."""

    columns: list[str]
    rows: list[list[Any]]
    suppressed_groups: int
    truncated: bool
    seconds: float
    epsilon_spent: float = 0.0  # DP mode: the ε this answer cost


_DATABASES: dict[tuple[int, str, int], duckdb.DuckDBPyConnection] = {}
_DATABASES_LOCK = threading.Lock()


def _database(limits: Limits) -> duckdb.DuckDBPyConnection:
    """The process's locked-down in-memory database for these limits (opened once)."""
    key = (os.getpid(), limits.memory_limit, max(1, int(limits.threads)))  # not across a fork
    with _DATABASES_LOCK:
        database = _DATABASES.get(key)
        if database is None:
            database = duckdb.connect(":memory:", config={
                "memory_limit": limits.memory_limit,
                "threads": key[2],
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "enable_external_access": False,
            })
            database.execute("SET enable_progress_bar = false")
            database.execute("SET lock_configuration = true")
            _DATABASES[key] = database
        return database


def connect(limits: Limits) -> duckdb.DuckDBPyConnection:
    """A fresh connection to the locked-down database (no file system, no network, no
    settings, no tables until the caller registers them)."""
    return _database(limits).cursor()


@contextmanager
def _guard(con: duckdb.DuckDBPyConnection, limits: Limits) -> Iterator[None]:
    with interrupt_after(con, limits.timeout_seconds) as fired, _rejecting(fired, limits):
        yield


@contextmanager
def _rejecting(fired: threading.Event, limits: Limits) -> Iterator[None]:
    """DuckDB's errors as the sandbox's rejections (a timeout, memory, a query that cannot
    run); a failure while reading data is logged, its message (which may quote a member's
    value) never passed on."""
    try:
        yield
    except duckdb.InterruptException as exc:
        raise Rejected(Reason.RESOURCE_LIMIT, f"The query ran longer than "
                       f"{limits.timeout_seconds:g} s and was stopped.",
                       limit="time", seconds=limits.timeout_seconds) from exc
    except duckdb.OutOfMemoryException as exc:
        raise Rejected(Reason.RESOURCE_LIMIT, "The query needs more memory than "
                       f"{limits.memory_limit}.", limit="memory",
                       memory_limit=limits.memory_limit) from exc
    except duckdb.Error as exc:
        if fired.is_set():
            raise Rejected(Reason.RESOURCE_LIMIT, f"The query ran longer than "
                           f"{limits.timeout_seconds:g} s and was stopped.",
                           limit="time", seconds=limits.timeout_seconds) from exc
        if "memory" in str(exc).lower() and "limit" in str(exc).lower():
            raise Rejected(Reason.RESOURCE_LIMIT, "The query needs more memory than "
                           f"{limits.memory_limit}.", limit="memory",
                           memory_limit=limits.memory_limit) from exc
        if isinstance(exc, duckdb.BinderException | duckdb.ParserException
                      | duckdb.CatalogException):
            # found before any data is read: the message names types and functions, no values
            first = str(exc).splitlines()[0][:300]
            raise Rejected(Reason.QUERY_FAILED, f"The query cannot run: {first}",
                           fragment=first) from None
        # while reading data, DuckDB's message can quote a member's value: log it, never pass
        # it on
        log.warning("sandbox query failed: %s", exc)
        raise Rejected(Reason.QUERY_FAILED, "The query failed while running.") from None


@contextmanager
def _connection(tables: Mapping[str, Source], limits: Limits) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(limits)
    try:
        for name, source in tables.items():
            con.register(name, source)
        yield con
    finally:
        con.close()


def _query(con: duckdb.DuckDBPyConnection, sql: str, limits: Limits) -> pa.Table:
    statements = con.extract_statements(sql)  # whatever the caller checked: DuckDB's own word
    if len(statements) != 1:
        raise Rejected(Reason.NOT_A_SELECT, "Exactly one statement is allowed.")
    if statements[0].type != duckdb.StatementType.SELECT:  # nothing outlives the connection
        raise Rejected(Reason.NOT_A_SELECT, "Only a SELECT statement is allowed.")
    with _guard(con, limits):
        return con.sql(sql).to_arrow_table()


def execute(sql: str, tables: Mapping[str, Source], limits: Limits) -> pa.Table:
    """Run one statement on a fresh locked-down connection with only ``tables`` registered."""
    with _connection(tables, limits) as con:
        return _query(con, sql, limits)


def rows_per_contributor(source: Source, contributor: str, limits: Limits) -> int:
    """The most rows one contributor has in ``source`` (0 when empty): measure it once per
    dataset version and declare it as ``TablePolicy.rows_per_contributor``."""
    quoted = '"' + contributor.replace('"', '""') + '"'
    table = execute(f"SELECT COALESCE(MAX(n), 0) AS m FROM (SELECT COUNT(*) AS n FROM {RESULT} "
                    f"GROUP BY {quoted})", {RESULT: source}, limits)
    return int(table.column(0)[0].as_py())


def _authorised(checked: Checked, tables: Mapping[str, Source]) -> dict[str, Source]:
    missing = [t for t in checked.tables if t not in tables]
    if missing:
        raise Rejected(Reason.TABLE_NOT_AUTHORISED, f"The table {missing[0]} is not available.",
                       fragment=missing[0])
    return {t: tables[t] for t in checked.tables}


def release(checked: Checked, stage1: pa.Table, limits: Limits,
            con: duckdb.DuckDBPyConnection | None = None) -> tuple[pa.Table, int]:
    """Suppress small groups, then order and limit what is released; (rows, suppressed)."""
    suppressed = 0
    if checked.suppress:  # small groups go first: nothing after this can depend on them
        counts = pc.fill_null(stage1.column(CONTRIBUTORS), 0)
        released = stage1.filter(pc.greater_equal(counts, checked.k))
        suppressed = stage1.num_rows - released.num_rows
        stage1 = released
    if not checked.release_exprs:  # the outputs as they are, by position
        names = [f"c{i}" for i in range(stage1.num_columns - 1)]
        stage1 = stage1.rename_columns([*names, CONTRIBUTORS])
        checked = replace(checked, columns=names)
    sql = checked.release_sql(RESULT)
    if checked.limit is None:
        sql += f" LIMIT {int(limits.max_rows) + 1}"
    renamed = stage1
    if con is None:
        return execute(sql, {RESULT: renamed}, limits), suppressed
    con.register(RESULT, renamed)  # beside the query's own tables, on its connection
    return _query(con, sql, limits), suppressed


def run(checked: Checked, tables: Mapping[str, Source], *, limits: Limits) -> Result:
    """Run a checked query; release only groups of at least ``k`` contributors."""
    if checked.dp is not None:
        raise ValueError("a DP query runs with run_dp")
    start = time.perf_counter()
    with _connection(_authorised(checked, tables), limits) as con:
        stage1 = _query(con, checked.sql, limits)
        return finish(checked, stage1, limits, start, con)


def finish(checked: Checked, stage1: pa.Table, limits: Limits, start: float,
           con: duckdb.DuckDBPyConnection | None = None) -> Result:
    """The release step and the JSON-friendly result (shared by DuckDB and Spark)."""
    released, suppressed = release(checked, stage1, limits, con)
    rows = [[_json(v) for v in row.values()] for row in released.to_pylist()]
    truncated = len(rows) > limits.max_rows
    return Result(columns=list(checked.columns), rows=rows[: limits.max_rows],
                  suppressed_groups=suppressed, truncated=truncated,
                  seconds=time.perf_counter() - start)


def run_dp(checked: Checked, tables: Mapping[str, Source], *, epsilon: float,
           delta: float = 1e-6, limits: Limits, rng: Any = None) -> Result:
    """Run a DP-checked query: exact clamped components per group, then noise and a release
    threshold (:mod:`gongshu.sandbox.dp`). Every call spends ``epsilon``. ``suppressed_groups``
    is always 0 here: the exact count of groups below the threshold is not differentially
    private (released + suppressed = the exact number of groups)."""
    if checked.dp is None:
        raise ValueError("run_dp needs a query checked with dp=True")
    start = time.perf_counter()
    with _connection(_authorised(checked, tables), limits) as con:  # one connection, both steps
        exact = _query(con, checked.sql, limits)
        return _noisy_answer(checked, exact, epsilon=epsilon, delta=delta, limits=limits,
                             rng=rng, start=start, con=con)


def _noisy_answer(checked: Checked, exact: pa.Table, *, epsilon: float, delta: float,
                  limits: Limits, rng: Any, start: float,
                  con: duckdb.DuckDBPyConnection) -> Result:
    from gongshu.sandbox import dp as dpmod

    assert checked.dp is not None
    noisy, _ = dpmod.release(checked.dp, exact, k=checked.k, epsilon=epsilon, delta=delta,
                             rng=rng)
    # how many groups fell below the threshold is NOT released: with the released ones it
    # would give the exact number of groups in the data, which one person can change
    suppressed = 0
    if not checked.order_by and checked.limit is None and checked.offset is None:
        rows = [[_json(v) for v in row.values()] for row in noisy]  # in the groups' order
        return Result(columns=list(checked.columns), rows=rows[: limits.max_rows],
                      suppressed_groups=suppressed, truncated=len(rows) > limits.max_rows,
                      seconds=time.perf_counter() - start, epsilon_spent=epsilon)
    # ORDER BY / LIMIT over the noisy, released rows
    table = pa.Table.from_pylist(noisy) if noisy else pa.table(
        {c: pa.array([], pa.null()) for c in checked.columns})
    table = table.append_column(CONTRIBUTORS, pa.array([checked.k] * table.num_rows, pa.int64()))
    plain = Checked(original=checked.original, sql="", columns=checked.columns, tables=[],
                    k=checked.k, suppress=False, order_by=checked.order_by,
                    limit=checked.limit, offset=checked.offset)
    result = finish(plain, table, limits, start, con)
    return Result(columns=result.columns, rows=result.rows, suppressed_groups=suppressed,
                  truncated=result.truncated, seconds=result.seconds, epsilon_spent=epsilon)


def _json(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    return value
