"""Audit chain cost: audited writes vs the same rows without the chain, and chain verification
vs SM3 alone.

Prints ONE JSON object. For each backend (SQLite always; PostgreSQL when a URL is given with
``--pg`` or ``GONGSHU_TEST_DATABASE_URL``):

- ``writes`` (the headline): one write = one business row inserted into a throwaway table in
  one transaction, through ``Runtime.db.transaction()``, in three variants measured in the same
  run, interleaved in slices of 100 rows (rotating which goes first) so that the load of a
  shared machine falls on all three alike:

  - ``audited``: the row and ``audit.record`` for it, so the commit chains the event (head
    locked and moved, hash computed) and inserts it; the signed checkpoint is flushed inside
    the timed section (its check that the chain continues the last checkpoint, and its line
    in the checkpoint log, included).
  - ``plain_same_rows_unchained``: the same rows without the chain: the business row and the
    event row ``audit.record`` builds, inserted with the append's own statement, numbered by
    the benchmark, with no head and no hashing (prev_hash and hash hold 64 zeros).
  - ``plain_business_only``: the business row alone (context: what the event row costs).

  ``overhead`` = plain_same_rows_unchained/s ÷ audited/s (goal ≤ 1.5; audited ≥ 5,000/s on
  SQLite); ``overhead_vs_business_only`` is given as context.
- ``writes_batched``: the same three variants with several rows (and their events) per
  transaction, as an import does (``--batch-sizes``, default 10 and 100); rows per second.
  Context, not the headline.
- ``verify``: ``audit.verify_chain`` over the whole chain (``--verify-events`` events, written
  in batches through the real append) beside the limit: SM3 over the same canonical bytes,
  already in memory (goal: verification within 2× of it).

Every figure is the median of ``--runs`` runs after a warm-up; the runs are listed too. The
databases are temporary: a SQLite file in a temporary directory, a throwaway schema in the
PostgreSQL database (dropped at the end). Never a timed assertion in the test suite: this is
where the numbers live.

    python benchmarks/audit.py [--n 3000] [--runs 5] [--verify-events 200000] [--pg URL]
                               [--batch-sizes 10,100] [--no-pg | --no-sqlite]
                               [--skip-writes] [--skip-verify]
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
from sqlalchemy.orm import Session

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

#: the variants of a write, each the same business rows in the same transactions
VARIANTS = ("audited", "plain_same_rows_unchained", "plain_business_only")
UNCHAINED_HASH = "0" * 64  # what the unchained rows store for prev_hash and hash
#: rows of one variant before the next variant's turn (see ``measure_writes``)
SLICE = 100


def _insert_unchained(session: Session, seq: int, k: int) -> None:
    """The events ``audit.record`` queued, inserted as plain rows: same fields, same statement
    as the append, ``seq`` from the benchmark's own counter, no head, no hashing."""
    items = [item for _, item in session.info.pop("audit_pending")]
    conn = session.connection()
    backend = audit._backend(conn.dialect)
    rows = []
    for j, item in enumerate(items):
        item["seq"] = seq + j
        item["prev_hash"] = item["hash"] = UNCHAINED_HASH
        canonical = audit._canonical_values(item) if backend.name == "sqlite" else []
        rows.append(backend.row(item, canonical))
    cursor = conn.connection.cursor()
    try:
        if backend.name == "postgresql":
            cursor.execute(backend.insert_many_sql(len(rows)), [v for row in rows for v in row])
        elif len(rows) == 1:
            cursor.execute(backend.insert_sql, rows[0])
        else:
            cursor.executemany(backend.insert_sql, rows)
    finally:
        cursor.close()
    assert k == len(rows)


