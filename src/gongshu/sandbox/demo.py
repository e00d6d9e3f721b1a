"""The demo province's authorised operation (Art. 14): the province's data bureau authorises
the demo operator (``member.operator``, login ``operator``) for two synthetic samples the
library ingested and graded — the population register as table ``population`` (120,000
rows) and the medical insurance contributions as ``insurance`` (joinable on ``id_no``) — sets
their columns' release levels (and one level of the operator's own: ``OVERRIDES``), and
leaves a history: accepted queries, a refused one, a differential-privacy one, a join, and
one result waiting for the reviewer (``reviewer``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from gongshu.catalog import service as catalog
from gongshu.core.permissions import Actor
from gongshu.demo.builder import DemoContext
from gongshu.library import service as library
from gongshu.orgs import service as orgs
from gongshu.sandbox import products_demo, service

POPULATION = ("province.统计局", "常住人口登记（授权运营样本）", "population")
INSURANCE = ("province.医保局", "医保缴费汇总（授权运营样本）", "insurance")

POLICY = {
    "population": [
        service.ColumnRule("id_no", "join", contributor=True),
        service.ColumnRule("name", "hidden"),
        service.ColumnRule("address", "hidden"),
        service.ColumnRule("mobile", "hidden"),
        service.ColumnRule("gender", "group_by"),
        service.ColumnRule("county", "group_by"),
        service.ColumnRule("birth_date", "group_by"),
        service.ColumnRule("annual_income", "aggregate", 0, 500_000),
    ],
    "insurance": [
        service.ColumnRule("id_no", "join", contributor=True),
        service.ColumnRule("insurance_type", "group_by"),
        service.ColumnRule("annual_contribution", "aggregate", 0, 100_000),
    ],
}

#: the demo operator's own levels (per operator, winning over the dataset's default): it may
#: filter on the insurance type but not group by it (the dataset's default is group_by)
OVERRIDES = [("insurance", "insurance_type", "compare")]

#: (sql, dp ε or None, marked for export)
QUERIES: list[tuple[str, float | None, bool]] = [
    ("SELECT county, COUNT(*) AS n, AVG(annual_income) AS avg_income FROM population "
     "GROUP BY county ORDER BY n DESC", None, False),
    ("SELECT gender, COUNT(*) AS n, AVG(annual_income) AS avg_income FROM population "
     "GROUP BY gender", None, False),
    ("SELECT name, annual_income FROM population", None, False),
    ("SELECT county, COUNT(*) AS n FROM population GROUP BY county", 0.5, False),
    ("SELECT p.county, COUNT(*) AS insured, SUM(i.annual_contribution) AS paid "
     "FROM population p JOIN insurance i ON p.id_no = i.id_no GROUP BY p.county", None, False),
    ("SELECT county, gender, AVG(annual_income) AS avg_income FROM population "
     "GROUP BY county, gender", None, True),
]


def _entry(db: Any, org: Any, name: str) -> Any | None:
    rows, _ = catalog.list_entries(service.LOOKUP, db, provider_org_id=org.id, limit=500)
    for entry in rows:
        version = entry.current_version
        if version is not None and version.name == name:
            return entry
    return None


def populate(ctx: DemoContext) -> None:
    runtime = ctx.runtime
    operator_org = ctx.orgs.get("member.operator")
    bureau_org = ctx.orgs.get("province.bureau")
    if operator_org is None or bureau_org is None:
        return
    with runtime.db.transaction() as db:
        tables = []
        for org_key, name, table in (POPULATION, INSURANCE):
            org = ctx.orgs.get(org_key)
            entry = _entry(db, org, name) if org is not None else None
            if entry is None or library.dataset_for_entry(
                    service.LOOKUP, db, entry.id) is None:
                ctx.progress(f"sandbox: no dataset {name!r}; skipped")
                continue
            tables.append(service.TableIn(entry.id, table, 3.0 if table == "population" else 1.0))
        if not tables:
            return
        reviewer_user = orgs.find_user(db, "reviewer")
        bureau: Actor = orgs.actor_for_user(reviewer_user, via="system") \
            if reviewer_user is not None else ctx.actor
        start = dt.date(2026, 1, 1)
        auth = service.create_authorization(bureau, db, service.AuthorizationIn(
            operator_org_id=operator_org.id, bureau_org_id=bureau_org.id,
            purpose="开发区县人口与收入统计产品，服务公共服务资源配置和普惠金融产品设计（演示）。",
            scenarios=["区县人口结构与收入分布统计", "参保覆盖率分析"],
            starts_on=start, ends_on=dt.date(2028, 12, 31), tables=tables,
            product_categories=["public_interest", "industry"], fee_cap=Decimal("50000"),
            k=10))
        service.attach_agreement(
            bureau, db, auth.id, name="公共数据授权运营协议（演示）.txt",
            content=("山西省公共数据授权运营协议（演示，合成文本）\n"
                     f"授权编号：{auth.number}\n运营单位：{operator_org.name}\n"
                     "数据范围：常住人口登记（授权运营样本）、医保缴费汇总（授权运营样本）\n"
                     "运营期限：2026-01-01 至 2028-12-31（不超过五年）\n").encode())
        for t in tables:
            service.set_column_policy(bureau, db, t.entry_id, POLICY[t.table_name])
        for table, column, level in OVERRIDES:
            if any(t.table_name == table for t in tables):
                service.set_column_override(bureau, db, auth.id, table=table, column=column,
                                            level=level)
        number, auth_id = auth.number, auth.id
    sales = products_demo.populate(runtime, auth_id)
    with runtime.db.transaction() as db:
        user = orgs.find_user(db, "operator")
        operator = orgs.actor_for_user(user, via="system") if user is not None else None
    if operator is None:
        return
    done = []
    for sql, epsilon, export in QUERIES:
        with runtime.db.transaction() as db:
            found = service.run_query(operator, db, sql=sql, dp=epsilon is not None,
                                      epsilon=epsilon, export=export)
            done.append(found.status if found.code is None else found.code)
    ctx.progress(f"sandbox: authorisation {number} for {operator_org.name} "
                 f"({', '.join(t.table_name for t in tables)}); queries: {', '.join(done)}; "
                 f"2 data products, {sales} sales")
