"""Concurrent state changes of one catalog entry (issue 13): each takes the entry's row lock,
so exactly one decision wins and the others answer 409 (``InvalidState``, a ``Conflict``),
never a 500; edits never multiply a version's items; the database's constraints make
duplicate items, decisions and versions impossible. Meaningful on PostgreSQL (row locks);
SQLite serialises writers anyway, where the same outcomes must hold."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from concurrency import race
from gongshu.catalog import flows, service
from gongshu.catalog.census import service as census
from gongshu.catalog.models import (
    CatalogVersion,
    CensusResponse,
    DataItem,
    InfoSystem,
    ReviewRecord,
)
from gongshu.catalog.schemas import InfoSystemIn
from gongshu.core.errors import Conflict, InvalidState

N = 20


def _count(runtime: Any, model: Any, *where: Any) -> int:
    with runtime.db.transaction(write=False) as db:
        return db.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0


def _items_of(runtime: Any, entry_id: Any) -> list[tuple[int, str]]:
    with runtime.db.transaction(write=False) as db:
        return [tuple(r) for r in db.execute(
            sa.select(DataItem.position, DataItem.code).join(CatalogVersion)
            .where(CatalogVersion.entry_id == entry_id).order_by(DataItem.position))]


def test_concurrent_edits_of_a_draft_keep_its_items(catalog_ops: Any, people: Any,
                                                    valid_entry: dict[str, Any]) -> None:
    ops, p = catalog_ops, people
    entry_id = ops.create(p.editor.actor)
    before = _items_of(ops.runtime, entry_id)
    assert len(before) == len(valid_entry["items"]) >= 2
    outcomes = race(ops.runtime, N, lambda db, i: service.update_entry(
        p.editor.actor, db, entry_id, {**valid_entry, "name": f"常住人口基本信息{i}"}).id)
    assert outcomes.unexpected() == [] and outcomes.successes == N  # edits queue, all land
    assert _items_of(ops.runtime, entry_id) == before
    # and the draft still takes an edit and a submission afterwards
    ops.run(service.update_entry, p.editor.actor, entry_id, valid_entry)
    ops.run(flows.submit, p.editor.actor, entry_id)
    assert _items_of(ops.runtime, entry_id) == before


def test_twenty_concurrent_approvals_publish_once(catalog_ops: Any, people: Any) -> None:
    ops, p = catalog_ops, people
    entry_id = ops.create(p.editor.actor)
    ops.run(flows.submit, p.editor.actor, entry_id)
    outcomes = race(ops.runtime, N, lambda db, i: flows.approve(
        p.reviewer.actor, db, entry_id, comment=f"同意{i}").status)
    assert outcomes.unexpected(Conflict) == []
    assert outcomes.successes == 1 and outcomes.errors_of(InvalidState) == N - 1
    assert {e.code for e in outcomes.errors} == {"catalog_wrong_state"}
    runtime = ops.runtime
    assert _count(runtime, CatalogVersion, CatalogVersion.entry_id == entry_id,
                  CatalogVersion.status == "published") == 1
    with runtime.db.transaction(write=False) as db:
        trail = db.scalars(sa.select(ReviewRecord.action).where(
            ReviewRecord.entry_id == entry_id).order_by(ReviewRecord.created_at)).all()
    assert sorted(trail) == ["approve", "publish", "submit"]


def test_concurrent_approvals_and_returns_one_decision(catalog_ops: Any, people: Any) -> None:
    ops, p = catalog_ops, people
    entry_id = ops.create(p.editor.actor)
    ops.run(flows.submit, p.editor.actor, entry_id)

    def decide(db: Any, i: int) -> str:
        if i % 2:
            return flows.return_entry(p.reviewer.actor, db, entry_id, comment="请补充。").status
        return flows.approve(p.reviewer.actor, db, entry_id).status

    outcomes = race(ops.runtime, 10, decide)
    assert outcomes.unexpected(Conflict) == []
    assert outcomes.successes == 1
    assert ops.read(service.get_entry, p.editor.actor, entry_id).status == outcomes.results[0]
    assert _count(ops.runtime, ReviewRecord, ReviewRecord.entry_id == entry_id,
                  ReviewRecord.action.in_(("approve", "return"))) == 1


def test_twenty_concurrent_revisions_make_one_working_version(catalog_ops: Any,
                                                              people: Any) -> None:
    ops, p = catalog_ops, people
    entry_id = ops.publish(p.editor.actor, p.reviewer.actor)
    outcomes = race(ops.runtime, N, lambda db, i: flows.revise(
        p.editor.actor, db, entry_id, change_note=f"修订{i}").working_version_id)
    assert outcomes.unexpected(Conflict) == []  # no IntegrityError
    assert outcomes.successes == 1 and outcomes.errors_of(InvalidState) == N - 1
    assert {e.code for e in outcomes.errors} == {"catalog_revision_exists"}
    with ops.runtime.db.transaction(write=False) as db:
        versions = db.execute(sa.select(CatalogVersion.number, CatalogVersion.status).where(
            CatalogVersion.entry_id == entry_id).order_by(CatalogVersion.number)).all()
    assert [tuple(v) for v in versions] == [(1, "published"), (2, "draft")]
    entry = ops.read(service.get_entry, p.editor.actor, entry_id)
    assert entry.working_version_id == outcomes.results[0] and entry.last_number == 2


def test_concurrent_withdrawals_and_discards(catalog_ops: Any, people: Any) -> None:
    ops, p = catalog_ops, people
    entry_id = ops.publish(p.editor.actor, p.reviewer.actor)
    outcomes = race(ops.runtime, 10, lambda db, i: flows.withdraw(
        p.editor.actor, db, entry_id, reason="停止采集").status)
    assert outcomes.unexpected(Conflict) == []
    assert outcomes.successes == 1 and outcomes.errors_of(InvalidState) == 9
    ops.run(flows.revise, p.editor.actor, entry_id)
    outcomes = race(ops.runtime, 10, lambda db, i: service.discard_working(
        p.editor.actor, db, entry_id) and "kept")
    assert outcomes.unexpected(Conflict) == []
    assert outcomes.successes == 1
    assert {e.code for e in outcomes.errors} == {"catalog_no_draft"}
    assert _count(ops.runtime, CatalogVersion, CatalogVersion.entry_id == entry_id) == 1


def test_concurrent_census_answers_of_one_body(catalog_ops: Any, people: Any,
                                               tree: dict[str, Any]) -> None:
    import datetime as dt

    ops, p = catalog_ops, people
    census_id = ops.run(census.open_census, p.city_reviewer.actor,
                        bureau_org_id=tree["taiyuan.bureau"].id, title="并发普查",
                        period_start=dt.date(2025, 1, 1), period_end=dt.date(2025, 3, 31),
                        due_date=dt.date(2025, 3, 31))
    body = tree["taiyuan.hr"].id
    systems = [InfoSystemIn(name=f"系统{j}") for j in range(3)]
    outcomes = race(ops.runtime, N, lambda db, i: census.save_response(
        p.city_editor.actor, db, census_id, body, systems=systems, catalog_confirmed=True,
        note=f"第{i}次").id)
    assert outcomes.unexpected() == [] and outcomes.successes == N
    response_id = outcomes.results[0]
    assert _count(ops.runtime, InfoSystem, InfoSystem.response_id == response_id) == 3
    outcomes = race(ops.runtime, 10, lambda db, i: census.submit_response(
        p.city_editor.actor, db, census_id, body).status)
    assert outcomes.unexpected() == []
    assert _count(ops.runtime, CensusResponse, CensusResponse.id == response_id,
                  CensusResponse.status == "submitted") == 1


def test_the_database_refuses_duplicate_items_and_decisions(catalog_ops: Any,
                                                            people: Any) -> None:
    """The constraints hold even for a writer that bypasses the services."""
    ops, p = catalog_ops, people
    entry_id = ops.publish(p.editor.actor, p.reviewer.actor)
    with ops.runtime.db.transaction(write=False) as db:
        version = db.scalars(sa.select(CatalogVersion).where(
            CatalogVersion.entry_id == entry_id)).one()
        version_id, number, item = version.id, version.number, version.items[0]
        item_row = {"position": item.position, "name": item.name, "code": "X",
                    "data_type": item.data_type}
    with pytest.raises(IntegrityError), ops.runtime.db.transaction() as db:
        db.add(DataItem(version_id=version_id, **item_row))
        db.flush()
    with pytest.raises(IntegrityError), ops.runtime.db.transaction() as db:
        db.add(ReviewRecord(entry_id=entry_id, version_id=version_id, version_number=number,
                            action="publish"))
        db.flush()
    with pytest.raises(IntegrityError), ops.runtime.db.transaction() as db:
        db.add(CatalogVersion(entry_id=entry_id, number=number, status="draft", name="x",
                              resource_kind="x", sharing_type="x", opening_type="x",
                              update_cycle="x"))
        db.flush()
    # a repeated step of another kind (a second submission round) is still allowed
    with ops.runtime.db.transaction() as db:
        db.add(ReviewRecord(entry_id=entry_id, version_id=version_id, version_number=number,
                            action="submit"))


def _at_once(n: int, call: Any) -> list[Any]:
    """``call(i)`` from n threads released together (not ``race``: the app opens its own
    transactions, and a test transaction held open would block them on SQLite)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        barrier.wait(30)
        return call(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_concurrent_api_decisions_answer_409_problems(client: Any, token_for: Any,
                                                      catalog_ops: Any, people: Any) -> None:
    """Through the real app: one approval wins, the others answer 409 problem+json with the
    workflow's code; concurrent revisions the same; nothing answers 500."""
    ops, p = catalog_ops, people
    api = "/api/v1/catalog"
    reviewer, editor = token_for(p.reviewer), token_for(p.editor)
    entry_id = ops.create(p.editor.actor)
    ops.run(flows.submit, p.editor.actor, entry_id)
    answers = _at_once(8, lambda i: client.post(f"{api}/entries/{entry_id}/approve",
                                                headers=reviewer, json={"comment": ""}))
    assert sorted(a.status_code for a in answers) == [200] + [409] * 7
    for conflict in (a for a in answers if a.status_code == 409):
        assert conflict.headers["content-type"].startswith("application/problem+json")
        assert conflict.json()["code"] == "catalog_wrong_state"
        assert conflict.json()["status"] == 409
    answers = _at_once(8, lambda i: client.post(f"{api}/entries/{entry_id}/revise",
                                                headers=editor, json={"change_note": "修订"}))
    assert sorted(a.status_code for a in answers) == [200] + [409] * 7
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {
        "catalog_revision_exists"}


def test_concurrent_entries_adopting_one_resource_code(catalog_ops: Any, people: Any,
                                                       valid_entry: dict[str, Any],
                                                       tree: dict[str, Any]) -> None:
    """An import may keep a resource code: racing imports of one code make one entry, and the
    others answer ``duplicate_resource_code`` (the sequence row of the front segment queues
    them, so a loser sees the winner's entry; were it to slip past, the unique code answers
    409 with the same code instead of a 500)."""
    from gongshu.core.errors import ValidationFailed

    ops, p = catalog_ops, people
    code = "101001/000777"
    outcomes = race(ops.runtime, 10, lambda db, i: service.create_entry(
        p.editor.actor, db, valid_entry, provider_org_id=tree["province.hr"].id,
        resource_code=code).id)
    assert outcomes.unexpected(Conflict, ValidationFailed) == []
    assert outcomes.successes == 1
    assert {e.errors[0].code if isinstance(e, ValidationFailed) else e.code  # type: ignore[attr-defined]
            for e in outcomes.errors} == {"duplicate_resource_code"}
    assert ops.read(service.get_entry_by_code, p.editor.actor, code).id == outcomes.results[0]
