"""Data products and their revenue (Art. 14: operators may sell the products they make from
public data for a reasonable return, under the bureau's supervision).

- ``DataProduct`` (``sandbox_product``): a product registered against the authorisation it is
  made under: name, category (public-interest, free; industry, paid within the fee cap), how it
  is made, its output schema, its price and unit, its status.
- ``RevenueEntry`` (``sandbox_revenue``): one line of the revenue ledger: a sale of a product,
  on a day, to a counterparty, for an amount no more than the product's price times the
  quantity. The bureau's supervision view sums these per operator and year.

Money is in yuan with two decimals (``Numeric(18, 2)``, like the authorisation's fee cap).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
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


class ProductStatus(StrEnum):
    REGISTERED = "registered"  # on offer
    SUSPENDED = "suspended"  # the bureau stopped it (supervision); may be reinstated
    WITHDRAWN = "withdrawn"  # the operator took it off the market; final


class PriceUnit(StrEnum):
    PER_CALL = "per_call"  # 每次调用
    PER_COPY = "per_copy"  # 每份
    PER_MONTH = "per_month"  # 每月订阅
    PER_YEAR = "per_year"  # 每年订阅


class DataProduct(IdMixin, CreatedMixin, Base):
    __tablename__ = "sandbox_product"
    __table_args__ = (UniqueConstraint("authorization_id", "name"),
                      CheckConstraint("price >= 0", name="price_not_negative"))

    #: a readable number for people (CP-2026-000001)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    authorization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sandbox_authorization.id"), index=True)
    operator_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    operator_path: Mapped[str] = mapped_column(String(1024), index=True)
    bureau_path: Mapped[str] = mapped_column(String(1024), index=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    #: how it is made: the analyses, the sandbox results it rests on, the refresh cycle
    method: Mapped[str] = mapped_column(Text)
    #: [{name, type, description}]
    output_schema: Mapped[list[Any]] = mapped_column(default=list)
    price: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    unit: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True,
                                        default=ProductStatus.REGISTERED.value)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    status_changed_at: Mapped[dt.datetime | None]
    status_changed_by: Mapped[str] = mapped_column(String(64), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RevenueEntry(IdMixin, CreatedMixin, Base):
    __tablename__ = "sandbox_revenue"
    __table_args__ = (Index("ix_sandbox_revenue_org_day", "operator_org_id", "occurred_on"),
                      CheckConstraint("amount >= 0", name="amount_not_negative"),
                      CheckConstraint("quantity >= 1", name="quantity_positive"))

    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sandbox_product.id"), index=True)
    operator_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    occurred_on: Mapped[dt.date] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    counterparty: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(64), default="")
