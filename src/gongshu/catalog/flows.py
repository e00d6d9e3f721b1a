"""The review workflow of catalog entries (Art. 9).

A body compiles its catalog and submits it to the data bureau of its own level for review::

    draft ──submit──▶ submitted ──approve──▶ approved ──publish──▶ published
      ▲                  │  │                                          │
      └──────recall──────┘  └──return (comment)──▶ returned ──submit──▶ …
    published ──revise──▶ new draft (the published version stays visible) ──▶ … ──▶ published
                                                       (the old one becomes superseded)
    published ──withdraw (reason)──▶ withdrawn (out of the catalog)

Rules kept here, each in one place:

- only a reviewer (``catalog.review``) whose grant covers the provider's *same-level data
  bureau* reviews (return, approve, publish): ``_require_reviewer``;
- nobody reviews a version they created, edited or submitted: ``_not_own``;
- the body (``catalog.edit`` at the provider) submits, recalls, revises; the body or the
  bureau withdraws; a return and a withdrawal say why;
- each step leaves a ``ReviewRecord`` and an audit event (``catalog.submit`` …) in the same
  transaction, and brings the search index along;
- a submission whose items other bodies' published entries could provide through sharing
  (Art. 12, duplicate collection) also leaves ``catalog.duplicate_warning`` naming them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gongshu.catalog import access
from gongshu.catalog.models import EDITABLE, CatalogEntry, CatalogVersion, ReviewRecord
from gongshu.catalog.permissions import CATALOG_EDIT, CATALOG_REVIEW
from gongshu.catalog.search import service as search
from gongshu.catalog.service import (
    _new_version,
    _record,
    _set_pointers,
    _valid,
    _writable,
    may_review,
    record_duplicate_warning,
    sync_status,
    today_local,
    version_entry,
)
from gongshu.core.db import runtime_of, utcnow
from gongshu.core.errors import InvalidState, PermissionDenied, ValidationFailed
from gongshu.core.permissions import Actor, require
from gongshu.orgs import service as orgs

COMMENT_MAX = 4000


def _working(entry: CatalogEntry, *states: str) -> CatalogVersion:
    working = entry.working_version
    if working is None or working.status not in states:
        raise InvalidState(
            f"This step needs a version that is {' or '.join(states)}.",
            code="catalog_wrong_state", status=working.status if working else entry.status)
    return working


def _trail(db: Session, actor: Actor, entry: CatalogEntry, version: CatalogVersion | None,
           action: str, comment: str = "") -> None:
    db.add(ReviewRecord(entry_id=entry.id, version_id=version.id if version else None,
                        version_number=version.number if version else 0, action=action,
                        comment=comment, actor_id=actor.user_id,
                        actor_name=actor.display_name or actor.username))


def _step(db: Session, actor: Actor, entry: CatalogEntry, version: CatalogVersion | None,
          action: str, comment: str = "", **details: Any) -> CatalogEntry:
    """Finish a step: trail, status, audit, index."""
    _trail(db, actor, entry, version, action, comment)
    sync_status(entry)
    _record(db, actor, action, entry, {"version": version.number if version else None,
                                       **({"comment": comment} if comment else {}), **details})
    search.refresh(db, entry)
    return entry


def _comment(text: str | None, *, required: bool, field: str = "comment") -> str:
    text = (text or "").strip()
    if required and not text:
        raise ValidationFailed.single(field, "comment_required", "Say why (a comment is required).")
    if len(text) > COMMENT_MAX:
        raise ValidationFailed.single(field, "too_long", f"At most {COMMENT_MAX} characters.",
                                      max_length=COMMENT_MAX)
    return text


def _require_reviewer(actor: Actor, db: Session, entry: CatalogEntry) -> None:
    """Art. 9: the provider submits to the data bureau of its own level, and only a reviewer of
    that bureau reviews."""
    require(actor, CATALOG_REVIEW)
    if not may_review(actor, entry):
        raise PermissionDenied(
            "Only a reviewer of the provider's same-level data bureau reviews this entry.",
            code="catalog_not_reviewer")


def _not_own(actor: Actor, version: CatalogVersion) -> None:
    """Nobody reviews their own work: the version's author, editor or submitter."""
    if actor.user_id is None:
        return  # the platform operator (CLI) is nobody's author
    if actor.user_id in {version.created_by_id, version.updated_by_id, version.submitted_by_id}:
        raise PermissionDenied("You cannot review a version you compiled or submitted.",
                               code="catalog_self_review")


