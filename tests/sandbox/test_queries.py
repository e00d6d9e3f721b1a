"""Queries in the sandbox (Art. 14): an operator queries only what an active authorisation of
its own organisation covers, every query is recorded with its verdict, small groups are
suppressed, DP queries spend the month's ε and never more, and results leave only after the
bureau's output review."""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import pytest
import sqlalchemy as sa

from gongshu.core.audit import AuditEvent
from gongshu.core.errors import InvalidState, NotFound, PermissionDenied, ValidationFailed
from gongshu.sandbox import service
from gongshu.sandbox.models import Budget
from sandbox.world import COUNTIES

BY_COUNTY = "SELECT county, COUNT(*) AS n, AVG(annual_income) AS avg_income FROM population " \
            "GROUP BY county ORDER BY county"


@pytest.fixture
def authorised(world: Any) -> Any:
    world.authorise(tables={"population": world.population, "insurance": world.insurance})
    world.set_population_policy()
    return world


def test_an_accepted_query_releases_only_groups_of_at_least_k(runtime: Any,
                                                              authorised: Any) -> None:
    found = authorised.query(sql=BY_COUNTY)
    assert found.status == "ok" and found.code is None
    assert found.columns == ["county", "n", "avg_income"]
    big = {c: n for c, n in COUNTIES.items() if n >= 10}
    assert {r[0]: r[1] for r in found.rows} == big
    assert found.suppressed_groups == 1  # 尖草坪区 has 3 people
    with runtime.db.transaction(write=False) as db:
        events = db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "sandbox.query"))
        details = [json.loads(e.details) if isinstance(e.details, str) else e.details
                   for e in events]
    assert [d["status"] for d in details] == ["ok"]


@pytest.mark.parametrize(("sql", "code"), [
    ("SELECT name FROM population", "COLUMN_NOT_RELEASABLE"),
    ("SELECT * FROM population", "ROW_LEVEL_OUTPUT"),
    ("SELECT COUNT(*) AS n FROM secret", "TABLE_NOT_AUTHORISED"),
    ("SELECT MAX(annual_income) AS m FROM population", "MEMBER_REVEALING_AGGREGATE"),
    ("SELECT COUNT(*) AS n FROM read_csv('/etc/passwd')", None),
    ("DELETE FROM population", "NOT_A_SELECT"),
])
def test_a_refused_query_is_recorded_with_its_code(runtime: Any, authorised: Any, sql: str,
                                                   code: str | None) -> None:
    found = authorised.query(sql=sql)
    assert found.status == "rejected" and found.rows == []
    if code is not None:
        assert found.code == code
    else:
        assert found.code  # some stable code, whichever rule caught it
    zh = service.message_of(found.code, found.message_params, "zh-CN")
    en = service.message_of(found.code, found.message_params, "en")
    assert zh != en and zh and not zh.startswith("sandbox.reason")
    with runtime.db.transaction(write=False) as db:
        history, total = service.list_queries(authorised.operator.actor, db)
    assert total == 1 and history[0].code == found.code


def test_joins_on_the_id_number_work_across_authorised_tables(authorised: Any) -> None:
    found = authorised.query(sql="SELECT p.county, SUM(i.amount) AS paid FROM population p "
                                 "JOIN insurance i ON p.id_no = i.id_no GROUP BY p.county")
    assert found.status == "ok", (found.code, found.message)
    assert {r[0] for r in found.rows} == {c for c, n in COUNTIES.items() if n >= 10}


def test_an_operator_cannot_reach_another_operators_work(runtime: Any, authorised: Any) -> None:
    mine = authorised.query(sql=BY_COUNTY)
    # the rival operator holds no authorisation: refused, and it cannot see ours
    theirs = authorised.query(authorised.rival, sql=BY_COUNTY)
    assert theirs.status == "rejected" and theirs.code == "NOT_AUTHORISED"
    with runtime.db.transaction(write=False) as db:
        with pytest.raises(NotFound):
            service.get_query(authorised.rival.actor, db, mine.id)
        assert service.list_queries(authorised.rival.actor, db)[1] == 1
        # a colleague of the same operator sees the organisation's history
        assert service.get_query(authorised.colleague.actor, db, mine.id).id == mine.id
        assert [t.table.table_name for t in service.workspace(authorised.rival.actor, db)] == []
    with runtime.db.transaction() as db, pytest.raises(NotFound):
        service.mark_export(authorised.rival.actor, db, mine.id)


