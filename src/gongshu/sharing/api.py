"""REST API of sharing (Art. 12): share requests and their decisions, grants, usage reports,
the working-day calendar. The grant data API (``/api/v1/grants/{id}/data``) is in
``delivery_api``, included at the bottom."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from gongshu.catalog import service as catalog
from gongshu.core.errors import PermissionDenied, ValidationFailed
from gongshu.core.permissions import Actor
from gongshu.sharing import flows, service
from gongshu.sharing.permissions import (
    CALENDAR_MANAGE,
    SHARE_ANSWER,
    SHARE_COORDINATE,
    SHARE_PULL,
    SHARE_REPORT,
    SHARE_REQUEST,
)
from gongshu.sharing.schemas import (
    BodyUsagePublic,
    BureauReportPublic,
    CalendarDayIn,
    CalendarDayPublic,
    CheckIn,
    CommentIn,
    DayUsage,
    DeadlinePublic,
    DecisionIn,
    DisputeIn,
    EntryUsagePublic,
    GrantPublic,
    GrantTermsIn,
    RevokeIn,
    ScenarioPublic,
    ShareRequestCreate,
    ShareRequestPublic,
    ShareRequestsPublic,
)
from gongshu.sharing.views import grants_out, request_out
from gongshu.web.deps import ApiActor, Db, guard

#: no prefix: every path is written out, so that the included delivery routes keep theirs
router = APIRouter(tags=["sharing"])


class _NeedsAny:
    def __init__(self, perms: tuple[Any, ...]) -> None:
        self.perms = perms

    def __call__(self, actor: ApiActor) -> None:
        if not any(actor.can(p) for p in self.perms):
            names = " or ".join(str(p) for p in self.perms)
            raise PermissionDenied(f"You need one of the permissions {names}.",
                                   permission=str(self.perms[0]))


def guard_any(*perms: Any) -> dict[str, Any]:
    """Like ``guard`` for a route any of several roles use (the service scopes what each sees)."""
    return {"dependencies": [Depends(_NeedsAny(perms))],
            "openapi_extra": {"x-permission": " | ".join(str(p) for p in perms)}}


SEES_REQUESTS = (SHARE_REQUEST, SHARE_ANSWER, SHARE_COORDINATE, SHARE_REPORT)
SEES_GRANTS = (SHARE_REQUEST, SHARE_PULL, SHARE_ANSWER, SHARE_COORDINATE, SHARE_REPORT)
SEES_REPORTS = (SHARE_REPORT, SHARE_ANSWER, SHARE_COORDINATE)


def _entry_id(actor: Actor, db: Any, ref: str) -> uuid.UUID:
    try:
        return catalog.get_entry(actor, db, uuid.UUID(ref)).id
    except ValueError:
        return catalog.get_entry_by_code(actor, db, ref).id


def _terms(terms: GrantTermsIn | None) -> flows.GrantTerms | None:
    if terms is None:
        return None
    return flows.GrantTerms(items=terms.items, row_filter=terms.row_filter,
                            starts_on=terms.starts_on, expires_on=terms.expires_on,
                            daily_row_limit=terms.daily_row_limit)


# ------------------------------------------------------------------------------- requests


@router.get("/api/v1/sharing/requests", response_model=ShareRequestsPublic, **guard_any(*SEES_REQUESTS))
def list_requests(
    actor: ApiActor, db: Db,
    box: str = Query("all", description="all, mine (your body asked), inbox (your body "
                     "provides), queue (your bureau checks or coordinates)"),
    status: str | None = Query(None), overdue: bool | None = Query(None),
    open_only: bool = Query(False, alias="open"),
    entry: str | None = Query(None, description="Entry id or resource code"),
    limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0),
) -> ShareRequestsPublic:
    entry_id = _entry_id(actor, db, entry) if entry else None
    rows, total = service.list_requests(actor, db, box=box, status=status, overdue=overdue,
                                        open_only=open_only, entry_id=entry_id, limit=limit,
                                        offset=offset)
    return ShareRequestsPublic(items=[request_out(db, r) for r in rows], total=total)


@router.post("/api/v1/sharing/requests", response_model=ShareRequestPublic, status_code=201,
             **guard(SHARE_REQUEST))
def create_request(actor: ApiActor, db: Db, body: ShareRequestCreate) -> ShareRequestPublic:
    """Ask for data items of a published catalog entry for your own body, under a scenario."""
    scenario = service.ScenarioIn(**body.scenario.model_dump()) if body.scenario else None
    req = flows.submit(actor, db, entry_id=_entry_id(actor, db, body.entry), items=body.items,
                       scenario_id=body.scenario_id, scenario=scenario,
                       contact_name=body.contact_name, contact_phone=body.contact_phone)
    return request_out(db, req, steps=service.request_steps(actor, db, req.id))


@router.get("/api/v1/sharing/requests/{request_id}", response_model=ShareRequestPublic,
            **guard_any(*SEES_REQUESTS))
def get_request(actor: ApiActor, db: Db, request_id: uuid.UUID) -> ShareRequestPublic:
    """A request with its timeline (``steps``) and the deadline of its current step."""
    req = service.get_request(actor, db, request_id)
    return request_out(db, req, steps=service.request_steps(actor, db, request_id))


def _decided(actor: Actor, db: Any, req: Any) -> ShareRequestPublic:
    return request_out(db, req, steps=service.request_steps(actor, db, req.id))


@router.post("/api/v1/sharing/requests/{request_id}/check", response_model=ShareRequestPublic,
             **guard(SHARE_COORDINATE))
def check(actor: ApiActor, db: Db, request_id: uuid.UUID, body: CheckIn) -> ShareRequestPublic:
    """The requester's data bureau checks conformity (2 working days)."""
    req = flows.check(actor, db, request_id, decision=body.decision, comment=body.comment,
                      terms=_terms(body.terms), expected_version=body.version)
    return _decided(actor, db, req)