def submit(actor: Actor, db: Session, /, entry_id: uuid.UUID, *,
           comment: str = "") -> CatalogEntry:
    """Submit the working version to the same-level data bureau for review (Art. 9)."""
    entry = _writable(actor, db, entry_id)
    require(actor, CATALOG_EDIT, entry.provider_path)
    working = _working(entry, *EDITABLE)
    comment = _comment(comment, required=False)
    # the lists or the data elements may have changed since the draft was saved
    _valid(db, version_entry(working), entry.resource_code)
    provider = orgs.org_by_id(db, entry.provider_org_id)
    assert provider is not None
    bureau = orgs.same_level_bureau(db, provider)
    if bureau is None:
        raise InvalidState("The provider's region has no data bureau to review its catalog.",
                           code="catalog_no_bureau")
    entry.bureau_org_id, entry.bureau_path = bureau.id, bureau.path
    working.status = "submitted"
    working.submitted_at = utcnow()
    working.submitted_by_id = actor.user_id
    working.submitted_by = actor.username
    _step(db, actor, entry, working, "submit", comment, bureau=bureau.name)
    # Art. 12: items other bodies' published entries could provide are in the bureau's trail
    record_duplicate_warning(actor, db, entry, working)
    return entry


def recall(actor: Actor, db: Session, /, entry_id: uuid.UUID) -> CatalogEntry:
    """Take a submission back before the bureau has reviewed it (it becomes a draft again)."""
    entry = _writable(actor, db, entry_id)
    require(actor, CATALOG_EDIT, entry.provider_path)
    working = _working(entry, "submitted")
    working.status = "draft"
    return _step(db, actor, entry, working, "recall")


def return_entry(actor: Actor, db: Session, /, entry_id: uuid.UUID, *,
                 comment: str) -> CatalogEntry:
    """Send a submitted version back to its body with the reviewer's comments."""
    entry = _writable(actor, db, entry_id)
    _require_reviewer(actor, db, entry)
    working = _working(entry, "submitted")
    _not_own(actor, working)
    comment = _comment(comment, required=True)
    working.status = "returned"
    working.reviewed_at = utcnow()
    working.reviewed_by_id = actor.user_id
    working.reviewed_by = actor.username
    return _step(db, actor, entry, working, "return", comment)


def approve(actor: Actor, db: Session, /, entry_id: uuid.UUID, *, comment: str = "",
            publish: bool = True) -> CatalogEntry:
    """Approve a submitted version and, by default, publish it at once."""
    entry = _writable(actor, db, entry_id)
    _require_reviewer(actor, db, entry)
    working = _working(entry, "submitted")
    _not_own(actor, working)
    comment = _comment(comment, required=False)
    working.status = "approved"
    working.reviewed_at = utcnow()
    working.reviewed_by_id = actor.user_id
    working.reviewed_by = actor.username
    _step(db, actor, entry, working, "approve", comment)
    return publish_entry(actor, db, entry.id) if publish else entry


def publish_entry(actor: Actor, db: Session, /, entry_id: uuid.UUID) -> CatalogEntry:
    """Publish an approved version: it replaces the published one, which is superseded."""
    entry = _writable(actor, db, entry_id)
    _require_reviewer(actor, db, entry)
    working = _working(entry, "approved")
    _not_own(actor, working)
    now = utcnow()
    if not working.content.get("publish_date"):
        working.content = {**working.content, "publish_date": today_local(db).isoformat()}
    previous = entry.published_version
    if previous is not None:
        previous.status = "superseded"
        previous.ended_at = now
    working.status = "published"
    working.published_at = now
    entry.first_published_at = entry.first_published_at or now
    entry.withdrawn_at = None
    _set_pointers(entry, published=working, working=None)
    return _step(db, actor, entry, working, "publish",
                 replaces=previous.number if previous is not None else None)


