"""The sandbox tests' world: a small population register and an insurance table (synthetic,
ingested through the real library), a third dataset nobody is authorised for, two operators,
the province's data bureau. Import the fixtures into a test module:

    from sandbox.world import world  # noqa: F401
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest

from gongshu.core import identifiers as ids
from gongshu.demo.builder import synthetic_uscc
from gongshu.orgs import service as orgs
from gongshu.orgs.service import OrgKind
from gongshu.sandbox import service
from library.data import SYSTEM, write_file
from library.fixtures import entry, make_entry, people, run_ingest  # noqa: F401

__all__ = ["World", "entry", "make_entry", "people", "run_ingest", "world"]

POPULATION_ITEMS = [
    {"name": "公民身份号码", "code": "id_no", "data_type": "C", "length": 18},
    {"name": "姓名", "code": "name", "data_type": "C", "length": 50},
    {"name": "性别", "code": "gender", "data_type": "C", "length": 1},
    {"name": "所在区县", "code": "county", "data_type": "C", "length": 50},
    {"name": "年收入", "code": "annual_income", "data_type": "N"},
]
INSURANCE_ITEMS = [
    {"name": "公民身份号码", "code": "id_no", "data_type": "C", "length": 18},
    {"name": "缴费金额", "code": "amount", "data_type": "N"},
]
#: people per county: 小店区 and 迎泽区 are large groups, 尖草坪区 is too small to release
COUNTIES = {"小店区": 30, "迎泽区": 20, "尖草坪区": 3}
SURNAMES = "王李张刘陈杨赵黄周吴"


def population_rows(seed: int = 7) -> list[list[str]]:
    rng = random.Random(seed)
    rows = []
    n = 0
    for county, count in COUNTIES.items():
        for _ in range(count):
            n += 1
            born = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(15000))
            first17 = f"140105{born:%Y%m%d}{n:03d}"
            rows.append([first17 + ids.cn_id_check_char(first17),
                         rng.choice(SURNAMES) + "某" + str(n), rng.choice(["1", "2"]), county,
                         str(rng.randrange(20000, 200000))])
    return rows


class World:
    def __init__(self, runtime: Any, tree: dict[str, Any], make_user: Any) -> None:
        self.runtime = runtime
        self.tree = tree
        self.operator = make_user("op", "operator", "operator")
        self.colleague = make_user("op2", "operator", "operator")
        with runtime.db.transaction() as db:
            other = orgs.create_organization(
                SYSTEM, db, name="汾河数据运营有限公司（测试）", kind=OrgKind.OPERATOR,
                parent_id=tree["province"].id, level=None, region_code="140100",
                uscc=synthetic_uscc("汾河数据运营有限公司（测试）", "140100", "91"))
            tree["operator.other"] = other
        self.rival = make_user("rival", "operator", "operator.other")
        self.bureau = make_user("bureau", "bureau_reviewer", "province.bureau")
        self.city_bureau = make_user("tybureau", "bureau_reviewer", "taiyuan.bureau")
        self.admin = make_user("padmin", "admin", "province", subtree=True)
        self.population: Any = None
        self.insurance: Any = None
        self.secret: Any = None

    def authorise(self, *, tables: dict[str, Any] | None = None, operator: str = "operator",
                  by: Any = None, epsilon: float = 1.0, **changes: Any) -> service.Authorization:
        tables = {"population": self.population} if tables is None else tables
        data = service.AuthorizationIn(
            operator_org_id=self.tree[operator].id, purpose="人口统计分析（测试）",
            starts_on=service.today() - dt.timedelta(days=1),
            ends_on=service.today() + dt.timedelta(days=365),
            tables=[service.TableIn(e.id, name, epsilon) for name, e in tables.items()],
            scenarios=["区县人口收入统计"])
        for key, value in changes.items():
            setattr(data, key, value)
        with self.runtime.db.transaction() as db:
            auth = service.create_authorization((by or self.bureau).actor, db, data)
            db.flush()
            db.expunge(auth)
        return auth

    def set_population_policy(self) -> None:
        rules = [service.ColumnRule("id_no", "join", contributor=True),
                 service.ColumnRule("name", "hidden"),
                 service.ColumnRule("gender", "group_by"),
                 service.ColumnRule("county", "group_by"),
                 service.ColumnRule("annual_income", "aggregate", 0, 500000)]
        with self.runtime.db.transaction() as db:
            service.set_column_policy(self.bureau.actor, db, self.population.id, rules)
            service.set_column_policy(self.bureau.actor, db, self.insurance.id, [
                service.ColumnRule("id_no", "join", contributor=True),
                service.ColumnRule("amount", "aggregate", 0, 100000)])

    def query(self, member: Any = None, **kw: Any) -> service.Query:
        with self.runtime.db.transaction() as db:
            found = service.run_query((member or self.operator).actor, db, **kw)
            db.flush()
            db.expunge(found)
        return found


@pytest.fixture
def world(runtime: Any, tree: dict[str, Any], make_user: Any, make_entry: Any,  # noqa: F811
          run_ingest: Any, people: Any, tmp_path: Path) -> World:  # noqa: F811
    w = World(runtime, tree, make_user)
    steward = people.steward.actor
    pop_rows = population_rows()
    w.population = make_entry(POPULATION_ITEMS, name="常住人口（沙箱测试）")
    done = run_ingest(steward, w.population, write_file(
        tmp_path / "population.csv", pop_rows, header=[i["code"] for i in POPULATION_ITEMS]))
    assert done.status == "succeeded", done.error
    w.insurance = make_entry(INSURANCE_ITEMS, name="社保缴费（沙箱测试）")
    rng = random.Random(3)
    ins_rows = [[r[0], str(rng.randrange(100, 5000))] for r in pop_rows]
    done = run_ingest(steward, w.insurance, write_file(
        tmp_path / "insurance.csv", ins_rows, header=[i["code"] for i in INSURANCE_ITEMS]))
    assert done.status == "succeeded", done.error
    w.secret = make_entry(INSURANCE_ITEMS, name="未授权数据（沙箱测试）")
    done = run_ingest(steward, w.secret, write_file(
        tmp_path / "secret.csv", ins_rows, header=[i["code"] for i in INSURANCE_ITEMS]))
    assert done.status == "succeeded", done.error
    return w
