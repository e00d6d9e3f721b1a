"""The demo province's sandbox (a contract): the operator holds an active authorisation on the
population sample, visible as table ``population`` with exactly the agreed columns, ≥ 100,000
rows, release levels as agreed, a joinable second table, and work waiting for the operator and
the reviewer. Reads a copy of the demo built once per session (``demo_province``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gongshu.orgs import service as orgs
from gongshu.sandbox import service

COLUMNS = {"id_no", "name", "gender", "birth_date", "county", "address", "mobile",
           "annual_income"}


@pytest.fixture
def demo(demo_province: Any, tmp_path: Path) -> Iterator[Any]:
    runtime = demo_province.fresh(tmp_path / "data")
    yield runtime
    runtime.close()


def test_demo_sandbox(demo: Any) -> None:
    with demo.db.transaction() as db:
        operator = orgs.actor_for_user(orgs.find_user(db, "operator"))
        tables = {w.table.table_name: w for w in service.workspace(operator, db)}
        assert set(tables) == {"population", "insurance"}
        population = tables["population"]
        assert {c["code"] for c in population.columns} == COLUMNS
        levels = {c["code"]: c["level"] for c in population.columns}
        assert levels == {"id_no": "join", "name": "hidden", "address": "hidden",
                          "mobile": "hidden", "gender": "group_by", "county": "group_by",
                          "birth_date": "group_by", "annual_income": "aggregate"}
        assert {c["code"]: c["contributor"] for c in population.columns}["id_no"]
        # the operator's own level on the insurance table (per operator), over the default
        insurance = {c["code"]: (c["level"], c["default_level"])
                     for c in tables["insurance"].columns}
        assert insurance["insurance_type"] == ("compare", "group_by")
        found = service.run_query(operator, db, sql="SELECT COUNT(*) AS n, "
                                  "AVG(annual_income) AS avg_income FROM population")
        assert found.status == "ok" and found.rows[0][0] >= 100_000
        assert 0 < found.rows[0][1] < 500_000
        history, _ = service.list_queries(operator, db)
        assert {q.status for q in history} >= {"ok", "rejected", "pending_review"}
        reviewer = orgs.actor_for_user(orgs.find_user(db, "reviewer"))
        assert service.review_queue(reviewer, db)[1] >= 1
        # data products: a free brief and a paid index with sales, seen by the bureau
        from gongshu.sandbox import products

        mine, total = products.list_products(operator, db)
        assert total == 2 and {p.category for p in mine} == {"public_interest", "industry"}
        year = products.local_today(db).year
        figures = products.supervision(reviewer, db, year=year)
        assert len(figures) == 1 and figures[0].products == 2 and figures[0].sales >= 2
