"""Demo data of opening (Art. 13): open datasets on the portal, a developer, and a
conditional-opening application waiting for the provider.

The catalog demo already publishes entries with their opening types, and grades some; here a
few published ``open`` / ``conditional_open`` entries without personal information get synthetic
data (through the library, as a data steward would store it), and their steward confirms the
grade the scan proposes (grading). Whether an entry is then on the portal is decided as always
by ``catalog.access``: only if the proposed grade is openable.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from gongshu.catalog import service as catalog
from gongshu.core.jobs import run_inline
from gongshu.core.permissions import Actor, Role, RoleAssignment
from gongshu.grading import service as grading
from gongshu.library import service as library
from gongshu.library import synthetic
from gongshu.opening import flows, service
from gongshu.orgs import service as orgs

#: (organisation key of the demo, entry name, rows): data items without personal information
DATASETS = [
    ("province.市场监管局", "行政处罚信息", 600),
    ("province.市场监管局", "食品经营许可信息", 800),
    ("province.自然资源厅", "采矿权登记信息", 300),
    ("province.卫健委", "传染病疫情统计", 400),
    ("province.市场监管局", "企业年度报告信息", 500),
]
DEVELOPER = ("李开发（示例）", "developer@example.cn", "太行数据科技有限公司（示例）")


def _steward(db: Any, org: Any) -> Actor:
    user = orgs.find_user(db, "steward")
    if user is not None and any(g.org_id == org.id and g.role == Role.DATA_STEWARD
                                for g in user.grants):
        return orgs.actor_for_user(user)
    return Actor(username=f"ds.{org.code or org.region_code}"[:64],
                 display_name=f"{org.name}数据管理员", org_id=org.id, org_path=org.path,
                 via="system", grants=(RoleAssignment(Role.DATA_STEWARD, org.id, org.path),))


def _published(actor: Actor, db: Any, org: Any, name: str) -> Any | None:
    rows, _ = catalog.list_entries(actor, db, provider_org_id=org.id, limit=500)
    for entry in rows:
        version = entry.published_version
        if version is not None and version.name == name and \
                version.opening_type in ("open", "conditional_open"):
            return entry
    return None


def _store(ctx: Any, folder: Path, index: int, org: Any, name: str, rows: int) -> bool:
    runtime = ctx.runtime
    with runtime.db.transaction() as db:
        steward = _steward(db, org)
        entry = _published(steward, db, org, name)
        if entry is None:
            return False
        entry_id = entry.id
        if library.dataset_for_entry(steward, db, entry_id) is not None and \
                grading.latest_scan(steward, db, entry_id) is not None:
            return True
        items = [{"name": i.name, "code": i.code, "data_type": i.data_type, "length": i.length}
                 for i in entry.published_version.items]
    table = synthetic.table_for(items, rows, seed=20250101 + index)
    path = folder / f"open-{index}.parquet"
    pq.write_table(table, path)
    with runtime.db.transaction() as db:
        ingest = library.start_ingest(steward, db, entry_id=entry_id, source=str(path),
                                      queue=False)
        params = library.job_params(db, ingest, str(path))
        ingest_id = ingest.id
    run_inline(runtime, steward, kind="library.ingest", params=params,
               title=f"导入 {name}（开放数据演示）")
    with runtime.db.transaction() as db:
        finished = library.get_ingest(steward, db, ingest_id)
        if finished.status != "succeeded":
            return False
        scan = grading.latest_scan(steward, db, entry_id)
        if scan is not None:
            grading.decide(steward, db, entry_id, grade=scan.proposed_grade, reason="")
    return True


def populate(ctx: Any) -> None:
    stored = []
    with tempfile.TemporaryDirectory(prefix="gongshu-open-") as tmp:
        for index, (key, name, rows) in enumerate(DATASETS):
            org = ctx.orgs.get(key)
            if org is not None and _store(ctx, Path(tmp), index, org, name, rows):
                stored.append(name)
    with ctx.runtime.db.transaction() as db:
        developer, key = service.register_developer(db, name=DEVELOPER[0], email=DEVELOPER[1],
                                                    organisation=DEVELOPER[2])
        entries, total = service.list_open(db, limit=10_000)
        applied = None
        for entry in entries:
            version = entry.published_version
            if version is None or version.opening_type != "conditional_open":
                continue
            dataset = service.get_dataset(db, entry.id)
            if dataset.columns:
                applied = flows.apply(
                    db, developer=developer, ref=entry.id,
                    purpose="开发企业信用查询小程序，向公众展示汇总后的行业统计（演示）。",
                    safeguards="数据存放在境内云服务器，访问留痕，仅项目组三人可访问，不向第三方提供（演示）。",
                    days=180)
                break
    ctx.progress(f"opening: {total} datasets open on the portal; data stored for "
                 f"{', '.join(stored) or 'none'}; developer {DEVELOPER[1]} (API key {key}); "
                 f"{'one conditional-opening application waiting' if applied else 'no application'}")