def test_the_rival_with_its_own_authorisation_sees_only_its_tables(authorised: Any) -> None:
    authorised.authorise(operator="operator.other", tables={"insurance": authorised.insurance})
    found = authorised.query(authorised.rival, sql=BY_COUNTY)
    assert found.status == "rejected" and found.code == "TABLE_NOT_AUTHORISED"


def test_only_operators_query(runtime: Any, authorised: Any) -> None:
    with runtime.db.transaction() as db, pytest.raises(PermissionDenied):
        service.run_query(authorised.bureau.actor, db, sql=BY_COUNTY)
    with runtime.db.transaction() as db, pytest.raises(ValidationFailed):
        service.run_query(authorised.operator.actor, db, sql="  ")


def test_export_waits_for_review_then_the_operator_downloads(runtime: Any,
                                                            authorised: Any) -> None:
    found = authorised.query(sql=BY_COUNTY)
    with runtime.db.transaction() as db, pytest.raises(InvalidState):
        service.download(authorised.operator.actor, db, found.id)
    with runtime.db.transaction() as db:
        assert service.mark_export(authorised.operator.actor, db, found.id).status == \
            "pending_review"
    with runtime.db.transaction(write=False) as db:
        queue, total = service.review_queue(authorised.bureau.actor, db)
        assert total == 1 and queue[0].id == found.id
        assert service.review_queue(authorised.city_bureau.actor, db)[1] == 0
    with runtime.db.transaction() as db, pytest.raises(ValidationFailed):
        service.decide(authorised.bureau.actor, db, found.id, release=False, reason="")
    with runtime.db.transaction() as db:
        service.decide(authorised.bureau.actor, db, found.id, release=True, reason="符合用途")
    with runtime.db.transaction() as db, pytest.raises(InvalidState):
        service.decide(authorised.bureau.actor, db, found.id, release=False, reason="再审")
    with runtime.db.transaction() as db:
        name, data, media = service.download(authorised.operator.actor, db, found.id)
        assert name.endswith(".csv") and media.startswith("text/csv")
        text = data.decode("utf-8-sig")
        assert text.splitlines()[0] == "county,n,avg_income" and "小店区" in text
        _, xlsx, _ = service.download(authorised.operator.actor, db, found.id, fmt="xlsx")
        assert xlsx[:2] == b"PK"
    with runtime.db.transaction(write=False) as db:
        actions = {e.action for e in db.scalars(sa.select(AuditEvent))}
    assert {"sandbox.export_request", "sandbox.release", "sandbox.download"} <= actions


def test_review_all_hides_rows_until_released(runtime: Any, world: Any) -> None:
    world.authorise(review_all=True)
    world.set_population_policy()
    found = world.query(sql=BY_COUNTY)
    assert found.status == "pending_review"
    with runtime.db.transaction(write=False) as db:
        row = service.get_query(world.operator.actor, db, found.id)
        assert not service.rows_visible(world.operator.actor, row)
        assert service.rows_visible(world.bureau.actor, row)
    with runtime.db.transaction() as db:
        service.decide(world.bureau.actor, db, found.id, release=False, reason="疑似差分")
    with runtime.db.transaction(write=False) as db:
        row = service.get_query(world.operator.actor, db, found.id)
        assert row.status == "refused" and not service.rows_visible(world.operator.actor, row)


def test_similar_earlier_queries_are_found(runtime: Any, authorised: Any) -> None:
    authorised.query(sql="SELECT county, SUM(annual_income) AS s FROM population "
                         "WHERE gender = '1' GROUP BY county")
    authorised.query(sql="SELECT gender, COUNT(*) AS n FROM insurance GROUP BY gender")
    last = authorised.query(sql="SELECT county, SUM(annual_income) AS s FROM population "
                                "WHERE gender = '2' GROUP BY county", export=True)
    with runtime.db.transaction(write=False) as db:
        found = service.similar_queries(authorised.bureau.actor, db, last.id)
    assert len(found) == 1 and found[0][0] == 1.0  # same shape, another literal


