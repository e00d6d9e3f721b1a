"""Conditional opening (Art. 13): a developer applies for a ``conditional_open`` entry with a
purpose and the safeguards it will keep; the provider answers, then the entry's data bureau.
Both approvals give a grant of kind ``opening`` (``sharing.service.issue_grant``) with the
agreement: what the developer declared and the conditions the reviewers set.

Each decision locks the application's row (``FOR UPDATE``; SQLite writers hold the database
lock), checks that the application waits at that step, and records one ``ApplicationStep``:
a unique constraint on (application, step) makes a second decision of a step impossible, and
a concurrent one answers 409 (``application_decided``), never 500.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gongshu.core import audit
from gongshu.core.db import fetch, utcnow
from gongshu.core.errors import (
    Collector,
    Conflict,
    InvalidState,
    NotFound,
    PermissionDenied,
)
from gongshu.core.permissions import Actor
from gongshu.opening import service
from gongshu.opening.models import (
    Application,
    ApplicationStatus,
    ApplicationStep,
    Developer,
    Step,
)
from gongshu.opening.permissions import OPENING_ANSWER, OPENING_COORDINATE
from gongshu.sharing import service as sharing
from gongshu.sharing.service import GrantKind, ShareGrant

TARGET = "opening_application"
MIN_TEXT = 10  # a purpose or safeguards of fewer characters says nothing
MAX_DAYS = 730  # a conditional opening lasts at most two years; apply again after
#: which status waits for which step
WAITING = {Step.PROVIDER: ApplicationStatus.PROVIDER_REVIEW,
           Step.BUREAU: ApplicationStatus.BUREAU_REVIEW}


def apply(db: Session, /, *, developer: Developer, ref: str | uuid.UUID, purpose: str,
          safeguards: str, items: Sequence[str] = (), days: int = 365) -> Application:
    """A developer's application for a conditionally open dataset (Art. 13)."""
    dataset = service.get_dataset(db, ref)
    actor = service.developer_actor(developer)
    if not dataset.conditional:
        raise InvalidState("Only a conditionally open dataset is applied for; an open one is "
                           "downloaded.", code="opening_not_conditional")
    purpose, safeguards = service.text_in(purpose), service.text_in(safeguards)
    open_codes = [c.code for c in dataset.columns]
    chosen = list(dict.fromkeys(service.text_in(i) for i in items)) or open_codes
    errors = Collector()
    if len(purpose) < MIN_TEXT:
        errors.add("purpose", "opening_text_too_short", f"Describe the purpose ({MIN_TEXT} characters or more).",
                   min=MIN_TEXT)
    if len(safeguards) < MIN_TEXT:
        errors.add("safeguards", "opening_text_too_short",
                   f"Describe the safeguards ({MIN_TEXT} characters or more).", min=MIN_TEXT)
    unknown = [c for c in chosen if c not in open_codes]
    if unknown or not chosen:
        errors.add("items", "opening_items", "Choose among the dataset's open data items.",
                   value=", ".join(unknown))
    if not 1 <= int(days) <= MAX_DAYS:
        errors.add("days", "opening_days_out_of_range", f"Between 1 and {MAX_DAYS} days.",
                   max=MAX_DAYS)
    errors.raise_if_any()
    pending = db.scalar(sa.select(Application.id).where(
        Application.developer_id == developer.id, Application.entry_id == dataset.entry.id,
        Application.status.in_([s.value for s in WAITING.values()])))
    if pending is not None:
        raise Conflict("You already have an application for this dataset in review.",
                       code="application_pending")
    entry = dataset.entry
    application = Application(
        developer_id=developer.id, entry_id=entry.id, resource_code=entry.resource_code,
        entry_name=dataset.version.name, provider_org_id=entry.provider_org_id,
        provider_path=entry.provider_path, bureau_path=entry.bureau_path or "",
        purpose=purpose, safeguards=safeguards, items=chosen, days=int(days))
    db.add(application)
    db.flush()
    audit.record(db, actor, "opening.apply", target_type=TARGET, target_id=application.id,
                 org_id=entry.provider_org_id, org_path=entry.provider_path,
                 details={"resource_code": entry.resource_code, "items": chosen,
                          "days": int(days)})
    return application


def may_decide(actor: Actor, application: Application, step: Step) -> bool:
    if step == Step.PROVIDER:
        return actor.can(OPENING_ANSWER, application.provider_path)
    return bool(application.bureau_path) and actor.can(OPENING_COORDINATE,
                                                       application.bureau_path)


def may_see(actor: Actor, application: Application) -> bool:
    return (actor.is_system or actor.user_id == application.developer_id
            or any(may_decide(actor, application, s) for s in Step))


def _application(db: Session, application_id: uuid.UUID, *, lock: bool = False) -> Application:
    return fetch(db, Application, application_id, lock=lock,
                 missing=NotFound("No such application.", code="application_not_found"))


def get_application(actor: Actor, db: Session, /, application_id: uuid.UUID) -> Application:
    found = _application(db, application_id)
    if not may_see(actor, found):
        raise NotFound("No such application.", code="application_not_found")
    return found


def steps(actor: Actor, db: Session, /, application_id: uuid.UUID) -> list[ApplicationStep]:
    get_application(actor, db, application_id)
    return list(db.scalars(sa.select(ApplicationStep)
                           .where(ApplicationStep.application_id == application_id)
                           .order_by(ApplicationStep.created_at)))