class Writes:
    """Numbered rows, so every run inserts new ones (primary keys never clash)."""

    #: the unchained event rows are numbered from here, far above the chain's own numbers
    UNCHAINED_FROM = 1_000_000_000

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.next_id = 1
        self.next_unchained_seq = self.UNCHAINED_FROM

    def drop_unchained(self) -> None:
        with self.runtime.db.transaction() as session:
            session.execute(
                text("DELETE FROM audit_event WHERE seq >= :s"), {"s": self.UNCHAINED_FROM}
            )

    def run(self, n: int, variant: str, per_tx: int = 1) -> tuple[float, float]:
        """``n`` business rows, ``per_tx`` per transaction, each with its event unless
        ``plain_business_only``; returns the seconds of wall time and of this process's CPU
        time (less disturbed by other load on a shared machine) they took. An audited run ends
        with its signed checkpoint written (``flush``)."""
        db = self.runtime.db
        start_id = self.next_id
        self.next_id += n
        events = variant != "plain_business_only"
        chained = variant == "audited"
        stmt = insert(BENCH_ROW)
        cpu = time.process_time()
        started = time.perf_counter()
        for first in range(start_id, start_id + n, per_tx):
            ids = range(first, min(first + per_tx, start_id + n))
            with db.transaction() as session:
                rows = [{"id": i, "name": f"行 {i}", "value": i} for i in ids]
                session.execute(stmt, rows[0] if len(rows) == 1 else rows)
                if events:
                    for i in ids:
                        audit.record(
                            session,
                            ACTOR,
                            "bench.insert",
                            target_type="bench_row",
                            target_id=i,
                            details={"value": i},
                        )
                    if not chained:
                        _insert_unchained(session, self.next_unchained_seq, len(ids))
                        self.next_unchained_seq += len(ids)
        if chained:
            self.runtime.audit_checkpoints.flush()
        return time.perf_counter() - started, time.process_time() - cpu


def _median(values: list[float]) -> int:
    return round(statistics.median(values))


