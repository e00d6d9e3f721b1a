"""The permission table and grant scopes, as tables of cases."""

from __future__ import annotations

import uuid

import pytest

from gongshu.catalog.permissions import CATALOG_EDIT, CATALOG_READ, CATALOG_REVIEW
from gongshu.core.errors import PermissionDenied
from gongshu.core.permissions import PERMISSIONS, Actor, Perm, Role, RoleAssignment, require

ROOT = "/aa/"
CITY = "/aa/bb/"
COUNTY = "/aa/bb/cc/"
OTHER_CITY = "/aa/dd/"


def actor(*grants: tuple[Role, str, bool]) -> Actor:
    return Actor(username="u", user_id=uuid.uuid4(),
                 grants=tuple(RoleAssignment(r, uuid.uuid4(), p, s) for r, p, s in grants))


def test_every_permission_is_in_the_table() -> None:
    assert set(PERMISSIONS) == set(Perm)
    assert all(PERMISSIONS[p] for p in Perm), "a permission nobody holds"


def test_rooms_declare_their_own_permissions() -> None:
    """The rooms' permissions come from their permissions.py, not from core's enum, and each is
    held by some role and documented."""
    from gongshu.core.permissions import _DOCS, all_permissions

    found = all_permissions()
    for name in ("catalog.read", "census.respond", "library.ingest", "grading.manage",
                 "sharing.pull", "audit.acknowledge"):
        assert name in found and found[name], name
        assert name not in {p.value for p in Perm}, f"{name} is still core's"
        assert _DOCS[name].strip(), f"{name} has no description"


@pytest.mark.parametrize(
    ("grants", "perm", "where", "allowed"),
    [
        ([(Role.ADMIN, ROOT, True)], Perm.ORG_MANAGE, COUNTY, True),
        ([(Role.ADMIN, CITY, True)], Perm.ORG_MANAGE, COUNTY, True),
        ([(Role.ADMIN, CITY, True)], Perm.ORG_MANAGE, OTHER_CITY, False),
        ([(Role.ADMIN, CITY, False)], Perm.ORG_MANAGE, COUNTY, False),
        ([(Role.ADMIN, CITY, False)], Perm.ORG_MANAGE, CITY, True),
        ([(Role.ADMIN, ROOT, True)], Perm.AUDIT_READ, CITY, False),  # separation of duties
        ([(Role.AUDITOR, ROOT, True)], Perm.AUDIT_READ, COUNTY, True),
        ([(Role.AUDITOR, ROOT, True)], Perm.ORG_MANAGE, COUNTY, False),
        ([(Role.CATALOG_EDITOR, CITY, False)], CATALOG_EDIT, CITY, True),
        ([(Role.CATALOG_EDITOR, CITY, False)], CATALOG_REVIEW, CITY, False),
        ([(Role.BUREAU_REVIEWER, CITY, False)], CATALOG_REVIEW, CITY, True),
        ([(Role.REQUESTER, CITY, False)], CATALOG_READ, None, True),
        ([], CATALOG_READ, None, False),
        ([(Role.REQUESTER, CITY, False), (Role.AUDITOR, COUNTY, False)], Perm.AUDIT_READ, COUNTY, True),
        ([(Role.REQUESTER, CITY, False), (Role.AUDITOR, COUNTY, False)], Perm.AUDIT_READ, CITY, False),
    ],
)
def test_can(grants: list[tuple[Role, str, bool]], perm: Perm, where: str | None, allowed: bool) -> None:
    assert actor(*grants).can(perm, where) is allowed


def test_a_prefix_of_another_name_is_not_a_subtree() -> None:
    # "/aa/bb/" must not cover "/aa/bbb/": paths end in "/" for this reason
    grant = RoleAssignment(Role.ADMIN, uuid.uuid4(), "/aa/bb/", True)
    assert not grant.covers("/aa/bbb/")
    assert grant.covers("/aa/bb/x/")


def test_system_actor_may_do_anything() -> None:
    system = Actor.system()
    assert all(system.can(p, COUNTY) for p in Perm)


def test_require_names_the_permission() -> None:
    with pytest.raises(PermissionDenied) as exc:
        require(actor(), Perm.USER_MANAGE, CITY)
    assert exc.value.params["permission"] == "user.manage"
