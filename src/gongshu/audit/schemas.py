"""API shapes of the audit log."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    id: uuid.UUID
    occurred_at: dt.datetime
    actor_id: uuid.UUID | None
    actor_name: str
    via: str
    org_id: uuid.UUID | None
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]
    prev_hash: str
    hash: str
    #: the target's name as its owning module gives it ("" when unknown or gone)
    target_name: str = ""


class AuditEventsPublic(BaseModel):
    items: list[AuditEventPublic]
    next_before: int | None


def event_public(e: Any, ref: Any = None) -> AuditEventPublic:
    return AuditEventPublic(
        seq=e.seq, id=e.id, occurred_at=e.occurred_at, actor_id=e.actor_id,
        actor_name=e.actor_name, via=e.via, org_id=e.org_id, action=e.action,
        target_type=e.target_type, target_id=e.target_id, details=e.details_dict,
        prev_hash=e.prev_hash, hash=e.hash, target_name=getattr(ref, "name", ""),
    )
