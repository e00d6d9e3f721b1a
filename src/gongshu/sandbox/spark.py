"""The sandbox on Spark (``sandbox_engine = spark``, Art. 14): same policy, same release step.

One local SparkSession per process (``local[2]``, small driver memory, UI off), created on first
use and reused. Each query registers its authorised tables as temporary views over their
Parquet files, runs ``checked.sql_for("spark")`` (the first stage: outputs and
``__gs_contributors``), collects that (small, grouped) result as Arrow and hands it to the same
release step as DuckDB (:func:`gongshu.sandbox.runner.finish`): groups below ``k`` dropped and
counted, then ORDER BY / LIMIT. A timer cancels the query's job group after the time limit
(``Rejected(RESOURCE_LIMIT)``). Spark reads files itself, so the only paths it is given are the
authorised tables' Parquet files; the policy has already refused every table function and
every table not authorised.

Needs the ``spark`` extra (``pip install gongshu[spark]``) and Java 17.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from gongshu.sandbox.policy import Checked, Reason, Rejected
from gongshu.sandbox.runner import Limits, Result, finish

_lock = threading.Lock()  # creating / stopping the session
_query_lock = threading.Lock()  # temp views are per session: one sandbox query at a time
_session: Any = None


def available() -> bool:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return False
    return True


def session(memory: str = "1g") -> Any:
    """The process's local SparkSession (created once)."""
    global _session
    with _lock:
        if _session is None:
            from pyspark.sql import SparkSession

            _session = (
                SparkSession.builder.master("local[2]")
                .appName("gongshu-sandbox")
                .config("spark.ui.enabled", "false")
                .config("spark.driver.memory", memory)
                .config("spark.sql.shuffle.partitions", "4")
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.sql.ansi.enabled", "false")
                .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                .getOrCreate()
            )
            _session.sparkContext.setLogLevel("ERROR")
        return _session


def stop() -> None:
    global _session
    with _lock:
        if _session is not None:
            _session.stop()
            _session = None


def run_spark(checked: Checked, sources: Mapping[str, list[str]], *, limits: Limits,
              memory: str = "1g") -> Result:
    """Run a checked query on Spark over the authorised tables' Parquet files."""
    if checked.dp is not None:
        raise ValueError("DP queries run on DuckDB (runner.run_dp)")
    missing = [t for t in checked.tables if t not in sources]
    if missing:
        raise Rejected(Reason.TABLE_NOT_AUTHORISED, f"The table {missing[0]} is not available.",
                       fragment=missing[0])
    start = time.perf_counter()
    spark = session(memory)
    views: list[str] = []
    group = f"gs-{uuid.uuid4().hex}"
    fired = threading.Event()

    def cancel() -> None:
        fired.set()
        spark.sparkContext.cancelJobGroup(group)

    timer = threading.Timer(limits.timeout_seconds, cancel)
    timer.daemon = True
    with _query_lock:
        try:
            for table in checked.tables:
                spark.read.parquet(*sources[table]).createOrReplaceTempView(table)
                views.append(table)
            spark.sparkContext.setJobGroup(group, "sandbox query", interruptOnCancel=True)
            timer.start()
            frame = spark.sql(checked.sql_for("spark"))
            stage1 = _to_arrow(frame)
        except Exception as exc:
            if fired.is_set():
                raise Rejected(Reason.RESOURCE_LIMIT, f"The query ran longer than "
                               f"{limits.timeout_seconds:g} s and was stopped.", limit="time",
                               seconds=limits.timeout_seconds) from exc
            if "OutOfMemory" in str(exc):
                raise Rejected(Reason.RESOURCE_LIMIT, "The query needs more memory than "
                               "allowed.", limit="memory") from exc
            raise
        finally:
            timer.cancel()
            for view in views:
                spark.catalog.dropTempView(view)
    return finish(checked, stage1, limits, start)


def _to_arrow(frame: Any) -> pa.Table:
    table = frame.toArrow()  # Spark 4
    return pa.table(table.columns, names=list(frame.columns))
