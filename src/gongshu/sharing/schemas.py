"""API shapes of sharing (Art. 12): requests, their steps and decisions, grants, usage
reports, the working-day calendar."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gongshu.sharing.models import Scenario, ShareGrant, ShareRequest, ShareRequestStep


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# ------------------------------------------------------------------------------- requests


class ScenarioCreate(_In):
    name: str = Field(max_length=200)
    description: str = ""
    legal_basis: str = Field("", description="The law or duty the use serves (Art. 12)")
    expected_volume: str = ""
    period_start: dt.date | None = None
    period_end: dt.date | None = None


class ScenarioPublic(_Out):
    id: uuid.UUID
    name: str
    description: str
    legal_basis: str
    expected_volume: str
    period_start: dt.date | None
    period_end: dt.date | None


class ShareRequestCreate(_In):
    """A request of the caller's own body: there is no field to ask for another body."""

    entry: str = Field(description="The catalog entry: its id or its resource code")
    items: list[str] = Field(description="Data item codes, a subset of the entry's items")
    scenario_id: uuid.UUID | None = Field(None, description="Reuse a scenario of your body")
    scenario: ScenarioCreate | None = Field(
        None, description="Or describe it (a scenario of that name is reused)")
    contact_name: str = ""
    contact_phone: str = ""


class GrantTermsIn(_In):
    items: list[str] | None = Field(None, description="Grant fewer items than asked for")
    row_filter: list[dict[str, Any]] = Field(
        default_factory=list, description='[{"item": code, "op": "=", "value": …}], all must hold')
    starts_on: dt.date | None = None
    expires_on: dt.date | None = Field(None, description="Default: the scenario's end, or a year")
    daily_row_limit: int | None = Field(None, ge=1)


class CheckIn(_In):
    decision: Literal["conform", "nonconform", "coordinate"]
    comment: str = ""
    version: int | None = Field(None, description="The version you saw; 409 if it changed")
    terms: GrantTermsIn | None = Field(None, description="For an unconditional entry's grant")


class DecisionIn(_In):
    approve: bool
    comment: str = Field("", description="Required for a refusal, and in coordination")
    version: int | None = None
    terms: GrantTermsIn | None = None


class CommentIn(_In):
    comment: str = ""
    version: int | None = None


class DisputeIn(_In):
    reason: str
    version: int | None = None


class StepPublic(_Out):
    seq: int
    step: str
    action: str
    actor: str
    org_path: str
    comment: str
    due_at: dt.datetime | None
    created_at: dt.datetime


class OrgRef(BaseModel):
    id: uuid.UUID | None
    name: str


class ShareRequestPublic(BaseModel):
    id: uuid.UUID
    number: str
    status: str = Field(description="bureau_check, provider_review, coordination, granted, "
                        "refused, withdrawn")
    share_type: str
    entry_id: uuid.UUID
    resource_code: str
    requester: OrgRef
    provider: OrgRef
    items: list[str]
    scenario: ScenarioPublic | None
    contact_name: str
    contact_phone: str
    step_started_at: dt.datetime
    step_due_at: dt.datetime | None = Field(description="When the current step must be answered")
    overdue: bool
    deadline_warning: list[int] = Field(
        description="Years the current step crosses without working-day calendar data "
                    "(weekends only were counted there)")
    escalation_level: int
    escalated_at: dt.datetime | None
    escalated_to: str
    refusal_reason: str
    grant_id: uuid.UUID | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    decided_at: dt.datetime | None
    steps: list[StepPublic] | None = None


class ShareRequestsPublic(BaseModel):
    items: list[ShareRequestPublic]
    total: int


