"""Concurrent state changes of the sandbox (meaningful on PostgreSQL; SQLite serialises
writers anyway): DP queries never overspend the month's ε, a result gets one review decision,
an authorisation one status change."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from concurrency import race
from gongshu.core.errors import Conflict
from gongshu.sandbox import service
from gongshu.sandbox.models import Budget, Query

N = 8
SQL = "SELECT county, COUNT(*) AS n FROM population GROUP BY county"


def test_concurrent_dp_queries_never_overspend(runtime: Any, world: Any) -> None:
    world.authorise(epsilon=1.0)
    world.set_population_policy()
    actor = world.operator.actor
    outcomes = race(runtime, N, lambda db, i: service.run_query(
        actor, db, sql=SQL, dp=True, epsilon=0.3).status)
    assert outcomes.errors == []
    assert sorted(outcomes.results).count("ok") == 3  # 3 × 0.3 ≤ 1.0 < 4 × 0.3
    with runtime.db.transaction(write=False) as db:
        budget = db.scalars(sa.select(Budget)).one()
        assert budget.spent == pytest.approx(0.9) and budget.spent <= budget.total
        codes = [q.code for q in db.scalars(sa.select(Query))]
    assert codes.count("BUDGET_EXHAUSTED") == N - 3


def test_the_check_constraint_forbids_overspending(runtime: Any, world: Any) -> None:
    world.authorise(epsilon=1.0)
    with runtime.db.transaction() as db:
        assert service.spend(db, operator_org_id=world.tree["operator"].id,
                             entry_id=world.population.id, epsilon=0.5, total=1.0)
    with pytest.raises(sa.exc.IntegrityError), runtime.db.transaction() as db:
        db.execute(sa.update(Budget).values(spent=Budget.total + 1))


def test_one_review_decision_per_result(runtime: Any, world: Any) -> None:
    world.authorise()
    world.set_population_policy()
    found = world.query(sql=SQL, export=True)
    actor = world.bureau.actor
    outcomes = race(runtime, N, lambda db, i: service.decide(
        actor, db, found.id, release=i % 2 == 0, reason="审核意见").status)
    assert outcomes.unexpected(Conflict) == []
    assert outcomes.successes == 1 and outcomes.errors_of(Conflict) == N - 1


def test_one_status_change_per_state(runtime: Any, world: Any) -> None:
    auth = world.authorise()
    actor = world.bureau.actor
    outcomes = race(runtime, N, lambda db, i: service.set_status(
        actor, db, auth.id, status="revoked", reason="违约").status)
    assert outcomes.unexpected(Conflict) == []
    assert outcomes.successes == 1 and outcomes.errors_of(Conflict) == N - 1
    with runtime.db.transaction(write=False) as db:
        assert db.get(service.Authorization, auth.id).status == "revoked"
