"""Organisations, users, grants, logins and tokens through the service layer."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select, update

from gongshu.catalog.permissions import CATALOG_REVIEW
from gongshu.core.audit import AuditEvent
from gongshu.core.errors import PermissionDenied, Unauthenticated, ValidationFailed
from gongshu.core.permissions import Perm, Role
from gongshu.demo.builder import synthetic_uscc
from gongshu.orgs import service as orgs
from gongshu.orgs.models import OrgKind, User


def audit_actions(db: Any) -> list[str]:
    return list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_tree_paths_and_same_level_bureau(runtime: Any, tree: dict[str, Any]) -> None:
    with runtime.db.transaction(write=False) as db:
        hr = db.merge(tree["province.hr"])
        assert hr.path.startswith(tree["province"].path)
        assert orgs.same_level_bureau(db, hr).name == "山西省数据局"
        assert orgs.same_level_bureau(db, db.merge(tree["taiyuan.hr"])).name == "太原市数据局"
        assert orgs.same_level_bureau(db, db.merge(tree["xiaodian.hr"])).name == "太原市小店区数据局"
        assert orgs.government_of(db, db.merge(tree["xiaodian.hr"])).name == "太原市小店区人民政府"
        assert [a.name for a in orgs.ancestors(db, db.merge(tree["xiaodian.hr"]))] == [
            "山西省人民政府", "太原市人民政府", "太原市小店区人民政府"]


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"name": ""}, "name"),
        ({"kind": "church"}, "kind"),
        ({"uscc": "91140100MA0KXXXXX1"}, "uscc"),  # wrong check character
        ({"region_code": "110105"}, "region_code"),  # Beijing: not this province
        ({"level": "planet"}, "level"),
    ],
)
def test_organisation_validation(runtime: Any, tree: dict[str, Any], system: Any,
                                 fields: dict[str, Any], bad: str) -> None:
    base = {"name": "山西省测试厅", "kind": OrgKind.PUBLIC_BODY, "parent_id": tree["province"].id}
    with runtime.db.transaction() as db, pytest.raises(ValidationFailed) as exc:
        orgs.create_organization(system, db, **{**base, **fields})
    assert bad in {e.field for e in exc.value.errors}


def test_organisation_duplicates_and_all_errors_at_once(runtime: Any, tree: dict[str, Any],
                                                        system: Any) -> None:
    existing = tree["province.hr"]
    with runtime.db.transaction() as db, pytest.raises(ValidationFailed) as exc:
        orgs.create_organization(system, db, name=existing.name, kind=OrgKind.PUBLIC_BODY,
                                 parent_id=tree["province"].id, uscc=existing.uscc)
    assert {e.field for e in exc.value.errors} == {"name", "uscc"}


def test_org_manage_is_scoped_to_the_subtree(runtime: Any, tree: dict[str, Any], make_user: Any) -> None:
    city_admin = make_user("ty.admin", "admin", "taiyuan", subtree=True)
    with runtime.db.transaction() as db:
        org = orgs.create_organization(city_admin.actor, db, name="太原市测试局", kind=OrgKind.PUBLIC_BODY,
                                       parent_id=tree["taiyuan"].id,
                                       uscc=synthetic_uscc("太原市测试局", "140100", "11"))
        assert org.level == "city" and org.region_code == "140100"  # inherited from the parent
    with runtime.db.transaction() as db, pytest.raises(PermissionDenied):
        orgs.create_organization(city_admin.actor, db, name="大同市测试局", kind=OrgKind.PUBLIC_BODY,
                                 parent_id=tree["datong"].id)


def test_rejected_change_leaves_nothing(runtime: Any, tree: dict[str, Any], system: Any) -> None:
    with runtime.db.transaction(write=False) as db:
        before = db.scalar(select(func.count()).select_from(AuditEvent))
    with pytest.raises(ValidationFailed), runtime.db.transaction() as db:
        orgs.create_user(system, db, username="ok.user", display_name="x", org_id=tree["province.hr"].id,
                         password="long-enough-pw")
        orgs.create_user(system, db, username="B A D", display_name="", org_id=tree["province.hr"].id,
                         password="short")
    with runtime.db.transaction(write=False) as db:
        assert orgs.find_user(db, "ok.user") is None
        assert db.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_user_validation_lists_every_problem(runtime: Any, tree: dict[str, Any], system: Any) -> None:
    with runtime.db.transaction() as db, pytest.raises(ValidationFailed) as exc:
        orgs.create_user(system, db, username="X Y", display_name=" ", org_id=tree["province.hr"].id,
                         password="short", email="not-an-email")
    assert {e.field for e in exc.value.errors} == {"username", "display_name", "password", "email"}


def test_grants_give_scoped_permissions(runtime: Any, tree: dict[str, Any], make_user: Any) -> None:
    reviewer = make_user("rev", "bureau_reviewer", "province.bureau")
    assert reviewer.actor.can(CATALOG_REVIEW, tree["province.bureau"].path)
    assert not reviewer.actor.can(CATALOG_REVIEW, tree["taiyuan.bureau"].path)
    auditor = make_user("aud", "auditor", "taiyuan", subtree=True)
    assert auditor.actor.can(Perm.AUDIT_READ, tree["xiaodian.hr"].path)
    assert not auditor.actor.can(Perm.AUDIT_READ, tree["datong.bureau"].path)
    with runtime.db.transaction() as db:
        grant = orgs.grant_role(make_user("adm", "admin", "province", subtree=True).actor, db,
                                user_id=reviewer.user.id, role=Role.AUDITOR, org_id=tree["province"].id)
        assert grant.role == "auditor"
        assert "user.grant" in audit_actions(db)


def test_a_city_admin_cannot_grant_outside_its_city(runtime: Any, tree: dict[str, Any],
                                                     make_user: Any) -> None:
    city_admin = make_user("ty.admin", "admin", "taiyuan", subtree=True)
    victim = make_user("someone", None)
    with runtime.db.transaction() as db, pytest.raises(PermissionDenied):
        orgs.grant_role(city_admin.actor, db, user_id=victim.user.id, role=Role.AUDITOR,
                        org_id=tree["province"].id)


def test_login_success_failure_and_lockout(runtime: Any, make_user: Any) -> None:
    member = make_user("login.me", "catalog_editor")
    with runtime.db.transaction() as db:
        ok = orgs.login(db, username="LOGIN.ME", password=member.password)
        assert ok.error is None and ok.token and ok.session
        found = orgs.authenticate_session(db, ok.token)
        assert found is not None and found[0].username == "login.me"
    limit = runtime.settings.login_max_failures
    for _ in range(limit):
        with runtime.db.transaction() as db:
            result = orgs.login(db, username="login.me", password="wrong password")
            assert result.error is not None
    with runtime.db.transaction() as db:
        locked = orgs.login(db, username="login.me", password=member.password)
        # a locked account answers as a wrong password does (tests/orgs/test_login.py)
        assert locked.error is not None and locked.error.code == "invalid_credentials"
        assert audit_actions(db).count("auth.login_failed") == limit  # (this one at commit)
        unknown = orgs.login(db, username="nobody.here", password="x")
        assert unknown.error is not None and unknown.error.code == "invalid_credentials"


def test_expired_session_is_not_accepted(runtime: Any, make_user: Any) -> None:
    from gongshu.orgs.models import WebSession

    member = make_user("sess", "catalog_editor")
    with runtime.db.transaction() as db:
        result = orgs.login(db, username="sess", password=member.password)
    with runtime.db.transaction() as db:
        db.execute(update(WebSession).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    with runtime.db.transaction() as db:
        assert orgs.authenticate_session(db, result.token) is None


def test_tokens_are_hashed_expire_and_revoke(runtime: Any, make_user: Any) -> None:
    member = make_user("machine", "requester", "province.health")
    with runtime.db.transaction() as db:
        token, raw = orgs.create_token(member.actor, db, name="sync", days=1)
        assert token.token_hash != raw and raw.startswith("gs_") and raw not in token.token_hash
    with runtime.db.transaction() as db:
        assert orgs.authenticate_token(db, raw).username == "machine"
        with pytest.raises(Unauthenticated):
            orgs.authenticate_token(db, raw[:-2] + "xx")
        orgs.revoke_token(member.actor, db, token.id)
    with runtime.db.transaction() as db, pytest.raises(Unauthenticated) as exc:
        orgs.authenticate_token(db, raw)
    assert exc.value.code == "token_revoked"
    with runtime.db.transaction() as db, pytest.raises(ValidationFailed):
        orgs.create_token(member.actor, db, name="too long", days=runtime.settings.token_max_days + 1)


def test_deactivating_a_user_ends_sessions_and_tokens(runtime: Any, make_user: Any) -> None:
    admin = make_user("adm", "admin", "province", subtree=True)
    member = make_user("leaver", "requester")
    with runtime.db.transaction() as db:
        session_token = orgs.login(db, username="leaver", password=member.password).token
        _t, raw = orgs.create_token(member.actor, db, name="x")
    with runtime.db.transaction() as db:
        orgs.update_user(admin.actor, db, member.user.id, is_active=False)
    with runtime.db.transaction() as db:
        assert orgs.authenticate_session(db, session_token) is None
        with pytest.raises(Unauthenticated):
            orgs.authenticate_token(db, raw)


def test_password_change_needs_the_current_password(runtime: Any, make_user: Any) -> None:
    member = make_user("pw", "requester")
    with runtime.db.transaction() as db, pytest.raises(ValidationFailed):
        orgs.set_password(member.actor, db, member.user.id, new_password="a-new-password",
                          current_password="wrong")
    with runtime.db.transaction() as db:
        orgs.set_password(member.actor, db, member.user.id, new_password="a-new-password",
                          current_password=member.password)
    with runtime.db.transaction() as db:
        assert orgs.login(db, username="pw", password="a-new-password").error is None


def test_user_listing_is_scoped(runtime: Any, tree: dict[str, Any], make_user: Any) -> None:
    make_user("a.province", "requester", "province.hr")
    make_user("b.city", "requester", "taiyuan.hr")
    city_admin = make_user("c.admin", "admin", "taiyuan", subtree=True)
    with runtime.db.transaction(write=False) as db:
        users, total = orgs.list_users(city_admin.actor, db)
        names = {u.username for u in users}
        assert "b.city" in names and "a.province" not in names
        assert total == len(users)
        assert db.scalar(select(func.count()).select_from(User)) == 3
