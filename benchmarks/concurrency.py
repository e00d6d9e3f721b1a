"""200 users searching the catalog at once, against a real ``gongshu serve``.

Prints ONE JSON object. For each backend (SQLite always: one process; PostgreSQL when a URL is
given with ``--pg``, else ``GONGSHU_BENCH_DATABASE_URL`` or ``GONGSHU_TEST_DATABASE_URL``:
``--workers`` processes, 2 by default):

- ``search``: ``--concurrency`` (200) ``GET /api/v1/catalog/search`` sent at the same moment,
  each by its own connection, by a signed-in requester, over ``--entries`` published entries;
  requests per second (all of them over the wall time of the burst) and p50/p99 latency, over
  ``--rounds`` bursts after a warm-up;
- ``healthz``: the same burst of ``GET /healthz`` (a request through the same admission line
  and a database round trip, nothing else) in the same run: the baseline;
- ``ratio``: search requests/s ÷ healthz requests/s; ``errors``: responses that are not 200
  (a 503 counts: the goal is that none happens at this load) and requests that failed.

The server runs with its documented defaults (``GONGSHU_WEB_THREADS``,
``GONGSHU_REQUEST_QUEUE_SECONDS``, ``GONGSHU_DB_POOL_SIZE``) unless ``--web-threads`` is
given; the burst is sent from this process with httpx (asyncio), which competes with the server
for the CPU, as the clients of a small deployment do.

Databases are temporary: a SQLite file in a temporary directory; on PostgreSQL a throwaway
schema ``gongshu_bench_<random>`` in the given database, dropped at the end.

    python benchmarks/concurrency.py [--entries 200] [--concurrency 200] [--rounds 3]
                                     [--workers 2] [--pg URL | --no-pg]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

import gongshu
from gongshu.catalog import flows
from gongshu.catalog import service as catalog
from gongshu.core.config import Settings
from gongshu.core.migrations import upgrade
from gongshu.core.permissions import Actor
from gongshu.core.runtime import Runtime
from gongshu.demo.builder import synthetic_uscc
from gongshu.modules import import_models

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import catalog_search as cs  # noqa: E402  (the throwaway databases)

from gongshu.orgs import service as orgs
from gongshu.orgs.models import OrgKind

SYSTEM = Actor.system("bench", via="system")
TOPICS = ["常住人口基本信息", "企业登记信息", "社会保险参保信息", "医疗机构执业登记", "道路运输许可",
          "不动产登记信息", "公共租赁住房保障", "义务教育学校名录", "药品经营许可", "排污许可证"]
QUERIES = ["人口", "企业登记", "社会保险", "医疗机构", "道路运输", "不动产", "住房", "学校", "药品",
           "排污 许可"]
ENTRY: dict[str, Any] = {
    "category": {"resource_kind": "base", "subject": "01", "group": "001"},
    "name": "",
    "provider": {"name": "山西省人力资源和社会保障厅", "code": "SXRST001"},
    "summary": "全省范围内按月更新的基本信息，供各部门共享使用。",
    "format": {"format_class": "database", "format_type": "dameng"},
    "items": [
        {"name": "公民身份号码", "code": "GMSFHM", "data_type": "C", "length": 18},
        {"name": "姓名", "code": "XM", "data_type": "C", "length": 50},
    ],
    "sharing": {"type": "unconditional", "method_class": "platform", "method_type": "interface"},
    "opening": {"type": "not_open"},
    "update_cycle": "monthly",
    "secrecy": "unclassified",
    "data_kind": "public",
    "keywords": ["共享"],
}


# ----------------------------------------------------------------------------- the data


def populate(runtime: Runtime, entries: int) -> str:
    """A province, its data bureau and one public body with ``entries`` published entries;
    returns a requester's bearer token."""
    upgrade(runtime.db)
    with runtime.db.transaction() as db:
        spec = [("山西省人民政府", OrgKind.GOVERNMENT, None), ("山西省数据局", OrgKind.DATA_BUREAU, 0),
                ("山西省人力资源和社会保障厅", OrgKind.PUBLIC_BODY, 0),
                ("山西省卫生健康委员会", OrgKind.PUBLIC_BODY, 0)]
        made = []
        for name, kind, parent in spec:
            made.append(orgs.create_organization(
                SYSTEM, db, name=name, kind=kind,
                parent_id=made[parent].id if parent is not None else None, level="province",
                region_code="140000", uscc=synthetic_uscc(name, "140000", "11")))
        body, health = made[2], made[3]
        user = orgs.create_user(SYSTEM, db, username="bench", display_name="bench",
                                org_id=health.id, password="bench-" + secrets.token_hex(8))
        orgs.grant_role(SYSTEM, db, user_id=user.id, role="requester", org_id=health.id)
        db.flush()
        db.refresh(user)
        _token, raw = orgs.create_token(orgs.actor_for_user(user), db, name="bench")
    for i in range(entries):
        with runtime.db.transaction() as db:
            data = {**ENTRY, "name": f"{TOPICS[i % len(TOPICS)]}（{2000 + i // len(TOPICS)}年）"}
            entry = catalog.create_entry(SYSTEM, db, data, provider_org_id=body.id)
            flows.submit(SYSTEM, db, entry.id)
            flows.approve(SYSTEM, db, entry.id)
    return raw


