"""API shapes of de-identification (Art. 16)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field

from gongshu.deid.models import DeidProfile, DeidRelease


class AssessmentPublic(BaseModel):
    """The re-identification risk (prosecutor model) for the quasi-identifiers."""

    records: int
    classes: int
    k: int = Field(description="The smallest class (distinct combination of the quasi-identifiers)")
    max_risk: float = Field(description="1 / k")
    avg_risk: float = Field(description="classes / records")
    at_risk: int = Field(description="Records in classes smaller than k_threshold")
    k_threshold: int
    quasi_identifiers: list[str]
    sensitive: str | None = None
    l: int | None = Field(None, description="Fewest distinct sensitive values in a class")  # noqa: E741
    class_sizes: list[list[int]] = Field(default_factory=list,
                                         description="[class size, number of classes]")
    seconds: float = 0.0


class DatasetAssess(BaseModel):
    """Assess a dataset's version raw (``qi``, ``k``, ``sensitive``) or through a profile."""

    qi: list[str] = Field(default_factory=list, max_length=50)
    k: int = Field(10, ge=1, le=1_000_000_000)
    sensitive: str | None = Field(None, max_length=200)
    profile_id: uuid.UUID | None = None
    version: int | None = Field(None, ge=1, le=1_000_000_000)


class AssessResult(BaseModel):
    assessment: AssessmentPublic
    #: what would block a release: [{code, …figures}]
    reasons: list[dict[str, Any]]


class ProfileCreate(BaseModel):
    name: str = Field(max_length=100)
    spec: dict[str, Any] = Field(description="columns, quasi_identifiers, sensitive, "
                                 "thresholds {k, l, max_risk}, suppress, unlisted, key_scope")


class ProfileUpdate(ProfileCreate):
    version: int = Field(ge=1, le=1_000_000_000)


class ProfilePublic(BaseModel):
    id: uuid.UUID
    entry_id: uuid.UUID
    name: str
    spec: dict[str, Any]
    version: int
    created_by: str
    updated_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


class ReleaseCreate(BaseModel):
    profile_id: uuid.UUID
    version: int | None = Field(None, ge=1, le=1_000_000_000)


class ReleaseJob(BaseModel):
    """A release queued as a job: follow it at ``/api/v1/jobs/{job_id}``; its result names
    the release."""

    job_id: uuid.UUID
    href: str


class ReleasePublic(BaseModel):
    id: uuid.UUID
    entry_id: uuid.UUID
    profile_id: uuid.UUID | None
    profile_name: str
    dataset_version: int
    status: str = Field(description="blocked | ready | released")
    assessment: AssessmentPublic
    reasons: list[dict[str, Any]]
    thresholds: dict[str, Any]
    rows: int
    columns: list[str]
    created_by: str
    created_at: dt.datetime
    released_by: str
    released_at: dt.datetime | None


class ReleasesPublic(BaseModel):
    items: list[ReleasePublic]
    total: int


def profile_public(p: DeidProfile) -> ProfilePublic:
    return ProfilePublic(id=p.id, entry_id=p.entry_id, name=p.name, spec=p.spec,
                         version=p.version, created_by=p.created_by, updated_by=p.updated_by,
                         created_at=p.created_at, updated_at=p.updated_at)


def release_public(r: DeidRelease) -> ReleasePublic:
    return ReleasePublic(id=r.id, entry_id=r.entry_id, profile_id=r.profile_id,
                         profile_name=r.profile_name, dataset_version=r.dataset_version,
                         status=r.status, assessment=AssessmentPublic(**r.assessment),
                         reasons=list(r.reasons), thresholds=dict(r.spec.get("thresholds") or {}),
                         rows=r.rows, columns=list(r.columns), created_by=r.created_by,
                         created_at=r.created_at, released_by=r.released_by,
                         released_at=r.released_at)
