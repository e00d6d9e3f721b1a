"""Sharing's use cases (Art. 12): the only door to its tables.

This file holds the grant primitives every path uses: issuing a grant (from an approved share
request, or from an approved conditional-opening application, Art. 13), finding, listing and
revoking grants, and the object capability a grant confers on its holder. Requests and their
steps are in ``flows``; delivery in ``delivery``.

Art. 12: what a body receives may be used only in the declared scenario and never passed to a
third party, so a grant is never re-shared: only the provider or the bureau issue grants, and
a holder's rights come from the grant alone.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gongshu.core import audit
from gongshu.core.db import utcnow
from gongshu.core.errors import (
    Collector,
    InvalidState,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from gongshu.core.permissions import Actor, Capability
from gongshu.sharing.models import GrantKind, GrantStatus, ShareGrant
from gongshu.sharing.permissions import SHARE_ANSWER, SHARE_COORDINATE, SHARE_PULL

TARGET = "share_grant"
#: the capability a grant confers: read its entry's granted items (``library.read_columns``)
READ_GRANTED = "library.read"


def _grant(db: Session, grant_id: uuid.UUID, *, lock: bool = False) -> ShareGrant:
    stmt = sa.select(ShareGrant).where(ShareGrant.id == grant_id)
    if lock:
        stmt = stmt.with_for_update()
    found = db.scalars(stmt).first()
    if found is None:
        raise NotFound("No such grant.", code="grant_not_found")
    return found


def is_holder(actor: Actor, grant: ShareGrant) -> bool:
    """The actor acts for the grant's holder (its body, or the user it was given to)."""
    if actor.is_system:
        return True
    if grant.holder_user_id is not None and actor.user_id == grant.holder_user_id:
        return True
    return grant.holder_org_id is not None and actor.org_id == grant.holder_org_id


def may_manage(actor: Actor, grant: ShareGrant) -> bool:
    """The provider (its answering staff) or a data bureau covering either side."""
    return (actor.can(SHARE_ANSWER, grant.provider_path)
            or actor.can(SHARE_COORDINATE, grant.provider_path)
            or (bool(grant.bureau_path) and actor.can(SHARE_COORDINATE, grant.holder_path)))


def may_see(actor: Actor, grant: ShareGrant) -> bool:
    return is_holder(actor, grant) or may_manage(actor, grant)


def get_grant(actor: Actor, db: Session, /, grant_id: uuid.UUID) -> ShareGrant:
    """A grant its holder, its provider or a covering bureau may see; others get 404."""
    grant = _grant(db, grant_id)
    if not may_see(actor, grant):
        raise NotFound("No such grant.", code="grant_not_found")
    return grant


def effective_status(grant: ShareGrant, now: dt.datetime | None = None) -> str:
    """``expired`` once past its expiry even before the sweep has marked it."""
    now = now or utcnow()
    if grant.status == GrantStatus.ACTIVE and grant.expires_at <= now:
        return GrantStatus.EXPIRED.value
    return grant.status


def issue_grant(
    actor: Actor, db: Session, /, *, entry_id: uuid.UUID, resource_code: str,
    provider_org_id: uuid.UUID, provider_path: str, items: Sequence[str],
    expires_at: dt.datetime, holder_org_id: uuid.UUID | None = None, holder_path: str = "",
    holder_user_id: uuid.UUID | None = None, bureau_path: str = "",
    scenario_id: uuid.UUID | None = None, request_id: uuid.UUID | None = None,
    application_id: uuid.UUID | None = None, kind: GrantKind = GrantKind.SHARE,
    clear_items: Sequence[str] = (), row_filter: Sequence[dict[str, Any]] = (),
    starts_at: dt.datetime | None = None, daily_row_limit: int | None = None,
    agreement: str = "",
) -> ShareGrant:
    """Record a grant. Callers (``flows``, opening) decide that it is due and check who may
    give it; this checks its shape and audits it in the caller's transaction."""
    starts = starts_at or utcnow()
    errors = Collector()
    if not items:
        errors.add("items", "required", "A grant gives at least one data item.")
    if holder_org_id is None and holder_user_id is None:
        errors.add("holder", "required", "A grant has a holder.")
    if expires_at <= starts:
        errors.add("expires_at", "out_of_range", "A grant expires after it starts.")
    if not set(clear_items) <= set(items):
        errors.add("clear_items", "invalid", "Items in clear must be granted items.")
    if daily_row_limit is not None and daily_row_limit < 1:
        errors.add("daily_row_limit", "out_of_range", "A daily row limit is at least 1.")
    errors.raise_if_any()
    grant = ShareGrant(
        kind=kind.value, request_id=request_id, application_id=application_id,
        entry_id=entry_id, resource_code=resource_code, provider_org_id=provider_org_id,
        provider_path=provider_path, holder_org_id=holder_org_id, holder_path=holder_path,
        holder_user_id=holder_user_id, bureau_path=bureau_path, scenario_id=scenario_id,
        items=list(items), clear_items=list(clear_items), row_filter=list(row_filter),
        starts_at=starts, expires_at=expires_at, daily_row_limit=daily_row_limit,
        status=GrantStatus.ACTIVE.value, agreement=agreement, created_by=actor.username)
    db.add(grant)
    db.flush()
    audit.record(db, actor, "sharing.grant_issue", target_type=TARGET, target_id=grant.id,
                 org_id=provider_org_id, org_path=provider_path,
                 details={"resource_code": resource_code, "kind": grant.kind,
                          "holder": holder_path or str(holder_user_id), "items": list(items),
                          "expires_at": expires_at.isoformat(),
                          "request_id": str(request_id) if request_id else None,
                          "application_id": str(application_id) if application_id else None})
    return grant