@router.post("/api/v1/sharing/requests/{request_id}/answer", response_model=ShareRequestPublic,
             **guard(SHARE_ANSWER))
def answer(actor: ApiActor, db: Db, request_id: uuid.UUID, body: DecisionIn) -> ShareRequestPublic:
    """The provider grants a conditional request or refuses it with reasons."""
    req = flows.answer(actor, db, request_id, approve=body.approve, comment=body.comment,
                       terms=_terms(body.terms), expected_version=body.version)
    return _decided(actor, db, req)


@router.post("/api/v1/sharing/requests/{request_id}/coordinate", response_model=ShareRequestPublic,
             **guard(SHARE_COORDINATE))
def coordinate(actor: ApiActor, db: Db, request_id: uuid.UUID,
               body: DecisionIn) -> ShareRequestPublic:
    """The bureau decides a request in coordination (a dispute, a not-shared entry)."""
    req = flows.coordinate(actor, db, request_id, approve=body.approve, comment=body.comment,
                           terms=_terms(body.terms), expected_version=body.version)
    return _decided(actor, db, req)


@router.post("/api/v1/sharing/requests/{request_id}/take-over", response_model=ShareRequestPublic,
             **guard(SHARE_COORDINATE))
def take_over(actor: ApiActor, db: Db, request_id: uuid.UUID,
              body: CommentIn) -> ShareRequestPublic:
    """The bureau takes an overdue provider step into coordination."""
    req = flows.take_over(actor, db, request_id, comment=body.comment,
                          expected_version=body.version)
    return _decided(actor, db, req)


@router.post("/api/v1/sharing/requests/{request_id}/dispute", response_model=ShareRequestPublic,
             **guard(SHARE_REQUEST))
def dispute(actor: ApiActor, db: Db, request_id: uuid.UUID, body: DisputeIn) -> ShareRequestPublic:
    """The requester disputes a refusal (once); the bureau coordinates."""
    req = flows.dispute(actor, db, request_id, reason=body.reason, expected_version=body.version)
    return _decided(actor, db, req)


@router.post("/api/v1/sharing/requests/{request_id}/withdraw", response_model=ShareRequestPublic,
             **guard(SHARE_REQUEST))
def withdraw(actor: ApiActor, db: Db, request_id: uuid.UUID,
             body: CommentIn) -> ShareRequestPublic:
    req = flows.withdraw(actor, db, request_id, comment=body.comment,
                         expected_version=body.version)
    return _decided(actor, db, req)


@router.get("/api/v1/sharing/scenarios", response_model=list[ScenarioPublic], **guard(SHARE_REQUEST))
def list_scenarios(actor: ApiActor, db: Db) -> list[ScenarioPublic]:
    """Your body's scenarios, to reuse in a new request."""
    return [ScenarioPublic.model_validate(s) for s in service.list_scenarios(actor, db)]


# --------------------------------------------------------------------------------- grants


@router.get("/api/v1/grants", response_model=list[GrantPublic], **guard_any(*SEES_GRANTS))
def list_grants(
    actor: ApiActor, db: Db,
    entry: str | None = Query(None, description="Entry id or resource code"),
    held: bool = Query(False, description="Only grants your body holds"),
    status: str | None = Query(None, description="active, revoked, expired, suspended"),
) -> list[GrantPublic]:
    """Grants you may see, with their usage (pulls, rows, last use)."""
    entry_id = _entry_id(actor, db, entry) if entry else None
    uses = service.usage_by_grant(actor, db, entry_id=entry_id, held=held)
    if status:
        uses = [u for u in uses if u.status == status]
    return grants_out(db, uses)


@router.get("/api/v1/grants/{grant_id}", response_model=GrantPublic, **guard_any(*SEES_GRANTS))
def get_grant(actor: ApiActor, db: Db, grant_id: uuid.UUID) -> GrantPublic:
    grant = service.get_grant(actor, db, grant_id)
    uses = [u for u in service.usage_by_grant(actor, db, entry_id=grant.entry_id)
            if u.grant.id == grant.id]
    return grants_out(db, uses)[0]