def request_public(req: ShareRequest, *, names: dict[uuid.UUID, str], scenario: Scenario | None,
                   overdue: bool, warning: list[int], escalated_to: str = "",
                   steps: list[ShareRequestStep] | None = None) -> ShareRequestPublic:
    return ShareRequestPublic(
        id=req.id, number=req.number, status=req.status, share_type=req.share_type,
        entry_id=req.entry_id, resource_code=req.resource_code,
        requester=OrgRef(id=req.requester_org_id, name=names.get(req.requester_org_id, "")),
        provider=OrgRef(id=req.provider_org_id, name=names.get(req.provider_org_id, "")),
        items=list(req.items),
        scenario=ScenarioPublic.model_validate(scenario) if scenario else None,
        contact_name=req.contact_name, contact_phone=req.contact_phone,
        step_started_at=req.step_started_at, step_due_at=req.step_due_at, overdue=overdue,
        deadline_warning=warning, escalation_level=req.escalation_level,
        escalated_at=req.escalated_at, escalated_to=escalated_to,
        refusal_reason=req.refusal_reason, grant_id=req.grant_id, version=req.version,
        created_at=req.created_at, updated_at=req.updated_at, decided_at=req.decided_at,
        steps=[StepPublic.model_validate(s) for s in steps] if steps is not None else None)


# --------------------------------------------------------------------------------- grants


class GrantPublic(BaseModel):
    id: uuid.UUID
    kind: str
    entry: str = Field(description="The entry's resource code")
    entry_id: uuid.UUID
    holder: str = Field(description="The holding body's name")
    holder_org_id: uuid.UUID | None
    provider: str
    provider_org_id: uuid.UUID
    status: str = Field(description="active, suspended, revoked, expired (past its expiry)")
    items: list[str]
    clear_items: list[str]
    row_filter: list[dict[str, Any]]
    scenario: str
    starts_at: dt.datetime
    expires_at: dt.datetime
    daily_row_limit: int | None
    request_id: uuid.UUID | None
    revoked_at: dt.datetime | None
    revoke_reason: str
    pulls: int = 0
    rows: int = 0
    last_pull: dt.datetime | None = None


def grant_public(grant: ShareGrant, *, status: str, names: dict[uuid.UUID, str],
                 scenario: str = "", pulls: int = 0, rows: int = 0,
                 last_pull: dt.datetime | None = None) -> GrantPublic:
    return GrantPublic(
        id=grant.id, kind=grant.kind, entry=grant.resource_code, entry_id=grant.entry_id,
        holder=names.get(grant.holder_org_id, "") if grant.holder_org_id else
        str(grant.holder_user_id or ""), holder_org_id=grant.holder_org_id,
        provider=names.get(grant.provider_org_id, ""), provider_org_id=grant.provider_org_id,
        status=status, items=list(grant.items), clear_items=list(grant.clear_items),
        row_filter=list(grant.row_filter), scenario=scenario, starts_at=grant.starts_at,
        expires_at=grant.expires_at, daily_row_limit=grant.daily_row_limit,
        request_id=grant.request_id, revoked_at=grant.revoked_at,
        revoke_reason=grant.revoke_reason, pulls=pulls, rows=rows, last_pull=last_pull)


class RevokeIn(_In):
    reason: str


# -------------------------------------------------------------------------------- reports


class BodyUsagePublic(_Out):
    org_id: uuid.UUID
    name: str
    grants: int
    active: int
    unused: int
    pulls: int
    rows: int
    last_pull: dt.datetime | None


class EntryUsagePublic(_Out):
    entry_id: uuid.UUID
    resource_code: str
    holders: int
    active: int
    pulls: int
    rows: int


class DayUsage(BaseModel):
    day: dt.date
    pulls: int
    rows: int


class BureauReportPublic(_Out):
    by_status: dict[str, int]
    overdue: dict[str, int]
    escalated: int
    median_hours: float | None = Field(description="Median hours from submission to the answer")
    answered: int
    by_type: dict[str, int]


# ------------------------------------------------------------------------------- calendar


class CalendarDayIn(_In):
    is_working: bool
    note: str = ""


class CalendarDayPublic(_Out):
    day: dt.date
    is_working: bool
    note: str
    created_by: str


class DeadlinePublic(BaseModel):
    start: dt.datetime
    working_days: int
    due_day: dt.date
    due_at: dt.datetime
    missing_years: list[int] = Field(description="Years crossed without calendar data: warn")
