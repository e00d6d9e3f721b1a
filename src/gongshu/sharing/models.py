"""Sharing's tables (Art. 12).

- ``Scenario``: a requester body's declared use of shared data (name, description, the legal
  basis of the duty, expected volume, period). Later requests of the same body reuse it.
- ``ShareRequest``: a body asks for some data items of a catalog entry under a scenario. Its
  ``status`` and ``step`` move through ``flows``; ``step_due_at`` is the current step's deadline
  in working days; ``version`` is checked on every change (concurrent answers: one wins, the
  others get 409).
- ``ShareRequestStep``: the timeline, one row per decision; at most one decision per step.
- ``ShareGrant``: what an approved request (or an approved conditional-opening application,
  Art. 13) gives: the items, an optional row filter, the items allowed in clear, the scenario,
  start and expiry, a daily row limit. Revocable by the provider or the bureau; never re-shared.
- ``GrantPull``: one delivery under a grant (rows, bytes, format): usage reports and the daily
  row limit read these.
- ``CalendarDay``: working-day overrides an administrator adds beside the yearly data files.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.core.db import Base, CreatedMixin, IdMixin, utcnow


class RequestStatus(StrEnum):
    BUREAU_CHECK = "bureau_check"  # the requester's data bureau checks conformity
    PROVIDER_REVIEW = "provider_review"  # conditional: the provider answers within its period
    COORDINATION = "coordination"  # a dispute or a not-shared entry: the bureau coordinates
    GRANTED = "granted"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


class GrantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"


class GrantKind(StrEnum):
    SHARE = "share"  # between public bodies (Art. 12)
    OPENING = "opening"  # conditional opening to society (Art. 13)


class Scenario(IdMixin, CreatedMixin, Base):
    __tablename__ = "share_scenario"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    org_path: Mapped[str] = mapped_column(String(1024), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    expected_volume: Mapped[str] = mapped_column(String(200), default="")
    period_start: Mapped[dt.date | None] = mapped_column(Date)
    period_end: Mapped[dt.date | None] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(64), default="")


class ShareRequest(IdMixin, CreatedMixin, Base):
    __tablename__ = "share_request"

    #: a readable number for people (GX-2026-000001)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    requester_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    requester_path: Mapped[str] = mapped_column(String(1024), index=True)
    #: the requester's same-level data bureau, which checks conformity and coordinates
    bureau_path: Mapped[str] = mapped_column(String(1024), default="", index=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_entry.id"), index=True)
    resource_code: Mapped[str] = mapped_column(String(32), index=True)
    provider_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    provider_path: Mapped[str] = mapped_column(String(1024), index=True)
    #: the entry's sharing type when the request was made (unconditional / conditional / not_shared)
    share_type: Mapped[str] = mapped_column(String(16))
    #: the data item codes asked for (a subset of the entry's items)
    items: Mapped[list[Any]] = mapped_column(default=list)
    scenario_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("share_scenario.id"), index=True)
    contact_name: Mapped[str] = mapped_column(String(64), default="")
    contact_phone: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[str] = mapped_column(String(16), index=True)
    #: when the current step must be answered (working days, ``calendar``); None once settled
    step_due_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    step_started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: 0 while on time; 1, 2 … each time an overdue step was escalated to the next level
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[dt.datetime | None]
    #: the data bureau an overdue step was escalated to (it sees the request in its queue)
    escalated_to_path: Mapped[str] = mapped_column(String(1024), default="", index=True)
    decided_at: Mapped[dt.datetime | None]
    refusal_reason: Mapped[str] = mapped_column(Text, default="")
    grant_id: Mapped[uuid.UUID | None]
    submitted_by: Mapped[str] = mapped_column(String(64), default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)

    __mapper_args__ = {"version_id_col": version}


class ShareRequestStep(IdMixin, CreatedMixin, Base):
    """One decision on a request; the unique key makes a second decision on a step impossible."""

    __tablename__ = "share_request_step"
    __table_args__ = (UniqueConstraint("request_id", "seq"),)

    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("share_request.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64), default="")
    org_path: Mapped[str] = mapped_column(String(1024), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[dt.datetime | None]


class ShareGrant(IdMixin, CreatedMixin, Base):
    __tablename__ = "share_grant"
    __table_args__ = (Index("ix_share_grant_entry_status", "entry_id", "status"),)

    kind: Mapped[str] = mapped_column(String(16), default=GrantKind.SHARE.value)
    request_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    #: the conditional-opening application (Art. 13) a grant of kind ``opening`` came from
    application_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_entry.id"), index=True)
    resource_code: Mapped[str] = mapped_column(String(32), index=True)
    provider_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    provider_path: Mapped[str] = mapped_column(String(1024), index=True)
    #: the holder: a public body (sharing) or, for opening, a registered organisation or user
    holder_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organization.id"), index=True)
    holder_path: Mapped[str] = mapped_column(String(1024), default="", index=True)
    holder_user_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    #: the holder's data bureau (it may revoke, with the provider)
    bureau_path: Mapped[str] = mapped_column(String(1024), default="")
    scenario_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("share_scenario.id"))
    #: item codes granted, and those of them delivered in clear (the rest are masked by grade)
    items: Mapped[list[Any]] = mapped_column(default=list)
    clear_items: Mapped[list[Any]] = mapped_column(default=list)
    #: optional row filter: [{"item": code, "op": "=", "value": …}, …], all must hold
    row_filter: Mapped[list[Any]] = mapped_column(default=list)
    starts_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    daily_row_limit: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), index=True, default=GrantStatus.ACTIVE.value)
    agreement: Mapped[str] = mapped_column(Text, default="")
    revoked_at: Mapped[dt.datetime | None]
    revoked_by: Mapped[str] = mapped_column(String(64), default="")
    revoke_reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    last_pulled_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class GrantPull(IdMixin, CreatedMixin, Base):
    """One delivery under a grant: who, how much, in which format (usage and daily limits)."""

    __tablename__ = "share_grant_pull"
    __table_args__ = (Index("ix_share_grant_pull_grant_day", "grant_id", "day"),)

    grant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("share_grant.id"))
    #: the day (Asia/Shanghai) the pull counts against the daily row limit
    day: Mapped[dt.date] = mapped_column(Date)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    format: Mapped[str] = mapped_column(String(16), default="json")
    actor: Mapped[str] = mapped_column(String(64), default="")
    via: Mapped[str] = mapped_column(String(16), default="api")
    holder_org_id: Mapped[uuid.UUID | None] = mapped_column(index=True)


class CalendarDay(IdMixin, CreatedMixin, Base):
    """An administrator's working-day override for a date (a year's notice not yet in a file)."""

    __tablename__ = "share_calendar_day"

    day: Mapped[dt.date] = mapped_column(Date, unique=True)
    is_working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
