"""API shapes of grading (Art. 10)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

REASONS = (
    "[{level, text, rule, detector, ratio, count, kind, params}]: `text` is the English sentence "
    "the scan contract prints; `kind` (detected, below_threshold, column_name, default, "
    "dataset_column, dataset_rule, classification, dataset_default) with `params` says the same "
    "for rendering in any language (scans stored before kinds existed have no `kind`)")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ScanColumnPublic(_Out):
    position: int
    name: str = Field(description="The data item's name")
    code: str = Field(description="The stored column")
    rows: int
    nonempty: int
    detections: list[dict[str, Any]] = Field(description="[{type, count, ratio}] by ratio")
    hinted: list[str] = Field(description="Types the column name suggests")
    counted: list[str] = Field(description="Types that counted under the scheme's settings")
    proposed_grade: str
    reasons: list[dict[str, Any]] = Field(description=REASONS)


class ScanPublic(_Out):
    id: uuid.UUID
    entry_id: uuid.UUID
    dataset_id: uuid.UUID
    dataset_version_id: uuid.UUID
    rows_scanned: int
    scheme: str
    rule_packs: list[str]
    classification: str
    proposed_grade: str
    reasons: list[dict[str, Any]] = Field(description=REASONS)
    trigger: str = Field(description="ingest or rescan")
    created_at: dt.datetime
    created_by: str
    seconds: float
    columns: list[ScanColumnPublic] = Field(default_factory=list)


class ScanSummary(_Out):
    id: uuid.UUID
    rows_scanned: int
    scheme: str
    proposed_grade: str
    trigger: str
    created_at: dt.datetime


class DecisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grade: str = Field(description="A level id of the active scheme")
    reason: str = Field("", description="Required when the grade differs from the proposal")
    scan_id: uuid.UUID | None = Field(None, description="The scan decided on (default: latest)")


class DecisionPublic(_Out):
    id: uuid.UUID
    entry_id: uuid.UUID
    scan_id: uuid.UUID | None
    action: str = Field(description="confirm or override")
    proposed_grade: str | None
    grade: str
    previous_grade: str | None
    scheme: str
    reason: str
    decided_by: str
    created_at: dt.datetime


class EntryGradingPublic(BaseModel):
    entry_id: uuid.UUID
    resource_code: str
    grade: str | None = Field(description="The confirmed grade on the catalog entry")
    grade_reasons: list[str]
    proposal: ScanPublic | None = Field(description="The latest scan and its proposal")
    decisions: list[DecisionPublic]


class EntryGradingRow(BaseModel):
    entry_id: uuid.UUID
    resource_code: str
    grade: str | None
    proposed_grade: str
    decided: bool
    scan: ScanSummary


class EntryGradingRows(BaseModel):
    items: list[EntryGradingRow]
    total: int


class LevelPublic(BaseModel):
    id: str
    tier: str
    rank: int
    zh: str
    en: str
    meaning: str
    source: str


class RulePublic(BaseModel):
    id: str
    pack: str
    level: str
    reason: str
    reason_en: str | None = Field(None, description="The reason in English, if the pack has it")
    when: dict[str, Any]


class PackPublic(BaseModel):
    id: str
    zh: str
    en: str
    source: str
    builtin: bool
    applies_to: str | None = Field(description="Classification regex of a sector pack")
    rules: list[dict[str, Any]]


class SchemeInfoPublic(BaseModel):
    id: str
    zh: str
    en: str
    source: str
    builtin: bool
    rule_packs: list[str]


class SchemePublic(BaseModel):
    active: str
    levels: list[LevelPublic]
    default_level: str
    settings: dict[str, Any]
    rule_packs: list[str]
    schemes: list[SchemeInfoPublic]
    packs: list[PackPublic]


class SchemeChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scheme: str


class RescanStarted(BaseModel):
    job_id: uuid.UUID
    href: str
