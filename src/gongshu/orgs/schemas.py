"""API shapes for organisations, users, role grants and tokens."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from gongshu.core.permissions import Role
from gongshu.orgs.models import OrgKind, RoleGrant, User
from gongshu.orgs.regions import Level


class OrganizationCreate(BaseModel):
    name: str = Field(max_length=200, examples=["山西省公安厅"])
    kind: OrgKind
    parent_id: uuid.UUID
    level: Level | None = None
    region_code: str | None = Field(None, pattern=r"^\d{6}$", examples=["140000"])
    uscc: str | None = Field(None, description="Unified social credit code (GB 32100)")
    code: str | None = Field(None, max_length=32, description="Provider code in the catalog")
    short_name: str = ""
    description: str = ""


class OrganizationUpdate(BaseModel):
    name: str | None = Field(None, max_length=200)
    short_name: str | None = None
    uscc: str | None = None
    code: str | None = None
    description: str | None = None
    is_active: bool | None = None


class OrganizationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    short_name: str
    kind: OrgKind
    level: Level | None
    region_code: str | None
    parent_id: uuid.UUID | None
    path: str
    depth: int
    uscc: str | None
    code: str | None
    description: str
    is_active: bool
    created_at: dt.datetime


class OrganizationsPublic(BaseModel):
    items: list[OrganizationPublic]
    total: int


class OrgTreeNode(BaseModel):
    id: uuid.UUID
    name: str
    kind: OrgKind
    level: Level | None
    region_code: str | None
    children: list[OrgTreeNode] = Field(default_factory=list)


class GrantPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    role: Role
    org_id: uuid.UUID
    org_name: str
    subtree: bool
    granted_by: str
    created_at: dt.datetime


class UserCreate(BaseModel):
    username: str = Field(examples=["zhang.wei"])
    display_name: str = Field(examples=["张伟"])
    org_id: uuid.UUID
    password: str = Field(min_length=1)
    email: str | None = None


class UserUpdate(BaseModel):
    display_name: str | None = None
    email: str | None = None
    is_active: bool | None = None
    locale: str | None = Field(None, description="zh-CN or en")


class PasswordChange(BaseModel):
    new_password: str
    current_password: str | None = Field(None, description="Required when changing your own password")


class UserPublic(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str
    email: str | None
    org_id: uuid.UUID
    org_name: str
    is_active: bool
    last_login_at: dt.datetime | None
    created_at: dt.datetime
    grants: list[GrantPublic]


class UsersPublic(BaseModel):
    items: list[UserPublic]
    total: int


class GrantCreate(BaseModel):
    role: Role
    org_id: uuid.UUID
    subtree: bool = False


class TokenCreate(BaseModel):
    name: str = Field(max_length=100, examples=["nightly sync"])
    days: int | None = Field(None, ge=1, description="Lifetime in days (default from settings)")


class TokenPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="The secret, shown this once only")


class MePublic(BaseModel):
    user: UserPublic | None
    username: str
    via: str
    roles: list[Role]


def grant_public(g: RoleGrant) -> GrantPublic:
    return GrantPublic(id=g.id, role=Role(g.role), org_id=g.org_id, org_name=g.org.name,
                       subtree=g.subtree, granted_by=g.granted_by, created_at=g.created_at)


def user_public(u: User) -> UserPublic:
    return UserPublic(
        id=u.id, username=u.username, display_name=u.display_name, email=u.email,
        org_id=u.org_id, org_name=u.org.name, is_active=u.is_active,
        last_login_at=u.last_login_at, created_at=u.created_at,
        grants=[grant_public(g) for g in u.grants],
    )
