"""Benchmark of the scan and of CSV ingest (issue 4, "Done when"). Prints ONE JSON object.

- scan: every detector over a synthetic 6-column table (ID numbers, phones, names, amounts, free
  text, addresses), in cells per second (goal >= 10 M/s on 2 cores), and its time divided by one
  DuckDB ``regexp_matches`` count over the same columns in the same run (goal <= 3x).
- ingest: a CSV (UTF-8, then GBK) read through ``gongshu.engine.readers`` into Parquet, in MB/s
  of the file (goal >= 100 MB/s), with the peak RSS of the process doing it (goal <= 1 GB for a
  2 GB file). Each ingest runs in a fresh subprocess so its peak RSS is its own.

Timings are medians of ``--repeat`` runs (the machine is noisy). All data is generated.

    .venv/bin/python benchmarks/scan.py                 # 10 million rows
    .venv/bin/python benchmarks/scan.py --rows 200000   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gongshu.core import identifiers as ids
from gongshu.grading import detectors
from gongshu.grading.scan import SCAN_BATCH_ROWS, scan_batches

COLUMNS = ["身份证号", "手机", "姓名", "金额", "备注", "地址"]
# One detector-like pattern (the mobile candidate) for the DuckDB baseline.
BASELINE_PATTERN = r"1[3-9][0-9]{9}"


def build_table(rows: int) -> pa.Table:
    """A synthetic population register, generated column-wise inside DuckDB (fast, no loops).

    ID numbers get their GB 11643 check character in SQL; everything is random but well formed.
    """
    regions = sorted(c for c in ids.region_codes() if c.startswith("14") and not c.endswith("00"))
    weights = list(ids.CN_ID_WEIGHTS)
    check = "+".join(f"(ascii(substr(b17,{i + 1},1))-48)*{w}" for i, w in enumerate(weights))
    surnames = list("王李张刘陈杨赵黄周吴徐孙马胡朱郭何罗高林") + ["欧阳", "司马"]
    given = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华")
    roads = ["体育路", "并州路", "迎泽大街", "长风街", "建设北路", "学府街", "平阳路"]
    districts = ["小店区", "迎泽区", "杏花岭区", "万柏林区", "晋源区", "尖草坪区"]
    sql = f"""
    WITH r AS (
      SELECT i, hash(i) AS h, hash(i + 7919) AS g, hash(i * 31 + 17) AS k FROM range({rows}) t(i)
    ), p AS (
      SELECT *,
        ({regions!r})[1 + (h % {len(regions)})::INT] || strftime(DATE '1940-01-01' +
          (g % 29000)::INT, '%Y%m%d') || lpad((k % 1000)::VARCHAR, 3, '0') AS b17,
        (['138','139','150','186','159','177','199','135'])[1 + (g % 8)::INT]
          || lpad((h % 100000000)::VARCHAR, 8, '0') AS phone
      FROM r
    ), q AS (
      SELECT *, b17 || substr('10X98765432', (({check}) % 11) + 1, 1) AS id FROM p
    )
    SELECT
      id AS "{COLUMNS[0]}",
      CASE WHEN k % 10 = 0 THEN '+86 ' || substr(phone,1,3) || ' ' || substr(phone,4,4) || ' '
           || substr(phone,8) ELSE phone END AS "{COLUMNS[1]}",
      ({surnames!r})[1 + (h % {len(surnames)})::INT] || ({given!r})[1 + (g % {len(given)})::INT]
        || CASE WHEN k % 3 = 0 THEN '' ELSE ({given!r})[1 + (k % {len(given)})::INT] END
        AS "{COLUMNS[2]}",
      printf('%.2f', (g % 10000000) / 100.0) AS "{COLUMNS[3]}",
      CASE k % 4
        WHEN 0 THEN '市民' || ({surnames!r})[1 + (g % 20)::INT] || '先生来电反映小区停车难，联系电话'
          || phone || '，请尽快处理。'
        WHEN 1 THEN '已办结，材料齐全，办理人员已电话回访，群众表示满意。'
        WHEN 2 THEN '申请人身份证号' || id || '，申请事项为居住证办理，待审核。'
        ELSE '现场核查发现该路段井盖破损，已通知市政部门于三个工作日内维修。'
      END AS "{COLUMNS[4]}",
      '山西省太原市' || ({districts!r})[1 + (h % {len(districts)})::INT]
        || ({roads!r})[1 + (g % {len(roads)})::INT] || ((k % 300) + 1)::VARCHAR || '号'
        || CASE WHEN h % 2 = 0 THEN ((g % 20) + 1)::VARCHAR || '栋' || ((k % 6) + 1)::VARCHAR
           || '单元' ELSE '' END AS "{COLUMNS[5]}"
    FROM q
    """
    con = duckdb.connect()
    table = con.sql(sql).to_arrow_table()
    return table.cast(pa.schema([pa.field(c, pa.string()) for c in COLUMNS])).combine_chunks()


def median_time(run, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def cpu_time(run) -> tuple[float, float, object]:
    """Wall and CPU seconds (all threads of this process) of one run."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def bench_scan(table: pa.Table, repeat: int) -> dict:
    batches = table.to_batches(max_chunksize=SCAN_BATCH_ROWS)
    con = duckdb.connect()
    con.register("t", table)
    counts = ", ".join(f"count(*) FILTER (WHERE regexp_matches(\"{c}\", '{BASELINE_PATTERN}'))"
                       for c in COLUMNS)
    # Scan and baseline alternate, so that both see the same machine (it is shared and noisy).
    scans, baselines, scan_cpu, baseline_cpu, result = [], [], [], [], None
    for _ in range(repeat):
        seconds, cpu, result = cpu_time(lambda: scan_batches(batches, COLUMNS))
        scans.append(seconds)
        scan_cpu.append(cpu)
        seconds, cpu, _ = cpu_time(lambda: con.sql(f"SELECT {counts} FROM t").fetchall())
        baselines.append(seconds)
        baseline_cpu.append(cpu)
    seconds, baseline = statistics.median(scans), statistics.median(baselines)
    rows, columns = result
    # The same scan with every value examined (no deduplication): what a column of distinct
    # values costs. The synthetic names, notes and addresses repeat a lot (see build_table).
    # (Skipped when run against a version without deduplication, for before/after figures.)
    distinct: float | None = None
    saving = getattr(detectors, "DEDUP_MIN_SAVING", None)
    if saving is not None:
        detectors.DEDUP_MIN_SAVING = float("inf")
        try:
            distinct, (_, undeduplicated) = median_time(lambda: scan_batches(batches, COLUMNS),
                                                        repeat)
        finally:
            detectors.DEDUP_MIN_SAVING = saving
        assert [c.counts for c in undeduplicated] == [c.counts for c in columns]
    cells = table.num_rows * table.num_columns
    found = {c.name: {d.type: round(d.ratio, 4) for d in c.detections[:3]} for c in columns}
    return {
        "rows": rows,
        "cells": cells,
        "scan_seconds_median": round(seconds, 3),
        "scan_seconds_all": [round(s, 3) for s in scans],
        "cells_per_second": round(cells / seconds),
        "goal_cells_per_second": 10_000_000,
        "baseline_regexp_matches_seconds_median": round(baseline, 3),
        "baseline_seconds_all": [round(s, 3) for s in baselines],
        "baseline_pattern": BASELINE_PATTERN,
        "scan_over_baseline": round(seconds / baseline, 2),
        "goal_scan_over_baseline": 3.0,
        # CPU seconds (all threads): what the work costs, less sensitive to a busy machine.
        "scan_cpu_seconds_median": round(statistics.median(scan_cpu), 2),
        "baseline_cpu_seconds_median": round(statistics.median(baseline_cpu), 2),
        "without_dedup_seconds_median": distinct and round(distinct, 3),
        "without_dedup_cells_per_second": distinct and round(cells / distinct),
        "without_dedup_over_baseline": distinct and round(distinct / baseline, 2),
        "distinct_share_per_batch": {
            c: round(statistics.mean(len(pc.unique(b.column(i))) / b.num_rows
                                     for b in batches), 3) for i, c in enumerate(COLUMNS)},
        "top_detections": found,
    }