def measure_writes(writes: Writes, n: int, runs: int, per_tx: int = 1) -> dict[str, Any]:
    """Every variant ``runs`` times, ``n`` rows each. A run interleaves the variants in slices
    of ``SLICE`` rows (at least one transaction), in a rotating order, so that a change of load
    on a shared machine falls on all of them alike; a variant's rate is its rows over the sum
    of its slices' times."""
    for variant in VARIANTS:  # warm-up: pools, caches, statement caches
        writes.run(max(200, n // 10), variant, per_tx)
    step = max(SLICE, per_tx)
    wall: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for r in range(runs):
        spent = {v: [0.0, 0.0] for v in VARIANTS}
        for k, done in enumerate(range(0, n, step)):
            rows = min(step, n - done)
            j = (r + k) % len(VARIANTS)
            for variant in VARIANTS[j:] + VARIANTS[:j]:
                w, c = writes.run(rows, variant, per_tx)
                spent[variant][0] += w
                spent[variant][1] += c
        for v in VARIANTS:
            wall[v].append(n / spent[v][0])
            cpu[v].append(n / spent[v][1])
    med = {v: statistics.median(wall[v]) for v in VARIANTS}
    med_cpu = {v: statistics.median(cpu[v]) for v in VARIANTS}
    a, u, b = (med[v] for v in VARIANTS)
    return {
        "rows_per_transaction": per_tx,
        "audited_per_s": round(a),
        "plain_same_rows_unchained_per_s": round(u),
        "plain_business_only_per_s": round(b),
        "overhead": round(u / a, 3),
        "overhead_vs_business_only": round(b / a, 3),
        "overhead_per_run": [
            round(uu / aa, 3)
            for uu, aa in zip(wall["plain_same_rows_unchained"], wall["audited"], strict=True)
        ],
        "runs": {v: [round(x) for x in wall[v]] for v in VARIANTS},
        "cpu_time": {
            **{f"{v}_per_cpu_s": _median(cpu[v]) for v in VARIANTS},
            "overhead": round(med_cpu["plain_same_rows_unchained"] / med_cpu["audited"], 3),
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


def sm3_only(blobs: list[bytes]) -> tuple[float, float]:
    """Events/s of hashing alone, the verifier's own SM3 step over bytes already in memory, per
    second of wall time and of this process's CPU time."""
    base = audit._EVENT_SM3
    cpu = time.process_time()
    started = time.perf_counter()
    for blob in blobs:
        h = base.copy()
        h.update(blob)
        h.hexdigest()
    return len(blobs) / (time.perf_counter() - started), len(blobs) / (time.process_time() - cpu)


def verify_once(runtime: Runtime) -> tuple[float, float, audit.VerifyReport]:
    """One ``verify_chain`` of the whole chain: events per second of wall time and of this
    process's CPU time (all its threads: on SQLite a helper thread runs the queries)."""
    checkpoint = runtime.audit_checkpoints.read()
    key = runtime.keys.verify_key("audit")
    cpu = time.process_time()
    started = time.perf_counter()
    with runtime.db.transaction(write=False) as session:
        report = audit.verify_chain(
            session, checkpoint=checkpoint, public_key=key, require_checkpoint=True
        )
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    if not report.ok:
        raise SystemExit(f"the benchmark chain does not verify: {report}")
    return report.events_checked / elapsed, report.events_checked / cpu, report


def measure_verify(runtime: Runtime, events: int, runs: int) -> dict[str, Any]:
    fill_chain(runtime, events)
    blobs = canonical_bytes(runtime)
    sm3_only(blobs[:10_000])  # warm-up
    verify_once(runtime)
    verify_runs, sm3_runs, verify_cpu, sm3_cpu = [], [], [], []
    report = None
    for _ in range(runs):
        rate, rate_cpu, report = verify_once(runtime)
        verify_runs.append(rate)
        verify_cpu.append(rate_cpu)
        rate, rate_cpu = sm3_only(blobs)
        sm3_runs.append(rate)
        sm3_cpu.append(rate_cpu)
    v, s = statistics.median(verify_runs), statistics.median(sm3_runs)
    vc, sc = statistics.median(verify_cpu), statistics.median(sm3_cpu)
    assert report is not None
    return {
        "events": report.events_checked,
        "events_per_s": round(v),
        "sm3_only_per_s": round(s),
        "ratio": round(s / v, 3),
        "verify_runs": [round(x) for x in verify_runs],
        "sm3_only_runs": [round(x) for x in sm3_runs],
        "cpu_time": {
            "note": "events per second of this process's CPU time (on PostgreSQL the server's "
            "CPU is not in it)",
            "events_per_cpu_s": round(vc),
            "sm3_only_per_cpu_s": round(sc),
            "ratio": round(sc / vc, 3),
        },
        "mean_canonical_bytes": round(sum(map(len, blobs)) / len(blobs) + len(audit.DOMAIN), 1),
    }


# ---------------------------------------------------------------------------------- driver


def bench_backend(make: Callable[[], Any], args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with make() as runtime:
        with runtime.db.engine.connect() as conn:
            out["server_version"] = conn.exec_driver_sql(
                "select sqlite_version()"
                if runtime.db.dialect == "sqlite"
                else "show server_version"
            ).scalar()
        if not args.skip_writes:
            rows = Writes(runtime)
            out["writes"] = writes = measure_writes(rows, args.n, args.runs)
            out["writes_batched"] = {
                "note": "context, not the headline: several business rows and their events in "
                "one transaction, as an import does; figures are rows per second",
                **{
                    f"{k}_per_transaction": measure_writes(rows, args.n, args.runs, per_tx=k)
                    for k in args.batch_sizes
                },
            }
            rows.drop_unchained()  # they are not part of the chain the verifier reads
        if not args.skip_verify:
            out["verify"] = verify = measure_verify(runtime, args.verify_events, args.runs)
    goals = {}
    if not args.skip_writes:
        goals["audited_per_s>=5000"] = writes["audited_per_s"] >= GOALS["audited_per_s"]
        goals["overhead<=1.5"] = writes["overhead"] <= GOALS["overhead"]
    if not args.skip_verify:
        goals["verify_within_2x_of_sm3"] = verify["ratio"] <= GOALS["verify_vs_sm3"]
    out["goals_met"] = goals
    return out


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
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument(
        "--batch-sizes",
        type=lambda v: [int(x) for x in v.split(",") if x],
        default=[10, 100],
        help="rows per transaction of the batched writes (comma-separated; empty: none)",
    )
    parser.add_argument("--skip-writes", action="store_true")
    parser.add_argument("--skip-verify", action="store_true")
    args = parser.parse_args(argv)

    out: dict[str, Any] = {
        "benchmark": "audit",
        "params": {
            "n": args.n,
            "runs": args.runs,
            "verify_events": args.verify_events,
            "batch_sizes": args.batch_sizes,
        },
        "goals": GOALS,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
            "sqlite_library": sqlite3.sqlite_version,
        },
    }
    if not args.no_sqlite:
        out["sqlite"] = bench_backend(sqlite_runtime, args)
    if args.pg and not args.no_pg:
        url = args.pg
        out["postgresql"] = bench_backend(lambda: postgres_runtime(url), args)
    else:
        out["postgresql"] = {"skipped": "no URL (--pg or GONGSHU_TEST_DATABASE_URL)"}
    out["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
