"""Web pages of sharing (Art. 12): asking for an entry's data, a request with its timeline and
the deadline of its step, the provider's inbox, the bureau's queue, grants, usage reports with
charts, the working-day calendar; each role's own work on the home page."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.catalog import service as catalog
from gongshu.core.db import runtime_of
from gongshu.core.errors import GongshuError, PermissionDenied, ValidationFailed
from gongshu.core.i18n import Translator
from gongshu.core.permissions import Actor
from gongshu.sharing import delivery, flows, service
from gongshu.sharing.permissions import (
    CALENDAR_MANAGE,
    SHARE_ANSWER,
    SHARE_COORDINATE,
    SHARE_PULL,
    SHARE_REPORT,
    SHARE_REQUEST,
)
from gongshu.sharing.views import grants_out, request_out
from gongshu.web.deps import Db, PageActor, locale_of
from gongshu.web.forms import error_map
from gongshu.web.nav import Card, NavItem
from gongshu.web.templating import render

router = APIRouter(include_in_schema=False)

NAV = [
    NavItem("nav.sharing", "/sharing", SHARE_REQUEST, 40),
    NavItem("nav.sharing_inbox", "/sharing/inbox", SHARE_ANSWER, 41),
    NavItem("nav.sharing_queue", "/sharing/queue", SHARE_COORDINATE, 42),
    NavItem("nav.sharing_reports", "/sharing/reports", SHARE_REPORT, 43),
    NavItem("nav.sharing_calendar", "/sharing/calendar", CALENDAR_MANAGE, 90),
]

SEES = (SHARE_REQUEST, SHARE_ANSWER, SHARE_COORDINATE, SHARE_REPORT, SHARE_PULL)


def dashboard_cards(actor: Actor, db: Session) -> list[Card]:
    """Each role's own work: a requester's open requests and active grants, a provider's
    inbox and what is overdue in it, the bureau's queue and its overdue steps."""
    cards: list[Card] = []
    if actor.can(SHARE_REQUEST):
        _, mine = service.list_requests(actor, db, box="mine", open_only=True, limit=1)
        cards.append(Card("sharing.card_my_open", mine, "/sharing"))
        held = service.list_grants(actor, db, held=True, status="active", limit=1000)
        cards.append(Card("sharing.card_my_grants", len(held), "/sharing/grants?held=1"))
    if actor.can(SHARE_ANSWER):
        _, inbox = service.list_requests(actor, db, box="inbox", status="provider_review", limit=1)
        _, late = service.list_requests(actor, db, box="inbox", overdue=True, limit=1)
        cards.append(Card("sharing.card_inbox", inbox, "/sharing/inbox"))
        cards.append(Card("sharing.card_inbox_overdue", late, "/sharing/inbox?overdue=1"))
    if actor.can(SHARE_COORDINATE):
        _, queue = service.list_requests(actor, db, box="queue", open_only=True, limit=1)
        _, late = service.list_requests(actor, db, box="queue", overdue=True, limit=1)
        cards.append(Card("sharing.card_queue", queue, "/sharing/queue"))
        cards.append(Card("sharing.card_queue_overdue", late, "/sharing/queue?overdue=1"))
    return cards


def _any(actor: Actor, *perms: Any) -> None:
    if not any(actor.can(p) for p in perms):
        raise PermissionDenied("You do not have a sharing permission.",
                               permission=str(perms[0]))


def _back(url: str, flash: str) -> RedirectResponse:
    sep = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{sep}flash={flash}", status_code=303)


# ------------------------------------------------------------------------- lists and home


def _list_page(request: Request, actor: Actor, db: Session, *, box: str, title: str,
               status: str | None, overdue: str | None, offset: int) -> Response:
    limit = request.app.state.runtime.settings.page_size
    rows, total = service.list_requests(actor, db, box=box, status=status or None,
                                        overdue=True if overdue else None, limit=limit,
                                        offset=offset)
    return render(request, "sharing/list.html", {
        "title": title, "box": box, "requests": [request_out(db, r) for r in rows],
        "total": total, "offset": offset, "limit": limit, "status": status or "",
        "overdue": bool(overdue), "statuses": [s.value for s in service.RequestStatus]})


@router.get("/sharing")
def sharing_home(request: Request, actor: PageActor, db: Db) -> Response:
    """The requester's own work: its body's requests and the grants it holds."""
    _any(actor, *SEES)
    rows, total = service.list_requests(actor, db, box="mine", limit=50)
    held = service.usage_by_grant(actor, db, held=True, limit=200)
    return render(request, "sharing/index.html", {
        "requests": [request_out(db, r) for r in rows], "total": total,
        "grants": grants_out(db, held), "can_request": actor.can(SHARE_REQUEST)})