def ingest_worker(path: str, out: str) -> None:
    """Read a CSV through the readers into Parquet; print seconds and this process's peak RSS."""
    from gongshu.engine.readers import open_source

    start = time.perf_counter()
    reader = open_source(path)
    with pq.ParquetWriter(out, reader.schema) as writer:
        rows = 0
        for batch in reader.batches():
            writer.write_batch(batch)
            rows += batch.num_rows
    seconds = time.perf_counter() - start
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child forked from this
    # (large) parent would report the parent's peak.
    status = Path("/proc/self/status").read_text()
    peak_kb = next((int(line.split()[1]) for line in status.splitlines()
                    if line.startswith("VmHWM:")),
                   resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    own = resource.getrusage(resource.RUSAGE_SELF)
    # Helper processes (GB/Big5 transcoding) are children: their CPU and largest peak RSS.
    helpers = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_rss_mb": peak_kb / 1024,
                      "encoding": reader.encoding,
                      "cpu_seconds": own.ru_utime + own.ru_stime,
                      "helper_cpu_seconds": helpers.ru_utime + helpers.ru_stime,
                      "helper_peak_rss_mb": helpers.ru_maxrss / 1024}))


def write_register_files(table: pa.Table, folder: Path) -> tuple[Path, Path]:
    """The table as a UTF-8 CSV and the same CSV in GBK (``register-utf8.csv``,
    ``register-gbk.csv``); also used by ``ingest.py``."""
    utf8 = folder / "register-utf8.csv"
    gbk = folder / "register-gbk.csv"
    pacsv.write_csv(table, utf8)
    with utf8.open("rb") as src, gbk.open("wb") as dst:  # transcode in 8 MB line-aligned chunks
        rest = b""
        while block := src.read(8 << 20):
            block = rest + block
            cut = block.rfind(b"\n") + 1
            dst.write(block[:cut].decode("utf-8").encode("gbk"))
            rest = block[cut:]
        dst.write(rest.decode("utf-8").encode("gbk"))
    return utf8, gbk