def revoke_grant(actor: Actor, db: Session, /, grant_id: uuid.UUID, *, reason: str) -> ShareGrant:
    """The provider or the bureau ends a grant (Art. 12); the next pull is refused."""
    grant = _grant(db, grant_id, lock=True)
    if not may_see(actor, grant):
        raise NotFound("No such grant.", code="grant_not_found")
    if not may_manage(actor, grant):
        raise PermissionDenied("Only the provider or the data bureau may revoke a grant.",
                               code="permission_denied", permission=str(SHARE_ANSWER))
    if not reason.strip():
        raise ValidationFailed.single("reason", "required", "Say why the grant is revoked.")
    if grant.status in (GrantStatus.REVOKED, GrantStatus.EXPIRED):
        raise InvalidState(f"The grant is already {grant.status}.", code="grant_not_active")
    grant.status = GrantStatus.REVOKED.value
    grant.revoked_at = utcnow()
    grant.revoked_by = actor.username
    grant.revoke_reason = reason.strip()
    audit.record(db, actor, "sharing.grant_revoke", target_type=TARGET, target_id=grant.id,
                 org_id=grant.provider_org_id, org_path=grant.provider_path,
                 details={"resource_code": grant.resource_code, "reason": grant.revoke_reason,
                          "holder": grant.holder_path})
    return grant


def list_grants(actor: Actor, db: Session, /, *, entry_id: uuid.UUID | None = None,
                resource_code: str | None = None, status: str | None = None,
                limit: int = 200, offset: int = 0) -> list[ShareGrant]:
    """Grants the actor may see: held by its body, given by a body it answers for, or covered
    by its bureau; the system actor sees all."""
    stmt = sa.select(ShareGrant)
    if not actor.is_system:
        clauses: list[Any] = []
        if actor.org_id is not None:
            clauses.append(ShareGrant.holder_org_id == actor.org_id)
        if actor.user_id is not None:
            clauses.append(ShareGrant.holder_user_id == actor.user_id)
        for perm in (SHARE_ANSWER, SHARE_COORDINATE):
            for g in actor.scopes(perm):
                prefix = g.org_path if g.subtree else None
                clauses.append(ShareGrant.provider_path.startswith(prefix, autoescape=True)
                               if prefix else ShareGrant.provider_path == g.org_path)
        for g in actor.scopes(SHARE_COORDINATE):
            clauses.append(ShareGrant.holder_path.startswith(g.org_path, autoescape=True)
                           if g.subtree else ShareGrant.holder_path == g.org_path)
        if not clauses:
            return []
        stmt = stmt.where(sa.or_(*clauses))
    if entry_id is not None:
        stmt = stmt.where(ShareGrant.entry_id == entry_id)
    if resource_code is not None:
        stmt = stmt.where(ShareGrant.resource_code == resource_code)
    if status is not None:
        stmt = stmt.where(ShareGrant.status == status)
    stmt = stmt.order_by(ShareGrant.created_at.desc()).limit(limit).offset(offset)
    return list(db.scalars(stmt))


def capability(grant: ShareGrant) -> Capability:
    """What holding an active grant confers: reading its entry's granted items."""
    return Capability(READ_GRANTED, "catalog_entry", grant.entry_id, via=f"{TARGET}:{grant.id}")


def may_pull(actor: Actor, grant: ShareGrant) -> bool:
    """The holder's staff with ``sharing.pull``, or a token bound to this very grant."""
    if actor.token_object is not None:
        return actor.token_object == (TARGET, grant.id)
    return is_holder(actor, grant) and (actor.is_system or actor.can(SHARE_PULL))
