"""Web pages of the audit log: filter, page, inspect, verify."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.audit import present, service
from gongshu.core.i18n import Translator
from gongshu.core.permissions import Actor, Perm
from gongshu.web.deps import Db, locale_of, page_guard, write_intent
from gongshu.web.nav import Card, NavItem
from gongshu.web.templating import render

router = APIRouter(include_in_schema=False)
NAV = [NavItem("nav.audit", "/audit", Perm.AUDIT_READ, 95)]

Auditor = Annotated[Actor, page_guard(Perm.AUDIT_READ)]


def dashboard_cards(actor: Actor, db: Session) -> list[Card]:
    """A security officer's and an auditor's view: failed logins of the last 24 hours,
    unacknowledged breaks of the chain, the last verification (its date; a warning if it
    failed or never ran), and for an auditor the events of the last 24 hours."""
    if not actor.can(Perm.AUDIT_VERIFY):
        return []
    w = service.watch(actor, db)
    reads = actor.can(Perm.AUDIT_READ)
    cards = [Card("audit.card_failed_logins", w.failed_logins,
                  "/audit?action=auth.login_failed" if reads else None,
                  warn=w.failed_logins > 0),
             Card("audit.card_open_breaks", w.open_breaks, "/audit" if reads else None,
                  warn=w.open_breaks > 0)]
    if w.last_verified_at is None:
        cards.append(Card("audit.card_never_verified", "—", "/audit" if reads else None,
                          warn=True))
    else:
        local = w.last_verified_at.astimezone(ZoneInfo("Asia/Shanghai"))
        cards.append(Card("audit.card_verified_ok" if w.last_verified_ok
                          else "audit.card_verified_broken", local.strftime("%Y-%m-%d"),
                          "/audit" if reads else None, warn=not w.last_verified_ok))
    if w.events_24h is not None:
        cards.append(Card("audit.card_events_24h", w.events_24h, "/audit"))
    return cards


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


FILTER_KEYS = ("action", "who", "target_type", "object", "org", "since", "until")


def _filters(tz: str, query: dict[str, str]) -> service.AuditFilter:
    """The page's filters: ``object`` is an id (or "type:id") or a name/code to search."""
    target_type = query.get("target_type") or None
    obj = (query.get("object") or "").strip()
    target_id = object_query = None
    if ":" in obj and obj.partition(":")[0] in service.RESOLVERS | {"audit_chain": None}:
        target_type, _, target_id = obj.partition(":")
    elif len(obj) == 36 and obj.count("-") == 4:
        target_id = obj
    elif obj:
        object_query = obj
    return service.AuditFilter(
        action=query.get("action") or None, actor=query.get("who") or None,
        target_type=target_type, target_id=target_id, object_query=object_query,
        org_path=query.get("org") or None,
        since=_day(query.get("since"), tz), until=_day(query.get("until"), tz, end=True))


def _query(request: Request) -> dict[str, str]:
    return {k: v for k in FILTER_KEYS if (v := request.query_params.get(k, "").strip())}


@router.get("/audit")
def audit_index(request: Request, actor: Auditor, db: Db, before: int | None = None) -> Response:
    tz = request.app.state.runtime.settings.display_timezone
    query = _query(request)
    events, cursor = service.list_events(actor, db, filters=_filters(tz, query), before_seq=before,
                                         limit=request.app.state.runtime.settings.page_size)
    t = Translator(locale_of(request))
    return render(request, "audit/index.html", {
        "events": events, "cursor": cursor, "query": query, "query_string": urlencode(query),
        "objects": service.objects(db, events), "target_types": service.target_types(),
        "orgs": service.org_choices(actor, db),
        "fields": {e.seq: present.detail_fields(e.details_dict, t, tz) for e in events},
        "times": {e.seq: present.local_time(e.occurred_at, tz) for e in events},
        "can_verify": actor.can(Perm.AUDIT_VERIFY)})


@router.get("/audit/export", dependencies=[Depends(write_intent)])
def audit_export(request: Request, actor: Auditor, db: Db, format: str = "csv") -> Response:
    tz = request.app.state.runtime.settings.display_timezone
    body, _rows = service.export_events(actor, db, filters=_filters(tz, _query(request)),
                                        fmt=format, locale=locale_of(request), tz=tz)
    return _download(body, format)


def _download(body: bytes, fmt: str) -> Response:
    media = ("text/csv; charset=utf-8" if fmt == "csv" else
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return Response(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="audit-{stamp}.{fmt}"'})


@router.get("/audit/{seq}")
def audit_event(request: Request, actor: Auditor, db: Db, seq: int) -> Response:
    tz = request.app.state.runtime.settings.display_timezone
    event = service.get_event(actor, db, seq)
    t = Translator(locale_of(request))
    return render(request, "audit/detail.html", {
        "event": event, "object": service.objects(db, [event])[event.seq],
        "fields": present.detail_fields(event.details_dict, t, tz),
        "time": present.local_time(event.occurred_at, tz)})


@router.post("/audit/verify")
def audit_verify(request: Request, actor: Annotated[Actor, page_guard(Perm.AUDIT_VERIFY)],
                 db: Db) -> Response:
    job = service.submit_verify(actor, db)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)