def bench_ingest(table: pa.Table, folder: Path, repeat: int) -> dict:
    utf8, gbk = write_register_files(table, folder)
    results = {}
    for label, path in (("utf8", utf8), ("gbk", gbk)):
        runs = []
        for _ in range(repeat):
            done = subprocess.run(
                [sys.executable, __file__, "--ingest-worker", str(path),
                 str(folder / f"{label}.parquet")],
                check=True, capture_output=True, text=True)
            runs.append(json.loads(done.stdout))
        size_mb = path.stat().st_size / 1e6
        seconds = statistics.median(r["seconds"] for r in runs)
        results[label] = {
            "file_mb": round(size_mb, 1),
            "rows": runs[0]["rows"],
            "encoding_detected": runs[0]["encoding"],
            "seconds_median": round(seconds, 3),
            "mb_per_second": round(size_mb / seconds, 1),
            "seconds_all": [round(r["seconds"], 2) for r in runs],
            "peak_rss_mb_max": round(max(r["peak_rss_mb"] for r in runs), 1),
            "cpu_seconds_median": round(statistics.median(r["cpu_seconds"] for r in runs), 1),
            "helper_cpu_seconds_median": round(
                statistics.median(r["helper_cpu_seconds"] for r in runs), 1),
            "helper_peak_rss_mb_max": round(max(r["helper_peak_rss_mb"] for r in runs), 1),
        }
    results["goal_mb_per_second"] = 100
    results["goal_peak_rss_mb"] = 1024
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-scan", action="store_true")
    parser.add_argument("--dir", type=Path, default=None, help="where the CSV files go")
    parser.add_argument("--ingest-worker", nargs=2, metavar=("CSV", "PARQUET"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ingest_worker:
        ingest_worker(*args.ingest_worker)
        return
    start = time.perf_counter()
    table = build_table(args.rows)
    report: dict = {
        "benchmark": "grading scan and CSV ingest",
        "machine_cores": os.cpu_count(),
        "rows": table.num_rows,
        "columns": COLUMNS,
        "repeat": args.repeat,
        "build_seconds": round(time.perf_counter() - start, 1),
    }
    if not args.skip_scan:
        report["scan"] = bench_scan(table, args.repeat)
    if not args.skip_ingest:
        with tempfile.TemporaryDirectory(dir=args.dir) as folder:
            report["ingest"] = bench_ingest(table, Path(folder), args.repeat)
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
