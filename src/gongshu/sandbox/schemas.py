"""API shapes of the sandbox (Art. 14): authorisations, column release policies, queries and
their output review, privacy budgets."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


Category = Literal["public_interest", "industry"]


def _public_interest() -> list[Category]:
    return ["public_interest"]


class TableCreate(_In):
    entry: str = Field(description="The catalog entry: its id or its resource code")
    table_name: str = Field(max_length=64, description="Its name in the operator's SQL")
    epsilon_per_month: float = Field(1.0, ge=0, le=1000,
                                     description="ε the operator may spend on it per month")


class AuthorizationCreate(_In):
    operator_org_id: uuid.UUID = Field(description="An organisation of kind operator")
    bureau_org_id: uuid.UUID | None = Field(
        None, description="The authorising data bureau (default: yours)")
    purpose: str = Field(max_length=4000)
    scenarios: list[str] = Field(default_factory=list)
    starts_on: dt.date
    ends_on: dt.date = Field(description="At most 5 years after the start")
    tables: list[TableCreate] = Field(min_length=1)
    product_categories: list[Category] = Field(default_factory=_public_interest)
    fee_cap: Decimal | None = Field(None, ge=0, le=Decimal("1e15"), description="Yuan")
    k: int = Field(10, ge=2, le=10_000, description="Minimum contributors per group")
    review_all: bool = False


class AuthorizationUpdate(_In):
    purpose: str | None = Field(None, max_length=4000)
    scenarios: list[str] | None = None
    ends_on: dt.date | None = None
    product_categories: list[Category] | None = None
    fee_cap: Decimal | None = Field(None, ge=0, le=Decimal("1e15"))
    k: int | None = Field(None, ge=2, le=10_000)
    review_all: bool | None = None


class StatusIn(_In):
    status: Literal["active", "suspended", "revoked"]
    reason: str = Field(max_length=2000)


class TablePublic(_Out):
    table_name: str
    entry_id: uuid.UUID
    resource_code: str
    epsilon_per_month: float
    overrides: dict[str, str] = Field(
        default_factory=dict,
        description="This authorisation's own release levels, column → level (the others "
                    "follow the dataset's default)")


class AuthorizationPublic(BaseModel):
    id: uuid.UUID
    number: str
    operator_org_id: uuid.UUID
    operator: str
    bureau_org_id: uuid.UUID
    bureau: str
    purpose: str
    scenarios: list[str]
    starts_on: dt.date
    ends_on: dt.date
    status: str
    status_reason: str
    product_categories: list[str]
    fee_cap: Decimal | None
    k: int
    review_all: bool
    agreement_name: str
    agreement_sha256: str
    tables: list[TablePublic]
    created_at: dt.datetime


class ColumnRuleIn(_In):
    column: str = Field(max_length=128)
    level: Literal["plain", "group_by", "aggregate", "compare", "join", "hidden"]
    lo: float | None = None
    hi: float | None = None
    contributor: bool = False


class ColumnPolicyIn(_In):
    rules: list[ColumnRuleIn]


class ColumnRulePublic(_Out):
    column: str
    level: str
    lo: float | None
    hi: float | None
    contributor: bool
    source: str


Level = Literal["plain", "group_by", "aggregate", "compare", "join", "hidden"]


class ColumnLevelIn(_In):
    level: Level = Field(description="The column's level for this authorisation; its "
                                     "dataset default clears the override")


class ColumnLevelPublic(BaseModel):
    column: str
    name: str
    default: str = Field(description="The dataset's level")
    override: str | None = Field(description="This authorisation's own level; null: the default")
    level: str = Field(description="The level this authorisation's queries run under")


class TableLevelsPublic(BaseModel):
    table_name: str
    entry_id: uuid.UUID
    columns: list[ColumnLevelPublic]


class WorkspaceColumn(BaseModel):
    code: str
    name: str
    data_type: str
    level: str = Field(description="The level your queries run under (your authorisation's "
                                   "own level, else the dataset's)")
    default_level: str = Field(description="The dataset's level")
    lo: float | None
    hi: float | None
    contributor: bool


class WorkspaceTablePublic(BaseModel):
    table_name: str
    entry_id: uuid.UUID
    entry_name: str
    authorization: str
    columns: list[WorkspaceColumn]
    epsilon_per_month: float
    epsilon_spent: float


class QueryIn(_In):
    sql: str = Field(max_length=20_000)
    dp: bool = False
    epsilon: float | None = Field(None, gt=0, le=10)
    export: bool = Field(False, description="Mark the result for export (output review)")


class QueryPublic(BaseModel):
    id: uuid.UUID
    status: str = Field(description="ok, rejected, pending_review, released, refused")
    code: str | None = Field(description="The reason code of a refusal (policy.Reason)")
    message: str = Field(description="The reason, in your language")
    sql: str
    columns: list[str]
    rows: list[list[Any]] = Field(description="Empty while a review_all result waits")
    suppressed_groups: int
    truncated: bool
    dp: bool
    epsilon_spent: float | None
    export: bool
    username: str
    created_at: dt.datetime
    reviewed_by: str
    reviewed_at: dt.datetime | None
    review_reason: str


class QueriesPublic(BaseModel):
    items: list[QueryPublic]
    total: int


class SimilarPublic(BaseModel):
    score: float
    query: QueryPublic


class ReviewPublic(BaseModel):
    query: QueryPublic
    operator: str
    similar: list[SimilarPublic]


class DecisionIn(_In):
    release: bool
    reason: str = Field("", max_length=2000)


class BudgetPublic(BaseModel):
    table_name: str
    entry_id: uuid.UUID
    period: str
    total: float
    spent: float
    left: float