def revise(actor: Actor, db: Session, /, entry_id: uuid.UUID, *,
           change_note: str = "") -> CatalogEntry:
    """Start a new version of a published (or withdrawn) entry, as a draft copy of its latest
    published content. The published version stays visible until the new one is published."""
    entry = _writable(actor, db, entry_id)
    require(actor, CATALOG_EDIT, entry.provider_path)
    if entry.working_version is not None:
        raise InvalidState("The entry already has a version in progress.",
                           code="catalog_revision_exists")
    base = entry.published_version or _last_published(db, entry)
    if base is None:
        raise InvalidState("Only a published entry is revised.", code="catalog_wrong_state",
                           status=entry.status)
    version = _new_version(entry, actor, version_entry(base), change_note.strip())
    db.add(version)
    db.flush()
    _set_pointers(entry, working=version)
    return _step(db, actor, entry, version, "revise", based_on=base.number)


def _last_published(db: Session, entry: CatalogEntry) -> CatalogVersion | None:
    return db.scalars(sa.select(CatalogVersion).where(
        CatalogVersion.entry_id == entry.id, CatalogVersion.published_at.is_not(None))
        .order_by(CatalogVersion.number.desc()).limit(1)).first()


def withdraw(actor: Actor, db: Session, /, entry_id: uuid.UUID, *, reason: str) -> CatalogEntry:
    """Take a published entry out of the catalog (its body or its bureau), saying why. A
    revision in progress stays; publishing it later brings the entry back."""
    entry = _writable(actor, db, entry_id)
    if not (actor.can(CATALOG_EDIT, entry.provider_path) or may_review(actor, entry)):
        raise PermissionDenied("Only the entry's body or its data bureau may withdraw it.",
                               code="permission_denied")
    published = entry.published_version
    if published is None:
        raise InvalidState("Only a published entry is withdrawn.", code="catalog_wrong_state",
                           status=entry.status)
    reason = _comment(reason, required=True, field="reason")
    published.status = "withdrawn"
    published.ended_at = utcnow()
    entry.withdrawn_at = utcnow()
    _set_pointers(entry, published=None)
    return _step(db, actor, entry, published, "withdraw", reason)


def review_overdue_since(db: Session, /) -> dt.datetime:
    """Entries submitted before this time are overdue for review (``catalog_review_days``)."""
    days = runtime_of(db).settings.catalog_review_days
    return utcnow() - dt.timedelta(days=days)


def review_queue(actor: Actor, db: Session, /, *, limit: int = 50, offset: int = 0,
                 overdue: bool = False) -> tuple[list[CatalogEntry], int]:
    """Entries waiting for the actor's review (submitted, or approved and not yet published),
    oldest submission first; ``overdue``: only those waiting longer than
    ``catalog_review_days``."""
    require(actor, CATALOG_REVIEW)
    scopes = actor.scopes(CATALOG_REVIEW)
    cover = access.covering(CatalogEntry.bureau_path, scopes)
    conds = [CatalogEntry.status.in_(("submitted", "approved")),
             sa.or_(*cover) if not actor.is_system else sa.true()]
    if overdue:
        conds.append(CatalogVersion.submitted_at < review_overdue_since(db))
    joined = sa.select(CatalogEntry).join(CatalogVersion,
                                          CatalogVersion.id == CatalogEntry.working_version_id)
    total = db.scalar(sa.select(sa.func.count()).select_from(
        joined.where(*conds).subquery())) or 0
    stmt = (joined.where(*conds).order_by(CatalogVersion.submitted_at, CatalogEntry.id)
            .limit(limit).offset(offset))
    return list(db.scalars(stmt)), total
