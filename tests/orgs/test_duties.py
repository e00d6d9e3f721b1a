"""Separation of duties: administration and auditing apart, an auditor the administrators cannot
silence, no organisation without an administrator (but through the CLI's audited recovery), and
province-wide objects changed only by holders for the whole province."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from gongshu.catalog import service as catalog
from gongshu.catalog.schemas import DataElementCreate, DataElementUpdate
from gongshu.core.audit import AuditEvent
from gongshu.core.errors import Conflict, PermissionDenied, ValidationFailed
from gongshu.core.permissions import Role
from gongshu.grading import service as grading
from gongshu.grading.permissions import GRADING_MANAGE
from gongshu.orgs import service as orgs
from gongshu.orgs.models import RoleGrant


def grant_of(runtime: Any, member: Any, role: str) -> Any:
    with runtime.db.transaction(write=False) as db:
        return db.scalars(select(RoleGrant).where(RoleGrant.user_id == member.user.id,
                                                  RoleGrant.role == role)).one().id


@pytest.mark.parametrize(("first", "second"), [("admin", "auditor"), ("auditor", "admin")])
def test_no_one_holds_administration_and_auditing(runtime: Any, tree: dict[str, Any],
                                                  make_user: Any, system: Any, first: str,
                                                  second: str) -> None:
    member = make_user("both", first, "taiyuan", subtree=True)
    for org in ("taiyuan", "datong"):  # anywhere else, by anyone (even the operator)
        with runtime.db.transaction() as db, pytest.raises(Conflict) as exc:
            orgs.grant_role(system, db, user_id=member.user.id, role=second, org_id=tree[org].id)
        assert exc.value.code == "duties_conflict"
    with runtime.db.transaction() as db:  # other roles are fine
        orgs.grant_role(system, db, user_id=member.user.id, role=Role.REQUESTER,
                        org_id=tree["taiyuan"].id)


def test_an_administrator_cannot_reach_into_an_auditor(runtime: Any, make_user: Any,
                                                       system: Any) -> None:
    admin = make_user("adm", "admin", "province", subtree=True)
    auditor = make_user("aud", "auditor", "province", subtree=True)
    with runtime.db.transaction() as db, pytest.raises(PermissionDenied) as exc:
        orgs.set_password(admin.actor, db, auditor.user.id, new_password="taken-over-now-1")
    assert exc.value.code == "auditor_protected"
    with runtime.db.transaction() as db, pytest.raises(PermissionDenied) as exc:
        orgs.create_token(admin.actor, db, name="backdoor", user_id=auditor.user.id)
    assert exc.value.code == "auditor_protected"
    with runtime.db.transaction() as db:  # the auditor, and the operator (CLI), may
        orgs.set_password(auditor.actor, db, auditor.user.id, new_password="my-own-secret-22",
                          current_password=auditor.password)
        orgs.set_password(system, db, auditor.user.id, new_password="recovered-secret-33")


def test_the_last_auditor_stays(runtime: Any, make_user: Any, system: Any) -> None:
    admin = make_user("adm", "admin", "province", subtree=True)
    first = make_user("aud1", "auditor", "province", subtree=True)
    with runtime.db.transaction() as db, pytest.raises(Conflict) as exc:
        orgs.update_user(admin.actor, db, first.user.id, is_active=False)
    assert exc.value.code == "last_auditor"
    with runtime.db.transaction() as db, pytest.raises(Conflict) as exc:
        orgs.revoke_grant(admin.actor, db, grant_of(runtime, first, "auditor"))
    assert exc.value.code == "last_auditor"
    second = make_user("aud2", "auditor", "taiyuan", subtree=True)
    with runtime.db.transaction() as db:  # not the last one any more
        orgs.update_user(admin.actor, db, first.user.id, is_active=False)
    with runtime.db.transaction() as db, pytest.raises(Conflict):
        orgs.update_user(admin.actor, db, second.user.id, is_active=False)


def test_the_last_administrator_grant_stays(runtime: Any, tree: dict[str, Any], make_user: Any,
                                            system: Any) -> None:
    admin = make_user("adm", "admin", "province", subtree=True)
    city = make_user("ty.adm", "admin", "taiyuan", subtree=True)
    only = grant_of(runtime, admin, "admin")
    for actor in (admin.actor, system):
        with runtime.db.transaction() as db, pytest.raises(Conflict) as exc:
            orgs.revoke_grant(actor, db, only)
        assert exc.value.code == "last_admin"
    with runtime.db.transaction() as db, pytest.raises(Conflict):
        orgs.update_user(system, db, admin.user.id, is_active=False)
    with runtime.db.transaction() as db, pytest.raises(Conflict):  # narrowing it is removing too
        orgs.grant_role(system, db, user_id=admin.user.id, role="admin",
                        org_id=tree["province"].id, subtree=False)
    with runtime.db.transaction() as db:  # the province's administrator still covers the city
        orgs.revoke_grant(admin.actor, db, grant_of(runtime, city, "admin"))
    with runtime.db.transaction() as db, pytest.raises(PermissionDenied) as exc:
        orgs.revoke_grant(admin.actor, db, only, recovery=True, reason="left the office")
    assert exc.value.code == "recovery_cli_only"
    with runtime.db.transaction() as db, pytest.raises(ValidationFailed):
        orgs.revoke_grant(system, db, only, recovery=True, reason=" ")
    with runtime.db.transaction() as db:
        orgs.revoke_grant(system, db, only, recovery=True, reason="account compromised")
    with runtime.db.transaction(write=False) as db:
        event = db.scalars(select(AuditEvent).where(AuditEvent.action == "user.recovery")).one()
        assert event.details_dict["reason"] == "account compromised"
        assert event.details_dict["recovery"] is True


def test_a_second_administrator_may_be_removed(runtime: Any, make_user: Any) -> None:
    first = make_user("adm1", "admin", "province", subtree=True)
    second = make_user("adm2", "admin", "province", subtree=True)
    with runtime.db.transaction() as db:
        orgs.update_user(first.actor, db, second.user.id, is_active=False)
    with runtime.db.transaction() as db, pytest.raises(Conflict):
        orgs.revoke_grant(first.actor, db, grant_of(runtime, first, "admin"))


def test_the_cli_recovers_the_last_administrator(runtime: Any, make_user: Any,
                                                 system: Any) -> None:
    admin = make_user("adm", "admin", "province", subtree=True)
    with runtime.db.transaction() as db:
        orgs.update_user(system, db, admin.user.id, is_active=False, recovery=True)
    with runtime.db.transaction(write=False) as db:
        assert not orgs.find_user(db, "adm").is_active


# -- province-wide objects -----------------------------------------------------------------


def test_only_holders_for_the_whole_province_choose_the_grading_scheme(
        runtime: Any, make_user: Any) -> None:
    allowed = [make_user("prov.rev", "bureau_reviewer", "province.bureau"),
               make_user("prov.adm", "admin", "province", subtree=True)]
    refused = [make_user("ty.rev", "bureau_reviewer", "taiyuan.bureau"),
               make_user("ty.adm", "admin", "taiyuan", subtree=True)]
    for member in refused:
        with runtime.db.transaction() as db, pytest.raises(PermissionDenied) as exc:
            grading.set_active_scheme(member.actor, db, scheme="national")
        assert exc.value.code == "province_wide_only"
        with runtime.db.transaction(write=False) as db:
            assert not grading.may_manage_scheme(member.actor, db)
    for member in allowed:
        with runtime.db.transaction() as db:
            assert grading.set_active_scheme(member.actor, db, scheme="national") == "national"
            assert grading.may_manage_scheme(member.actor, db)


def _element(identifier: str, **kw: Any) -> DataElementCreate:
    return DataElementCreate(identifier=identifier, name="公民身份号码", data_type="C", length=18,
                             **kw)


def test_a_city_bureau_manages_only_its_data_elements(runtime: Any, tree: dict[str, Any],
                                                     make_user: Any, system: Any) -> None:
    ty = make_user("ty.rev", "bureau_reviewer", "taiyuan.bureau")
    dt_ = make_user("dt.rev", "bureau_reviewer", "datong.bureau")
    prov = make_user("prov.rev", "bureau_reviewer", "province.bureau")
    with runtime.db.transaction() as db:
        provincial = catalog.create_data_element(system, db, _element("DE.PROV")).id
        city = catalog.create_data_element(ty.actor, db, _element("DE.TY"))
        assert city.owner_org_id == tree["taiyuan.bureau"].id
        city = city.id
    with runtime.db.transaction(write=False) as db:
        element = catalog.get_data_element(system, db, provincial)
        assert element.owner_org_id == tree["province.bureau"].id
    change = DataElementUpdate(definition="居民身份证号码")
    cases = [(ty, city, True), (ty, provincial, False), (dt_, city, False),
             (prov, city, True), (prov, provincial, True)]
    for member, element_id, ok in cases:
        with runtime.db.transaction() as db:
            if ok:
                assert catalog.update_data_element(member.actor, db, element_id, change)
            else:
                with pytest.raises(PermissionDenied):
                    catalog.update_data_element(member.actor, db, element_id, change)
    with runtime.db.transaction() as db, pytest.raises(PermissionDenied):  # not its scope
        catalog.create_data_element(ty.actor, db, _element(
            "DE.X", owner_org_id=tree["province.bureau"].id))


def test_data_elements_over_the_api_are_scoped(client: Any, tree: dict[str, Any],
                                               make_user: Any, token_for: Any) -> None:
    ty = token_for(make_user("ty.rev", "bureau_reviewer", "taiyuan.bureau"))
    dt_ = token_for(make_user("dt.rev", "bureau_reviewer", "datong.bureau"))
    created = client.post("/api/v1/catalog/data-elements", headers=ty, json={
        "identifier": "DE.TY", "name": "姓名", "data_type": "C", "length": 50})
    assert created.status_code == 201, created.text
    assert created.json()["owner_org_id"] == str(tree["taiyuan.bureau"].id)
    url = f"/api/v1/catalog/data-elements/{created.json()['id']}"
    assert client.patch(url, headers=dt_, json={"length": 60}).status_code == 403
    changed = client.patch(url, headers=ty, json={"length": 60})
    assert changed.status_code == 200 and changed.json()["length"] == 60


def test_province_wide_needs_the_whole_tree_or_the_provincial_bureau(
        runtime: Any, make_user: Any) -> None:
    cases = [("province.bureau", "bureau_reviewer", False, True),
             ("province", "admin", True, True),
             ("province", "admin", False, False),  # the government's own page only
             ("taiyuan.bureau", "bureau_reviewer", False, False),
             ("taiyuan", "admin", True, False)]
    for i, (org, role, subtree, expected) in enumerate(cases):
        member = make_user(f"u{i}", role, org, subtree=subtree)
        with runtime.db.transaction(write=False) as db:
            assert orgs.holds_province_wide(member.actor, db, GRADING_MANAGE) is expected


def _race(*jobs: Any) -> list[BaseException | None]:
    """Run each job in its own thread and transaction, started together; their outcomes."""
    import threading

    barrier = threading.Barrier(len(jobs))
    outcomes: list[BaseException | None] = [None] * len(jobs)

    def run(i: int) -> None:
        try:
            barrier.wait()
            jobs[i]()
        except BaseException as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_two_administrators_removing_each_other_at_once_leave_one(runtime: Any,
                                                                  make_user: Any) -> None:
    first = make_user("adm1", "admin", "province", subtree=True)
    second = make_user("adm2", "admin", "province", subtree=True)
    grants = [grant_of(runtime, first, "admin"), grant_of(runtime, second, "admin")]

    def revoke(actor: Any, grant_id: Any) -> Any:
        def job() -> None:
            with runtime.db.transaction() as db:
                orgs.revoke_grant(actor, db, grant_id)
        return job

    outcomes = _race(revoke(first.actor, grants[1]), revoke(second.actor, grants[0]))
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "NoneType"], outcomes
    with runtime.db.transaction(write=False) as db:
        assert len(db.scalars(select(RoleGrant).where(RoleGrant.role == "admin")).all()) == 1


def test_admin_and_auditor_granted_at_once_give_one(runtime: Any, tree: dict[str, Any],
                                                    make_user: Any, system: Any) -> None:
    member = make_user("target", None)

    def grant(role: str) -> Any:
        def job() -> None:
            with runtime.db.transaction() as db:
                orgs.grant_role(system, db, user_id=member.user.id, role=role,
                                org_id=tree["province"].id)
        return job

    outcomes = _race(grant("admin"), grant("auditor"))
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "NoneType"], outcomes
    with runtime.db.transaction(write=False) as db:
        assert len(db.scalars(select(RoleGrant).where(
            RoleGrant.user_id == member.user.id)).all()) == 1
