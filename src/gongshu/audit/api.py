"""REST API of the audit log: auditors read it, auditors and security officers verify it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from gongshu.audit import service
from gongshu.audit.schemas import AuditEventPublic, AuditEventsPublic, event_public
from gongshu.core.permissions import Perm
from gongshu.jobs.schemas import JobPublic, job_public
from gongshu.web.deps import ApiActor, Db, guard, locale_of, write_intent

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("/events", response_model=AuditEventsPublic, **guard(Perm.AUDIT_READ))
def list_events(
    actor: ApiActor,
    db: Db,
    action: str | None = Query(None, description="Exact action, or a prefix ending in '.'"),
    actor_name: str | None = Query(None, alias="actor"),
    target_type: str | None = None,
    target_id: str | None = None,
    org_id: uuid.UUID | None = None,
    org_path: str | None = Query(None, description="Events of this organisation and below"),
    q: str | None = Query(None, description="The object's name, resource code or number"),
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before: int | None = Query(None, description="Cursor: events with seq below this"),
    limit: int = Query(50, ge=1, le=500),
) -> AuditEventsPublic:
    filters = service.AuditFilter(action=action, actor=actor_name, target_type=target_type,
                                  target_id=target_id, org_id=org_id, org_path=org_path,
                                  object_query=q, since=since, until=until)
    rows, cursor = service.list_events(actor, db, filters=filters, before_seq=before, limit=limit)
    refs = service.objects(db, rows)
    return AuditEventsPublic(items=[event_public(e, refs[e.seq]) for e in rows], next_before=cursor)


def _audited_read() -> dict[str, Any]:
    """A read that writes (the export is audited)."""
    options = guard(Perm.AUDIT_READ)
    options["dependencies"] = [Depends(write_intent), *options["dependencies"]]
    return options


@router.get("/export", **_audited_read(), response_class=Response,
            responses={200: {"content": {"text/csv": {}, "application/vnd.openxmlformats-"
                                         "officedocument.spreadsheetml.sheet": {}}}})
def export_events(
    request: Request,
    actor: ApiActor,
    db: Db,
    format: str = Query("csv", pattern="^(csv|xlsx)$"),
    action: str | None = None,
    actor_name: str | None = Query(None, alias="actor"),
    target_type: str | None = None,
    target_id: str | None = None,
    org_path: str | None = None,
    q: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Response:
    """The filtered events as a CSV or XLSX file (an inspection); the export is audited."""
    filters = service.AuditFilter(action=action, actor=actor_name, target_type=target_type,
                                  target_id=target_id, org_path=org_path, object_query=q,
                                  since=since, until=until)
    tz = request.app.state.runtime.settings.display_timezone
    body, _ = service.export_events(actor, db, filters=filters, fmt=format,
                                    locale=locale_of(request), tz=tz)
    media = ("text/csv; charset=utf-8" if format == "csv" else
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="audit.{format}"'})


@router.get("/events/{seq}", response_model=AuditEventPublic, **guard(Perm.AUDIT_READ))
def get_event(actor: ApiActor, db: Db, seq: int) -> AuditEventPublic:
    return event_public(service.get_event(actor, db, seq))


@router.post("/verify", response_model=JobPublic, status_code=202, **guard(Perm.AUDIT_VERIFY))
def verify(actor: ApiActor, db: Db) -> JobPublic:
    """Start a verification of the whole chain; follow the job for its progress and verdict."""
    return job_public(service.submit_verify(actor, db))