def test_dp_queries_spend_the_budget_and_never_overspend(runtime: Any, world: Any) -> None:
    world.authorise(epsilon=1.0)
    world.set_population_policy()
    sql = "SELECT county, COUNT(*) AS n FROM population GROUP BY county"
    first = world.query(sql=sql, dp=True, epsilon=0.6)
    assert first.status == "ok" and first.epsilon == 0.6, (first.code, first.message)
    second = world.query(sql=sql, dp=True, epsilon=0.6)
    assert second.status == "rejected" and second.code == "BUDGET_EXHAUSTED"
    third = world.query(sql=sql, dp=True, epsilon=0.4)
    assert third.status == "ok"
    with runtime.db.transaction(write=False) as db:
        budget = db.scalars(sa.select(Budget)).one()
        assert budget.spent == pytest.approx(1.0) and budget.total == 1.0
        lines = service.budgets(world.operator.actor, db)
        assert [(b.table_name, b.left) for b in lines] == [("population", pytest.approx(0))]


def test_the_bureau_changes_terms_and_the_change_is_audited(runtime: Any, world: Any) -> None:
    auth = world.authorise()
    change = service.AuthorizationChange(k=20, review_all=True, purpose="新的用途")
    with runtime.db.transaction() as db, pytest.raises(PermissionDenied):
        service.update_authorization(world.operator.actor, db, auth.id, change)
    with runtime.db.transaction() as db:
        updated = service.update_authorization(world.bureau.actor, db, auth.id, change)
        assert (updated.k, updated.review_all, updated.purpose) == (20, True, "新的用途")
    with runtime.db.transaction(write=False) as db:
        actions = [e.action for e in db.scalars(sa.select(AuditEvent))]
    assert "sandbox.authorisation_update" in actions
    world.set_population_policy()
    # k = 20 now: 迎泽区 (20 people) is still released, and the result waits for review
    found = world.query(sql=BY_COUNTY)
    assert found.status == "pending_review"
    assert {r[0] for r in found.rows} == {c for c, n in COUNTIES.items() if n >= 20}


@pytest.mark.slow
def test_the_spark_engine_gives_the_same_answer(runtime: Any, authorised: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from gongshu.sandbox import spark

    if not spark.available() or not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        pytest.skip("PySpark or Java is not installed")
    duck = authorised.query(sql=BY_COUNTY)
    monkeypatch.setattr(runtime.settings, "sandbox_engine", "spark")
    on_spark = authorised.query(sql=BY_COUNTY)
    assert on_spark.status == "ok", (on_spark.code, on_spark.message)
    assert [r[:2] for r in on_spark.rows] == [r[:2] for r in duck.rows]
    assert on_spark.rows[0][2] == pytest.approx(duck.rows[0][2])


def test_a_keyed_contributor_is_measured_once_and_changes_no_answer(
        runtime: Any, authorised: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The population's id_no is a key: it is measured once per version and declared, so
    one-table queries count rows; the answer (released groups, suppressed ones) is the same
    as with COUNT(DISTINCT id_no)."""
    from gongshu.sandbox import runner

    measured: list[str] = []
    real = runner.rows_per_contributor

    def counting(source: Any, contributor: str, limits: Any) -> int:
        measured.append(contributor)
        return real(source, contributor, limits)

    monkeypatch.setattr(runner, "rows_per_contributor", counting)
    monkeypatch.setattr(service, "_ROWS_PER_CONTRIBUTOR", {})
    keyed = authorised.query(sql=BY_COUNTY)
    again = authorised.query(sql=BY_COUNTY)
    assert measured == ["id_no"]  # once per version, not per query
    assert [k for k, m in service._ROWS_PER_CONTRIBUTOR.items() if m == 1]
    # the same query with the contributor counted the expensive way
    monkeypatch.setattr(service, "_keyed", lambda *a, **k: False)
    distinct = authorised.query(sql=BY_COUNTY)
    assert keyed.rows == again.rows == distinct.rows
    assert keyed.suppressed_groups == distinct.suppressed_groups == 1
