"""API shapes of data products, the revenue ledger and supervision (Art. 14)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class OutputColumn(BaseModel):
    name: str = Field(max_length=128)
    type: str = Field("string", max_length=32)
    description: str = Field("", max_length=500)


class ProductIn(BaseModel):
    authorization_id: uuid.UUID
    name: str = Field(max_length=200)
    category: str = Field(description="public_interest (free) or industry (paid, within the "
                          "authorisation's fee cap)")
    method: str = Field(max_length=5000, description="How the product is made")
    price: Decimal = Field(Decimal("0"), ge=0, max_digits=18, decimal_places=2,
                           description="Yuan")
    unit: str = Field("per_copy", description="per_call, per_copy, per_month or per_year")
    description: str = Field("", max_length=5000)
    output_schema: list[OutputColumn] = Field(default_factory=list, max_length=500)


class ProductPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    number: str
    authorization_id: uuid.UUID
    operator_org_id: uuid.UUID
    name: str
    category: str
    description: str
    method: str
    output_schema: list[dict[str, Any]]
    price: Decimal
    unit: str
    status: str
    status_reason: str
    created_at: dt.datetime
    created_by: str
    revenue: Decimal = Decimal("0.00")


class ProductsPublic(BaseModel):
    items: list[ProductPublic]
    total: int


class StatusIn(BaseModel):
    status: str = Field(description="suspended or registered (the bureau), withdrawn (the "
                        "operator)")
    reason: str = Field("", max_length=2000)


class RevenueIn(BaseModel):
    occurred_on: dt.date
    amount: Decimal = Field(ge=0, max_digits=18, decimal_places=2, description="Yuan")
    quantity: int = Field(1, ge=1, le=10**9)
    counterparty: str = Field(max_length=200)
    note: str = Field("", max_length=2000)


class RevenuePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    product_id: uuid.UUID
    occurred_on: dt.date
    quantity: int
    amount: Decimal
    counterparty: str
    note: str
    recorded_by: str
    created_at: dt.datetime


class OperatorYearPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    org_id: uuid.UUID
    org_name: str
    authorizations: int
    products: int
    products_by_category: dict[str, int]
    sales: int
    revenue: Decimal
    revenue_by_category: dict[str, Decimal]
    revenue_by_month: list[Decimal]


class SupervisionPublic(BaseModel):
    year: int
    operators: list[OperatorYearPublic]
    revenue: Decimal
    products: int
