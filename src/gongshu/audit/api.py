"""REST API of the audit log: auditors read it, auditors and security officers verify it."""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import APIRouter, Query

from gongshu.audit import service
from gongshu.audit.schemas import AuditEventPublic, AuditEventsPublic, event_public
from gongshu.core.permissions import Perm
from gongshu.jobs.schemas import JobPublic, job_public
from gongshu.web.deps import ApiActor, Db, guard

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
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before: int | None = Query(None, description="Cursor: events with seq below this"),
    limit: int = Query(50, ge=1, le=500),
) -> AuditEventsPublic:
    filters = service.AuditFilter(action=action, actor=actor_name, target_type=target_type,
                                  target_id=target_id, org_id=org_id, since=since, until=until)
    rows, cursor = service.list_events(actor, db, filters=filters, before_seq=before, limit=limit)
    return AuditEventsPublic(items=[event_public(e) for e in rows], next_before=cursor)


@router.get("/events/{seq}", response_model=AuditEventPublic, **guard(Perm.AUDIT_READ))
def get_event(actor: ApiActor, db: Db, seq: int) -> AuditEventPublic:
    return event_public(service.get_event(actor, db, seq))


@router.post("/verify", response_model=JobPublic, status_code=202, **guard(Perm.AUDIT_VERIFY))
def verify(actor: ApiActor, db: Db) -> JobPublic:
    """Start a verification of the whole chain; follow the job for its progress and verdict."""
    return job_public(service.submit_verify(actor, db))
