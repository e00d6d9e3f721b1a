"""Concurrent decisions on one request: exactly one wins, the others get 409 (Conflict or
InvalidState, never a 500), and exactly one grant exists. Meaningful on PostgreSQL (row locks,
the version column, the unique step number); SQLite serialises writers anyway."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from concurrency import race
from gongshu.core.errors import Conflict
from gongshu.sharing import flows
from gongshu.sharing.models import ShareGrant, ShareRequestStep
from sharing.test_flows import act, ask, load

N = 20


def test_twenty_concurrent_approvals_make_one_grant(runtime: Any, publish: Any, cast: Any) -> None:
    req = act(runtime, flows.check, cast.bureau, ask(runtime, cast.requester, publish("conditional")),
              decision="conform")
    actor = cast.provider.actor
    outcomes = race(runtime, N, lambda db, i: flows.answer(actor, db, req.id, approve=True).id)
    assert outcomes.unexpected(Conflict) == []  # InvalidState is a Conflict (409)
    assert outcomes.successes == 1 and outcomes.errors_of(Conflict) == N - 1
    assert load(runtime, req).status == "granted"
    with runtime.db.transaction(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(ShareGrant)
                         .where(ShareGrant.request_id == req.id)) == 1
        assert db.scalar(sa.select(sa.func.count()).select_from(ShareRequestStep)
                         .where(ShareRequestStep.request_id == req.id)) == 3


def test_concurrent_approve_and_refuse_one_wins(runtime: Any, publish: Any, cast: Any) -> None:
    req = act(runtime, flows.check, cast.bureau, ask(runtime, cast.requester, publish("conditional")),
              decision="conform")
    actor = cast.provider.actor
    outcomes = race(runtime, 10, lambda db, i: flows.answer(
        actor, db, req.id, approve=i % 2 == 0, comment="" if i % 2 == 0 else "不符合条件").status)
    assert outcomes.unexpected(Conflict) == []
    assert outcomes.successes == 1
    assert load(runtime, req).status == outcomes.results[0]


def test_concurrent_submissions_get_distinct_numbers(runtime: Any, publish: Any, cast: Any) -> None:
    entry = publish("conditional")
    actor = cast.requester.actor
    outcomes = race(runtime, 8, lambda db, i: ask_in(db, actor, entry.id))
    assert outcomes.unexpected(Conflict) == []
    numbers = outcomes.results
    assert len(set(numbers)) == len(numbers) >= 1


def ask_in(db: Any, actor: Any, entry_id: Any) -> str:
    from sharing.test_flows import SCENARIO

    req = flows.submit(actor, db, entry_id=entry_id, items=["XM"], scenario=SCENARIO,
                       contact_name="周", contact_phone="1")
    return req.number
