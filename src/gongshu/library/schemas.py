"""API shapes of the library (Art. 11)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gongshu.library.models import Dataset, DatasetVersion, Ingest


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class VersionPublic(_Out):
    id: uuid.UUID
    number: int
    rows: int
    bytes: int = Field(description="Bytes of Parquet stored")
    columns: list[dict[str, Any]] = Field(description="Stored columns: code, name, data_type, "
                                          "arrow_type, source_column")
    source_name: str
    source_format: str
    source_encoding: str | None
    source_sheet: str | None
    source_bytes: int
    header_row: int | None
    ingest_id: uuid.UUID | None
    quality_score: float | None
    created_at: dt.datetime
    created_by: str
    current: bool = False


class DatasetPublic(_Out):
    id: uuid.UUID
    entry_id: uuid.UUID
    kind: str = Field(description="base / sector / topic (Art. 11)")
    name: str
    resource_code: str
    provider_org_id: uuid.UUID
    version_count: int
    current_version: VersionPublic | None
    created_at: dt.datetime
    updated_at: dt.datetime


class DatasetsPublic(BaseModel):
    items: list[DatasetPublic]
    total: int


class IngestPublic(_Out):
    id: uuid.UUID
    dataset_id: uuid.UUID
    entry_id: uuid.UUID
    job_id: uuid.UUID | None
    status: str = Field(description="queued / running / rejected / failed / succeeded")
    source_name: str
    source_kind: str
    options: dict[str, Any]
    source_bytes: int
    report: dict[str, Any] = Field(description="Column by column: columns (item, code, "
                                   "data_type, source, by, status), problems, warnings, rows")
    error: str | None
    version_id: uuid.UUID | None
    created_at: dt.datetime
    created_by: str
    finished_at: dt.datetime | None


class Remap(BaseModel):
    """Ingest a rejected upload's kept file again with a column mapping."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, str] = Field(
        min_length=1, max_length=1000,
        description="Source column → data item code (or name), added to the ingest's mapping")


class DatabaseIngest(BaseModel):
    """Ingest a table from a database (PostgreSQL, MySQL …) by its SQLAlchemy URL."""

    model_config = ConfigDict(extra="forbid")

    entry_id: uuid.UUID
    url: str = Field(min_length=4, max_length=1000,
                     description="e.g. postgresql+psycopg://user:password@host/db")
    table: str = Field(min_length=1, max_length=200)
    kind: str | None = Field(None, description="base / sector / topic, for a new dataset")
    drop_extra: bool = False
    columns: dict[str, str] | None = Field(
        None, description="Column mapping: source column → data item code (or name)")


class QualityRuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="not_null, unique, pattern, detector, range, allowed_values, "
                      "reference, freshness")
    column: str | None = Field(None, description="Stored column code (or the data item's name)")
    params: dict[str, Any] = Field(default_factory=dict)
    weight: float = 1.0
    description: str = ""


class QualityRulePublic(_Out):
    id: uuid.UUID
    dataset_id: uuid.UUID
    kind: str
    column: str | None
    params: dict[str, Any]
    weight: float
    description: str
    created_at: dt.datetime
    created_by: str


class QualityReportPublic(_Out):
    id: uuid.UUID
    dataset_id: uuid.UUID
    version_id: uuid.UUID
    score: float | None = Field(description="Weighted mean of the rule scores, 0-1")
    results: list[dict[str, Any]] = Field(description="Per rule: rule_id, kind, column, checked, "
                                          "passed, score, detail, error")
    evaluated_by: str
    seconds: float
    note: str
    created_at: dt.datetime


class PreviewColumnPublic(BaseModel):
    code: str
    name: str
    data_type: str
    level: str | None
    masked: list[str] = Field(default_factory=list, description="Detector types masked")


class PreviewPublic(BaseModel):
    dataset_id: uuid.UUID
    version: int
    columns: list[PreviewColumnPublic]
    hidden: list[PreviewColumnPublic] = Field(description="Columns above your clearance")
    rows: list[dict[str, Any]]
    offset: int
    limit: int
    unmasked: bool
    role: str | None


class EntryLibraryPublic(BaseModel):
    """What the catalog entry shows of the library and grading."""

    entry_id: uuid.UUID
    grade: str | None
    dataset: DatasetPublic | None
    quality: QualityReportPublic | None
    proposed_grade: str | None
    scan_id: uuid.UUID | None


class JobStarted(BaseModel):
    job_id: uuid.UUID
    href: str


def version_public(version: DatasetVersion, current_id: uuid.UUID | None = None) -> VersionPublic:
    out = VersionPublic.model_validate(version)
    out.current = version.id == current_id
    return out


def dataset_public(dataset: Dataset) -> DatasetPublic:
    out = DatasetPublic.model_validate(dataset)
    if out.current_version is not None:
        out.current_version.current = True
    return out


def ingest_public(ingest: Ingest) -> IngestPublic:
    return IngestPublic.model_validate(ingest)