@router.post("/api/v1/grants/{grant_id}/revoke", response_model=GrantPublic,
             **guard_any(SHARE_ANSWER, SHARE_COORDINATE))
def revoke_grant(actor: ApiActor, db: Db, grant_id: uuid.UUID, body: RevokeIn) -> GrantPublic:
    """The provider or the bureau ends a grant; its next pull is refused."""
    grant = service.revoke_grant(actor, db, grant_id, reason=body.reason)
    return grants_out(db, [service.GrantUsage(grant, grant.status, 0, 0, grant.last_pulled_at)])[0]


# -------------------------------------------------------------------------------- reports


@router.get("/api/v1/sharing/reports/bodies", response_model=list[BodyUsagePublic],
            **guard_any(*SEES_REPORTS))
def report_bodies(actor: ApiActor, db: Db, entry: str | None = Query(None)) -> list[BodyUsagePublic]:
    """Per holding body: grants, active and unused ones, pulls, rows, last use."""
    entry_id = _entry_id(actor, db, entry) if entry else None
    return [BodyUsagePublic.model_validate(b)
            for b in service.usage_by_body(actor, db, entry_id=entry_id)]


@router.get("/api/v1/sharing/reports/entries", response_model=list[EntryUsagePublic],
            **guard_any(*SEES_REPORTS))
def report_entries(actor: ApiActor, db: Db) -> list[EntryUsagePublic]:
    """Per catalog entry: how many bodies hold grants, pulls, rows."""
    return [EntryUsagePublic.model_validate(e) for e in service.usage_by_entry(actor, db)]


@router.get("/api/v1/sharing/reports/daily", response_model=list[DayUsage], **guard_any(*SEES_REPORTS))
def report_daily(actor: ApiActor, db: Db, days: int = Query(30, ge=1, le=366),
                 entry: str | None = Query(None)) -> list[DayUsage]:
    entry_id = _entry_id(actor, db, entry) if entry else None
    return [DayUsage(day=d, pulls=p, rows=r)
            for d, p, r in service.daily_pulls(actor, db, days=days, entry_id=entry_id)]


@router.get("/api/v1/sharing/reports/requests", response_model=BureauReportPublic,
            **guard_any(*SEES_REPORTS))
def report_requests(actor: ApiActor, db: Db) -> BureauReportPublic:
    """Requests by state and sharing type, overdue per step, escalated, the median time to
    answer."""
    return BureauReportPublic.model_validate(service.bureau_report(actor, db))


# ------------------------------------------------------------------------------- calendar


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed.single("day", "invalid", "A date like 2027-01-01.") from None


@router.get("/api/v1/sharing/calendar/deadline", response_model=DeadlinePublic, **guard())
def deadline(db: Db, days: int = Query(..., ge=0, le=365),
             start: dt.datetime | None = Query(None)) -> DeadlinePublic:
    """When a step of ``days`` working days starting at ``start`` (now) is due; warns about
    years without calendar data."""
    begin = start or dt.datetime.now(dt.UTC)
    if begin.tzinfo is None:
        raise ValidationFailed.single("start", "invalid", "Give a time zone (e.g. Z).")
    found = service.deadline(db, begin, days)
    return DeadlinePublic(start=begin, working_days=days, due_day=found.due_day,
                          due_at=found.due_at, missing_years=list(found.missing_years))


@router.get("/api/v1/sharing/calendar", response_model=list[CalendarDayPublic],
            **guard(CALENDAR_MANAGE))
def calendar_days(actor: ApiActor, db: Db, year: int | None = Query(None, ge=1, le=9999)) -> list[CalendarDayPublic]:
    """The days administrators entered (they override the yearly files)."""
    return [CalendarDayPublic.model_validate(d)
            for d in service.list_calendar_days(actor, db, year=year)]


@router.put("/api/v1/sharing/calendar/{day}", response_model=CalendarDayPublic,
            **guard(CALENDAR_MANAGE))
def set_calendar_day(actor: ApiActor, db: Db, day: str, body: CalendarDayIn) -> CalendarDayPublic:
    found = service.set_calendar_day(actor, db, day=_day(day), is_working=body.is_working,
                                     note=body.note)
    return CalendarDayPublic.model_validate(found)


@router.delete("/api/v1/sharing/calendar/{day}", status_code=204, **guard(CALENDAR_MANAGE))
def delete_calendar_day(actor: ApiActor, db: Db, day: str) -> Response:
    service.delete_calendar_day(actor, db, day=_day(day))
    return Response(status_code=204)


# the grant data API (delivery.py), with its own full paths (/api/v1/grants/{id}/data)
from gongshu.sharing import delivery_api  # noqa: E402  (the grant data API, delivery.py)

router.include_router(delivery_api.router)
