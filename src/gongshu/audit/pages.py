"""Web pages of the audit log: filter, page, inspect, verify."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gongshu.audit import service
from gongshu.core.permissions import Actor, Perm
from gongshu.web.deps import Db, page_guard
from gongshu.web.nav import NavItem
from gongshu.web.templating import render

router = APIRouter(include_in_schema=False)
NAV = [NavItem("nav.audit", "/audit", Perm.AUDIT_READ, 95)]

Auditor = Annotated[Actor, page_guard(Perm.AUDIT_READ)]


def _day(value: str | None, tz: str, *, end: bool = False) -> dt.datetime | None:
    """A date typed in the display time zone, as the UTC instant it starts (or ends)."""
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    if end:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)


@router.get("/audit")
def audit_index(request: Request, actor: Auditor, db: Db, action: str | None = None,
                who: str | None = None, target: str | None = None, since: str | None = None,
                until: str | None = None, before: int | None = None) -> Response:
    tz = request.app.state.runtime.settings.display_timezone
    target_type, _, target_id = (target or "").partition(":")
    filters = service.AuditFilter(action=action or None, actor=who or None,
                                  target_type=target_type or None, target_id=target_id or None,
                                  since=_day(since, tz), until=_day(until, tz, end=True))
    events, cursor = service.list_events(actor, db, filters=filters, before_seq=before,
                                         limit=request.app.state.runtime.settings.page_size)
    query = {k: v for k, v in {"action": action, "who": who, "target": target, "since": since,
                               "until": until}.items() if v}
    return render(request, "audit/index.html", {
        "events": events, "cursor": cursor, "query": query, "query_string": urlencode(query),
        "can_verify": actor.can(Perm.AUDIT_VERIFY)})


@router.get("/audit/{seq}")
def audit_event(request: Request, actor: Auditor, db: Db, seq: int) -> Response:
    return render(request, "audit/detail.html", {"event": service.get_event(actor, db, seq)})


@router.post("/audit/verify")
def audit_verify(request: Request, actor: Annotated[Actor, page_guard(Perm.AUDIT_VERIFY)],
                 db: Db) -> Response:
    job = service.submit_verify(actor, db)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)
