"""Web pages: the organisation tree, organisation detail and forms, users and their roles."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from gongshu.core.errors import ValidationFailed
from gongshu.core.permissions import Actor, Perm, Role
from gongshu.orgs import service
from gongshu.orgs.regions import Level, regions
from gongshu.orgs.service import OrgKind
from gongshu.web.deps import Db, PageActor, page_guard
from gongshu.web.forms import error_map
from gongshu.web.nav import NavItem
from gongshu.web.templating import render

#: the grant form offers roles from the least privileged to the most, and proposes the first:
#: a slip of the hand grants a requester, never an administrator
GRANT_ORDER: tuple[Role, ...] = (
    Role.REQUESTER, Role.OPERATOR, Role.CATALOG_EDITOR, Role.DATA_STEWARD,
    Role.BUREAU_REVIEWER, Role.CDO, Role.SECURITY_OFFICER, Role.AUDITOR, Role.ADMIN,
)
assert set(GRANT_ORDER) == set(Role), "every role has its place in the grant form"

router = APIRouter(include_in_schema=False)

NAV = [
    NavItem("nav.orgs", "/orgs", Perm.ORG_READ, 10),
    NavItem("nav.users", "/users", Perm.USER_READ, 90),
]

OrgReader = Annotated[Actor, page_guard(Perm.ORG_READ)]
UserReader = Annotated[Actor, page_guard(Perm.USER_READ)]


def _org_options(actor: Actor, db: Any, perm: Perm) -> list[tuple[str, str]]:
    orgs, _ = service.list_organizations(actor, db, limit=100_000)
    return [(str(o.id), ("　" * o.depth) + o.name) for o in sorted(orgs, key=lambda o: o.path)
            if actor.can(perm, o.path)]


# ---------------------------------------------------------------------------- organisations


@router.get("/orgs")
def org_index(request: Request, actor: OrgReader, db: Db, q: str | None = None,
              kind: str | None = None) -> Response:
    if q or kind:
        found, total = service.list_organizations(actor, db, q=q, kind=kind, limit=200)
        return render(request, "orgs/index.html", {"results": found, "total": total, "q": q or "",
                                                   "kind": kind or "", "tree": None,
                                                   "kinds": list(OrgKind)})
    tree = service.org_tree(actor, db)
    return render(request, "orgs/index.html", {"tree": tree, "results": None, "q": "", "kind": "",
                                               "kinds": list(OrgKind)})


def _org_form(request: Request, actor: Actor, db: Any, *, values: dict[str, Any],
              errors: dict[str, str], status: int = 200) -> Response:
    return render(request, "orgs/form.html", {
        "values": values, "errors": errors, "kinds": list(OrgKind), "levels": list(Level),
        "parents": _org_options(actor, db, Perm.ORG_MANAGE),
        "regions": [(r.code, f"{r.code} {r.name}") for r in
                    regions(request.app.state.runtime.settings.province_code)],
    }, status_code=status)


@router.get("/orgs/new")
def org_new(request: Request, actor: Annotated[Actor, page_guard(Perm.ORG_MANAGE)], db: Db,
            parent_id: str | None = None) -> Response:
    return _org_form(request, actor, db, values={"parent_id": parent_id or ""}, errors={})


@router.post("/orgs/new")
def org_create(
    request: Request,
    actor: Annotated[Actor, page_guard(Perm.ORG_MANAGE)],
    db: Db,
    name: Annotated[str, Form()],
    kind: Annotated[str, Form()],
    parent_id: Annotated[str, Form()],
    level: Annotated[str, Form()] = "",
    region_code: Annotated[str, Form()] = "",
    uscc: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
    short_name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    values = {"name": name, "kind": kind, "parent_id": parent_id, "level": level,
              "region_code": region_code, "uscc": uscc, "code": code, "short_name": short_name,
              "description": description}
    try:
        org = service.create_organization(
            actor, db, name=name, kind=kind, parent_id=uuid.UUID(parent_id) if parent_id else None,
            level=level or None, region_code=region_code or None, uscc=uscc or None,
            code=code or None, short_name=short_name, description=description)
    except ValidationFailed as exc:
        db.rollback()
        return _org_form(request, actor, db, values=values, errors=error_map(request, exc),
                         status=422)
    return RedirectResponse(f"/orgs/{org.id}?flash=org_created", status_code=303)


@router.get("/orgs/{org_id}")
def org_detail(request: Request, actor: OrgReader, db: Db, org_id: uuid.UUID) -> Response:
    org = service.get_organization(actor, db, org_id)
    children, _ = service.list_organizations(actor, db, parent_id=org.id)
    users: list[Any] = []
    if actor.can(Perm.USER_READ, org.path):
        users, _ = service.list_users(actor, db, org_id=org.id, limit=200)
    return render(request, "orgs/detail.html", {
        "org": org, "children": children, "users": users,
        "ancestors": service.ancestors(db, org), "bureau": service.same_level_bureau(db, org),
        "can_manage": actor.can(Perm.ORG_MANAGE, org.path),
        "can_add_user": actor.can(Perm.USER_MANAGE, org.path),
    })


@router.post("/orgs/{org_id}/edit")
def org_edit(
    request: Request,
    actor: Annotated[Actor, page_guard(Perm.ORG_MANAGE)],
    db: Db,
    org_id: uuid.UUID,
    name: Annotated[str, Form()],
    short_name: Annotated[str, Form()] = "",
    uscc: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    try:
        service.update_organization(actor, db, org_id, name=name, short_name=short_name,
                                    uscc=uscc or None, code=code or None, description=description)
    except ValidationFailed as exc:
        db.rollback()
        org = service.get_organization(actor, db, org_id)
        return render(request, "orgs/detail.html", {
            "org": org, "children": [], "users": [], "ancestors": service.ancestors(db, org),
            "bureau": service.same_level_bureau(db, org), "can_manage": True,
            "can_add_user": actor.can(Perm.USER_MANAGE, org.path),
            "errors": error_map(request, exc)}, status_code=422)
    return RedirectResponse(f"/orgs/{org_id}?flash=saved", status_code=303)


# ------------------------------------------------------------------------------------ users


@router.get("/users")
def user_index(request: Request, actor: UserReader, db: Db, q: str | None = None,
               org_id: uuid.UUID | None = None, offset: int = 0) -> Response:
    limit = request.app.state.runtime.settings.page_size
    users, total = service.list_users(actor, db, q=q, org_id=org_id, limit=limit, offset=offset)
    return render(request, "users/index.html", {
        "users": users, "total": total, "q": q or "", "offset": offset, "limit": limit,
        "can_manage": actor.can(Perm.USER_MANAGE)})


def _user_form(request: Request, actor: Actor, db: Any, *, values: dict[str, Any],
               errors: dict[str, str], status: int = 200) -> Response:
    return render(request, "users/form.html", {
        "values": values, "errors": errors, "orgs": _org_options(actor, db, Perm.USER_MANAGE),
        "min_length": request.app.state.runtime.settings.password_min_length,
    }, status_code=status)


@router.get("/users/new")
def user_new(request: Request, actor: Annotated[Actor, page_guard(Perm.USER_MANAGE)], db: Db,
             org_id: str | None = None) -> Response:
    return _user_form(request, actor, db, values={"org_id": org_id or ""}, errors={})


@router.post("/users/new")
def user_create(
    request: Request,
    actor: Annotated[Actor, page_guard(Perm.USER_MANAGE)],
    db: Db,
    username: Annotated[str, Form()],
    display_name: Annotated[str, Form()],
    org_id: Annotated[str, Form()],
    password: Annotated[str, Form()],
    email: Annotated[str, Form()] = "",
) -> Response:
    values = {"username": username, "display_name": display_name, "org_id": org_id, "email": email}
    try:
        if not org_id:
            raise ValidationFailed.single("org_id", "required", "Choose an organisation.")
        user = service.create_user(actor, db, username=username, display_name=display_name,
                                   org_id=uuid.UUID(org_id), password=password, email=email or None)
    except ValidationFailed as exc:
        db.rollback()
        return _user_form(request, actor, db, values=values, errors=error_map(request, exc),
                          status=422)
    return RedirectResponse(f"/users/{user.id}?flash=user_created", status_code=303)


def _user_detail(request: Request, actor: Actor, db: Any, user_id: uuid.UUID,
                 errors: dict[str, str] | None = None, status: int = 200) -> Response:
    user = service.get_user(actor, db, user_id)
    can_manage = actor.can(Perm.USER_MANAGE, user.org.path)
    return render(request, "users/detail.html", {
        "user": user, "can_manage": can_manage, "roles": GRANT_ORDER, "errors": errors or {},
        "orgs": _org_options(actor, db, Perm.USER_MANAGE) if can_manage else [],
    }, status_code=status)


@router.get("/users/{user_id}")
def user_detail(request: Request, actor: PageActor, db: Db, user_id: uuid.UUID) -> Response:
    return _user_detail(request, actor, db, user_id)


@router.post("/users/{user_id}/grants")
def user_grant(
    request: Request,
    actor: Annotated[Actor, page_guard(Perm.USER_MANAGE)],
    db: Db,
    user_id: uuid.UUID,
    role: Annotated[str, Form()],
    org_id: Annotated[uuid.UUID, Form()],
    subtree: Annotated[bool, Form()] = False,
) -> Response:
    try:
        service.grant_role(actor, db, user_id=user_id, role=role, org_id=org_id, subtree=subtree)
    except ValidationFailed as exc:
        db.rollback()
        return _user_detail(request, actor, db, user_id, error_map(request, exc), 422)
    return RedirectResponse(f"/users/{user_id}?flash=role_granted", status_code=303)


@router.post("/users/{user_id}/grants/{grant_id}/revoke")
def user_revoke(request: Request, actor: Annotated[Actor, page_guard(Perm.USER_MANAGE)], db: Db,
                user_id: uuid.UUID, grant_id: uuid.UUID) -> Response:
    service.revoke_grant(actor, db, grant_id)
    return RedirectResponse(f"/users/{user_id}?flash=role_revoked", status_code=303)


@router.post("/users/{user_id}/active")
def user_active(request: Request, actor: Annotated[Actor, page_guard(Perm.USER_MANAGE)], db: Db,
                user_id: uuid.UUID, active: Annotated[bool, Form()] = False) -> Response:
    service.update_user(actor, db, user_id, is_active=active)
    return RedirectResponse(f"/users/{user_id}?flash=saved", status_code=303)


@router.post("/users/{user_id}/password")
def user_reset_password(request: Request, actor: Annotated[Actor, page_guard(Perm.USER_MANAGE)],
                        db: Db, user_id: uuid.UUID,
                        new_password: Annotated[str, Form()]) -> Response:
    try:
        service.set_password(actor, db, user_id, new_password=new_password)
    except ValidationFailed as exc:
        db.rollback()
        return _user_detail(request, actor, db, user_id, error_map(request, exc), 422)
    return RedirectResponse(f"/users/{user_id}?flash=password_reset", status_code=303)
