"""De-identification (Art. 16): assessment and apply throughput on a 1 M-row file.

    .venv/bin/python benchmarks/deid.py [--rows 1000000] [--runs 3] [--formats parquet,csv]

For each file format, on a synthetic register (sex, birth date, county code, ID number, name,
mobile, income; never real data):

- **assess**: ``deid.service.assess_file`` (the library's reader → Arrow → ``risk.assess``'s
  DuckDB GROUP BY) for three quasi-identifiers, rows/s, median of ``--runs``; beside a plain
  DuckDB ``SELECT qi…, COUNT(*) … GROUP BY qi…`` over the same file (``read_parquet`` /
  ``read_csv``) in the same run: ``ratio`` = baseline time ÷ ours (1.0 = as fast as DuckDB
  alone; below 1: slower).
- **apply**: ``deid.service.apply_file`` with a profile (pseudonym of the name, ID number →
  city, mobile masked, birth date → 5-year band, income bucketed, small classes dropped),
  writing Parquet, rows/s, median of ``--runs``.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from gongshu.core.security import KeyStore  # noqa: E402
from gongshu.deid import service  # noqa: E402

QI = ["性别", "出生日期", "区县"]
PROFILE = """
columns:
  姓名: pseudonym
  公民身份号码: {transform: id_region, to: city}
  联系电话: {transform: mask, type: mobile}
  出生日期: {transform: date, to: band5}
  月收入: {transform: bucket, edges: [3000, 6000, 10000, 20000]}
quasi_identifiers: [性别, 出生日期, 区县]
thresholds: {k: 5}
suppress: drop
"""
COUNTIES = ["140105", "140106", "140107", "140108", "140109", "140110", "140121", "140122",
            "140202", "140212", "140781", "140802", "140902", "141002", "141102"]


def make_table(rows: int, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    born = np.datetime64("1940-01-01") + rng.integers(0, 25_000, rows).astype("timedelta64[D]")
    born_text = np.datetime_as_string(born, unit="D")
    county = rng.choice(COUNTIES, rows)
    seq = rng.integers(0, 1000, rows)
    ids = [f"{c}{b.replace('-', '')}{s:03d}X" for c, b, s in zip(county, born_text, seq,
                                                               strict=True)]
    surnames = np.array(list("王李张刘陈杨赵黄周吴徐孙马胡朱郭何罗高林"))
    given = np.array(list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"))
    names = np.char.add(np.char.add(rng.choice(surnames, rows), rng.choice(given, rows)),
                        rng.choice(given, rows))
    return pa.table({
        "姓名": pa.array(names.tolist()),
        "公民身份号码": pa.array(ids),
        "联系电话": pa.array([f"13{n:09d}" for n in rng.integers(0, 10**9, rows)]),
        "性别": pa.array(rng.choice(["男", "女"], rows).tolist()),
        "出生日期": pa.array(born_text.tolist()),
        "区县": pa.array(county.tolist()),
        "月收入": pa.array([f"{x:.2f}" for x in rng.gamma(2.0, 3000.0, rows)]),
    })


def timed(fn: Any, runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def duckdb_group_by(path: Path, fmt: str) -> int:
    con = duckdb.connect()
    try:
        source = (f"read_parquet('{path}')" if fmt == "parquet"
                  else f"read_csv('{path}', all_varchar=true, header=true)")
        cols = ", ".join(f'"{c}"' for c in QI)
        return len(con.execute(f"SELECT {cols}, COUNT(*) FROM {source} GROUP BY {cols}")
                   .fetchall())
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--formats", default="parquet,csv")
    args = parser.parse_args()
    out: dict[str, Any] = {"rows": args.rows, "runs": args.runs,
                           "date": dt.date.today().isoformat(), "formats": {}}
    with tempfile.TemporaryDirectory(prefix="gongshu-bench-deid-") as folder:
        base = Path(folder)
        started = time.perf_counter()
        table = make_table(args.rows)
        out["generate_seconds"] = round(time.perf_counter() - started, 2)
        keys = KeyStore(base / "keys")
        profile_text = PROFILE.replace("thresholds:", "key_scope: dataset\nthresholds:")
        for fmt in args.formats.split(","):
            path = base / f"register.{fmt}"
            if fmt == "parquet":
                pq.write_table(table, path)
            else:
                pacsv.write_csv(table, path)
            ours_s, found = timed(lambda path=path: service.assess_file(path, QI, k=5), args.runs)
            base_s, classes = timed(lambda path=path, fmt=fmt: duckdb_group_by(path, fmt),
                                    args.runs)
            assert classes == found.classes, (classes, found.classes)
            apply_s, applied = timed(lambda path=path: service.apply_file(
                path, profile_text, base / "out.parquet", fmt="parquet", keys=keys), args.runs)
            out["formats"][fmt] = {
                "file_mb": round(path.stat().st_size / 2**20, 1),
                "assess": {"seconds": round(ours_s, 3), "rows_per_s": round(args.rows / ours_s),
                           "classes": found.classes, "k": found.k,
                           "risk_seconds": round(found.seconds, 3)},
                "duckdb_group_by": {"seconds": round(base_s, 3),
                                    "rows_per_s": round(args.rows / base_s)},
                "ratio": round(base_s / ours_s, 3),
                "apply": {"seconds": round(apply_s, 3), "rows_per_s": round(args.rows / apply_s),
                          "rows_out": applied.rows, "k": applied.assessment.k},
            }
    print(json.dumps(out, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
