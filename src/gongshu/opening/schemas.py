"""API shapes of opening (Art. 13): the portal's datasets, developers, applications, usage."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field

from gongshu.catalog.schemas import CatalogEntryPublic


class OpenColumnPublic(BaseModel):
    code: str
    name: str
    data_type: str
    masked: list[str] = Field(default_factory=list, description="detector types masked in it")


class UsageDayPublic(BaseModel):
    day: dt.date
    download: int = 0
    api: int = 0
    preview: int = 0


class OpenDatasetSummary(BaseModel):
    id: uuid.UUID
    resource_code: str
    name: str
    provider_name: str
    opening_type: str
    grade: str | None
    updated_at: dt.datetime


class OpenDatasetsPublic(BaseModel):
    items: list[OpenDatasetSummary]
    total: int
    facets: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)


class OpenDatasetPublic(BaseModel):
    entry: CatalogEntryPublic
    opening_type: str
    openable: str = Field(description="clear or masked: how its grade may be opened")
    downloadable: bool
    columns: list[OpenColumnPublic]
    withheld: list[str] = Field(description="data items that are not opened")
    usage: list[UsageDayPublic]
    totals: dict[str, int]


class RowsPublic(BaseModel):
    resource_code: str
    columns: list[OpenColumnPublic]
    offset: int
    limit: int
    more: bool = Field(description="more rows follow: ask again from offset + limit")
    rows: list[dict[str, Any]]


class DeveloperCreate(BaseModel):
    name: str = Field(max_length=100)
    email: str = Field(max_length=254)
    organisation: str = Field("", max_length=200)


class DeveloperCreated(BaseModel):
    id: uuid.UUID
    name: str
    email: str
    api_key: str = Field(description="shown once; send it as X-API-Key")


class ApplicationCreate(BaseModel):
    entry_id: uuid.UUID
    purpose: str = Field(max_length=4000)
    safeguards: str = Field(max_length=4000)
    items: list[str] = Field(default_factory=list, description="data item codes; empty: all open")
    days: int = Field(365, description="term in days, 1 to 730")


class ApplicationPublic(BaseModel):
    id: uuid.UUID
    developer_name: str
    developer_email: str
    developer_organisation: str
    entry_id: uuid.UUID
    resource_code: str
    entry_name: str
    purpose: str
    safeguards: str
    items: list[str]
    days: int
    status: str
    grant_id: uuid.UUID | None
    agreement: str
    created_at: dt.datetime
    decided_at: dt.datetime | None


class Decision(BaseModel):
    step: str = Field(pattern="^(provider|bureau)$")
    approve: bool
    comment: str = Field("", max_length=4000)


class ProviderUsagePublic(BaseModel):
    entry_id: uuid.UUID
    resource_code: str
    name: str
    download: int
    api: int
    preview: int


def application_public(a: Any) -> ApplicationPublic:
    return ApplicationPublic(
        id=a.id, developer_name=a.developer.name, developer_email=a.developer.email,
        developer_organisation=a.developer.organisation, entry_id=a.entry_id, resource_code=a.resource_code, entry_name=a.entry_name,
        purpose=a.purpose, safeguards=a.safeguards, items=list(a.items), days=a.days,
        status=a.status, grant_id=a.grant_id, agreement=a.agreement, created_at=a.created_at,
        decided_at=a.decided_at)


def column_public(c: Any) -> OpenColumnPublic:
    return OpenColumnPublic(code=c.code, name=c.name, data_type=c.data_type, masked=list(c.masked))


class DeveloperPublic(BaseModel):
    id: uuid.UUID
    name: str
    email: str
    organisation: str
    status: str
    created_at: dt.datetime


class DeveloperStatus(BaseModel):
    active: bool
    reason: str = Field("", max_length=1000)


def developer_public(d: Any) -> DeveloperPublic:
    return DeveloperPublic(id=d.id, name=d.name, email=d.email, organisation=d.organisation,
                           status=d.status, created_at=d.created_at)
