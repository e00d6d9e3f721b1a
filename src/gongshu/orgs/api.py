"""REST API: organisations, users, role grants, API tokens, and who am I."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, Response

from gongshu.core.permissions import Perm
from gongshu.orgs import service
from gongshu.orgs.schemas import (
    GrantCreate,
    GrantPublic,
    MePublic,
    OrganizationCreate,
    OrganizationPublic,
    OrganizationsPublic,
    OrganizationUpdate,
    OrgTreeNode,
    PasswordChange,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    UserCreate,
    UserPublic,
    UsersPublic,
    UserUpdate,
    grant_public,
    user_public,
)
from gongshu.web.deps import ApiActor, Db, guard

router = APIRouter(prefix="/api/v1", tags=["organisations and users"])


@router.get("/me", response_model=MePublic, **guard())
def me(actor: ApiActor, db: Db) -> MePublic:
    """The caller: user, roles, and how it is signed in."""
    user = service.get_user(actor, db, actor.user_id) if actor.user_id else None
    return MePublic(user=user_public(user) if user else None, username=actor.username,
                    via=actor.via, roles=sorted(actor.roles))


# --------------------------------------------------------------------------- organisations


@router.get("/orgs", response_model=OrganizationsPublic, **guard(Perm.ORG_READ))
def list_orgs(
    actor: ApiActor,
    db: Db,
    kind: str | None = None,
    parent_id: uuid.UUID | None = None,
    under: uuid.UUID | None = Query(None, description="Only this organisation and its subtree"),
    q: str | None = Query(None, description="Name contains, or exact credit code"),
    limit: int = Query(200, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> OrganizationsPublic:
    rows, total = service.list_organizations(actor, db, kind=kind, parent_id=parent_id, under=under,
                                             q=q, limit=limit, offset=offset)
    return OrganizationsPublic(items=[OrganizationPublic.model_validate(o) for o in rows], total=total)


@router.get("/orgs/tree", response_model=list[OrgTreeNode], **guard(Perm.ORG_READ))
def org_tree(actor: ApiActor, db: Db, root_id: uuid.UUID | None = None) -> list[OrgTreeNode]:
    """The organisation tree (Arts. 4-5): province → cities → counties, with their bodies."""

    def convert(node: service.OrgNode) -> OrgTreeNode:
        o = node.org
        return OrgTreeNode(id=o.id, name=o.name, kind=o.kind, level=o.level,
                           region_code=o.region_code, children=[convert(c) for c in node.children])

    return [convert(n) for n in service.org_tree(actor, db, root_id=root_id)]


@router.post("/orgs", response_model=OrganizationPublic, status_code=201, **guard(Perm.ORG_MANAGE))
def create_org(actor: ApiActor, db: Db, body: OrganizationCreate) -> OrganizationPublic:
    org = service.create_organization(actor, db, **body.model_dump())
    return OrganizationPublic.model_validate(org)


@router.get("/orgs/{org_id}", response_model=OrganizationPublic, **guard(Perm.ORG_READ))
def get_org(actor: ApiActor, db: Db, org_id: uuid.UUID) -> OrganizationPublic:
    return OrganizationPublic.model_validate(service.get_organization(actor, db, org_id))


@router.patch("/orgs/{org_id}", response_model=OrganizationPublic, **guard(Perm.ORG_MANAGE))
def update_org(actor: ApiActor, db: Db, org_id: uuid.UUID, body: OrganizationUpdate) -> OrganizationPublic:
    org = service.update_organization(actor, db, org_id, **body.model_dump(exclude_unset=True))
    return OrganizationPublic.model_validate(org)


# ----------------------------------------------------------------------------------- users


@router.get("/users", response_model=UsersPublic, **guard(Perm.USER_READ))
def list_users(
    actor: ApiActor,
    db: Db,
    org_id: uuid.UUID | None = None,
    q: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> UsersPublic:
    rows, total = service.list_users(actor, db, org_id=org_id, q=q, limit=limit, offset=offset)
    return UsersPublic(items=[user_public(u) for u in rows], total=total)


@router.post("/users", response_model=UserPublic, status_code=201, **guard(Perm.USER_MANAGE))
def create_user(actor: ApiActor, db: Db, body: UserCreate) -> UserPublic:
    return user_public(service.create_user(actor, db, **body.model_dump()))


@router.get("/users/{user_id}", response_model=UserPublic, **guard())
def get_user(actor: ApiActor, db: Db, user_id: uuid.UUID) -> UserPublic:
    return user_public(service.get_user(actor, db, user_id))


@router.patch("/users/{user_id}", response_model=UserPublic, **guard())
def update_user(actor: ApiActor, db: Db, user_id: uuid.UUID, body: UserUpdate) -> UserPublic:
    """Your own name, e-mail and language; an administrator may also (de)activate."""
    return user_public(service.update_user(actor, db, user_id, **body.model_dump(exclude_unset=True)))


@router.put("/users/{user_id}/password", status_code=204, **guard())
def change_password(actor: ApiActor, db: Db, user_id: uuid.UUID, body: PasswordChange) -> Response:
    service.set_password(actor, db, user_id, new_password=body.new_password,
                         current_password=body.current_password)
    return Response(status_code=204)


@router.post("/users/{user_id}/grants", response_model=GrantPublic, status_code=201,
             **guard(Perm.USER_MANAGE))
def grant_role(actor: ApiActor, db: Db, user_id: uuid.UUID, body: GrantCreate) -> GrantPublic:
    grant = service.grant_role(actor, db, user_id=user_id, role=body.role, org_id=body.org_id,
                               subtree=body.subtree)
    return grant_public(grant)


@router.delete("/grants/{grant_id}", status_code=204, **guard(Perm.USER_MANAGE))
def revoke_grant(actor: ApiActor, db: Db, grant_id: uuid.UUID) -> Response:
    service.revoke_grant(actor, db, grant_id)
    return Response(status_code=204)


# ---------------------------------------------------------------------------------- tokens


@router.get("/tokens", response_model=list[TokenPublic], **guard())
def list_tokens(actor: ApiActor, db: Db) -> list[TokenPublic]:
    """Your API tokens (secrets are never shown again)."""
    return [TokenPublic.model_validate(t) for t in service.list_tokens(actor, db)]


@router.post("/tokens", response_model=TokenCreated, status_code=201, **guard())
def create_token(actor: ApiActor, db: Db, body: TokenCreate) -> TokenCreated:
    """A new token for yourself; the secret is in this response only."""
    token, raw = service.create_token(actor, db, name=body.name, days=body.days)
    return TokenCreated(**TokenPublic.model_validate(token).model_dump(), token=raw)


@router.delete("/tokens/{token_id}", status_code=204, **guard())
def revoke_token(actor: ApiActor, db: Db, token_id: uuid.UUID) -> Response:
    service.revoke_token(actor, db, token_id)
    return Response(status_code=204)
