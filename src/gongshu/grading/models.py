"""Grading's tables (Art. 10).

- ``GradingScan``: one run of the detectors over one stored dataset version (at ingest, or a
  rescan), with the grade proposed for the catalog entry and its reasons. The dataset version
  is referred to by id and by its place in storage (``storage_id``/``storage_version``), so a
  rescan reads the same Parquet without asking the library (which comes after grading).
- ``GradingScanColumn``: per column, what each detector found and the proposed grade.
- ``GradingDecision``: a data steward's confirmation or override of the proposal, with the
  reason (an override needs one). The confirmed grade itself lives on the catalog entry
  (``catalog.service.set_grade``); this is the trail of who decided what from which proposal.
- ``GradingSetting``: administrator choices, such as the active grading scheme.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gongshu.core.db import Base, CreatedMixin, IdMixin, utcnow


class GradingScan(IdMixin, CreatedMixin, Base):
    __tablename__ = "grading_scan"
    __table_args__ = (Index("ix_grading_scan_entry_created", "entry_id", "created_at"),)

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_entry.id"))
    #: copies of the entry's scope, for scoped lists without a join across rooms
    provider_path: Mapped[str] = mapped_column(String(1024), index=True)
    bureau_path: Mapped[str] = mapped_column(String(1024), default="")
    dataset_id: Mapped[uuid.UUID] = mapped_column(index=True)
    dataset_version_id: Mapped[uuid.UUID] = mapped_column(index=True)
    storage_id: Mapped[str] = mapped_column(String(128))
    storage_version: Mapped[int] = mapped_column(Integer)
    rows_scanned: Mapped[int] = mapped_column(BigInteger, default=0)
    scheme: Mapped[str] = mapped_column(String(64))
    rule_packs: Mapped[list[Any]] = mapped_column(default=list)
    classification: Mapped[str] = mapped_column(String(200), default="")
    proposed_grade: Mapped[str] = mapped_column(String(32))
    #: structured reasons: [{level, text, rule, detector, ratio, count}]
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    trigger: Mapped[str] = mapped_column(String(16), default="ingest")  # ingest | rescan
    job_id: Mapped[uuid.UUID | None]
    created_by: Mapped[str] = mapped_column(String(64), default="")
    seconds: Mapped[float] = mapped_column(Float, default=0.0)

    columns: Mapped[list[GradingScanColumn]] = relationship(
        back_populates="scan", order_by="GradingScanColumn.position",
        cascade="all, delete-orphan", lazy="selectin")


class GradingScanColumn(IdMixin, Base):
    __tablename__ = "grading_scan_column"

    scan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("grading_scan.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))  # the data item's name (the header hint)
    code: Mapped[str] = mapped_column(String(128))  # the stored column (the data item's code)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    nonempty: Mapped[int] = mapped_column(BigInteger, default=0)
    #: [{type, count, ratio}] by ratio, as in the scan contract
    detections: Mapped[list[Any]] = mapped_column(default=list)
    hinted: Mapped[list[Any]] = mapped_column(default=list)
    #: the detection types that counted under the scheme's settings
    counted: Mapped[list[Any]] = mapped_column(default=list)
    proposed_grade: Mapped[str] = mapped_column(String(32))
    rank: Mapped[int] = mapped_column(Integer, default=0)
    reasons: Mapped[list[Any]] = mapped_column(default=list)

    scan: Mapped[GradingScan] = relationship(back_populates="columns")


class GradingDecision(IdMixin, CreatedMixin, Base):
    __tablename__ = "grading_decision"

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalog_entry.id"), index=True)
    scan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("grading_scan.id"))
    action: Mapped[str] = mapped_column(String(16))  # confirm | override
    proposed_grade: Mapped[str | None] = mapped_column(String(32))
    grade: Mapped[str] = mapped_column(String(32))
    previous_grade: Mapped[str | None] = mapped_column(String(32))
    scheme: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[uuid.UUID | None]
    decided_by: Mapped[str] = mapped_column(String(64), default="")


class GradingSetting(Base):
    __tablename__ = "grading_setting"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
