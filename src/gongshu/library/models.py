"""The resource library's tables (Art. 11).

- ``Dataset``: the stored data of one catalog entry, in one of the three libraries of Art. 11
  (base information, sector theme, application topic). Its data lives as immutable Parquet
  versions in ``engine.storage``; ``current_version_id`` names the version everyone reads. The
  metadata store, not the storage directory, decides which version is current: a version whose
  metadata never committed is never read.
- ``DatasetVersion``: one ingested version: rows, bytes, the stored schema (column per data
  item), where it came from (file name, format, encoding, sheet), who ingested it and when.
- ``Ingest``: one ingest attempt and its report, column by column (matched, missing, extra,
  wrong type), whether it was rejected before storing, failed, or became a version.
- ``QualityRule`` and ``QualityReport``: a dataset's quality rules and, per version, the score
  of every rule and the overall score.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gongshu.core.db import Base, CreatedMixin, IdMixin, utcnow


class LibraryKind(StrEnum):
    """The three libraries of Art. 11 (基础信息库 / 行业主题库 / 应用专题库)."""

    BASE = "base"
    SECTOR = "sector"
    TOPIC = "topic"


class IngestStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    REJECTED = "rejected"  # the file does not fit the entry; nothing stored
    FAILED = "failed"  # it could not be read or written; nothing stored
    SUCCEEDED = "succeeded"


class Dataset(IdMixin, CreatedMixin, Base):
    __tablename__ = "library_dataset"

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_entry.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(200))
    resource_code: Mapped[str] = mapped_column(String(32), index=True)
    provider_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    #: the provider's organisation path and its reviewing bureau's, for scope checks and lists
    provider_path: Mapped[str] = mapped_column(String(1024), index=True)
    bureau_path: Mapped[str] = mapped_column(String(1024), default="")
    #: the directory name under the storage root (``engine.storage``)
    storage_id: Mapped[str] = mapped_column(String(128), unique=True)
    #: not a foreign key: versions point at their dataset
    current_version_id: Mapped[uuid.UUID | None]
    version_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    current_version: Mapped[DatasetVersion | None] = relationship(
        primaryjoin="foreign(Dataset.current_version_id) == DatasetVersion.id",
        viewonly=True, lazy="selectin")


class DatasetVersion(IdMixin, CreatedMixin, Base):
    __tablename__ = "library_dataset_version"
    __table_args__ = (UniqueConstraint("dataset_id", "number"),)

    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("library_dataset.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    storage_version: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    #: [{code, name, data_type, arrow_type, source_column}] in stored column order
    columns: Mapped[list[Any]] = mapped_column(default=list)
    source_name: Mapped[str] = mapped_column(String(255), default="")
    source_format: Mapped[str] = mapped_column(String(16), default="")
    source_encoding: Mapped[str | None] = mapped_column(String(32))
    source_sheet: Mapped[str | None] = mapped_column(String(100))
    source_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    header_row: Mapped[int | None] = mapped_column(Integer)
    ingest_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    created_by_id: Mapped[uuid.UUID | None]
    created_by: Mapped[str] = mapped_column(String(64), default="")
    quality_score: Mapped[float | None] = mapped_column(Float)


class Ingest(IdMixin, CreatedMixin, Base):
    __tablename__ = "library_ingest"
    __table_args__ = (Index("ix_library_ingest_dataset_created", "dataset_id", "created_at"),)

    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("library_dataset.id"))
    entry_id: Mapped[uuid.UUID] = mapped_column(index=True)
    provider_path: Mapped[str] = mapped_column(String(1024), index=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default=IngestStatus.QUEUED)
    #: what to read: a file kept under the data directory, or a database URL (redacted here)
    source_name: Mapped[str] = mapped_column(String(255), default="")
    source_kind: Mapped[str] = mapped_column(String(16), default="file")  # file | upload | database
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    #: the column-by-column report: mapping, problems, counts, timings
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    version_id: Mapped[uuid.UUID | None]
    created_by_id: Mapped[uuid.UUID | None]
    created_by: Mapped[str] = mapped_column(String(64), default="")
    finished_at: Mapped[dt.datetime | None]


class QualityRule(IdMixin, CreatedMixin, Base):
    __tablename__ = "library_quality_rule"

    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("library_dataset.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    column: Mapped[str | None] = mapped_column(String(128))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")


class QualityReport(IdMixin, CreatedMixin, Base):
    __tablename__ = "library_quality_report"
    __table_args__ = (Index("ix_library_quality_report_version_created", "version_id",
                            "created_at"),)

    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("library_dataset.id"), index=True)
    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("library_dataset_version.id"))
    score: Mapped[float | None] = mapped_column(Float)
    #: [{rule_id, kind, column, params, weight, checked, passed, score, detail, error}]
    results: Mapped[list[Any]] = mapped_column(default=list)
    evaluated_by: Mapped[str] = mapped_column(String(64), default="")
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    note: Mapped[str] = mapped_column(Text, default="")