@router.get("/sharing/inbox")
def inbox(request: Request, actor: PageActor, db: Db, status: str | None = None,
          overdue: str | None = None, offset: int = 0) -> Response:
    _any(actor, SHARE_ANSWER)
    return _list_page(request, actor, db, box="inbox", title="sharing.inbox_title",
                      status=status, overdue=overdue, offset=offset)


@router.get("/sharing/queue")
def queue(request: Request, actor: PageActor, db: Db, status: str | None = None,
          overdue: str | None = None, offset: int = 0) -> Response:
    _any(actor, SHARE_COORDINATE)
    return _list_page(request, actor, db, box="queue", title="sharing.queue_title",
                      status=status, overdue=overdue, offset=offset)


# ------------------------------------------------------------------------------ asking


def _form(request: Request, actor: Actor, db: Session, entry_id: uuid.UUID, *,
          values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Response:
    entry = catalog.get_entry(actor, db, entry_id)
    version = entry.published_version
    items = [(i.code, i.name) for i in version.items] if version is not None else []
    return render(request, "sharing/new.html", {
        "entry": entry, "version": version, "items": items, "values": values,
        "errors": errors, "scenarios": service.list_scenarios(actor, db),
        "on_platform": flows.on_platform(db, entry.id),
        "periods": service.periods()["steps"]}, status_code=status)


@router.get("/sharing/new")
def new_request(request: Request, actor: PageActor, db: Db, entry: uuid.UUID) -> Response:
    _any(actor, SHARE_REQUEST)
    return _form(request, actor, db, entry, values={"items": []}, errors={})


@router.post("/sharing/new")
def create_request(
    request: Request, actor: PageActor, db: Db,
    entry: Annotated[uuid.UUID, Form()],
    items: Annotated[list[str] | None, Form()] = None,
    scenario_id: Annotated[str, Form()] = "",
    scenario_name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    legal_basis: Annotated[str, Form()] = "",
    expected_volume: Annotated[str, Form()] = "",
    period_start: Annotated[str, Form()] = "",
    period_end: Annotated[str, Form()] = "",
    contact_name: Annotated[str, Form()] = "",
    contact_phone: Annotated[str, Form()] = "",
) -> Response:
    values = {"items": items or [], "scenario_id": scenario_id, "scenario_name": scenario_name,
              "description": description, "legal_basis": legal_basis,
              "expected_volume": expected_volume, "period_start": period_start,
              "period_end": period_end, "contact_name": contact_name,
              "contact_phone": contact_phone}
    try:
        picked = uuid.UUID(scenario_id) if scenario_id else None
        scenario = None if picked else service.ScenarioIn(
            name=scenario_name, description=description, legal_basis=legal_basis,
            expected_volume=expected_volume,
            period_start=_date(period_start, "scenario.period_start"),
            period_end=_date(period_end, "scenario.period_end"))
        with db.begin_nested():
            req = flows.submit(actor, db, entry_id=entry, items=items or [], scenario_id=picked,
                               scenario=scenario, contact_name=contact_name,
                               contact_phone=contact_phone)
    except ValidationFailed as exc:
        return _form(request, actor, db, entry, values=values, errors=error_map(request, exc),
                     status=422)
    except (ValueError, GongshuError) as exc:
        t = Translator(locale_of(request))
        message = t(f"errors.{exc.code}", default=exc.detail) \
            if isinstance(exc, GongshuError) else str(exc)
        return _form(request, actor, db, entry, values=values, errors={"_": message},
                     status=getattr(exc, "status", 422))
    return _back(f"/sharing/requests/{req.id}", "share_request_submitted")


def _date(text: str, field: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed.single(field, "invalid", "A date like 2026-01-31.") from None


# --------------------------------------------------------------------------- the request


def _detail(request: Request, actor: Actor, db: Session, request_id: uuid.UUID, *,
            errors: dict[str, str] | None = None, status: int = 200) -> Response:
    req = service.get_request(actor, db, request_id)
    view = request_out(db, req, steps=service.request_steps(actor, db, req.id))
    entry = catalog.get_entry(service.LOOKUP, db, req.entry_id)
    version = entry.published_version
    names = {i.code: i.name for i in version.items} if version is not None else {}
    grant = None
    if req.grant_id is not None:
        uses = [u for u in service.usage_by_grant(actor, db, entry_id=req.entry_id)
                if u.grant.id == req.grant_id]
        grant = grants_out(db, uses)[0] if uses else None
    overdue_provider = req.status == "provider_review" and service.is_overdue(req)
    return render(request, "sharing/detail.html", {
        "req": view, "entry_name": version.name if version else req.resource_code,
        "item_names": names, "grant": grant, "errors": errors or {},
        "can": {
            "check": req.status == "bureau_check" and service.is_bureau(actor, req),
            "answer": req.status == "provider_review" and service.is_provider(actor, req),
            "coordinate": req.status == "coordination" and service.is_bureau(actor, req),
            "take_over": overdue_provider and service.is_bureau(actor, req),
            "dispute": req.status == "refused" and service.is_requester(actor, req),
            "withdraw": req.status in service.OPEN_STATES and service.is_requester(actor, req),
        }}, status_code=status)


@router.get("/sharing/requests/{request_id}")
def request_detail(request: Request, actor: PageActor, db: Db, request_id: uuid.UUID) -> Response:
    _any(actor, *SEES)
    return _detail(request, actor, db, request_id)


def _terms(form: Any) -> flows.GrantTerms | None:
    items = form.getlist("grant_items")
    limit = (form.get("daily_row_limit") or "").strip()
    expires = (form.get("expires_on") or "").strip()
    if not (items or limit or expires):
        return None
    try:
        daily = int(limit) if limit else None
    except ValueError:
        raise ValidationFailed.single("daily_row_limit", "invalid", "A whole number.") from None
    return flows.GrantTerms(items=items or None, daily_row_limit=daily,
                            expires_on=_date(expires, "expires_on"))


@router.post("/sharing/requests/{request_id}/{action}")
async def decide(request: Request, actor: PageActor, db: Db, request_id: uuid.UUID,
                 action: str) -> Response:
    form = await request.form()
    comment = str(form.get("comment") or "")
    version_text = str(form.get("version") or "")
    version = int(version_text) if version_text.isdigit() else None
    try:
        with db.begin_nested():
            if action == "check":
                flows.check(actor, db, request_id, decision=str(form.get("decision") or ""),
                            comment=comment, terms=_terms(form), expected_version=version)
            elif action in ("approve", "refuse"):
                flows.answer(actor, db, request_id, approve=action == "approve",
                             comment=comment, terms=_terms(form), expected_version=version)
            elif action in ("coordinate_grant", "coordinate_refuse"):
                flows.coordinate(actor, db, request_id, approve=action == "coordinate_grant",
                                 comment=comment, terms=_terms(form), expected_version=version)
            elif action == "take_over":
                flows.take_over(actor, db, request_id, comment=comment, expected_version=version)
            elif action == "dispute":
                flows.dispute(actor, db, request_id, reason=comment, expected_version=version)
            elif action == "withdraw":
                flows.withdraw(actor, db, request_id, comment=comment, expected_version=version)
            else:
                raise ValidationFailed.single("action", "invalid", "Unknown action.")
    except ValidationFailed as exc:
        return _detail(request, actor, db, request_id, errors=error_map(request, exc), status=422)
    except GongshuError as exc:
        if exc.status == 404:
            raise
        t = Translator(locale_of(request))
        return _detail(request, actor, db, request_id,
                       errors={"_": t(f"errors.{exc.code}", default=exc.detail)},
                       status=exc.status)
    return _back(f"/sharing/requests/{request_id}", "share_request_decided")


# --------------------------------------------------------------------------------- grants


@router.get("/sharing/grants")
def grants(request: Request, actor: PageActor, db: Db, held: str | None = None,
           entry: uuid.UUID | None = None, status: str | None = None) -> Response:
    _any(actor, *SEES)
    uses = service.usage_by_grant(actor, db, held=bool(held), entry_id=entry)
    if status:
        uses = [u for u in uses if u.status == status]
    return render(request, "sharing/grants.html", {
        "grants": grants_out(db, uses), "held": bool(held), "status": status or "",
        "entry": entry})


@router.get("/sharing/grants/{grant_id}")
def grant_detail(request: Request, actor: PageActor, db: Db, grant_id: uuid.UUID) -> Response:
    _any(actor, *SEES)
    return _grant_page(request, actor, db, grant_id)


def _grant_page(request: Request, actor: Actor, db: Session, grant_id: uuid.UUID, *,
                errors: dict[str, str] | None = None, status: int = 200,
                new_token: str | None = None) -> Response:
    grant = service.get_grant(actor, db, grant_id)
    uses = [u for u in service.usage_by_grant(actor, db, entry_id=grant.entry_id)
            if u.grant.id == grant.id]
    view = grants_out(db, uses)[0]
    daily = service.daily_pulls(actor, db, days=60, grant_id=grant.id)
    chart = {"days": [d.isoformat() for d, _, _ in daily], "rows": [r for _, _, r in daily],
             "pulls": [p for _, p, _ in daily]}
    return render(request, "sharing/grant.html", {
        "grant": view, "row": grant, "chart": json.dumps(chart),
        "is_holder": service.is_holder(actor, grant) and not actor.is_system,
        "may_revoke": service.may_manage(actor, grant) and view.status == "active",
        "errors": errors or {}, "new_token": new_token,
        "base_url": runtime_of(db).settings.base_url.rstrip("/")}, status_code=status)


@router.post("/sharing/grants/{grant_id}/token")
def grant_token(request: Request, actor: PageActor, db: Db, grant_id: uuid.UUID,
                name: Annotated[str, Form()] = "", days: Annotated[int, Form()] = 30) -> Response:
    """A token bound to this grant, for the holder's other systems: shown once, on the page."""
    try:
        with db.begin_nested():
            _token, raw = delivery.create_grant_token(actor, db, grant_id, name=name, days=days)
    except ValidationFailed as exc:
        return _grant_page(request, actor, db, grant_id, errors=error_map(request, exc),
                           status=422)
    return _grant_page(request, actor, db, grant_id, new_token=raw)


@router.post("/sharing/grants/{grant_id}/revoke")
def revoke(request: Request, actor: PageActor, db: Db, grant_id: uuid.UUID,
           reason: Annotated[str, Form()] = "") -> Response:
    try:
        with db.begin_nested():
            service.revoke_grant(actor, db, grant_id, reason=reason)
    except ValidationFailed as exc:
        return _grant_page(request, actor, db, grant_id, errors=error_map(request, exc),
                           status=422)
    return _back(f"/sharing/grants/{grant_id}", "grant_revoked")


# -------------------------------------------------------------------------------- reports


@router.get("/sharing/reports")
def reports(request: Request, actor: PageActor, db: Db) -> Response:
    _any(actor, SHARE_REPORT, SHARE_ANSWER, SHARE_COORDINATE)
    t = Translator(locale_of(request))
    bodies = service.usage_by_body(actor, db)
    entries = service.usage_by_entry(actor, db)
    report = service.bureau_report(actor, db)
    daily = service.daily_pulls(actor, db, days=30)
    names = {e.entry_id: _entry_name(db, e.entry_id) for e in entries[:50]}
    charts = {
        "daily": {"days": [d.isoformat()[5:] for d, _, _ in daily],
                  "rows": [r for _, _, r in daily], "pulls": [p for _, p, _ in daily],
                  "rows_label": t("sharing.rows"), "pulls_label": t("sharing.pulls")},
        "bodies": {"names": [b.name for b in bodies[:15]][::-1],
                   "rows": [b.rows for b in bodies[:15]][::-1], "label": t("sharing.rows")},
        "status": [{"name": t(f"request_status.{k}"), "value": v}
                   for k, v in sorted(report.by_status.items())],
    }
    return render(request, "sharing/reports.html", {
        "bodies": bodies, "entries": entries, "report": report, "names": names,
        "charts": json.dumps(charts, ensure_ascii=False)})


def _entry_name(db: Session, entry_id: uuid.UUID) -> str:
    entry = catalog.get_entry(service.LOOKUP, db, entry_id)
    version = entry.published_version or entry.current_version
    return version.name if version is not None else entry.resource_code


# ------------------------------------------------------------------------------- calendar


@router.get("/sharing/calendar")
def calendar_page(request: Request, actor: PageActor, db: Db) -> Response:
    return _calendar(request, actor, db)


def _calendar(request: Request, actor: Actor, db: Session, *,
              errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    _any(actor, CALENDAR_MANAGE)
    return render(request, "sharing/calendar.html", {
        "years": service.calendar_years(db), "days": service.list_calendar_days(actor, db),
        "files": service.year_files(), "errors": errors or {}}, status_code=status_code)


@router.post("/sharing/calendar")
def calendar_set(request: Request, actor: PageActor, db: Db, day: Annotated[str, Form()] = "",
                 kind: Annotated[str, Form()] = "holiday",
                 note: Annotated[str, Form()] = "") -> Response:
    try:
        with db.begin_nested():
            parsed = _date(day, "day")
            if parsed is None:
                raise ValidationFailed.single("day", "required", "Give the date.")
            service.set_calendar_day(actor, db, day=parsed, is_working=kind == "working",
                                     note=note)
    except ValidationFailed as exc:
        return _calendar(request, actor, db, errors=error_map(request, exc), status_code=422)
    return _back("/sharing/calendar", "calendar_saved")


@router.post("/sharing/calendar/{day}/delete")
def calendar_delete(request: Request, actor: PageActor, db: Db, day: dt.date) -> Response:
    service.delete_calendar_day(actor, db, day=day)
    return _back("/sharing/calendar", "calendar_saved")