def list_applications(actor: Actor, db: Session, /, *, status: str | None = None,
                      limit: int = 100, offset: int = 0) -> list[Application]:
    """Applications the actor answers (provider), decides (bureau) or made (developer)."""
    clauses: list[Any] = []
    if actor.is_system:
        clauses.append(sa.true())
    if actor.user_id is not None:
        clauses.append(Application.developer_id == actor.user_id)
    for perm, column in ((OPENING_ANSWER, Application.provider_path),
                         (OPENING_COORDINATE, Application.bureau_path)):
        for g in actor.scopes(perm):
            clauses.append(column.startswith(g.org_path, autoescape=True) if g.subtree
                           else column == g.org_path)
    if not clauses:
        return []
    stmt = sa.select(Application).where(sa.or_(*clauses))
    if status:
        stmt = stmt.where(Application.status == status)
    return list(db.scalars(stmt.order_by(Application.created_at.desc()).limit(limit)
                           .offset(offset)))


def agreement_text(application: Application, comments: Sequence[str]) -> str:
    """The agreement of the grant: what the developer declared and what the reviewers set."""
    lines = [f"用途 Purpose: {application.purpose}",
             f"安全保障措施 Safeguards: {application.safeguards}",
             f"数据项 Items: {', '.join(application.items)}",
             f"期限 Term: {application.days} days",
             "不得向第三方提供，不得用于所述用途以外的目的 (Art. 13). "
             "Not to be passed to third parties nor used for another purpose."]
    lines += [f"审核意见 Condition: {c}" for c in comments if c]
    return "\n".join(lines)


def decide(actor: Actor, db: Session, /, application_id: uuid.UUID, *, step: Step | str,
           approve: bool, comment: str = "") -> Application:
    """One decision of one step (module doc). A refusal needs a reason; the bureau's approval
    issues the grant."""
    if step not in {s.value for s in Step}:
        errors = Collector()
        errors.add("step", "opening_step", "The step is provider or bureau.")
        errors.raise_if_any()
    step = Step(step)
    application = _application(db, application_id, lock=True)
    if not may_see(actor, application):
        raise NotFound("No such application.", code="application_not_found")
    if not may_decide(actor, application, step):
        perm = OPENING_ANSWER if step == Step.PROVIDER else OPENING_COORDINATE
        raise PermissionDenied("You may not decide this step.", code="permission_denied",
                               permission=str(perm))
    comment = service.text_in(comment)
    if not approve and not comment:
        errors = Collector()
        errors.add("comment", "required", "Say why the application is refused.")
        errors.raise_if_any()
    if application.status != WAITING[step].value:
        raise InvalidState("The application does not wait for this step.",
                           code="application_decided", status=application.status)
    record = ApplicationStep(application_id=application.id, step=step.value,
                             decision="approve" if approve else "refuse", comment=comment,
                             decided_by=actor.username, decided_by_id=actor.user_id)
    try:
        with db.begin_nested():
            db.add(record)
            db.flush()
    except IntegrityError:
        raise InvalidState("This step was already decided.", code="application_decided") from None
    application.version += 1
    if not approve:
        application.status = ApplicationStatus.REFUSED.value
        application.decided_at = utcnow()
    elif step == Step.PROVIDER:
        application.status = ApplicationStatus.BUREAU_REVIEW.value
    else:
        _grant(actor, db, application)
    audit.record(db, actor, "opening.decide", target_type=TARGET, target_id=application.id,
                 org_id=application.provider_org_id, org_path=application.provider_path,
                 details={"step": step.value, "approve": approve, "comment": comment,
                          "status": application.status, "resource_code": application.resource_code,
                          "grant_id": str(application.grant_id) if application.grant_id else None})
    return application


def _grant(actor: Actor, db: Session, application: Application) -> None:
    comments = list(db.scalars(sa.select(ApplicationStep.comment)
                               .where(ApplicationStep.application_id == application.id)
                               .order_by(ApplicationStep.created_at)))
    agreement = agreement_text(application, comments)
    grant = sharing.issue_grant(
        actor, db, entry_id=application.entry_id, resource_code=application.resource_code,
        provider_org_id=application.provider_org_id, provider_path=application.provider_path,
        items=list(application.items), expires_at=utcnow() + dt.timedelta(days=application.days),
        holder_user_id=application.developer_id, bureau_path=application.bureau_path,
        application_id=application.id, kind=GrantKind.OPENING, agreement=agreement)
    application.status = ApplicationStatus.APPROVED.value
    application.grant_id = grant.id
    application.agreement = agreement
    application.decided_at = utcnow()


def active_grant(db: Session, /, *, developer: Developer, entry_id: uuid.UUID) -> ShareGrant | None:
    """The developer's active grant of kind ``opening`` on the entry, if any."""
    actor = service.developer_actor(developer)
    for grant in sharing.list_grants(actor, db, entry_id=entry_id, status="active"):
        if (grant.kind == GrantKind.OPENING.value and grant.holder_user_id == developer.id
                and sharing.effective_status(grant) == "active"):
            return grant
    return None


def developer_applications(db: Session, /, developer: Developer) -> list[Application]:
    return list(db.scalars(sa.select(Application).where(Application.developer_id == developer.id)
                           .order_by(Application.created_at.desc())))
