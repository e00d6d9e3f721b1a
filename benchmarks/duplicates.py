"""Duplicate collection (Art. 12) at 100,000 published entries: latency of
``catalog.service.duplicate_candidates`` beside a scan of every published item.

Prints ONE JSON object. For each backend (SQLite always; PostgreSQL when a URL is given with
``--pg``, else ``GONGSHU_BENCH_DATABASE_URL`` or ``GONGSHU_TEST_DATABASE_URL``):

- ``candidates``: ``duplicate_candidates`` as a body's catalog editor calls it (its own body
  excluded, classified entries hidden), each call in its own read transaction, for drafts from
  the common (ID number, name, birth date: in most entries) to the rare and the unmatched;
  p50/p95 over ``--runs`` runs after a warm-up.
- ``baseline``: what one writes without the stored keys, in the same run on the same rows:
  read every published, shared item of other bodies the editor may see and key and match them
  in Python (``duplicates.name_key`` cached per distinct name, ``duplicates.match``).
- ``agree``: whether both name the same strong entries (the first ``limit`` of them).

Entries are synthetic: ``catalog/data/demo_catalog.yaml``'s resources for the ~1,000 public
bodies of every region (``benchmarks/catalog_search.py`` builds them), each with its items, a
third of the item names written another way (身份证号码 for 公民身份号码, 出生时间 for 出生日期
…). Entries, versions and items are written in bulk; the keys are the real ``name_key``.

    python benchmarks/duplicates.py [--entries 100000] [--runs 5] [--baseline-runs 1]
                                    [--pg URL | --no-pg]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import catalog_search as cs  # noqa: E402  (the province's bodies, the throwaway databases)

from gongshu.catalog import access, demo, duplicates, service  # noqa: E402
from gongshu.catalog.models import CatalogEntry, CatalogVersion, DataItem  # noqa: E402
from gongshu.catalog.vocab import vocab  # noqa: E402
from gongshu.core.permissions import Actor, Role, RoleAssignment  # noqa: E402
from gongshu.core.runtime import Runtime  # noqa: E402
from gongshu.modules import import_models  # noqa: E402

ENTRY, VERSION, ITEM = (CatalogEntry.__table__, CatalogVersion.__table__, DataItem.__table__)
#: other ways bodies write the demo's item names (the keys make them one)
VARIANTS = {
    "公民身份号码": ["身份证号码", "身份证号", "居民身份证号码"], "姓名": ["姓 名"],
    "出生日期": ["出生时间"], "统一社会信用代码": ["社会信用代码"], "单位名称": ["单位名"],
    "法定代表人": ["法人代表"], "证照编号": ["证照号码"], "住址": ["地址"],
    "行政区划代码": ["行政区划编码"], "登记日期": ["登记时间"], "机构名称": ["机构名"],
}
#: what bodies are about to collect
DRAFTS: dict[str, list[tuple[str, str]]] = {
    "population (common items)": [("身份证号", "C"), ("姓名", "C"), ("出生时间", "D"),
                                  ("婚姻状况", "C")],
    "enterprise": [("统一社会信用代码", "C"), ("单位名称", "C"), ("法定代表人", "C"),
                   ("注册资本", "Y"), ("成立日期", "D")],
    "vehicles": [("号牌号码", "C"), ("车辆类型", "C"), ("所有人姓名", "C")],
    "social insurance, 8 items": [("身份证号码", "C"), ("姓名", "C"), ("险种", "C"),
                                  ("缴费基数", "Y"), ("缴费月数", "I"), ("参保状态", "C"),
                                  ("联系电话", "C"), ("家庭住址", "C")],
    "schools": [("学校名称", "C"), ("学籍号", "C"), ("学历层次", "C")],
    "nothing like it": [("探测器编号", "C"), ("轨道高度", "N")],
}


def generate(bodies: list[cs.Body], n: int, seed: int) -> tuple[list[dict[str, Any]], ...]:
    rng = random.Random(seed)
    data = demo.templates()
    v = vocab()
    by_department = {d["match"]: d["resources"] for d in data["departments"]}
    item_defs = data["items"]
    combos = [(b, r, y, t) for b in bodies for r in range(len(by_department[b.department]))
              for y in cs.YEARS for t in cs.TABLES]
    if len(combos) < n:
        raise SystemExit(f"only {len(combos)} distinct entries can be generated")
    rng.shuffle(combos)
    keys: dict[str, str] = {}
    entries, versions, items = [], [], []
    seqs: dict[str, int] = {}
    start = dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
    for i, (body, r, year, table) in enumerate(combos[:n]):
        resource = by_department[body.department][r]
        kind, subject = resource["kind"].split("/")
        group = f"{list(cs.DEPARTMENTS).index(body.department) + 1:03d}"
        front = v.resource_kinds[kind].guide_code + subject + group
        seqs[front] = seqs.get(front, 0) + 1
        entry_id, version_id = uuid.uuid4(), uuid.uuid4()
        when = start + dt.timedelta(minutes=i * 7)
        sharing = {"u": "unconditional", "c": "conditional", "n": "not_shared"}[resource["sharing"]]
        opening = {"o": "open", "c": "conditional_open", "n": "not_open"}[resource["opening"]]
        entries.append({
            "id": entry_id, "resource_code": f"{front}/{seqs[front]:06d}", "front_segment": front,
            "seq": seqs[front], "provider_org_id": body.id, "provider_path": body.path,
            "bureau_org_id": None, "bureau_path": body.bureau_path, "region_code": body.region,
            "status": "published", "published_version_id": version_id,
            "working_version_id": None, "last_number": 1, "grade": None, "grade_reasons": [],
            "graded_at": None, "graded_by": "", "first_published_at": when,
            "withdrawn_at": None, "updated_at": when, "created_by_id": None,
            "created_by": "bench", "created_at": when})
        versions.append({
            "id": version_id, "entry_id": entry_id, "number": 1, "status": "published",
            "content": {"provider": {"name": body.name, "code": body.code}},
            "name": f"{resource['name']}（{year}年{table}）", "resource_kind": kind,
            "sharing_type": sharing, "opening_type": opening, "update_cycle": resource["cycle"],
            "secrecy": resource.get("secrecy", "unclassified"), "change_note": "",
            "created_by": "bench", "updated_at": when, "updated_by": "bench",
            "published_at": when, "created_at": when})
        for position, key in enumerate(resource["items"]):
            name, code, data_type, length, _element = item_defs[key]
            if name in VARIANTS and rng.random() < 1 / 3:
                name = rng.choice(VARIANTS[name])
            if name not in keys:
                keys[name] = duplicates.name_key(name)
            items.append({"id": uuid.uuid4(), "version_id": version_id, "position": position,
                          "name": name, "code": code, "data_type": data_type, "length": length,
                          "name_key": keys[name]})
    return entries, versions, items


def insert(runtime: Runtime, rows: tuple[list[dict[str, Any]], ...]) -> float:
    started = time.perf_counter()
    with runtime.db.engine.begin() as conn:
        for table, batch in zip((ENTRY, VERSION, ITEM), rows, strict=True):
            for i in range(0, len(batch), 5000):
                conn.execute(table.insert(), batch[i:i + 5000])
    with runtime.db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(sa.text("ANALYZE"))
    return time.perf_counter() - started


def baseline(actor: Actor, db: Any, planned: list[duplicates.PlannedItem], exclude: str,
             limit: int, keys: dict[str, str]) -> list[duplicates.Candidate]:
    """Every published, shared item of other bodies the actor may see, keyed in Python."""
    item, version, entry = DataItem, CatalogVersion, CatalogEntry
    sharing = sa.func.coalesce(item.sharing_type, version.sharing_type)
    rows = db.execute(
        sa.select(entry.id, item.name, item.code, item.data_type, item.data_element_id, sharing)
        .select_from(item).join(version, version.id == item.version_id)
        .join(entry, entry.id == version.entry_id)
        .where(entry.published_version_id == version.id, entry.provider_path != exclude,
               sa.or_(version.secrecy != access.CLASSIFIED,
                      access.classified_clause(actor, entry.provider_path, entry.bureau_path))))
    found = []
    for entry_id, name, code, data_type, element, share in rows:
        key = keys.get(name)
        if key is None:
            key = keys[name] = duplicates.name_key(name)
        found.append(duplicates.PublishedItem(entry_id=entry_id, name=name, name_key=key,
                                              code=code, data_type=data_type,
                                              data_element_id=element, sharing_type=share))
    return [c for c in duplicates.match(planned, found) if c.strong][:limit]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1000, result


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered), 2), "p95_ms": round(p95, 2),
            "max_ms": round(ordered[-1], 2), "calls": len(ordered)}


def run_backend(name: str, make: Callable[[], AbstractContextManager[Runtime]], entries: int,
                runs: int, limit: int, baseline_runs: int) -> dict[str, Any]:
    with make() as runtime:
        bodies = cs.build_orgs(runtime)
        rows = generate(bodies, entries, seed=12)
        load_s = insert(runtime, rows)
        body = next(b for b in bodies if b.department == "人力资源")
        editor = Actor(user_id=uuid.uuid4(), username="bench.editor", org_id=body.id,
                       org_path=body.path, grants=(RoleAssignment(
                           Role.CATALOG_EDITOR, body.id, body.path, subtree=False),),
                       via="web")
        keys: dict[str, str] = {}
        per_draft: dict[str, Any] = {}
        ours, theirs = [], []
        agree = True
        for label, spec in DRAFTS.items():
            planned = [duplicates.PlannedItem(n, t) for n, t in spec]

            def candidates(planned: list[duplicates.PlannedItem] = planned) -> Any:
                with runtime.db.transaction(write=False) as db:
                    return service.duplicate_candidates(
                        editor, db, items=planned, exclude_provider_path=body.path, limit=limit)

            def scan(planned: list[duplicates.PlannedItem] = planned) -> Any:
                with runtime.db.transaction(write=False) as db:
                    return baseline(editor, db, planned, body.path, limit, keys)

            candidates()  # warm-up (the scan warms itself: it reads everything)
            a = [timed(candidates) for _ in range(runs)]
            b = [timed(scan) for _ in range(baseline_runs)]
            ours += [t for t, _ in a]
            theirs += [t for t, _ in b]
            strong_ours = {c.entry_id for c in a[-1][1].strong}
            strong_theirs = {c.entry_id for c in b[-1][1]}
            # the same number of strong entries and the same best coverage (ties may differ)
            same = (len(strong_ours) == len(strong_theirs)
                    and [c.covered for c in a[-1][1].strong] == [c.covered for c in b[-1][1]])
            agree = agree and same
            per_draft[label] = {"strong": len(strong_ours), "agree": same,
                                "p50_ms": round(statistics.median(t for t, _ in a), 2),
                                "baseline_p50_ms": round(statistics.median(t for t, _ in b), 2)}
        figure, base = _percentiles(ours), _percentiles(theirs)
        return {"backend": name, "entries": entries, "items": len(rows[2]),
                "load_s": round(load_s, 1), "candidates": figure, "baseline": base,
                "ratio_p50": round(base["p50_ms"] / figure["p50_ms"], 1) if figure["p50_ms"] else None,
                "agree": agree, "drafts": per_draft}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--baseline-runs", type=int, default=1,
                        help="timed scans per draft (each reads every published item)")
    parser.add_argument("--pg", default=os.environ.get("GONGSHU_BENCH_DATABASE_URL")
                        or os.environ.get("GONGSHU_TEST_DATABASE_URL"))
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    import_models()
    results = [] if args.no_sqlite else [run_backend(
        "sqlite", cs.sqlite_runtime, args.entries, args.runs, args.limit, args.baseline_runs)]
    if args.pg and not args.no_pg:
        results.append(run_backend("postgresql", lambda: cs.pg_runtime(args.pg), args.entries,
                                   args.runs, args.limit, args.baseline_runs))
    print(json.dumps({"benchmark": "duplicates", "python": platform.python_version(),
                      "results": results}, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
