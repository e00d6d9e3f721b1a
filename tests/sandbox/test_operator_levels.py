"""Column release levels per operator (Art. 14, SANDBOX.md "per dataset column, per operator or
default"): the bureau gives one authorisation its own level for a column; that authorisation's
queries and workspace run under it, every other operator keeps the dataset's default; each
change is audited, bad input writes nothing, only the authorising bureau changes it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import sqlalchemy as sa

from concurrency import race
from gongshu.core.audit import AuditEvent
from gongshu.core.errors import InvalidState, NotFound, PermissionDenied, ValidationFailed
from gongshu.sandbox import policy, service
from gongshu.sandbox.models import ColumnOverride
from gongshu.sandbox.policy import ReleaseLevel as L

BY_COUNTY = "SELECT county, COUNT(*) AS n FROM population GROUP BY county"
MAX_INCOME = "SELECT MAX(annual_income) AS m FROM population"


# ------------------------------------------------------------------------ the pure merge


@pytest.mark.parametrize(("defaults", "overrides", "expected"), [
    ({}, {}, {}),
    ({"a": "plain", "b": "hidden"}, {}, {"a": L.PLAIN, "b": L.HIDDEN}),
    # an override wins, in either direction
    ({"a": "plain", "b": "hidden"}, {"a": "join"}, {"a": L.JOIN, "b": L.HIDDEN}),
    ({"a": "plain", "b": "hidden"}, {"b": "group_by"}, {"a": L.PLAIN, "b": L.GROUP_BY}),
    ({"a": "aggregate"}, {"a": "aggregate"}, {"a": L.AGGREGATE}),
    # an override of a column the dataset does not have adds nothing (it stays hidden)
    ({"a": "compare"}, {"gone": "plain"}, {"a": L.COMPARE}),
    ({"a": "plain", "b": "plain"}, {"a": "hidden", "b": "hidden"}, {"a": L.HIDDEN,
                                                                    "b": L.HIDDEN}),
])
def test_effective_levels(defaults: dict[str, str], overrides: dict[str, str],
                          expected: dict[str, L]) -> None:
    assert policy.effective_levels(defaults, overrides) == expected


@pytest.mark.parametrize(("defaults", "overrides"), [
    ({"a": "plain"}, {"a": "secret"}),
    ({"a": "nonsense"}, {}),
])
def test_effective_levels_refuses_an_unknown_level(defaults: dict[str, str],
                                                   overrides: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        policy.effective_levels(defaults, overrides)


# ------------------------------------------------------------------------------ service


@pytest.fixture
def both(world: Any) -> tuple[Any, Any]:
    """Operator A (``operator``) and operator B (``operator.other``), both authorised for the
    population table under the same dataset policy."""
    a = world.authorise()
    b = world.authorise(operator="operator.other")
    world.set_population_policy()
    return a, b


def _set(world: Any, auth: Any, column: str, level: str | None, *, by: Any = None,
         table: str = "population") -> service.TableLevels:
    with world.runtime.db.transaction() as db:
        return service.set_column_levels((by or world.bureau).actor, db, auth.id, table=table,
                                         levels={column: level})


def _overrides(world: Any) -> list[tuple[str, str]]:
    with world.runtime.db.transaction(write=False) as db:
        return sorted((o.column, o.level) for o in db.scalars(sa.select(ColumnOverride)))


def _events(world: Any) -> list[tuple[str, dict[str, Any]]]:
    with world.runtime.db.transaction(write=False) as db:
        rows = db.scalars(sa.select(AuditEvent).where(
            AuditEvent.action.startswith("sandbox.column_override")).order_by(
            AuditEvent.seq))
        return [(e.action, json.loads(e.details) if isinstance(e.details, str) else e.details)
                for e in rows]


def test_set_change_and_clear_an_override(world: Any, both: Any) -> None:
    a, _ = both
    levels = _set(world, a, "county", "hidden")
    county = next(c for c in levels.columns if c.column == "county")
    assert (county.default, county.override, county.level) == ("group_by", "hidden", "hidden")
    assert county.name == "所在区县"
    _set(world, a, "county", "compare")
    assert _overrides(world) == [("county", "compare")]
    with world.runtime.db.transaction() as db:
        cleared = service.clear_column_override(world.bureau.actor, db, a.id,
                                                table="population", column="county")
    assert next(c for c in cleared.columns if c.column == "county").override is None
    assert _overrides(world) == []
    # clearing again changes nothing and records nothing
    with world.runtime.db.transaction() as db:
        service.clear_column_override(world.bureau.actor, db, a.id, table="population",
                                      column="county")
    events = _events(world)
    assert [e for e, _ in events] == ["sandbox.column_override_set",
                                      "sandbox.column_override_set",
                                      "sandbox.column_override_cleared"]
    assert [(d["before"], d["after"]) for _, d in events] == [
        (None, "hidden"), ("hidden", "compare"), ("compare", None)]
    assert events[0][1]["number"] == a.number and events[0][1]["default"] == "group_by"


def test_setting_the_default_clears_the_override(world: Any, both: Any) -> None:
    a, _ = both
    _set(world, a, "gender", "hidden")
    assert _overrides(world) == [("gender", "hidden")]
    _set(world, a, "gender", "group_by")  # the dataset's level
    assert _overrides(world) == []
    assert [e for e, _ in _events(world)][-1] == "sandbox.column_override_cleared"


@pytest.mark.parametrize(("table", "column", "level", "field", "code"), [
    ("population", "county", "secret", "level", "invalid"),
    ("population", "nope", "plain", "column", "unknown_column"),
    ("insurance", "amount", "plain", "table", "unknown_table"),  # not in this authorisation
])
def test_bad_input_names_the_field_and_writes_nothing(world: Any, both: Any, table: str,
                                                      column: str, level: str, field: str,
                                                      code: str) -> None:
    a, _ = both
    with pytest.raises(ValidationFailed) as caught:
        _set(world, a, column, level, table=table)
    assert [(e.field, e.code) for e in caught.value.errors] == [(field, code)]
    assert _overrides(world) == [] and _events(world) == []


def test_a_batch_with_one_bad_column_writes_nothing(world: Any, both: Any) -> None:
    a, _ = both
    with pytest.raises(ValidationFailed), world.runtime.db.transaction() as db:
        service.set_column_levels(world.bureau.actor, db, a.id, table="population",
                                  levels={"county": "hidden", "nope": "plain"})
    assert _overrides(world) == []


@pytest.mark.parametrize(("who", "error"), [
    ("operator", PermissionDenied),  # the operator sees its authorisation, cannot change it
    ("colleague", PermissionDenied),
    ("rival", NotFound),  # another operator does not even see it
    ("city_bureau", NotFound),  # another bureau neither
    ("admin", None),  # an administrator over the province's bureau may
])
def test_only_the_authorising_bureau_sets_levels(world: Any, both: Any, who: str,
                                                 error: Any) -> None:
    a, _ = both
    if error is None:
        _set(world, a, "county", "hidden", by=getattr(world, who))
        assert _overrides(world) == [("county", "hidden")]
        return
    with pytest.raises(error):
        _set(world, a, "county", "hidden", by=getattr(world, who))
    assert _overrides(world) == []


def test_a_suspended_authorisation_may_change_an_ended_one_not(world: Any, both: Any) -> None:
    a, _ = both
    with world.runtime.db.transaction() as db:
        service.set_status(world.bureau.actor, db, a.id, status="suspended", reason="检查")
    _set(world, a, "county", "hidden")
    with world.runtime.db.transaction() as db:
        service.set_status(world.bureau.actor, db, a.id, status="revoked", reason="违约")
    with pytest.raises(InvalidState) as caught:
        _set(world, a, "county", "compare")
    assert caught.value.code == "sandbox_authorization_ended"
    with pytest.raises(InvalidState):
        _set(world, a, "county", None)
    assert _overrides(world) == [("county", "hidden")]


def test_an_authorisation_past_its_term_is_ended(world: Any) -> None:
    old = world.authorise(starts_on=service.today() - dt.timedelta(days=30),
                          ends_on=service.today() - dt.timedelta(days=1))
    with pytest.raises(InvalidState):
        _set(world, old, "county", "hidden")


def test_levels_are_shown_to_the_operator_and_the_bureau_only(world: Any, both: Any) -> None:
    a, _ = both
    _set(world, a, "county", "hidden")
    for who in ("operator", "bureau"):
        with world.runtime.db.transaction(write=False) as db:
            tables = service.column_levels(getattr(world, who).actor, db, a.id)
        county = next(c for c in tables[0].columns if c.column == "county")
        assert county.level == "hidden"
    with pytest.raises(NotFound), world.runtime.db.transaction(write=False) as db:
        service.column_levels(world.rival.actor, db, a.id)


# ------------------------------------------------------------------ queries and workspace


def test_each_operator_queries_under_its_own_levels(world: Any, both: Any) -> None:
    a, b = both
    _set(world, a, "county", "hidden")  # A: tighter than the default
    _set(world, b, "annual_income", "plain")  # B: looser than the default
    # A's own override refuses A's query; B keeps the default county level
    assert world.query(sql=BY_COUNTY).code == "COLUMN_NOT_RELEASABLE"
    assert world.query(world.rival, sql=BY_COUNTY).status == "ok"
    # B's override lets B take a member's income; A keeps the default and is refused
    assert world.query(world.rival, sql=MAX_INCOME).status == "ok"
    assert world.query(sql=MAX_INCOME).code == "MEMBER_REVEALING_AGGREGATE"
    # a colleague of A's organisation queries under A's authorisation
    assert world.query(world.colleague, sql=BY_COUNTY).code == "COLUMN_NOT_RELEASABLE"
    # cleared: back to the default
    _set(world, a, "county", None)
    assert world.query(sql=BY_COUNTY).status == "ok"


def test_the_workspace_shows_the_effective_level_of_ones_own_authorisation(
        world: Any, both: Any) -> None:
    a, _ = both
    _set(world, a, "county", "compare")

    def levels(member: Any) -> dict[str, tuple[str, str]]:
        with world.runtime.db.transaction() as db:
            tables = service.workspace(member.actor, db)
        return {c["code"]: (c["level"], c["default_level"]) for c in tables[0].columns}

    assert levels(world.operator)["county"] == ("compare", "group_by")
    assert levels(world.rival)["county"] == ("group_by", "group_by")
    assert levels(world.operator)["gender"] == ("group_by", "group_by")


def test_overrides_of_one_authorisation_do_not_reach_another_of_the_same_dataset(
        world: Any, both: Any) -> None:
    a, b = both
    _set(world, a, "county", "hidden")
    with world.runtime.db.transaction(write=False) as db:
        assert service.overrides_of(db, a.id, world.population.id) == {"county": "hidden"}
        assert service.overrides_of(db, b.id, world.population.id) == {}
        assert service.table_policy(db, "population", world.population.id).columns[
            "county"] == L.GROUP_BY


# ---------------------------------------------------------------------------- concurrency


def test_concurrent_sets_of_one_override_leave_one_row(world: Any, both: Any) -> None:
    a, _ = both
    actor = world.bureau.actor
    levels = ["hidden", "compare", "join", "plain"]
    outcomes = race(world.runtime, 8, lambda db, i: service.set_column_override(
        actor, db, a.id, table="population", column="county", level=levels[i % 4]))
    assert outcomes.errors == []
    rows = _overrides(world)
    assert len(rows) == 1 and rows[0][0] == "county" and rows[0][1] in levels


def test_an_authorisations_overrides_go_with_it(world: Any, both: Any) -> None:
    a, b = both
    _set(world, a, "county", "hidden")
    _set(world, b, "gender", "hidden")
    with world.runtime.db.transaction() as db:  # ON DELETE CASCADE, on every backend
        db.execute(sa.delete(service.Authorization).where(service.Authorization.id == a.id))
    assert _overrides(world) == [("gender", "hidden")]


def test_the_review_shows_the_own_levels_a_query_ran_under(world: Any, both: Any) -> None:
    a, _ = both
    _set(world, a, "gender", "compare")
    _set(world, a, "annual_income", "plain")
    found = world.query(sql="SELECT county, MAX(annual_income) AS m FROM population "
                            "GROUP BY county", export=True)
    assert found.status == "pending_review"
    with world.runtime.db.transaction(write=False) as db:
        own = service.own_levels_of_query(world.bureau.actor, db, found.id)
        assert [(o.number, o.levels.table_name) for o in own] == [(a.number, "population")]
        assert {c.column: (c.level, c.default) for c in own[0].levels.columns} == {
            "annual_income": ("plain", "aggregate"), "gender": ("compare", "group_by")}
    # the rival's query ran under no own level
    other = world.query(world.rival, sql=BY_COUNTY)
    with world.runtime.db.transaction(write=False) as db:
        assert service.own_levels_of_query(world.bureau.actor, db, other.id) == []
