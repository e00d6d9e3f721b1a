"""Audit chain cost: audited writes vs plain writes, and chain verification vs SM3 alone.

Prints ONE JSON object. For each backend (SQLite always; PostgreSQL when a URL is given with
``--pg`` or ``GONGSHU_TEST_DATABASE_URL``):

- ``writes``: one write = one row inserted into a throwaway business table, one transaction,
  through ``Runtime.db.transaction()``; *audited* adds ``audit.record`` for it (so the commit
  chains, inserts the event and moves the head; the signed checkpoint is flushed inside the
  timed section). *plain* is the same rows without the event, measured in the same run,
  alternating which goes first. ``overhead`` = plain/s ÷ audited/s (goal ≤ 1.5; audited ≥
  5,000/s on SQLite).
- ``verify``: ``audit.verify_chain`` over the whole chain (``--verify-events`` events, written
  in batches through the real append) beside the limit: SM3 over the same canonical bytes,
  already in memory (goal: verification within 2× of it).

Every figure is the median of ``--runs`` runs after a warm-up; the runs are listed too. The
databases are temporary: a SQLite file in a temporary directory, a throwaway schema in the
PostgreSQL database (dropped at the end). Never a timed assertion in the test suite: this is
where the numbers live.

    python benchmarks/audit.py [--n 3000] [--runs 5] [--verify-events 200000] [--pg URL]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy import BigInteger, Column, MetaData, String, Table, create_engine, insert, text

from gongshu.core import audit
from gongshu.core.audit import AuditEvent, AuditHead
from gongshu.core.config import Settings
from gongshu.core.permissions import Actor
from gongshu.core.runtime import Runtime

GOALS = {"audited_per_s": 5000.0, "overhead": 1.5, "verify_vs_sm3": 2.0}

_meta = MetaData()
BENCH_ROW = Table(
    "bench_row",
    _meta,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(64), nullable=False),
    Column("value", BigInteger, nullable=False),
)
ACTOR = Actor(username="bench", display_name="benchmark", via="cli")


# ------------------------------------------------------------------------------ databases


def _create_schema(runtime: Runtime) -> None:
    """The audit tables exactly as the models (= migration 0001) define them, and the row table."""
    engine = runtime.db.engine
    AuditEvent.__table__.create(engine)  # type: ignore[attr-defined]
    AuditHead.__table__.create(engine)  # type: ignore[attr-defined]
    BENCH_ROW.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(AuditHead.__table__), {"id": 1, "seq": 0, "hash": audit.GENESIS_HASH})  # type: ignore[attr-defined]


@contextmanager
def sqlite_runtime() -> Iterator[Runtime]:
    with tempfile.TemporaryDirectory(prefix="gongshu-bench-") as tmp:
        runtime = Runtime(Settings(data_dir=Path(tmp), job_threads=0))
        _create_schema(runtime)
        try:
            yield runtime
        finally:
            runtime.close()


@contextmanager
def postgres_runtime(url: str) -> Iterator[Runtime]:
    """A throwaway schema in the given database, first on every connection's search_path."""
    schema = f"gongshu_bench_{secrets.token_hex(4)}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    scoped = f"{url}{sep}options={quote(f'-csearch_path={schema}')}"
    try:
        with tempfile.TemporaryDirectory(prefix="gongshu-bench-") as tmp:
            runtime = Runtime(Settings(data_dir=Path(tmp), database_url=scoped, job_threads=0))
            _create_schema(runtime)
            try:
                yield runtime
            finally:
                runtime.close()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# --------------------------------------------------------------------------------- writes


class Writes:
    """Numbered rows, so every run inserts new ones (primary keys never clash)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.next_id = 1

    def run(self, n: int, *, audited: bool) -> tuple[float, float]:
        """``n`` one-row transactions; returns writes per second of wall time and per second
        of this process's CPU time (less disturbed by other load on a shared machine)."""
        db = self.runtime.db
        start_id = self.next_id
        self.next_id += n
        cpu = time.process_time()
        started = time.perf_counter()
        for i in range(start_id, start_id + n):
            with db.transaction() as session:
                session.execute(insert(BENCH_ROW), {"id": i, "name": f"行 {i}", "value": i})
                if audited:
                    audit.record(
                        session,
                        ACTOR,
                        "bench.insert",
                        target_type="bench_row",
                        target_id=i,
                        details={"value": i},
                    )
        if audited:
            self.runtime.audit_checkpoints.flush()
        return n / (time.perf_counter() - started), n / (time.process_time() - cpu)