# ---------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(runtime: Runtime, *, workers: int, web_threads: int | None) -> Iterator[str]:
    """``gongshu serve`` on the runtime's database and data directory, stopped at the end."""
    port = _free_port()
    src = str(Path(gongshu.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
           "GONGSHU_DATA_DIR": str(runtime.settings.resolved_data_dir),
           "GONGSHU_DATABASE_URL": runtime.settings.effective_database_url,
           "GONGSHU_JOB_THREADS": "0", "GONGSHU_LOG_LEVEL": "WARNING"}
    if web_threads:
        env["GONGSHU_WEB_THREADS"] = str(web_threads)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gongshu.cli.main", "serve", "--port", str(port),
         "--workers", str(workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise SystemExit(proc.stderr.read().decode()[-2000:] if proc.stderr else "died")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start in 120 s")
            time.sleep(0.2)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


# ---------------------------------------------------------------------------- the bursts


async def burst(base: str, path: str, headers: dict[str, str], n: int,
                params: list[dict[str, str]] | None = None) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=0)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        async def one(i: int) -> None:
            started = time.perf_counter()
            try:
                response = await client.get(path, headers=headers,
                                            params=params[i % len(params)] if params else None)
                if response.status_code != 200:
                    errors[str(response.status_code)] = errors.get(str(response.status_code), 0) + 1
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*[one(i) for i in range(n)])
        wall = time.perf_counter() - started
    return {"wall": wall, "latencies": latencies, "errors": errors}


def _summary(runs: list[dict[str, Any]], n: int) -> dict[str, Any]:
    latencies = sorted(x for r in runs for x in r["latencies"])
    errors: dict[str, int] = {}
    for r in runs:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 1)

    return {
        "requests_per_s": round(statistics.median(n / r["wall"] for r in runs), 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(latencies[-1] * 1000, 1),
        "errors": sum(errors.values()),
        "error_kinds": errors,
    }


def measure(runtime: Runtime, *, entries: int, concurrency: int, rounds: int, workers: int,
            web_threads: int | None) -> dict[str, Any]:
    token = populate(runtime, entries)
    headers = {"Authorization": f"Bearer {token}"}
    params = [{"q": q} for q in QUERIES]
    with serving(runtime, workers=workers, web_threads=web_threads) as base:
        asyncio.run(burst(base, "/api/v1/catalog/search", headers, 20, params))  # warm-up
        asyncio.run(burst(base, "/healthz", {}, 20))
        search_runs, health_runs = [], []
        for _ in range(rounds):  # alternate, so both see the same machine
            search_runs.append(asyncio.run(burst(base, "/api/v1/catalog/search", headers,
                                                 concurrency, params)))
            health_runs.append(asyncio.run(burst(base, "/healthz", {}, concurrency)))
    search, health = _summary(search_runs, concurrency), _summary(health_runs, concurrency)
    settings = Settings(web_threads=web_threads) if web_threads else Settings()
    return {
        "processes": workers,
        "web_threads": settings.web_threads,
        "db_pool_size": Settings(web_threads=settings.web_threads, job_threads=0)
        .effective_db_pool_size,
        "search": search,
        "healthz": health,
        "ratio": round(search["requests_per_s"] / health["requests_per_s"], 2),
        "errors": search["errors"] + health["errors"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="server processes on PostgreSQL")
    parser.add_argument("--web-threads", type=int, default=None)
    parser.add_argument("--pg", default=None, help="PostgreSQL URL; a throwaway schema is used")
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    import_models()
    pg = None if args.no_pg else (args.pg or os.environ.get("GONGSHU_BENCH_DATABASE_URL")
                                  or os.environ.get("GONGSHU_TEST_DATABASE_URL"))
    common = {"entries": args.entries, "concurrency": args.concurrency, "rounds": args.rounds,
              "web_threads": args.web_threads}
    out: dict[str, Any] = {
        "benchmark": "concurrency",
        "what": f"{args.concurrency} concurrent catalog searches vs /healthz, real server",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "params": {k: v for k, v in vars(args).items() if k != "pg"},
    }
    with cs.sqlite_runtime(tables=False) as runtime:
        out["sqlite"] = measure(runtime, workers=1, **common)
    if pg:
        with cs.pg_runtime(pg, tables=False) as runtime:
            out["postgresql"] = measure(runtime, workers=args.workers, **common)
    out["errors"] = sum(v["errors"] for k, v in out.items() if k in ("sqlite", "postgresql"))
    sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
    if out["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
