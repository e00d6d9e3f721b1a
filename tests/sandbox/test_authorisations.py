"""Authorisations (Art. 14): only a data bureau makes and changes them, the term is at most
five years, an operator sees only its own, and a suspended, expired or revoked authorisation
refuses every query (recorded with the code NOT_AUTHORISED)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from gongshu.core.audit import AuditEvent
from gongshu.core.errors import InvalidState, NotFound, PermissionDenied, ValidationFailed
from gongshu.sandbox import service
from gongshu.sandbox.models import AuthorizedTable, ColumnPolicy


def test_the_bureau_authorises_and_the_column_policy_defaults_from_grading(
        runtime: Any, world: Any) -> None:
    auth = world.authorise()
    assert auth.number.startswith("SQ-") and auth.status == "active"
    assert auth.bureau_path == world.tree["province.bureau"].path
    with runtime.db.transaction(write=False) as db:
        levels = {p.column: p.level for p in db.scalars(sa.select(ColumnPolicy).where(
            ColumnPolicy.entry_id == world.population.id))}
        tables = db.scalars(sa.select(AuthorizedTable)).all()
        events = [e.action for e in db.scalars(sa.select(AuditEvent))]
    assert [t.table_name for t in tables] == ["population"]
    # identifiers never leave: the ID number is a join key, the name hidden
    assert levels["id_no"] == "join" and levels["name"] == "hidden"
    assert levels["annual_income"] == "aggregate" and levels["gender"] == "group_by"
    assert "sandbox.authorise" in events


@pytest.mark.parametrize(("who", "error"), [
    ("operator", PermissionDenied),  # an operator cannot authorise itself
    ("city_bureau", None),  # another bureau authorises for itself, not for the province's
])
def test_only_a_data_bureau_authorises(world: Any, who: str, error: Any) -> None:
    if error is None:
        auth = world.authorise(by=getattr(world, who))
        assert auth.bureau_path == world.tree["taiyuan.bureau"].path
        return
    with pytest.raises(error):
        world.authorise(by=getattr(world, who))


@pytest.mark.parametrize(("years", "days", "ok"), [(5, 0, True), (5, 1, False), (10, 0, False)])
def test_the_term_is_at_most_five_years(world: Any, years: int, days: int, ok: bool) -> None:
    start = service.today()
    end = service._add_years(start, years) + dt.timedelta(days=days)
    if ok:
        assert world.authorise(starts_on=start, ends_on=end).ends_on == end
        return
    with pytest.raises(ValidationFailed) as caught:
        world.authorise(starts_on=start, ends_on=end)
    assert [e.code for e in caught.value.errors] == ["term_too_long"]


@pytest.mark.parametrize(("change", "field"), [
    ({"tables": {}}, "tables"),
    ({"purpose": " "}, "purpose"),
    ({"k": 1}, "k"),
    ({"product_categories": ["luxury"]}, "product_categories"),
])
def test_bad_input_names_the_field_and_writes_nothing(runtime: Any, world: Any,
                                                      change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        world.authorise(**change)
    assert field in [e.field for e in caught.value.errors]
    with runtime.db.transaction(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(service.Authorization)) == 0


def test_an_operator_sees_only_its_own_authorisations(runtime: Any, world: Any) -> None:
    mine = world.authorise()
    theirs = world.authorise(operator="operator.other", tables={"insurance": world.insurance})
    with runtime.db.transaction(write=False) as db:
        seen = service.list_authorizations(world.operator.actor, db)
        assert [a.id for a in seen] == [mine.id]
        with pytest.raises(NotFound):
            service.get_authorization(world.operator.actor, db, theirs.id)
        assert {a.id for a in service.list_authorizations(world.bureau.actor, db)} == {
            mine.id, theirs.id}
        # another bureau sees neither
        assert service.list_authorizations(world.city_bureau.actor, db) == []


@pytest.mark.parametrize("status", ["suspended", "revoked", "expired"])
def test_an_authorisation_not_in_force_refuses_queries(runtime: Any, world: Any,
                                                       status: str) -> None:
    auth = world.authorise()
    with runtime.db.transaction() as db:
        if status == "expired":
            row = db.get(service.Authorization, auth.id)
            row.starts_on = service.today() - dt.timedelta(days=30)
            row.ends_on = service.today() - dt.timedelta(days=1)
        else:
            service.set_status(world.bureau.actor, db, auth.id, status=status, reason="测试")
    found = world.query(sql="SELECT county, COUNT(*) AS n FROM population GROUP BY county")
    assert found.status == "rejected" and found.code == "NOT_AUTHORISED"
    with runtime.db.transaction(write=False) as db:
        assert service.get_query(world.operator.actor, db, found.id).rows == []


def test_status_changes_follow_the_allowed_transitions(runtime: Any, world: Any) -> None:
    auth = world.authorise()
    with runtime.db.transaction() as db:
        service.set_status(world.bureau.actor, db, auth.id, status="suspended", reason="整改")
        service.set_status(world.bureau.actor, db, auth.id, status="active", reason="整改完成")
        service.set_status(world.bureau.actor, db, auth.id, status="revoked", reason="违约")
    with runtime.db.transaction() as db, pytest.raises(InvalidState):
        service.set_status(world.bureau.actor, db, auth.id, status="active", reason="再试")
    # its operator sees it but may not change it; another operator does not even see it
    with runtime.db.transaction() as db, pytest.raises(PermissionDenied):
        service.set_status(world.operator.actor, db, auth.id, status="suspended", reason="x")
    with runtime.db.transaction() as db, pytest.raises(NotFound):
        service.set_status(world.rival.actor, db, auth.id, status="suspended", reason="x")
    with runtime.db.transaction(write=False) as db:
        actions = [e.action for e in db.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq))]
    assert actions[-3:] == ["sandbox.authorisation_suspend", "sandbox.authorisation_resume",
                            "sandbox.authorisation_revoke"]


def test_the_sweep_expires_authorisations_past_their_term(runtime: Any, world: Any) -> None:
    auth = world.authorise()
    with runtime.db.transaction() as db:
        row = db.get(service.Authorization, auth.id)
        row.starts_on = service.today() - dt.timedelta(days=30)
        row.ends_on = service.today() - dt.timedelta(days=1)
    with runtime.db.transaction() as db:
        assert service.effective_status(db.get(service.Authorization, auth.id)) == "expired"
        assert service.sweep(world.admin.actor, db) == {"expired": 1}
    with runtime.db.transaction() as db:
        assert db.get(service.Authorization, auth.id).status == "expired"
        assert service.sweep(world.admin.actor, db) == {"expired": 0}


def test_the_agreement_is_kept_under_the_data_directory(runtime: Any, world: Any) -> None:
    auth = world.authorise()
    content = b"%PDF-1.4 synthetic agreement"
    with runtime.db.transaction() as db:
        service.attach_agreement(world.bureau.actor, db, auth.id, name="../协议.pdf",
                                 content=content)
    with runtime.db.transaction(write=False) as db:
        name, path = service.agreement_file(world.operator.actor, db, auth.id)
        assert name == "协议.pdf" and path.read_bytes() == content
        assert path.parent == runtime.settings.resolved_data_dir / "sandbox" / "agreements"
        with pytest.raises(NotFound):
            service.agreement_file(world.rival.actor, db, auth.id)


def test_release_levels_are_set_by_the_bureau_concerned(runtime: Any, world: Any) -> None:
    world.authorise()
    rule = [service.ColumnRule("gender", "plain")]
    with runtime.db.transaction() as db, pytest.raises(PermissionDenied):
        service.set_column_policy(world.city_bureau.actor, db, world.population.id, rule)
    with runtime.db.transaction() as db, pytest.raises(PermissionDenied):
        service.set_column_policy(world.operator.actor, db, world.population.id, rule)
    with runtime.db.transaction() as db:
        rows = service.set_column_policy(world.bureau.actor, db, world.population.id, rule)
        assert {p.column: p.level for p in rows}["gender"] == "plain"
    with runtime.db.transaction() as db, pytest.raises(ValidationFailed):
        service.set_column_policy(world.bureau.actor, db, world.population.id,
                                  [service.ColumnRule("nope", "plain")])
