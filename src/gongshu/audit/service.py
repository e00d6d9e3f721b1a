"""The audit log as auditors see it: filtered, paged, verified (Arts. 12, 41-44).

The chain itself (recording, hashing, checkpoints) is ``gongshu.core.audit``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gongshu.audit.permissions import AUDIT_ACKNOWLEDGE
from gongshu.core import audit, jobs
from gongshu.core.audit import AuditEvent, VerifyReport
from gongshu.core.db import runtime_of
from gongshu.core.errors import InvalidState, NotFound, ValidationFailed
from gongshu.core.permissions import Actor, Perm, require


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None  # exact, or a prefix ending in "." ("catalog.")
    actor: str | None = None  # username
    target_type: str | None = None
    target_id: str | None = None
    org_id: uuid.UUID | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def _scope(actor: Actor) -> list[object]:
    if actor.is_system:
        return []
    conds: list[object] = []
    for g in actor.scopes(Perm.AUDIT_READ):
        if g.subtree:
            conds.append(AuditEvent.org_path.startswith(g.org_path))
            if g.org_path.count("/") == 2:  # a root organisation: system events too
                conds.append(AuditEvent.org_path == "")
        else:
            conds.append(AuditEvent.org_path == g.org_path)
    return [or_(*conds)]


def list_events(
    actor: Actor,
    db: Session,
    /,
    *,
    filters: AuditFilter = AuditFilter(),
    before_seq: int | None = None,
    limit: int = 50,
) -> tuple[list[AuditEvent], int | None]:
    """Events newest first, keyset-paged: pass the returned cursor as ``before_seq``."""
    require(actor, Perm.AUDIT_READ)
    conds = _scope(actor)
    f = filters
    if f.action:
        conds.append(AuditEvent.action.startswith(f.action) if f.action.endswith(".")
                     else AuditEvent.action == f.action)
    if f.actor:
        conds.append(AuditEvent.actor_name == f.actor)
    if f.target_type:
        conds.append(AuditEvent.target_type == f.target_type)
    if f.target_id:
        conds.append(AuditEvent.target_id == f.target_id)
    if f.org_id:
        conds.append(AuditEvent.org_id == f.org_id)
    if f.since:
        conds.append(AuditEvent.occurred_at >= f.since)
    if f.until:
        conds.append(AuditEvent.occurred_at < f.until)
    if before_seq is not None:
        conds.append(AuditEvent.seq < before_seq)
    rows = list(db.scalars(select(AuditEvent).where(*conds).order_by(AuditEvent.seq.desc())
                           .limit(limit + 1)))
    cursor = rows[limit - 1].seq if len(rows) > limit else None
    return rows[:limit], cursor


def get_event(actor: Actor, db: Session, /, seq: int) -> AuditEvent:
    require(actor, Perm.AUDIT_READ)
    event = db.scalars(select(AuditEvent).where(AuditEvent.seq == seq, *_scope(actor))).first()
    if event is None:
        raise NotFound("No such audit event.", code="audit_event_not_found")
    return event


def verify(actor: Actor, db: Session, /, *,
           progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Re-derive the whole chain against the signed checkpoint and the checkpoint log (a read;
    may take a while). Writes nothing: the verdict comes first.

    Run it in a read transaction and then ``record_verification`` in a short write one: a
    long write transaction would hold SQLite's lock against everyone, progress reports included.
    """
    require(actor, Perm.AUDIT_VERIFY)
    store = runtime_of(db).audit_checkpoints
    public_key = runtime_of(db).keys.verify_key("audit")
    # read before the chain: never ahead of what the chain shows
    checkpoint, checkpoint_log = store.read_signed(public_key)
    return audit.verify_chain(
        db,
        checkpoint=checkpoint,
        public_key=public_key,
        progress=progress,
        require_checkpoint=True,
        checkpoint_log=checkpoint_log,
    )


def record_verification(actor: Actor, db: Session, /, report: VerifyReport) -> None:
    audit.record(db, actor, "audit.verify", target_type="audit_chain",
                 details={"ok": report.ok, "events": report.events_checked,
                          "bad_seq": report.bad_seq, "reason": report.reason})


def acknowledge_break(actor: Actor, db: Session, /, *, reason: str, report: VerifyReport) -> None:
    """Acknowledge what ``report`` (a verification just made) found: an audited act, with its
    reason and the verdict as evidence. When the transaction commits, the chain's head starts
    a new signed segment; the checkpoints and breaks logged before stay in the log."""
    require(actor, AUDIT_ACKNOWLEDGE)
    reason = reason.strip()
    if len(reason) < 10:
        raise ValidationFailed.single(
            "reason", "reason_too_short",
            "Give the reason: what was found and what was done about it (10 characters at "
            "least).", min_length=10)
    if report.ok:
        raise InvalidState("The audit chain verifies: there is no break to acknowledge.",
                           code="audit_no_break")
    audit.acknowledge_break(db, actor, reason=reason, evidence=report.verdict())


def submit_verify(actor: Actor, db: Session, /) -> jobs.Job:
    require(actor, Perm.AUDIT_VERIFY)
    return jobs.submit(actor, db, kind="audit.verify", title="audit.verify")
