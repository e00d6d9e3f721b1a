"""Opening's tables (Art. 13).

- ``Developer``: someone outside public administration who signed up on the portal to use the
  per-dataset API (name, e-mail, organisation). Never a platform user: a developer has no role.
- ``ApiKey``: a developer's key, ``gso_<prefix>_<secret>``; only its SHA-256 is stored (as the
  platform's API tokens, ``orgs``), shown once, revocable.
- ``RateWindow``: requests per key per fixed window (one row per key and window start), counted
  by an upsert so several web processes share the limit.
- ``Application``: a developer asks for a conditionally open entry with a purpose and the
  safeguards it will keep. Reviewed by the provider, then by the entry's data bureau; ``version``
  is checked on every change. An approved one names the grant it produced (``share_grant`` of
  kind ``opening``, sharing's table).
- ``ApplicationStep``: one decision per step (``provider``, ``bureau``): a unique constraint.
- ``UsageDay``: downloads, API reads and previews per entry and day (Asia/Shanghai calendar days).
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gongshu.core.db import Base, CreatedMixin, IdMixin


class ApplicationStatus(StrEnum):
    PROVIDER_REVIEW = "provider_review"  # the provider's data stewards answer first
    BUREAU_REVIEW = "bureau_review"  # then the entry's data bureau
    APPROVED = "approved"  # a grant of kind "opening" was issued
    REFUSED = "refused"


class Step(StrEnum):
    PROVIDER = "provider"
    BUREAU = "bureau"


class Channel(StrEnum):
    DOWNLOAD = "download"  # a file from the portal
    API = "api"  # a developer's API read
    PREVIEW = "preview"  # a page of rows on the portal


class Developer(IdMixin, CreatedMixin, Base):
    __tablename__ = "opening_developer"

    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    organisation: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | suspended


class ApiKey(IdMixin, CreatedMixin, Base):
    __tablename__ = "opening_api_key"

    developer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("opening_developer.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[dt.datetime | None] = mapped_column()
    last_used_at: Mapped[dt.datetime | None] = mapped_column()


class RateWindow(Base):
    __tablename__ = "opening_rate_window"

    key_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    #: the window's start, seconds since 1970 (UTC)
    window: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class Application(IdMixin, CreatedMixin, Base):
    __tablename__ = "opening_application"

    developer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("opening_developer.id"), index=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_entry.id"), index=True)
    resource_code: Mapped[str] = mapped_column(String(32))
    entry_name: Mapped[str] = mapped_column(String(200), default="")
    provider_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    provider_path: Mapped[str] = mapped_column(String(1024), index=True)
    bureau_path: Mapped[str] = mapped_column(String(1024), default="", index=True)
    purpose: Mapped[str] = mapped_column(Text)
    safeguards: Mapped[str] = mapped_column(Text)
    #: the data item codes asked for
    items: Mapped[list[Any]] = mapped_column(default=list)
    #: how long the use lasts, in days (the grant's term)
    days: Mapped[int] = mapped_column(Integer, default=365)
    status: Mapped[str] = mapped_column(String(16), index=True,
                                        default=ApplicationStatus.PROVIDER_REVIEW.value)
    grant_id: Mapped[uuid.UUID | None] = mapped_column()
    agreement: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[dt.datetime | None] = mapped_column()
    version: Mapped[int] = mapped_column(Integer, default=1)

    #: who applies (reviewers see its name, e-mail and organisation)
    developer: Mapped[Developer] = relationship()


class ApplicationStep(IdMixin, CreatedMixin, Base):
    __tablename__ = "opening_application_step"
    __table_args__ = (UniqueConstraint("application_id", "step"),)

    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("opening_application.id"),
                                                      index=True)
    step: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(16))  # approve | refuse
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(64), default="")
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column()


class UsageDay(Base):
    __tablename__ = "opening_usage_day"

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_entry.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
