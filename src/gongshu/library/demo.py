"""The demo province's library (Arts. 10, 11): synthetic datasets for some of the demo catalog's
entries, ingested from files of every kind through the real ingest job, scanned, quality-checked
and graded by the bodies' data stewards — one proposal left for the demo steward to decide.

Everything is generated (``library.synthetic``); nothing describes real people. The largest
dataset, the province's population register, has 120,000 rows with valid ID numbers of real
Shanxi counties, and a few typical defects for the quality rules to find.
"""

from __future__ import annotations

import codecs
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gongshu.catalog import service as catalog
from gongshu.core.jobs import run_inline
from gongshu.core.permissions import Actor, Role, RoleAssignment
from gongshu.demo.builder import DemoContext
from gongshu.grading import service as grading
from gongshu.library import jobs as _jobs  # noqa: F401 - registers the ingest job handler
from gongshu.library import service, synthetic
from gongshu.library.models import Ingest
from gongshu.orgs import service as orgs


@dataclass
class Spec:
    org: str  # demo organisation key
    entry: str  # catalog entry name (catalog/data/demo_catalog.yaml)
    rows: int
    file: str  # csv-gbk | csv | xlsx | jsonl | json | parquet
    decision: tuple[str, str] | None = ("confirm", "")  # (grade or "confirm", reason)
    defects: float = 0.0
    kind: str | None = None
    ids_from_population: bool = False
    rules: list[dict[str, Any]] = field(default_factory=list)


POPULATION = "常住人口基本信息"
#: the sandbox's samples (Art. 14; ``sandbox.demo`` authorises an operator for them)
SANDBOX_POPULATION = "常住人口登记（授权运营样本）"
SPECS = [
    Spec("province.公安厅", POPULATION, 120_000, "csv-gbk", defects=0.004,
         decision=("important", "覆盖全省常住人口的身份和户籍信息，按重要数据管理（演示）"),
         rules=[
             {"kind": "detector", "column": "GMSFHM", "params": {"detector": "cn_id"},
              "weight": 3},
             {"kind": "unique", "column": "GMSFHM"},
             {"kind": "not_null", "column": "XM"},
             {"kind": "allowed_values", "column": "XB", "params": {"values": ["1", "2"]}},
             {"kind": "range", "column": "CSRQ", "params": {"min": "1900-01-01"}},
         ]),
    Spec("province.人社厅", "社会保险缴费记录", 30_000, "csv", ids_from_population=True,
         rules=[
             {"kind": "reference", "column": "GMSFHM",
              "params": {"dataset": POPULATION, "column": "GMSFHM"}},
             {"kind": "range", "column": "JFJS", "params": {"min": 0, "max": 40000}},
         ]),
    Spec("province.人社厅", "就业登记信息", 2_000, "xlsx", decision=None),
    Spec("province.市场监管局", "企业登记信息", 5_000, "jsonl",
         rules=[{"kind": "detector", "column": "TYSHXYDM", "params": {"detector": "uscc"}},
                {"kind": "unique", "column": "TYSHXYDM"}]),
    Spec("province.自然资源厅", "土地利用现状数据", 3_000, "parquet",
         decision=("general-2", "坐标为土地图斑的位置，不涉及个人行踪，按一般数据2级管理（演示）"),
         rules=[{"kind": "range", "column": "JD", "params": {"min": 110, "max": 115}},
                {"kind": "range", "column": "WD", "params": {"min": 34, "max": 41}}]),
    Spec("province.民政厅", "信访事项办理记录", 800, "json", kind="topic",
         rules=[{"kind": "detector", "column": "LXDH", "params": {"detector": "cn_mobile"}}]),
    Spec("province.统计局", SANDBOX_POPULATION, 120_000, "parquet"),
    Spec("province.医保局", "医保缴费汇总（授权运营样本）", 30_000, "csv",
         ids_from_population=True),
]


def _steward(db: Any, org: Any) -> Actor:
    """The body's data steward: the demo login where there is one, else a steward without a
    login account (synthetic, like the catalog demo's reviewers)."""
    user = orgs.find_user(db, "steward")
    if user is not None and any(g.org_id == org.id and g.role == Role.DATA_STEWARD
                                for g in user.grants):
        return orgs.actor_for_user(user)
    return Actor(username=f"ds.{org.code or org.region_code}"[:64],
                 display_name=f"{org.name}数据管理员", org_id=org.id, org_path=org.path,
                 via="system", grants=(RoleAssignment(Role.DATA_STEWARD, org.id, org.path),))


