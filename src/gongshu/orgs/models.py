"""Organisations, the people in them, their role grants, and their ways in (sessions, tokens)."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gongshu.core.db import Base, CreatedMixin, IdMixin, JSONType


class OrgKind(StrEnum):
    """Kinds of organisation (GLOSSARY.md; Arts. 3-5, 14, 17, 20)."""

    GOVERNMENT = "government"  # people's government of a region
    DATA_BUREAU = "data_bureau"  # 数据管理部门: reviews and supervises
    EGOV_OFFICE = "egov_office"  # 政务信息管理部门
    PUBLIC_BODY = "public_body"  # 公共管理和服务机构
    OPERATOR = "operator"  # 被授权运营单位 (Art. 14)
    ENTERPRISE = "enterprise"
    DATA_MERCHANT = "data_merchant"  # 数商 (Art. 20)
    RESOURCE_CENTRE = "resource_centre"  # 数据资源中心 of associations, institutes (Art. 17)


#: kinds that belong to the administrative tree and so carry a level and region
GOVERNMENTAL_KINDS = frozenset(
    {OrgKind.GOVERNMENT, OrgKind.DATA_BUREAU, OrgKind.EGOV_OFFICE, OrgKind.PUBLIC_BODY}
)


class Organization(IdMixin, CreatedMixin, Base):
    __tablename__ = "organization"
    __table_args__ = (UniqueConstraint("parent_id", "name"),)

    name: Mapped[str] = mapped_column(String(200))
    short_name: Mapped[str] = mapped_column(String(64), default="")
    kind: Mapped[str] = mapped_column(String(32), index=True)
    level: Mapped[str | None] = mapped_column(String(16))
    region_code: Mapped[str | None] = mapped_column(String(6), index=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organization.id"), index=True)
    #: materialised path of ids, "/<root hex>/<child hex>/", for subtree checks and queries
    path: Mapped[str] = mapped_column(String(1024), unique=True)
    depth: Mapped[int] = mapped_column(Integer, default=0)
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    #: provider code used in the catalog (信息资源提供方代码); defaults to the credit code
    code: Mapped[str | None] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    parent: Mapped[Organization | None] = relationship(remote_side="Organization.id")


class User(IdMixin, CreatedMixin, Base):
    __tablename__ = "user_account"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(254))
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None]
    last_login_at: Mapped[dt.datetime | None]
    locale: Mapped[str | None] = mapped_column(String(8))

    org: Mapped[Organization] = relationship(lazy="joined")
    grants: Mapped[list[RoleGrant]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )


class RoleGrant(IdMixin, CreatedMixin, Base):
    __tablename__ = "role_grant"
    __table_args__ = (UniqueConstraint("user_id", "role", "org_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    subtree: Mapped[bool] = mapped_column(Boolean, default=False)
    granted_by: Mapped[str] = mapped_column(String(64), default="")

    user: Mapped[User] = relationship(back_populates="grants")
    org: Mapped[Organization] = relationship(lazy="joined")


class ApiToken(IdMixin, CreatedMixin, Base):
    """A bearer token for machines; only its SHA-256 is kept."""

    __tablename__ = "api_token"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]
    #: a scoped token allows only these permissions (None: all its user holds)
    permissions: Mapped[list[str] | None] = mapped_column(JSONType)
    #: a token bound to one object (e.g. ``share_grant``) is usable for that object only
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[uuid.UUID | None]

    user: Mapped[User] = relationship()


class WebSession(IdMixin, CreatedMixin, Base):
    """A browser login; the cookie holds a random token, the table its SHA-256."""

    __tablename__ = "web_session"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(256), default="")

    user: Mapped[User] = relationship()


class LoginThrottle(Base):
    """Failed logins from one source address (throttling per address as well as per account):
    counted within a window; past the limit the address is locked for a while."""

    __tablename__ = "login_throttle"

    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[dt.datetime]
    locked_until: Mapped[dt.datetime | None]
