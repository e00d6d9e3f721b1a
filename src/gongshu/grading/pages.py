"""Web pages of grading (Art. 10): proposals awaiting a steward, an entry's scan results with
their reasons and the decision form, and the grading scheme with its rule packs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.catalog import service as catalog
from gongshu.core.errors import PermissionDenied, ValidationFailed
from gongshu.core.i18n import Translator
from gongshu.core.permissions import Actor
from gongshu.grading import service
from gongshu.grading.permissions import GRADING_CONFIRM, GRADING_MANAGE
from gongshu.library.permissions import LIBRARY_INGEST, LIBRARY_READ
from gongshu.web.deps import Db, PageActor, locale_of, page_guard
from gongshu.web.forms import error_map
from gongshu.web.nav import Card, NavItem
from gongshu.web.templating import render

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class SchemeNavItem(NavItem):
    """The scheme page for administrators who do not see the grading pages themselves (the
    others reach it from there)."""

    def visible_to(self, actor: Actor | None) -> bool:
        return actor is not None and actor.can(GRADING_MANAGE) and not actor.can(
            LIBRARY_READ)


NAV = [
    NavItem("nav.grading", "/grading", LIBRARY_READ, 31),
    SchemeNavItem("nav.grading_scheme", "/grading/scheme", GRADING_MANAGE, 32),
]


def dashboard_cards(actor: Actor, db: Session) -> list[Card]:
    """Home-page figure for data stewards: proposals waiting for their decision."""
    if not actor.can(GRADING_CONFIRM):
        return []
    _, pending = service.overview(actor, db, pending=True, limit=1)
    return [Card("grading.card_pending", pending, "/grading?pending=true")]


def _levels(db: Session, entry: Any | None = None) -> dict[str, Any]:
    return {lv.id: lv for lv in service.scheme_for(db, entry).levels}


def _label(request: Request) -> Any:
    english = locale_of(request) == "en"

    def label(levels: dict[str, Any], level_id: str | None) -> str:
        if not level_id:
            return ""
        found = levels.get(level_id)
        if found is None:
            return level_id
        return found.en if english else found.zh

    return label


def _reader(actor: PageActor) -> Actor:
    if not (actor.can(LIBRARY_READ) or actor.can(GRADING_CONFIRM)):
        raise PermissionDenied("You do not have the permission library.read.",
                               permission=LIBRARY_READ.value)
    return actor


@router.get("/grading")
def grading_index(request: Request, actor: PageActor, db: Db, pending: str | None = None,
                  offset: int = 0) -> Response:
    _reader(actor)
    limit = request.app.state.runtime.settings.page_size
    flag = {"true": True, "false": False}.get(pending or "")
    rows, total = service.overview(actor, db, pending=flag, limit=limit, offset=offset)
    return render(request, "grading/index.html", {
        "rows": rows, "total": total, "pending": pending or "", "offset": offset, "limit": limit,
        "levels": _levels(db), "level_label": _label(request)})


def _entry_context(request: Request, actor: Actor, db: Session, entry_id: uuid.UUID,
                   errors: dict[str, str] | None = None,
                   values: dict[str, Any] | None = None) -> dict[str, Any]:
    scan = service.latest_scan(actor, db, entry_id)
    entry = catalog.get_entry(actor, db, entry_id)
    scans = service.list_scans(actor, db, entry_id, limit=10)
    levels = _levels(db, entry)
    return {
        "entry": entry, "entry_version": entry.current_version, "scan": scan, "scans": scans,
        "decisions": service.decisions(actor, db, entry_id),
        "levels": levels, "level_label": _label(request),
        "can_decide": actor.can(GRADING_CONFIRM, entry.provider_path),
        "can_rescan": scan is not None and (
            actor.can(GRADING_CONFIRM, entry.provider_path)
            or actor.can(LIBRARY_INGEST, entry.provider_path)),
        "errors": errors or {}, "values": values or {},
    }


@router.get("/grading/entries/{entry_id}")
def entry_page(request: Request, actor: PageActor, db: Db, entry_id: uuid.UUID) -> Response:
    """Scan results with their reasons, and the steward's decision."""
    _reader(actor)
    return render(request, "grading/entry.html", _entry_context(request, actor, db, entry_id))


@router.post("/grading/entries/{entry_id}/decide")
def decide(
    request: Request,
    actor: Annotated[Actor, page_guard(GRADING_CONFIRM)],
    db: Db,
    entry_id: uuid.UUID,
    grade: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
    scan_id: Annotated[str, Form()] = "",
) -> Response:
    try:
        service.decide(actor, db, entry_id, grade=grade, reason=reason,
                       scan_id=uuid.UUID(scan_id) if scan_id else None)
    except ValidationFailed as exc:
        db.rollback()
        return render(request, "grading/entry.html", _entry_context(
            request, actor, db, entry_id, errors=error_map(request, exc),
            values={"grade": grade, "reason": reason}), status_code=422)
    return RedirectResponse(f"/grading/entries/{entry_id}?flash=grade_recorded",
                            status_code=303)


@router.post("/grading/entries/{entry_id}/rescan")
def rescan(request: Request, actor: PageActor, db: Db, entry_id: uuid.UUID) -> Response:
    job = service.request_rescan(actor, db, entry_id)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.get("/grading/scheme")
def scheme_page(request: Request, actor: PageActor, db: Db) -> Response:
    """The grading scheme in force, its levels and settings, and every rule pack."""
    overview = service.scheme_overview(actor, db)
    t = Translator(locale_of(request))
    return render(request, "grading/scheme.html", {
        **overview, "can_manage": service.may_manage_scheme(actor, db), "t": t,
        "english": locale_of(request) == "en"})


@router.post("/grading/scheme")
def choose_scheme(request: Request, actor: Annotated[Actor, page_guard(GRADING_MANAGE)],
                  db: Db, scheme: Annotated[str, Form()]) -> Response:
    service.set_active_scheme(actor, db, scheme=scheme)
    return RedirectResponse("/grading/scheme?flash=scheme_chosen", status_code=303)