def measure_writes(runtime: Runtime, n: int, runs: int) -> dict[str, Any]:
    writes = Writes(runtime)
    writes.run(max(200, n // 10), audited=True)  # warm-up: pools, caches, statement cache
    writes.run(max(200, n // 10), audited=False)
    audited, plain, audited_cpu, plain_cpu = [], [], [], []
    for r in range(runs):
        order = (True, False) if r % 2 == 0 else (False, True)
        for flag in order:
            wall, cpu = writes.run(n, audited=flag)
            (audited if flag else plain).append(wall)
            (audited_cpu if flag else plain_cpu).append(cpu)
    a, p = statistics.median(audited), statistics.median(plain)
    ac, pc = statistics.median(audited_cpu), statistics.median(plain_cpu)
    return {
        "audited_per_s": round(a),
        "plain_per_s": round(p),
        "overhead": round(p / a, 3),
        "overhead_per_run": [round(pp / aa, 3) for pp, aa in zip(plain, audited, strict=True)],
        "audited_runs": [round(x) for x in audited],
        "plain_runs": [round(x) for x in plain],
        "cpu_time": {
            "note": "writes per second of this process's CPU time (the database server's "
            "CPU is not in it on PostgreSQL)",
            "audited_per_cpu_s": round(ac),
            "plain_per_cpu_s": round(pc),
            "overhead": round(pc / ac, 3),
        },
        "n_per_run": n,
    }


# ----------------------------------------------------------------------------- verification


def fill_chain(runtime: Runtime, events: int, per_commit: int = 1000) -> None:
    """Append ``events`` events through the real append path, ``per_commit`` per transaction."""
    done = 0
    while done < events:
        k = min(per_commit, events - done)
        with runtime.db.transaction() as session:
            for j in range(k):
                audit.record(
                    session,
                    ACTOR,
                    "bench.fill",
                    target_type="bench_row",
                    target_id=done + j,
                    details={"i": done + j, "城市": "太原"},
                )
        done += k
    runtime.audit_checkpoints.flush()


def canonical_bytes(runtime: Runtime) -> list[bytes]:
    """Every event's canonical bytes (without the domain prefix), as the verifier builds them."""
    with runtime.db.transaction(write=False) as session:
        return [orjson.dumps(row[:13]) for row in audit._canonical_rows(session, 10_000)]


def sm3_only(blobs: list[bytes]) -> float:
    """Events/s of hashing alone: the verifier's own SM3 step over bytes already in memory."""
    base = audit._EVENT_SM3
    started = time.perf_counter()
    for blob in blobs:
        h = base.copy()
        h.update(blob)
        h.hexdigest()
    return len(blobs) / (time.perf_counter() - started)


def verify_once(runtime: Runtime) -> tuple[float, audit.VerifyReport]:
    checkpoint = runtime.audit_checkpoints.read()
    key = runtime.keys.verify_key("audit")
    started = time.perf_counter()
    with runtime.db.transaction(write=False) as session:
        report = audit.verify_chain(
            session, checkpoint=checkpoint, public_key=key, require_checkpoint=True
        )
    elapsed = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"the benchmark chain does not verify: {report}")
    return report.events_checked / elapsed, report


def measure_verify(runtime: Runtime, events: int, runs: int) -> dict[str, Any]:
    fill_chain(runtime, events)
    blobs = canonical_bytes(runtime)
    sm3_only(blobs[:10_000])  # warm-up
    verify_once(runtime)
    verify_runs, sm3_runs = [], []
    report = None
    for _ in range(runs):
        rate, report = verify_once(runtime)
        verify_runs.append(rate)
        sm3_runs.append(sm3_only(blobs))
    v, s = statistics.median(verify_runs), statistics.median(sm3_runs)
    assert report is not None
    return {
        "events": report.events_checked,
        "events_per_s": round(v),
        "sm3_only_per_s": round(s),
        "ratio": round(s / v, 3),
        "verify_runs": [round(x) for x in verify_runs],
        "sm3_only_runs": [round(x) for x in sm3_runs],
        "mean_canonical_bytes": round(sum(map(len, blobs)) / len(blobs) + len(audit.DOMAIN), 1),
    }


# ---------------------------------------------------------------------------------- driver


def bench_backend(make: Callable[[], Any], n: int, runs: int, verify_events: int) -> dict[str, Any]:
    with make() as runtime:
        writes = measure_writes(runtime, n, runs)
        verify = measure_verify(runtime, verify_events, runs)
        with runtime.db.engine.connect() as conn:
            version = conn.exec_driver_sql(
                "select sqlite_version()"
                if runtime.db.dialect == "sqlite"
                else "show server_version"
            ).scalar()
    return {
        "server_version": version,
        "writes": writes,
        "verify": verify,
        "goals_met": {
            "audited_per_s>=5000": writes["audited_per_s"] >= GOALS["audited_per_s"],
            "overhead<=1.5": writes["overhead"] <= GOALS["overhead"],
            "verify_within_2x_of_sm3": verify["ratio"] <= GOALS["verify_vs_sm3"],
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="writes per run and variant")
    parser.add_argument("--runs", type=int, default=5, help="measured runs (median reported)")
    parser.add_argument(
        "--verify-events", type=int, default=200_000, help="events in the chain to verify"
    )
    parser.add_argument(
        "--pg",
        default=os.environ.get("GONGSHU_TEST_DATABASE_URL"),
        help="PostgreSQL URL (default: $GONGSHU_TEST_DATABASE_URL); a throwaway schema is used",
    )
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = parser.parse_args(argv)

    out: dict[str, Any] = {
        "benchmark": "audit",
        "params": {"n": args.n, "runs": args.runs, "verify_events": args.verify_events},
        "goals": GOALS,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
            "sqlite_library": sqlite3.sqlite_version,
        },
    }
    out["sqlite"] = bench_backend(sqlite_runtime, args.n, args.runs, args.verify_events)
    if args.pg and not args.no_pg:
        url = args.pg
        out["postgresql"] = bench_backend(
            lambda: postgres_runtime(url), args.n, args.runs, args.verify_events
        )
    else:
        out["postgresql"] = {"skipped": "no URL (--pg or GONGSHU_TEST_DATABASE_URL)"}
    out["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
