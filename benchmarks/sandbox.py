"""Benchmark of the sandbox (issue 11, Art. 14). Prints ONE JSON object.

- policy: ``check()`` (parse, level derivation, rewrite) per query over a set of ordinary
  analyses, median µs (goal ≤ 5 ms).
- grouped aggregate: ``SELECT county, gender, COUNT(*), SUM(annual_income), AVG(annual_income)
  … GROUP BY county, gender`` (1,000 counties × 2) over a 10-million-row Parquet table, through
  the sandbox (check, the locked-down connection, contributor counting, the release step) beside
  raw DuckDB running the operator's query as written over the same ``pyarrow.dataset`` in the
  same run (goal ≤ 1.2×). Also with a contributor column declared unique, where groups count rows.
- DP query: the same aggregate in DP mode (one row per contributor, clamping, OpenDP noise).
- SmartNoise SQL: the same DP query through SmartNoise's SQLite reader, run as a subprocess in
  the virtual environment named by ``GONGSHU_BENCH_SNSQL`` (default ``/tmp/snsql``; make it with
  ``python3 -m venv /tmp/snsql && /tmp/snsql/bin/pip install smartnoise-sql``) over the first
  ``--snsql-rows`` rows (loading 10 M rows into SQLite is the slow part, so the sandbox's DP time
  is measured on the same subset beside it); "not measured" when that environment is missing.

Timings are medians of ``--repeat`` runs. All data is generated into a temporary directory.

    .venv/bin/python benchmarks/sandbox.py                    # 10 million rows
    .venv/bin/python benchmarks/sandbox.py --rows 200000      # quick
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from gongshu.sandbox.policy import ReleaseLevel as L
from gongshu.sandbox.policy import TablePolicy, check
from gongshu.sandbox.runner import Limits, run, run_dp

POLICY = TablePolicy(
    "population",
    {"id_no": L.JOIN, "name": L.HIDDEN, "gender": L.GROUP_BY, "birth_date": L.GROUP_BY,
     "county": L.GROUP_BY, "annual_income": L.AGGREGATE},
    contributor="id_no",
    bounds={"annual_income": (0, 500000)},
)
QUERY = ("SELECT county, gender, COUNT(*) AS n, SUM(annual_income) AS s, "
         "AVG(annual_income) AS a FROM population GROUP BY county, gender")
DP_QUERY = ("SELECT county, COUNT(*) AS n, AVG(annual_income) AS a FROM population "
            "GROUP BY county")
POLICY_QUERIES = [
    QUERY,
    "SELECT (2026 - year(birth_date)) // 10 * 10 AS band, gender, COUNT(*), AVG(annual_income) "
    "FROM population WHERE county BETWEEN 100 AND 400 GROUP BY 1, 2 HAVING COUNT(*) > 20 "
    "ORDER BY 1, 2 LIMIT 50",
    "WITH t AS (SELECT county, gender, COUNT(*) AS n FROM population GROUP BY 1, 2) "
    "SELECT county, SUM(n) FROM t GROUP BY county",
    "SELECT date_diff('year', birth_date, DATE '2026-12-01') AS age, COUNT(*) FROM population "
    "WHERE annual_income > 100000 AND gender = 'F' GROUP BY age ORDER BY age",
    "SELECT county % 100 AS c, SUM(CASE WHEN annual_income > 200000 THEN 1 ELSE 0 END) AS rich "
    "FROM population GROUP BY 1",
    "SELECT SUM(CASE WHEN id_no = 42 THEN annual_income END) FROM population",  # refused
]


def generate(rows: int, folder: Path) -> Path:
    """A population register: one row per person, 1,000 counties (some tiny), two genders."""
    rng = np.random.default_rng(20261207)
    path = folder / "population.parquet"
    writer = None
    chunk = 1_000_000
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        county = rng.zipf(1.3, n) % 1000
        table = pa.table({
            "id_no": np.arange(start, start + n, dtype=np.int64),
            "name": pa.array(["某某"] * n),
            "gender": pa.array(np.where(rng.random(n) < 0.5, "M", "F")),
            "birth_date": pa.array((rng.integers(-20000, 20000, n)).astype("datetime64[D]")),
            "county": county.astype(np.int32),
            "annual_income": rng.integers(0, 400000, n),
        })
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=256_000)
    assert writer is not None
    writer.close()
    return path


def median_time(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def raw_duckdb(dataset, limits: Limits, sql: str):
    con = duckdb.connect(":memory:", config={"memory_limit": limits.memory_limit,
                                             "threads": limits.threads})
    con.register("population", dataset)
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def bench_policy(repeat: int) -> dict:
    tables = {"population": POLICY}
    per_query = []
    for sql in POLICY_QUERIES:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            with contextlib.suppress(Exception):  # the refused one: refusing is timed too
                check(sql, tables)
            times.append(time.perf_counter() - start)
        per_query.append(statistics.median(times))
    median_us = statistics.median(per_query) * 1e6
    return {"queries": len(POLICY_QUERIES), "median_us": round(median_us, 1),
            "max_query_median_us": round(max(per_query) * 1e6, 1),
            "goal_ms": 5, "met": max(per_query) <= 0.005}


SNSQL_SCRIPT = textwrap.dedent("""
    import json, sqlite3, sys, time
    import snsql
    from snsql import Privacy
    con = sqlite3.connect(sys.argv[1])
    meta = {"": {"": {"population": {
        "row_privacy": False, "max_ids": 1,
        "id_no": {"type": "int", "private_id": True},
        "county": {"type": "int"},
        "annual_income": {"type": "int", "lower": 0, "upper": 500000},
    }}}}
    reader = snsql.from_connection(con, engine="sqlite", metadata=meta,
                                   privacy=Privacy(epsilon=1.0, delta=1e-6))
    times = []
    for _ in range(int(sys.argv[3])):
        start = time.perf_counter()
        out = reader.execute(sys.argv[2])
        times.append(time.perf_counter() - start)
    times.sort()
    print(json.dumps({"seconds": times[len(times) // 2], "groups": len(out) - 1}))
""")


def sqlite_copy(table: pa.Table, folder: Path) -> Path:
    """The SmartNoise side's data: the same rows in a SQLite file (not timed)."""
    path = folder / "population.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE population (id_no INTEGER, county INTEGER, annual_income INTEGER)")
    columns = [table.column(c).to_pylist() for c in ("id_no", "county", "annual_income")]
    con.executemany("INSERT INTO population VALUES (?, ?, ?)", zip(*columns, strict=True))
    con.commit()
    con.close()
    return path


def bench_snsql(table: pa.Table, folder: Path, repeat: int) -> dict:
    venv = Path(os.environ.get("GONGSHU_BENCH_SNSQL", "/tmp/snsql"))
    python = venv / "bin" / "python"
    if not python.exists():
        return {"status": "not measured", "why": f"no SmartNoise SQL environment at {venv}"}
    db = sqlite_copy(table, folder)
    try:
        proc = subprocess.run([str(python), "-c", SNSQL_SCRIPT, str(db), DP_QUERY, str(repeat)],
                              capture_output=True, text=True, timeout=1800, check=True)
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError) as exc:
        err = getattr(exc, "stderr", "") or ""
        return {"status": "not measured", "why": f"{type(exc).__name__}: {err[-400:]}"}
    return {"status": "measured", "engine": "SmartNoise SQL (SQLite reader)",
            "rows": table.num_rows, "seconds": round(out["seconds"], 4),
            "groups_released": out["groups"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--snsql-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    limits = Limits(memory_limit="2GB", timeout_seconds=600, max_rows=100_000, threads=2)
    report: dict = {"rows": args.rows, "threads": limits.threads}
    report["policy_check"] = bench_policy(repeat=200)
    with tempfile.TemporaryDirectory(prefix="gs-sandbox-bench-") as tmp:
        start = time.perf_counter()
        path = generate(args.rows, Path(tmp))
        report["generate_seconds"] = round(time.perf_counter() - start, 1)
        dataset = pads.dataset(str(path), format="parquet")
        tables = {"population": POLICY}
        unique = {"population": replace(POLICY, rows_per_contributor=1)}
        raw_duckdb(dataset, limits, QUERY)  # warm the file cache
        raw_t, raw_out = [], None
        sand_t, sand_u_t = [], []
        result = result_u = None
        for _ in range(args.repeat):  # interleaved, so load on the machine hits both alike
            t0 = time.perf_counter()
            raw_out = raw_duckdb(dataset, limits, QUERY)
            t1 = time.perf_counter()
            result = run(check(QUERY, tables), {"population": dataset}, limits=limits)
            t2 = time.perf_counter()
            result_u = run(check(QUERY, unique), {"population": dataset}, limits=limits)
            t3 = time.perf_counter()
            raw_t.append(t1 - t0)
            sand_t.append(t2 - t1)
            sand_u_t.append(t3 - t2)
        assert raw_out is not None and result is not None and result_u is not None
        raw_s, sand_s, sand_u = (statistics.median(x) for x in (raw_t, sand_t, sand_u_t))
        report["grouped_aggregate"] = {
            "query": QUERY,
            "groups": raw_out.num_rows,
            "released": len(result.rows), "suppressed": result.suppressed_groups,
            "raw_duckdb_seconds": round(raw_s, 4),
            "raw_rows_per_second": round(args.rows / raw_s),
            "sandbox_seconds": round(sand_s, 4),
            "ratio": round(sand_s / raw_s, 3),
            "sandbox_unique_contributor_seconds": round(sand_u, 4),
            "ratio_unique_contributor": round(sand_u / raw_s, 3),
            "goal_ratio": 1.2, "met": sand_s / raw_s <= 1.2,
            "met_unique_contributor": sand_u / raw_s <= 1.2,
        }
        checked = check(DP_QUERY, tables, dp=True)
        dp_s, dp_out = median_time(lambda: run_dp(checked, {"population": dataset}, epsilon=1.0,
                                                  limits=limits), args.repeat)
        checked_u = check(DP_QUERY, unique, dp=True)
        dp_u, _ = median_time(lambda: run_dp(checked_u, {"population": dataset}, epsilon=1.0,
                                             limits=limits), args.repeat)
        exact_s, _ = median_time(lambda: raw_duckdb(dataset, limits, DP_QUERY), args.repeat)
        report["dp_query"] = {
            "query": DP_QUERY, "epsilon": 1.0, "delta": 1e-6,
            "seconds": round(dp_s, 4), "unique_contributor_seconds": round(dp_u, 4),
            "raw_duckdb_exact_seconds": round(exact_s, 4),
            "released": len(dp_out.rows),
        }
        sub_rows = min(args.snsql_rows, args.rows)
        sub = pads.dataset(str(path), format="parquet").head(sub_rows)
        dp_sub, _ = median_time(lambda: run_dp(checked, {"population": sub}, epsilon=1.0,
                                               limits=limits), args.repeat)
        # SmartNoise is told each person has one row (max_ids = 1): the same assumption as a
        # declared rows_per_contributor = 1, which the room measures and declares for a register
        dp_sub_u, _ = median_time(lambda: run_dp(checked_u, {"population": sub}, epsilon=1.0,
                                                 limits=limits), args.repeat)
        snsql = bench_snsql(sub, Path(tmp), max(1, min(args.repeat, 3)))
        snsql["sandbox_dp_seconds_same_rows"] = round(dp_sub, 4)
        snsql["sandbox_dp_unique_contributor_seconds_same_rows"] = round(dp_sub_u, 4)
        if snsql.get("status") == "measured":
            snsql["ratio_smartnoise_over_sandbox"] = round(snsql["seconds"] / dp_sub, 2)
            snsql["ratio_smartnoise_over_sandbox_unique_contributor"] = round(
                snsql["seconds"] / dp_sub_u, 2)
            snsql["goal_ratio"] = 50
            snsql["met"] = snsql["seconds"] / dp_sub_u >= 50
        report["smartnoise_sql"] = snsql
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    sys.exit(main())
