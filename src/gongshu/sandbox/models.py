"""The sandbox's tables (Art. 14: authorised operation of public data).

- ``Authorization`` (``sandbox_authorization``): the data bureau authorises an operator
  organisation to use some datasets in the sandbox for a purpose and scenarios, for a term of
  at most five years, with product categories, a fee cap, a minimum group size ``k``, whether
  every result is reviewed, and an agreement document. Data products (item 8) refer to it.
- ``AuthorizedTable`` (``sandbox_authorization_table``): a dataset (catalog entry) in scope,
  the table name it has in the operator's SQL, and its ε budget per month.
- ``ColumnPolicy`` (``sandbox_column_policy``): how each stored column of a dataset may leave
  (``policy.ReleaseLevel``), its declared bounds and whether it names the contributor.
- ``ColumnOverride`` (``sandbox_column_override``): the level of one column for ONE
  authorisation (one operator's authorised use of one dataset); it wins over the dataset's
  ``ColumnPolicy`` level for that authorisation's queries only. Bounds and the contributor
  column stay dataset-level.
- ``Budget`` (``sandbox_budget``): ε spent per operator, dataset and month; a CHECK constraint
  makes overspending impossible, the service spends with one conditional UPDATE.
- ``Query`` (``sandbox_query``): every query, accepted or refused, with its verdict, what was
  released and the output review.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from gongshu.core.db import Base, CreatedMixin, IdMixin, utcnow


class AuthorizationStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    REVOKED = "revoked"


class ProductCategory(StrEnum):
    PUBLIC_INTEREST = "public_interest"  # 公益性：免费或低价
    INDUSTRY = "industry"  # 产业性：有偿，费用不超过上限


class QueryStatus(StrEnum):
    OK = "ok"  # accepted, rows shown in the workspace
    REJECTED = "rejected"  # refused by the policy (or the budget, or the limits)
    PENDING_REVIEW = "pending_review"  # waits for the bureau's output review
    RELEASED = "released"  # the bureau released it: downloadable
    REFUSED = "refused"  # the bureau refused to release it


class Authorization(IdMixin, CreatedMixin, Base):
    __tablename__ = "sandbox_authorization"

    #: a readable number for people (SQ-2026-000001)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    operator_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    operator_path: Mapped[str] = mapped_column(String(1024), index=True)
    #: the data bureau that authorised it (it changes it and reviews its outputs)
    bureau_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    bureau_path: Mapped[str] = mapped_column(String(1024), index=True)
    purpose: Mapped[str] = mapped_column(Text)
    scenarios: Mapped[list[Any]] = mapped_column(default=list)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date, index=True)
    #: ProductCategory values the operator may make products of
    product_categories: Mapped[list[Any]] = mapped_column(default=list)
    #: the most a paid (industry) product may cost, yuan; None: no cap set
    fee_cap: Mapped[Any | None] = mapped_column(Numeric(18, 2))
    #: minimum contributors per released group
    k: Mapped[int] = mapped_column(Integer, default=10)
    review_all: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), index=True,
                                        default=AuthorizationStatus.ACTIVE.value)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    status_changed_at: Mapped[dt.datetime | None]
    status_changed_by: Mapped[str] = mapped_column(String(64), default="")
    #: the signed agreement, kept under the data directory (sandbox/agreements/<sha256>)
    agreement_name: Mapped[str] = mapped_column(String(255), default="")
    agreement_sha256: Mapped[str] = mapped_column(String(64), default="")
    agreement_size: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class AuthorizedTable(IdMixin, Base):
    __tablename__ = "sandbox_authorization_table"
    __table_args__ = (UniqueConstraint("authorization_id", "table_name"),
                      UniqueConstraint("authorization_id", "entry_id"))

    authorization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sandbox_authorization.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_entry.id"), index=True)
    resource_code: Mapped[str] = mapped_column(String(32), default="")
    table_name: Mapped[str] = mapped_column(String(64))
    #: ε the operator may spend on this dataset per calendar month (Asia/Shanghai)
    epsilon_per_month: Mapped[float] = mapped_column(Float, default=1.0)


class ColumnPolicy(IdMixin, Base):
    __tablename__ = "sandbox_column_policy"
    __table_args__ = (UniqueConstraint("entry_id", "column"),)

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_entry.id"), index=True)
    column: Mapped[str] = mapped_column(String(128))
    level: Mapped[str] = mapped_column(String(16))
    lo: Mapped[float | None] = mapped_column(Float)
    hi: Mapped[float | None] = mapped_column(Float)
    contributor: Mapped[bool] = mapped_column(Boolean, default=False)
    #: "grading" while it is the default derived from the grading scan; else who set it
    source: Mapped[str] = mapped_column(String(64), default="grading")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ColumnOverride(IdMixin, Base):
    """A column's release level for one authorisation (SANDBOX.md: "per dataset column, per
    operator or default"); no row: the dataset's default (``ColumnPolicy``)."""

    __tablename__ = "sandbox_column_override"
    __table_args__ = (UniqueConstraint("authorization_id", "entry_id", "column"),)

    authorization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sandbox_authorization.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_entry.id"), index=True)
    column: Mapped[str] = mapped_column(String(128))
    level: Mapped[str] = mapped_column(String(16))
    set_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Budget(IdMixin, Base):
    __tablename__ = "sandbox_budget"
    __table_args__ = (UniqueConstraint("operator_org_id", "entry_id", "period"),
                      CheckConstraint("spent >= 0 AND spent <= total + 0.000000001",
                                      name="spent_within_total"))

    operator_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_entry.id"), index=True)
    period: Mapped[str] = mapped_column(String(7))  # 2026-12
    total: Mapped[float] = mapped_column(Float)
    spent: Mapped[float] = mapped_column(Float, default=0.0)


class Query(IdMixin, CreatedMixin, Base):
    __tablename__ = "sandbox_query"
    __table_args__ = (Index("ix_sandbox_query_org_created", "operator_org_id", "created_at"),)

    operator_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organization.id"))
    operator_path: Mapped[str] = mapped_column(String(1024), default="", index=True)
    #: the bureau that reviews it (of the authorisation covering its tables)
    bureau_path: Mapped[str] = mapped_column(String(1024), default="", index=True)
    user_id: Mapped[uuid.UUID | None]
    username: Mapped[str] = mapped_column(String(64), default="")
    sql: Mapped[str] = mapped_column(Text)
    #: the query with literals and case removed, for finding similar earlier queries
    normalised: Mapped[str] = mapped_column(Text, default="")
    authorization_ids: Mapped[list[Any]] = mapped_column(default=list)
    tables: Mapped[list[Any]] = mapped_column(default=list)
    dp: Mapped[bool] = mapped_column(Boolean, default=False)
    epsilon: Mapped[float | None] = mapped_column(Float)
    export: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), index=True)
    #: the verdict: None when accepted, else a ``policy.Reason`` code
    code: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text, default="")  # English, for logs and the API
    message_params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    columns: Mapped[list[Any]] = mapped_column(default=list)
    rows: Mapped[list[Any]] = mapped_column(default=list)
    suppressed_groups: Mapped[int] = mapped_column(Integer, default=0)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    reviewed_by: Mapped[str] = mapped_column(String(64), default="")
    reviewed_at: Mapped[dt.datetime | None]
    review_reason: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

from gongshu.sandbox.products_models import DataProduct, RevenueEntry  # noqa: E402, F401  (Art. 14 products)