def _find_entry(actor: Actor, db: Any, org: Any, name: str) -> Any | None:
    rows, _ = catalog.list_entries(actor, db, provider_org_id=org.id, limit=500)
    for entry in rows:
        version = entry.current_version
        if version is not None and version.name == name:
            return entry
    return None


def _write(table: pa.Table, folder: Path, stem: str, kind: str, title: str) -> Path:
    if kind in ("csv", "csv-gbk"):
        path = folder / f"{stem}.csv"
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink, pacsv.WriteOptions(quoting_style="needed"))
        text = sink.getvalue().to_pybytes()
        if kind == "csv-gbk":  # an export of an old system: GBK, Windows line ends
            text = codecs.decode(text, "utf-8").replace("\n", "\r\n").encode("gbk")
        path.write_bytes(text)
    elif kind == "xlsx":
        from openpyxl import Workbook

        path = folder / f"{stem}.xlsx"
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("登记表")
        ws.append([title])  # a title row above the header, as people make them
        ws.append([])
        ws.append(table.column_names)
        for row in zip(*(c.to_pylist() for c in table.columns), strict=True):
            ws.append(list(row))
        wb.save(path)
    elif kind == "jsonl":
        path = folder / f"{stem}.jsonl"
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in table.to_pylist())
                        + "\n", encoding="utf-8")
    elif kind == "json":
        path = folder / f"{stem}.json"
        path.write_text(json.dumps(table.to_pylist(), ensure_ascii=False), encoding="utf-8")
    else:
        path = folder / f"{stem}.parquet"
        pq.write_table(table, path)
    return path


def populate(ctx: DemoContext) -> None:
    runtime = ctx.runtime
    done: list[str] = []
    population_ids: list[str] = []
    codes: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="gongshu-demo-") as tmp:
        folder = Path(tmp)
        for index, spec in enumerate(SPECS):
            org = ctx.orgs.get(spec.org)
            if org is None:
                continue
            with runtime.db.transaction() as db:
                steward = _steward(db, org)
                entry = _find_entry(steward, db, org, spec.entry)
                if entry is None:
                    ctx.progress(f"library: no catalog entry {spec.entry!r} of {org.name}; skipped")
                    continue
                items = [{"name": i.name, "code": i.code, "data_type": i.data_type,
                          "length": i.length} for i in catalog.entry_items(db, entry.id)]
                entry_id, code = entry.id, entry.resource_code
            codes[spec.entry] = code
            table = synthetic.table_for(items, spec.rows, seed=20240701 + index,
                                        defects=spec.defects,
                                        ids_from=population_ids if spec.ids_from_population
                                        else None)
            if spec.entry in (POPULATION, SANDBOX_POPULATION):
                population_ids = table.column("公民身份号码").to_pylist()[:50_000]
            path = _write(table, folder, f"{org.short_name or org.name}-{spec.entry}", spec.file,
                          f"{org.name}{spec.entry}（{spec.rows}条，合成数据）")
            with runtime.db.transaction() as db:
                ingest = service.start_ingest(steward, db, entry_id=entry_id, source=str(path),
                                              kind=spec.kind, queue=False)
                dataset_id = ingest.dataset_id
                for rule in spec.rules:
                    params = dict(rule.get("params", {}))
                    author = steward
                    if rule["kind"] == "reference":
                        params["dataset"] = codes.get(params["dataset"], params["dataset"])
                        if params["dataset"] not in codes.values():
                            continue
                        # a check across bodies' datasets is the data bureau's to set up
                        author = ctx.actor
                    service.add_rule(author, db, dataset_id, kind=rule["kind"],
                                     column=rule.get("column"), params=params,
                                     weight=float(rule.get("weight", 1)))
                params_ = service.job_params(db, ingest, str(path))
            job = run_inline(runtime, steward, kind="library.ingest", params=params_,
                             title=f"ingest {code} {path.name}")
            with runtime.db.transaction() as db:
                finished = db.get(Ingest, ingest.id)
                if finished is None or finished.status != "succeeded":
                    ctx.progress(f"library: {spec.entry} not ingested: "
                                 f"{finished.error if finished else job.error}")
                    continue
                if spec.decision is not None:
                    scan = grading.latest_scan(steward, db, entry_id)
                    grade, reason = spec.decision
                    grading.decide(steward, db, entry_id,
                                   grade=scan.proposed_grade if grade == "confirm" else grade,
                                   reason=reason)
            done.append(f"{spec.entry} ({spec.rows:,} rows, {spec.file})")
    ctx.progress(f"library: {len(done)} datasets ingested, scanned and graded: "
                 + "; ".join(done))
