"""The catalog's use cases (Arts. 3, 9, 12, 47): the only door to its tables.

Compiling and editing entries, their versions and history, data elements, the grade set by
grading, import and export. The review workflow (submit, return, approve, publish, revise,
withdraw) is in ``flows.py``, search in ``search.py``, the census in ``census.py``.

Who sees what is decided in ``access.py`` (Arts. 9, 12): a published, unclassified entry every
signed-in user; a working version (a draft, or a revision in review) and an entry never
published its body and its reviewers; a classified (涉密) entry its body, its reviewers and the
administrators covering its provider. Others get ``catalog_entry_not_found``, as if it did not
exist, and find nothing of it in lists, searches, facet counts and exports.

Every change is audited in the caller's transaction and brings the search index along.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from gongshu.catalog import access, codes, duplicates, rules
from gongshu.catalog.diff import Change, diff_entries
from gongshu.catalog.models import (
    EDITABLE,
    CatalogEntry,
    CatalogSequence,
    CatalogVersion,
    DataElement,
    DataItem,
    ReviewRecord,
)
from gongshu.catalog.permissions import CATALOG_EDIT, CATALOG_READ, DATA_ELEMENT_MANAGE
from gongshu.catalog.schemas import (
    CatalogEntryBase,
    CatalogEntryCreate,
    CatalogEntryPublic,
    CatalogEntryUpdate,
    DataElementCreate,
    DataElementUpdate,
    DuplicateItemMatchPublic,
    DuplicateMatchPublic,
    ProviderRef,
    apply_update,
)
from gongshu.catalog.search import service as search
from gongshu.catalog.transfer import dcat, xlsx
from gongshu.core import audit
from gongshu.core.db import as_uuids, fetch, runtime_of, utcnow
from gongshu.core.errors import (
    Collector,
    Conflict,
    FieldError,
    InvalidState,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from gongshu.core.permissions import Actor, require
from gongshu.grading.permissions import GRADING_CONFIRM
from gongshu.orgs import service as orgs
from gongshu.orgs.service import Organization, OrgKind

#: catalog search, for other rooms (the open-data portal lists what its visitors may find)
SearchFilters = search.SearchFilters
SearchResult = search.SearchResult
search_entries = search.search

TARGET = "catalog_entry"
#: the anonymous visitor of the open-data portal: sees only what is open (``access.py``)
ANONYMOUS = access.ANONYMOUS

# ---------------------------------------------------------------------------------- access


def is_body(actor: Actor, entry: CatalogEntry) -> bool:
    """The actor works for the entry's provider (editor, CDO, data steward)."""
    return access.is_body(actor, entry.provider_path)


def may_review(actor: Actor, entry: CatalogEntry) -> bool:
    """Art. 9: only a reviewer of the provider's same-level data bureau reviews its catalog."""
    return access.may_review(actor, entry.bureau_path)


def may_see_working(actor: Actor, entry: CatalogEntry) -> bool:
    return access.may_see_working(actor, entry.provider_path, entry.bureau_path)


def may_see(actor: Actor, entry: CatalogEntry, db: Session | None = None) -> bool:
    """Whether the actor may know of the entry at all (``access.py``): a working-only entry
    its body and reviewers, a classified published one also administrators covering it, and
    the public (operators, anonymous visitors) only an entry open to it (Art. 13)."""
    published = entry.published_version
    db = db or object_session(entry)
    if db is not None and access.is_public(actor, db):
        return published is not None and access.may_see_open(
            db, published=published.status == "published", secrecy=published.secrecy,
            opening_type=published.opening_type, grade=entry.grade)
    if published is None:
        return may_see_working(actor, entry)
    if published.secrecy == access.CLASSIFIED:
        return access.may_see_classified(actor, entry.provider_path, entry.bureau_path)
    return True


def may_edit(actor: Actor, entry: CatalogEntry) -> bool:
    return actor.can(CATALOG_EDIT, entry.provider_path)


def visible_clause(actor: Actor, db: Session) -> Any:
    """SQL twin of :func:`may_see` over ``CatalogEntry`` (lists, exports)."""
    entry = CatalogEntry
    if access.is_public(actor, db):
        return sa.exists().where(
            CatalogVersion.id == entry.published_version_id,
            CatalogVersion.status == "published",
            access.open_clause(db, opening_type=CatalogVersion.opening_type, grade=entry.grade,
                               secrecy=CatalogVersion.secrecy))
    privileged = access.privileged_clause(actor, entry.provider_path, entry.bureau_path)
    classified = sa.exists().where(CatalogVersion.id == entry.published_version_id,
                                   CatalogVersion.secrecy == access.CLASSIFIED)
    return sa.or_(
        sa.and_(entry.published_version_id.is_not(None),
                sa.or_(sa.not_(classified),
                       access.classified_clause(actor, entry.provider_path, entry.bureau_path))),
        privileged,
    )


def _entry(db: Session, entry_id: uuid.UUID) -> CatalogEntry:
    entry = db.get(CatalogEntry, entry_id)
    if entry is None:
        raise NotFound("No such catalog entry.", code="catalog_entry_not_found")
    return entry


def _locked_entry(db: Session, entry_id: uuid.UUID) -> CatalogEntry:
    """The entry, its row locked until the transaction ends (``SELECT … FOR UPDATE``), read
    afresh with its versions: every state change of an entry (an edit, a workflow step, a new
    version, a grade) starts here, so concurrent changes of one entry run one after another and
    each sees what the one before did (the losers then answer 409 from their state checks)."""
    entry = fetch(db, CatalogEntry, entry_id, lock=True,
                  missing=NotFound("No such catalog entry.", code="catalog_entry_not_found"))
    # what was loaded before the lock may be stale: the versions and items are read again
    for version in list(db.identity_map.values()):
        if isinstance(version, CatalogVersion) and version.entry_id == entry.id:
            db.expire(version)
    db.expire(entry, ["versions", "published_version", "working_version"])
    return entry


def _visible(actor: Actor, db: Session, entry: CatalogEntry) -> CatalogEntry:
    access.require_read(actor, db)
    if not may_see(actor, entry, db):
        raise NotFound("No such catalog entry.", code="catalog_entry_not_found")
    return entry


def entry_by_id(db: Session, /, entry_id: uuid.UUID) -> CatalogEntry | None:
    """An entry by id with no visibility check: for rooms that check access themselves
    (grading and the library scope by provider and bureau)."""
    return db.get(CatalogEntry, entry_id)


def ungraded(db: Session, /, entry_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Which of these entries have no grade yet (one statement; no visibility check: for rooms
    that scope by provider themselves)."""
    if not entry_ids:
        return []
    return list(db.scalars(sa.select(CatalogEntry.id).where(
        CatalogEntry.id.in_(list(entry_ids)), CatalogEntry.grade.is_(None))))


def _writable(actor: Actor, db: Session, entry_id: uuid.UUID) -> CatalogEntry:
    """The entry a write names. One the actor may not see is answered exactly like an id that
    does not exist (404 ``catalog_entry_not_found``) before any permission check, so a write
    never tells that it exists; one they see but may not change is refused (403) later. The
    row is locked (``_locked_entry``): every write is a state change that must not race."""
    entry = _locked_entry(db, entry_id)
    if not may_see(actor, entry):
        raise NotFound("No such catalog entry.", code="catalog_entry_not_found")
    return entry


def get_entry(actor: Actor, db: Session, /, entry_id: uuid.UUID) -> CatalogEntry:
    """An entry the actor may see (``may_see``)."""
    return _visible(actor, db, _entry(db, entry_id))


def get_entry_by_code(actor: Actor, db: Session, /, resource_code: str) -> CatalogEntry:
    """An entry by its resource code (前段码/后段码, as people type it)."""
    try:
        code = codes.normalize_code(resource_code)
    except codes.InvalidResourceCode:
        raise NotFound("No such catalog entry.", code="catalog_entry_not_found") from None
    entry = db.scalars(sa.select(CatalogEntry).where(CatalogEntry.resource_code == code)).first()
    if entry is None:
        raise NotFound("No such catalog entry.", code="catalog_entry_not_found")
    return _visible(actor, db, entry)


def shown_version(actor: Actor, entry: CatalogEntry) -> CatalogVersion:
    """The version the actor sees: the working one for its body and reviewers, else the
    published one (which stays visible while a revision is in review)."""
    if entry.working_version is not None and may_see_working(actor, entry):
        return entry.working_version
    version = entry.published_version or entry.current_version
    if version is None:  # pragma: no cover - an entry always has a version
        raise NotFound("No such catalog entry.", code="catalog_entry_not_found")
    return version


def version_entry(version: CatalogVersion) -> CatalogEntryCreate:
    """A version's content as the compilation-guide entry it describes."""
    data = dict(version.content)
    data["items"] = [_item_dict(i) for i in version.items]
    return CatalogEntryCreate.model_validate(data)


def _item_dict(item: DataItem) -> dict[str, Any]:
    return {"name": item.name, "code": item.code, "data_type": item.data_type,
            "length": item.length, "data_element_id": item.data_element_id,
            "sharing_type": item.sharing_type, "sharing_condition": item.sharing_condition,
            "legal_basis": item.legal_basis, "opening_type": item.opening_type}


def entry_public(entry: CatalogEntry, version: CatalogVersion) -> CatalogEntryPublic:
    """One version of an entry in its API shape (the grade is the entry's)."""
    data = dict(version.content)
    data["items"] = [{**_item_dict(i), "id": i.id} for i in version.items]
    data.update(
        id=entry.id, resource_code=entry.resource_code, status=version.status,
        version=version.number, created_at=version.created_at, updated_at=version.updated_at,
        grade=entry.grade, grade_reasons=[reason_text(r) for r in entry.grade_reasons or []],
        entry_status=entry.status, region_code=entry.region_code,
        published_version=entry.published_version.number if entry.published_version else None,
        working_version=entry.working_version.number if entry.working_version else None,
    )
    return CatalogEntryPublic.model_validate(data)


def list_entries(
    actor: Actor,
    db: Session,
    /,
    *,
    provider_org_id: uuid.UUID | None = None,
    status: str | None = None,
    mine: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[CatalogEntry], int]:
    """Entries the actor may see, newest change first. ``mine``: only those of bodies the
    actor works for; ``status``: the entry's status (of its newest version)."""
    access.require_read(actor, db)
    conds: list[Any] = [visible_clause(actor, db)]
    if mine:
        body = access.body_grants(actor)
        conds.append(sa.or_(*access.covering(CatalogEntry.provider_path, body))
                     if body else sa.false())
    if provider_org_id:
        conds.append(CatalogEntry.provider_org_id == provider_org_id)
    if status:
        conds.append(CatalogEntry.status == status)
    total = db.scalar(sa.select(sa.func.count()).select_from(CatalogEntry).where(*conds)) or 0
    rows = db.scalars(sa.select(CatalogEntry).where(*conds)
                      .order_by(CatalogEntry.updated_at.desc(), CatalogEntry.id)
                      .limit(limit).offset(offset)).all()
    return list(rows), total


# ------------------------------------------------------------------------------ providers


def provider_choices(actor: Actor, db: Session, /) -> list[Organization]:
    """The public bodies whose catalog the actor may compile."""
    rows, _ = orgs.list_organizations(actor, db, kind=OrgKind.PUBLIC_BODY, limit=100_000)
    return [o for o in rows if actor.can(CATALOG_EDIT, o.path)]


def resolve_provider(db: Session, /, *, org_id: uuid.UUID | None = None, code: str | None = None,
                     name: str | None = None) -> Organization | None:
    """The providing organisation: by id, else provider code or credit code, else exact name."""
    if org_id is not None:
        return orgs.org_by_id(db, org_id)
    found = None
    if code:
        found = orgs.find_organization(db, code=code) or orgs.find_organization(db, uscc=code)
    if found is None and name:
        found = orgs.find_organization(db, name=name)
    return found


def _provider_for(actor: Actor, db: Session, entry: CatalogEntryBase,
                  provider_org_id: uuid.UUID | None) -> Organization:
    ref = entry.provider
    org = resolve_provider(db, org_id=provider_org_id or ref.org_id, code=ref.code, name=ref.name)
    if org is None and not actor.is_system and actor.org_id is not None:
        org = orgs.org_by_id(db, actor.org_id)
    if org is None:
        raise ValidationFailed.single("provider.org_id", "provider_not_found",
                                      "No organisation on the platform is this provider.")
    require(actor, CATALOG_EDIT, org.path)
    return org


def _with_provider(entry: CatalogEntryCreate, org: Organization) -> CatalogEntryCreate:
    """The entry with the provider as the platform knows it (the organisation's name and code,
    so one body is named one way throughout the catalog)."""
    try:
        provider = ProviderRef(org_id=org.id, name=org.name,
                               code=org.code or org.uscc or entry.provider.code)
    except ValidationError:  # an organisation code the guide's pattern does not allow
        provider = ProviderRef(org_id=org.id, name=org.name, code=entry.provider.code)
    return entry.model_copy(update={"provider": provider})


# ------------------------------------------------------------------------------ validation


def _element_errors(db: Session, entry: CatalogEntryBase) -> list[FieldError]:
    ids = {i.data_element_id for i in entry.items if i.data_element_id is not None}
    found = {e.id: DataElementCreate.model_validate(e)
             for e in db.scalars(sa.select(DataElement).where(DataElement.id.in_(ids)))} if ids else {}
    return rules.check_items_against_elements(entry, found)


def _own_code_errors(entry: CatalogEntryBase, resource_code: str | None) -> list[FieldError]:
    if resource_code is None:
        return []
    return [FieldError(f"related_resource_codes.{i}", "related_to_itself",
                       rules.message("related_to_itself", {"value": c}), params={"value": c})
            for i, c in enumerate(entry.related_resource_codes) if c == resource_code]


def check(
    db: Session, /, data: Mapping[str, Any], *, resource_code: str | None = None
) -> tuple[CatalogEntryCreate | None, list[FieldError]]:
    """Every problem of raw entry data (fields, compilation guide, Art. 12, data elements):
    the parsed entry and no errors, or None and all of them. For forms' inline validation."""
    entry, errors = rules.check_entry(data)
    if entry is not None:
        errors = _element_errors(db, entry) + _own_code_errors(entry, resource_code)
        if errors:
            entry = None
    return entry, errors


def _valid(db: Session, data: Mapping[str, Any] | CatalogEntryBase,
           resource_code: str | None = None) -> CatalogEntryCreate:
    raw = data.model_dump(mode="json") if isinstance(data, CatalogEntryBase) else data
    entry, errors = check(db, raw, resource_code=resource_code)
    if entry is None:
        raise ValidationFailed("The catalog entry is not valid.", errors=errors)
    return entry


# --------------------------------------------------------------------- writing versions


def _next_seq(db: Session, front: str, *, at_least: int = 0) -> int:
    """The next sequence number under ``front``, safe under concurrency: an upsert that
    increments in place (PostgreSQL locks the row; SQLite writers hold the database lock)."""
    table = CatalogSequence.__table__
    if db.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    bumped = (sa.func.max(table.c.last_seq + 1, at_least) if db.get_bind().dialect.name == "sqlite"
              else sa.func.greatest(table.c.last_seq + 1, at_least))
    stmt = insert(table).values(front_segment=front, last_seq=max(1, at_least))
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.front_segment],
                                      set_={"last_seq": bumped}).returning(table.c.last_seq)
    return int(db.execute(stmt).scalar_one())


def _adopt_code(db: Session, code: str) -> str:
    """Keep a resource code an entry already had elsewhere (an import from an older catalog):
    it must be free, and the sequence moves past it so it is never given again."""
    parsed = codes.parse_code(code)
    table = CatalogSequence.__table__
    current = db.scalar(sa.select(table.c.last_seq).where(table.c.front_segment == parsed.front))
    if current is None or current < parsed.seq:
        _next_seq(db, parsed.front, at_least=parsed.seq)
    return str(parsed)


def _fill_version(version: CatalogVersion, entry: CatalogEntryCreate, actor: Actor) -> None:
    content = entry.model_dump(mode="json", exclude={"items", "grade"})
    version.content = content
    version.name = entry.name
    version.resource_kind = entry.category.resource_kind
    version.sharing_type = entry.sharing.type
    version.opening_type = entry.opening.type
    version.update_cycle = entry.update_cycle
    version.secrecy = entry.secrecy
    version.updated_at = utcnow()
    version.updated_by_id = actor.user_id
    version.updated_by = actor.username
    session = object_session(version)
    if session is not None and version.id is not None and version.items:
        # the old items go first: (version, position) is unique, and the unit of work would
        # insert the new ones before deleting the old
        version.items.clear()
        session.flush()
    version.items = [
        DataItem(position=i, name=item.name, code=item.code, data_type=item.data_type,
                 length=item.length, data_element_id=item.data_element_id,
                 sharing_type=item.sharing_type, sharing_condition=item.sharing_condition,
                 legal_basis=item.legal_basis, opening_type=item.opening_type,
                 name_key=duplicates.name_key(item.name))
        for i, item in enumerate(entry.items)
    ]


def _new_version(entry: CatalogEntry, actor: Actor, data: CatalogEntryCreate,
                 change_note: str = "") -> CatalogVersion:
    entry.last_number += 1
    version = CatalogVersion(entry=entry, number=entry.last_number, status="draft",
                             change_note=change_note, created_by_id=actor.user_id,
                             created_by=actor.username)
    _fill_version(version, data, actor)
    return version


def sync_status(entry: CatalogEntry) -> None:
    """The entry's status is its newest version's: the working one, else the published one."""
    working, published = entry.working_version, entry.published_version
    if working is not None:
        entry.status = working.status
    elif published is not None:
        entry.status = published.status
    else:
        entry.status = "withdrawn"
    entry.updated_at = utcnow()


def _set_pointers(entry: CatalogEntry, *, published: CatalogVersion | None | bool = False,
                  working: CatalogVersion | None | bool = False) -> None:
    """Move the published / working pointers (False: leave as is) and their relationships."""
    if published is not False:
        entry.published_version_id = published.id if published else None  # type: ignore[union-attr]
        entry.published_version = published or None  # type: ignore[assignment]
    if working is not False:
        entry.working_version_id = working.id if working else None  # type: ignore[union-attr]
        entry.working_version = working or None  # type: ignore[assignment]


def _record(db: Session, actor: Actor, action: str, entry: CatalogEntry,
            details: Mapping[str, Any] | None = None) -> None:
    audit.record(db, actor, f"catalog.{action}", target_type=TARGET, target_id=entry.id,
                 org_id=entry.provider_org_id, org_path=entry.provider_path,
                 details={"resource_code": entry.resource_code, **(details or {})})


def create_entry(
    actor: Actor,
    db: Session,
    /,
    data: Mapping[str, Any] | CatalogEntryBase,
    *,
    provider_org_id: uuid.UUID | None = None,
    change_note: str = "",
    resource_code: str | None = None,
    audit_action: str = "create",
) -> CatalogEntry:
    """Compile a new entry as a draft of its provider (Art. 9); the platform gives its resource
    code from the classification. Every problem of the data is reported at once."""
    require(actor, CATALOG_EDIT)
    parsed = _valid(db, data, resource_code)
    org = _provider_for(actor, db, parsed, provider_org_id)
    entry_data = _with_provider(parsed, org)
    front = entry_data.category.front_segment
    if resource_code is not None:
        code = _adopt_code(db, resource_code)
        if db.scalar(sa.select(CatalogEntry.id).where(CatalogEntry.resource_code == code)):
            raise ValidationFailed.single("resource_code", "duplicate_resource_code",
                                          "Another entry has this resource code.", value=code)
        parsed_code = codes.parse_code(code)
        front, seq = parsed_code.front, parsed_code.seq
    else:
        seq = _next_seq(db, front)
        code = codes.format_code(front, seq)
    bureau = orgs.same_level_bureau(db, org)  # Art. 9: who will review it
    entry = CatalogEntry(
        resource_code=code, front_segment=front, seq=seq, provider_org_id=org.id,
        provider_path=org.path, bureau_org_id=bureau.id if bureau else None,
        bureau_path=bureau.path if bureau else "", region_code=org.region_code, status="draft",
        last_number=0, grade_reasons=[],
        created_by_id=actor.user_id, created_by=actor.username,
    )
    try:
        # a concurrent import may adopt the same resource code: the unique code decides
        with db.begin_nested():
            db.add(entry)
            version = _new_version(entry, actor, entry_data, change_note)
            db.add(version)
            db.flush()
    except IntegrityError:
        raise Conflict("Another entry has this resource code.",
                       code="duplicate_resource_code", value=code) from None
    _set_pointers(entry, working=version)
    sync_status(entry)
    _record(db, actor, audit_action, entry, {"name": entry_data.name, "version": 1})
    search.refresh(db, entry)
    return entry


def _editable_working(actor: Actor, entry: CatalogEntry) -> CatalogVersion:
    require(actor, CATALOG_EDIT, entry.provider_path)
    working = entry.working_version
    if working is None:
        raise InvalidState("The entry has no draft; start a revision first.",
                           code="catalog_no_draft")
    if working.status not in EDITABLE:
        raise InvalidState("The version is in review and cannot be changed now.",
                           code="catalog_not_editable", status=working.status)
    return working


def update_entry(
    actor: Actor,
    db: Session,
    /,
    entry_id: uuid.UUID,
    data: Mapping[str, Any] | CatalogEntryBase | CatalogEntryUpdate,
    *,
    change_note: str | None = None,
) -> CatalogEntry:
    """Change the working version (a draft, or a returned one) of an entry. A full entry
    replaces the content; a ``CatalogEntryUpdate`` replaces the fields it names."""
    entry = _writable(actor, db, entry_id)
    working = _editable_working(actor, entry)
    if isinstance(data, CatalogEntryUpdate):
        try:
            merged = apply_update(version_entry(working), data)
        except ValidationError as exc:
            raise ValidationFailed("The catalog entry is not valid.",
                                   errors=rules.errors_from_pydantic(exc)) from None
        data = merged
    parsed = _valid(db, data, entry.resource_code)
    org = orgs.org_by_id(db, entry.provider_org_id)
    assert org is not None
    new = _with_provider(parsed, org)
    old = version_entry(working)
    changes = diff_entries(old, new)
    _fill_version(working, new, actor)
    if change_note is not None:
        working.change_note = change_note
    sync_status(entry)
    _record(db, actor, "update", entry, {"version": working.number,
                                         "fields": sorted({c.field for c in changes})})
    search.refresh(db, entry)
    return entry


def discard_working(actor: Actor, db: Session, /, entry_id: uuid.UUID) -> CatalogEntry | None:
    """Throw away the working version (draft or returned). An entry never published goes with
    it (its resource code is not given again); returns the entry, or None if it is gone."""
    entry = _writable(actor, db, entry_id)
    working = _editable_working(actor, entry)
    if entry.published_version_id is None and len(entry.versions) == 1:
        _record(db, actor, "delete", entry, {"name": working.name})
        search.remove(db, entry.id)
        db.delete(entry)
        db.flush()
        return None
    _set_pointers(entry, working=None)
    _record(db, actor, "discard", entry, {"version": working.number})
    db.delete(working)
    db.flush()
    db.refresh(entry)
    sync_status(entry)
    search.refresh(db, entry)
    return entry


# ------------------------------------------------------------------------------- history


def list_versions(actor: Actor, db: Session, /, entry_id: uuid.UUID) -> list[CatalogVersion]:
    """The versions the actor may see: all of them for the body and reviewers, the published
    history (published, superseded) for everyone else."""
    entry = get_entry(actor, db, entry_id)
    if may_see_working(actor, entry):
        return list(entry.versions)
    if access.is_public(actor, db):  # Art. 13: the open version, not how it was before
        return [entry.published_version] if entry.published_version is not None else []
    return [v for v in entry.versions if v.published_at is not None]


def get_version(actor: Actor, db: Session, /, entry_id: uuid.UUID, number: int) -> CatalogVersion:
    for version in list_versions(actor, db, entry_id):
        if version.number == number:
            return version
    raise NotFound("No such version of this entry.", code="catalog_version_not_found")


def version_diff(actor: Actor, db: Session, /, entry_id: uuid.UUID, *,
                 from_number: int | None, to_number: int) -> list[Change]:
    """What changed from one version to another (from nothing if ``from_number`` is None)."""
    to = get_version(actor, db, entry_id, to_number)
    old = version_entry(get_version(actor, db, entry_id, from_number)) if from_number else None
    return diff_entries(old, version_entry(to))


def review_records(actor: Actor, db: Session, /, entry_id: uuid.UUID) -> list[ReviewRecord]:
    """The review trail (submissions, returns with comments, approvals …), oldest first."""
    entry = get_entry(actor, db, entry_id)
    stmt = sa.select(ReviewRecord).where(ReviewRecord.entry_id == entry.id)
    if not may_see_working(actor, entry):
        stmt = stmt.where(ReviewRecord.action.in_(("publish", "withdraw")))
    return list(db.scalars(stmt.order_by(ReviewRecord.created_at, ReviewRecord.id)))


# ----------------------------------------------------------------------- grading (Art. 10)


def reason_text(reason: Any) -> str:
    """The (English, or as written) text of a stored grade reason: a string, or a mapping with
    ``text`` beside the ``kind`` and ``params`` pages render in the reader's language."""
    return str(reason.get("text", "")) if isinstance(reason, Mapping) else str(reason)


def _audited_reason(reason: str | Mapping[str, Any]) -> str | dict[str, Any]:
    if isinstance(reason, Mapping):
        return {k: reason[k] for k in ("level", "kind", "params", "text") if k in reason}
    return str(reason)


def set_grade(actor: Actor, db: Session, /, entry_id: uuid.UUID, *, grade: str,
              reasons: Sequence[str | Mapping[str, Any]]) -> CatalogEntry:
    """Record the grade a data steward of the provider confirmed (Art. 10), with its reasons:
    strings as written, or the grading module's reasons (``text``, ``kind``, ``params``, see
    ``grading/proposal.py``), stored as given so pages can say them in the reader's language."""
    entry = _writable(actor, db, entry_id)
    require(actor, GRADING_CONFIRM, entry.provider_path)
    grade = (grade or "").strip()
    if not grade or len(grade) > 32:
        raise ValidationFailed.single("grade", "required", "Give the grade (at most 32 characters).")
    previous = entry.grade
    entry.grade = grade
    entry.grade_reasons = [dict(r) if isinstance(r, Mapping) else str(r) for r in reasons]
    entry.graded_at = utcnow()
    entry.graded_by = actor.username
    entry.updated_at = utcnow()
    # the reasons as stored (kind and params: the audit log says them in the reader's language)
    _record(db, actor, "grade", entry, {"grade": grade, "previous": previous,
                                        "reasons": [_audited_reason(r) for r in reasons]})
    search.refresh(db, entry)
    return entry


def entry_items(db: Session, /, entry_id: uuid.UUID) -> list[DataItem]:
    """The data items of the entry's current version (working, else published), in order."""
    entry = _entry(db, entry_id)
    version = entry.current_version
    return list(version.items) if version is not None else []


# ------------------------------------------------------- duplicate collection (Art. 12)

#: at most this many planned items are matched in one call
DUPLICATE_ITEMS_MAX = 500
#: at most this many candidate entries (best by matching items) are scored exactly
DUPLICATE_POOL_MAX = 200


@dataclass
class DuplicateReport:
    """What sharing could provide of a set of planned items (Art. 12): the candidate entries,
    strong ones first, each with the items it covers and ``info`` (resource code, name,
    provider, sharing type)."""

    items: list[duplicates.PlannedItem]
    candidates: list[duplicates.Candidate]
    need: int
    rationale: str

    @property
    def strong(self) -> list[duplicates.Candidate]:
        return [c for c in self.candidates if c.strong]


def duplicate_candidates(
    actor: Actor,
    db: Session,
    /,
    *,
    items: Sequence[Any],
    exclude_provider_path: str | None = None,
    exclude_entry_id: uuid.UUID | None = None,
    limit: int = 10,
    include_weak: bool = False,
) -> DuplicateReport:
    """Published entries of *other* bodies (not ``exclude_provider_path``) that could provide
    the planned ``items`` through sharing (Art. 12: what sharing provides is not collected
    again). Only entries the actor may see are named (``access.py``: a classified entry only
    to its body, its reviewers and administrators covering it), only items sharing can provide
    count (not ``not_shared``), and drafts never do. Strong matches only, unless
    ``include_weak``.

    One statement finds the candidates through the indexed item keys (and data elements): it
    counts the matching items per version from the ``(name_key, version_id)`` index, an upper
    bound of what the version covers, joins the versions with enough of them to their entries
    (published, shared, visible, another body's) and keeps the best ``DUPLICATE_POOL_MAX``; a
    second reads their matching items, which ``duplicates.match`` scores exactly. The work
    grows with the number of items that match, not with the catalog
    (``benchmarks/duplicates.py``)."""
    require(actor, CATALOG_READ)
    return _duplicates(actor, db, items=items, exclude_provider_path=exclude_provider_path,
                       exclude_entry_id=exclude_entry_id, limit=limit, include_weak=include_weak)


def _duplicates(actor: Actor, db: Session, /, *, items: Sequence[Any],
                exclude_provider_path: str | None, exclude_entry_id: uuid.UUID | None,
                limit: int = 10, include_weak: bool = False) -> DuplicateReport:
    rules_ = duplicates.rules()
    planned = duplicates.coerce_items(items)[:DUPLICATE_ITEMS_MAX]
    targets = duplicates.distinct(planned)
    report = DuplicateReport(items=planned, candidates=[], need=duplicates.needed(len(targets)),
                             rationale=rules_.rationale)
    keys = sorted({p.key for _, p in targets if p.key})
    element_list = [p.data_element_id for _, p in targets if p.data_element_id is not None]
    elements = sorted(set(element_list), key=str)
    if not targets or limit <= 0:
        return report
    item, version, entry = DataItem, CatalogVersion, CatalogEntry
    sharing = sa.func.coalesce(item.sharing_type, version.sharing_type)
    matched: list[Any] = []
    if keys:
        matched.append(item.name_key.in_(keys))
    if elements:
        matched.append(item.data_element_id.in_(elements))
    # the published version of an entry of another body that the actor may see, and that
    # shares something (Art. 12; a not-shared entry has no shared item, rules.py)
    conds: list[Any] = [
        entry.published_version_id == version.id,
        version.sharing_type != duplicates.NOT_SHARED,
        sa.or_(version.secrecy != access.CLASSIFIED,
               access.classified_clause(actor, entry.provider_path, entry.bureau_path)),
    ]
    if exclude_provider_path:
        conds.append(entry.provider_path != exclude_provider_path)
    if exclude_entry_id is not None:
        conds.append(entry.id != exclude_entry_id)
    # matching rows per version: each covered item of the draft needs one (an item of another
    # name key, or of another element), so this bounds what the version covers from above
    key_hits = (sa.func.count(sa.case((item.name_key.in_(keys), 1))) if keys
                else sa.literal(0))
    element_hits = (sa.func.count(sa.case((item.data_element_id.in_(elements), 1)))
                    if elements else sa.literal(0))
    hits = key_hits + element_hits
    # a target matched by element only shares its element with no other target, except when
    # the draft names one element under two names: those may be covered by one row
    slack = len(element_list) - len(elements)
    floor = 1 if include_weak else max(1, report.need - slack)
    # matching keys per version from the (name_key, version_id) index alone (an upper bound:
    # an item its entry does not share still counts here), then only the versions with enough
    # of them are joined to their entry
    grouped = (sa.select(item.version_id, hits.label("hits")).where(sa.or_(*matched))
               .group_by(item.version_id).having(hits >= floor).subquery("matched"))
    top = (sa.select(entry.id).select_from(grouped)
           .join(version, version.id == grouped.c.version_id)
           .join(entry, entry.id == version.entry_id).where(*conds)
           .order_by(grouped.c.hits.desc(), entry.id)
           .limit(min(DUPLICATE_POOL_MAX, max(limit * 5, 50))))
    pool = list(db.scalars(top))
    if not pool:
        return report
    rows = db.execute(
        sa.select(entry.id, item.name, item.name_key, item.code, item.data_type,
                  item.data_element_id, sharing)
        .select_from(entry).join(version, version.id == entry.published_version_id)
        .join(item, item.version_id == version.id)
        .where(entry.id.in_(pool), sa.or_(*matched)).order_by(item.position)).all()
    found = [duplicates.PublishedItem(entry_id=r[0], name=r[1], name_key=r[2], code=r[3],
                                      data_type=r[4], data_element_id=r[5], sharing_type=r[6])
             for r in rows]
    candidates = [c for c in duplicates.match(planned, found) if c.strong or include_weak]
    candidates = candidates[:limit]
    if candidates:
        info = db.execute(
            sa.select(entry.id, entry.resource_code, entry.provider_org_id, version.name,
                      version.sharing_type, version.content)
            .join(version, version.id == entry.published_version_id)
            .where(entry.id.in_([c.entry_id for c in candidates]))).all()
        by_id = {r[0]: r for r in info}
        for c in candidates:
            r = by_id[c.entry_id]
            c.info = {"resource_code": r[1], "provider_org_id": r[2], "name": r[3],
                      "sharing_type": r[4],
                      "provider_name": str((r[5] or {}).get("provider", {}).get("name", ""))}
    report.candidates = candidates
    return report


def entry_duplicates(actor: Actor, db: Session, /, entry_id: uuid.UUID, *,
                     limit: int = 10) -> DuplicateReport | None:
    """The duplicate-collection warnings (Art. 12) of the version of an entry the actor sees,
    when that is a working version (a draft or a submission: its body compiles it, its bureau
    reviews it); None for a published version."""
    entry = get_entry(actor, db, entry_id)  # requires catalog.read
    version = shown_version(actor, entry)
    if version.published_at is not None or version.id != entry.working_version_id:
        return None
    return duplicate_candidates(actor, db, items=list(version.items),
                                exclude_provider_path=entry.provider_path,
                                exclude_entry_id=entry.id, limit=limit)


#: the sharing module's page to request an entry (Art. 12), when it is installed
SHARING_REQUEST_PAGE = "/sharing/requests/new"


def check_duplicates(actor: Actor, db: Session, /, *, items: Sequence[Any],
                     provider_org_id: uuid.UUID | None = None, limit: int = 10,
                     include_weak: bool = False) -> DuplicateReport:
    """:func:`duplicate_candidates` for the items a body plans to collect (the API, a project's
    declaration): the body is ``provider_org_id``, else the actor's organisation; its own
    entries are not named."""
    path = actor.org_path
    if provider_org_id is not None:
        org = db.get(Organization, provider_org_id)
        if org is None:
            raise ValidationFailed.single("provider_org_id", "provider_not_found",
                                          "No organisation on the platform is this provider.")
        path = org.path
    return duplicate_candidates(actor, db, items=items, exclude_provider_path=path or None,
                                limit=limit, include_weak=include_weak)


def duplicate_public(report: DuplicateReport, *,
                     request_page: bool = False) -> list[DuplicateMatchPublic]:
    """The candidates of a report in their API shape, with the entry's page and, when the
    sharing module's request page exists (``request_page``), where to request it."""
    return [DuplicateMatchPublic(
        entry_id=c.entry_id, resource_code=c.info["resource_code"], name=c.info["name"],
        provider=c.info["provider_name"], provider_org_id=c.info["provider_org_id"],
        sharing_type=c.info["sharing_type"], share=round(c.share, 4), strong=c.strong,
        items=[DuplicateItemMatchPublic(name=m.name, matched_name=m.matched_name,
                                        matched_code=m.matched_code, via=m.via)
               for m in c.matches],
        url=f"/catalog/{c.entry_id}",
        request_url=f"{SHARING_REQUEST_PAGE}?entry={c.entry_id}" if request_page else None)
        for c in report.candidates]


def duplicate_details(report: DuplicateReport) -> list[dict[str, Any]]:
    """The strong matches of a report as plain data (the audit event, the CLI's JSON)."""
    return [{"entry_id": str(c.entry_id), "resource_code": c.info.get("resource_code"),
             "name": c.info.get("name"), "provider": c.info.get("provider_name"),
             "sharing_type": c.info.get("sharing_type"), "share": round(c.share, 4),
             "strong": c.strong,
             "items": [{"name": m.name, "matched_name": m.matched_name,
                        "matched_code": m.matched_code, "via": m.via} for m in c.matches]}
            for c in report.candidates]


def record_duplicate_warning(actor: Actor, db: Session, /, entry: CatalogEntry,
                             version: CatalogVersion) -> DuplicateReport:
    """When a version goes to review with strong duplicate matches (Art. 12), say so in its
    review trail (a ``duplicates`` step naming the entries) and in the audit log
    (``catalog.duplicate_warning``), so the reviewing bureau sees them."""
    report = _duplicates(actor, db, items=list(version.items),
                         exclude_provider_path=entry.provider_path, exclude_entry_id=entry.id)
    if report.strong:
        # in the entry's review trail too (its body and reviewers see it), in no one language
        total = len(duplicates.distinct(report.items))
        db.add(ReviewRecord(
            entry_id=entry.id, version_id=version.id, version_number=version.number,
            action="duplicates", actor_id=actor.user_id,
            actor_name=actor.display_name or actor.username,
            comment="; ".join(f"{c.info.get('resource_code')} {c.info.get('name')} "
                              f"({c.covered}/{total})" for c in report.strong)[:4000]))
        _record(db, actor, "duplicate_warning", entry, {
            "version": version.number,
            "matches": [{k: d[k] for k in ("resource_code", "name", "provider", "share")}
                        | {"items": [i["name"] for i in d["items"]]}
                        for d in duplicate_details(report) if d["strong"]]})
    return report


def rekey_items(db: Session, /) -> int:
    """Key every data item again (after ``data/duplicates.yaml`` changed); returns how many
    keys changed. One pass per distinct name, not per item."""
    changed = 0
    for name, key in db.execute(sa.select(DataItem.name, DataItem.name_key).distinct()).all():
        new = duplicates.name_key(name)
        if new != key:
            changed += db.execute(sa.update(DataItem).where(
                DataItem.name == name, DataItem.name_key == key).values(name_key=new)).rowcount
    return changed


# ---------------------------------------------------------------- data elements (Art. 47)


def _default_owner(actor: Actor, db: Session) -> Organization | None:
    """Where a new data element belongs when the caller names no owner: the first organisation
    at which the caller holds ``data_element.manage``; for the platform operator the province's
    data bureau (or the root)."""
    if actor.is_system:
        root = orgs.province_root(db)
        return (orgs.same_level_bureau(db, root) or root) if root is not None else None
    scopes = actor.scopes(DATA_ELEMENT_MANAGE)
    return db.get(Organization, scopes[0].org_id) if scopes else None


def may_manage_data_element(actor: Actor, db: Session, /, element: DataElement) -> bool:
    """Art. 47's registry is kept by the bureaus, each for its own scope: an element belongs to
    an organisation and is changed by those holding ``data_element.manage`` there, or for the
    whole province; one without an owner is the province's."""
    if not actor.can(DATA_ELEMENT_MANAGE):
        return False
    if element.owner_path is not None and actor.can(DATA_ELEMENT_MANAGE, element.owner_path):
        return True
    return orgs.holds_province_wide(actor, db, DATA_ELEMENT_MANAGE)


def create_data_element(actor: Actor, db: Session, /, data: DataElementCreate) -> DataElement:
    """Add a standard data element to the registry (Art. 47), owned by ``data.owner_org_id``
    (default: see ``_default_owner``), where the caller must hold ``data_element.manage``."""
    require(actor, DATA_ELEMENT_MANAGE)
    if data.owner_org_id is not None:
        owner = db.get(Organization, data.owner_org_id)
        if owner is None:
            raise NotFound("No such organisation.", code="org_not_found")
    else:
        owner = _default_owner(actor, db)
    if owner is not None:
        require(actor, DATA_ELEMENT_MANAGE, owner.path)
    if db.scalar(sa.select(DataElement.id).where(DataElement.identifier == data.identifier)):
        raise ValidationFailed.single("identifier", "duplicate_identifier",
                                      "Another data element has this identifier.",
                                      value=data.identifier)
    element = DataElement(**data.model_dump(exclude={"owner_org_id"}), created_by=actor.username,
                          owner_org_id=owner.id if owner else None,
                          owner_path=owner.path if owner else None)
    db.add(element)
    db.flush()
    audit.record(db, actor, "catalog.data_element", target_type="data_element",
                 target_id=element.id, org_id=element.owner_org_id,
                 org_path=element.owner_path or "",
                 details={"identifier": element.identifier, "name": element.name,
                          "owner": owner.name if owner else None})
    return element


def update_data_element(actor: Actor, db: Session, /, element_id: uuid.UUID,
                        data: DataElementUpdate) -> DataElement:
    """Change a data element: only those who may manage it (``may_manage_data_element``)."""
    require(actor, DATA_ELEMENT_MANAGE)
    element = db.get(DataElement, element_id, with_for_update=True)
    if element is None:
        raise NotFound("No such data element.", code="data_element_not_found")
    if not may_manage_data_element(actor, db, element):
        raise PermissionDenied("This data element belongs to another organisation's scope.",
                               code="permission_denied",
                               permission=str(DATA_ELEMENT_MANAGE))
    changes: dict[str, Any] = {}
    for name, value in data.model_dump(exclude_unset=True).items():
        if getattr(element, name) != value:
            changes[name] = [getattr(element, name), value]
            setattr(element, name, value)
    if changes:
        audit.record(db, actor, "catalog.data_element_update", target_type="data_element",
                     target_id=element.id, org_id=element.owner_org_id,
                     org_path=element.owner_path or "",
                     details={"identifier": element.identifier, **changes})
    return element


def data_elements_by_id(db: Session, /, ids: Sequence[uuid.UUID | str]) -> dict[str, DataElement]:
    """Data elements (Art. 47, a public registry) by id; ids that do not parse or exist are left out."""
    wanted = []
    for raw in ids:
        try:
            wanted.append(raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw)))
        except ValueError:
            continue
    if not wanted:
        return {}
    return {str(e.id): e for e in db.scalars(sa.select(DataElement).where(DataElement.id.in_(wanted)))}


def get_data_element(actor: Actor, db: Session, /, element_id: uuid.UUID) -> DataElement:
    require(actor, CATALOG_READ)
    element = db.get(DataElement, element_id)
    if element is None:
        raise NotFound("No such data element.", code="data_element_not_found")
    return element


def list_data_elements(actor: Actor, db: Session, /, *, q: str | None = None, limit: int = 50,
                       offset: int = 0) -> tuple[list[DataElement], int]:
    require(actor, CATALOG_READ)
    conds = []
    if q and q.strip():
        like = f"%{q.strip()}%"
        conds.append(sa.or_(DataElement.name.like(like), DataElement.identifier.like(like)))
    total = db.scalar(sa.select(sa.func.count()).select_from(DataElement).where(*conds)) or 0
    rows = db.scalars(sa.select(DataElement).where(*conds).order_by(DataElement.name)
                      .limit(limit).offset(offset)).all()
    return list(rows), total


def suggest_data_elements(db: Session, /, name: str, *, limit: int = 5) -> list[DataElement]:
    """Data elements a data item called ``name`` may follow (Art. 47): same name first, then
    names that contain it or that it contains."""
    name = (name or "").strip()
    if not name:
        return []
    rows = db.scalars(sa.select(DataElement).where(sa.or_(
        DataElement.name == name, DataElement.name.like(f"%{name}%"),
        sa.literal(name).like(sa.literal("%") + DataElement.name + sa.literal("%")),
    )).limit(50)).all()
    return sorted(rows, key=lambda e: (e.name != name, abs(len(e.name) - len(name)), e.name))[:limit]


# ------------------------------------------------------------------------ import / export


@dataclass
class ImportOutcome:
    """What an import did; nothing at all when it raised."""

    created: list[CatalogEntry] = field(default_factory=list)
    updated: list[CatalogEntry] = field(default_factory=list)
    submitted: int = 0
    rows: list[tuple[int, CatalogEntry]] = field(default_factory=list)  # (row, entry)


def _is_xlsx(data: bytes) -> bool:
    if not data.startswith(b"PK"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "[Content_Types].xml" in z.namelist()
    except zipfile.BadZipFile:
        return False


def import_max_bytes(db: Session, /) -> int:
    """The largest import file accepted (``GONGSHU_CATALOG_IMPORT_MAX_MB``)."""
    return runtime_of(db).settings.catalog_import_max_mb * 1024 * 1024


def parse_file(data: bytes, *, filename: str = "", locale: str = "zh",
               max_rows: int = xlsx.MAX_ROWS) -> xlsx.ImportResult:
    """Read an import file: a workbook (.xlsx) or the CSV layout of the export."""
    if filename.lower().endswith(".csv") or not _is_xlsx(data):
        return xlsx.parse_csv(data, locale=locale, max_rows=max_rows)
    return xlsx.parse_workbook(data, locale=locale, max_rows=max_rows)


def _import_error(errors: Collector, item: xlsx.ImportedEntry, column: str, code: str,
                  locale: str, **params: Any) -> None:
    errors.add(column, code, rules.message(code, params, locale), row=item.row,
               sheet=item.sheet, **params)



def import_entries(
    actor: Actor,
    db: Session,
    /,
    data: bytes,
    *,
    filename: str = "",
    submit: bool = False,
    locale: str = "zh",
) -> ImportOutcome:
    """Import a catalog file, all or nothing (Art. 9). Every cell and rule is checked and every
    error is raised at once (``catalog_import_failed``, each with its row and column); else each
    row becomes a draft of its provider (or a new draft of the entry whose resource code it
    carries) and, with ``submit``, is submitted for review."""
    from gongshu.catalog import flows

    require(actor, CATALOG_EDIT)
    settings = runtime_of(db).settings
    if len(data) > import_max_bytes(db):
        raise ValidationFailed.single(
            "file", "too_large", f"The file is larger than {settings.catalog_import_max_mb} MB.",
            max_mb=settings.catalog_import_max_mb)
    result = parse_file(data, filename=filename, locale=locale,
                        max_rows=settings.catalog_import_max_rows)
    result.raise_for_errors()
    errors = Collector()
    plan: list[tuple[xlsx.ImportedEntry, Organization, CatalogEntry | None]] = []
    seen: dict[str, int] = {}
    for item in result.entries:
        ref = item.entry.provider
        org = resolve_provider(db, org_id=ref.org_id, code=ref.code, name=ref.name)
        if org is None:
            column = "提供方机构ID" if ref.org_id else "提供方代码"
            _import_error(errors, item, column, "provider_not_found", locale, value=ref.code)
            continue
        if not actor.can(CATALOG_EDIT, org.path):
            _import_error(errors, item, "提供方代码", "provider_not_permitted", locale,
                          value=org.name)
            continue
        existing = None
        if item.resource_code:
            if item.resource_code in seen:
                _import_error(errors, item, "信息资源代码", "duplicate_resource_code", locale,
                              value=item.resource_code)
                continue
            seen[item.resource_code] = item.row
            existing = db.scalars(sa.select(CatalogEntry).where(
                CatalogEntry.resource_code == item.resource_code)).first()
            if existing is not None and existing.provider_org_id != org.id:
                _import_error(errors, item, "信息资源代码", "resource_code_of_other_provider",
                              locale, value=item.resource_code)
                continue
            if existing is not None and existing.working_version is not None and \
                    existing.working_version.status not in EDITABLE:
                _import_error(errors, item, "信息资源代码", "catalog_not_editable", locale,
                              value=item.resource_code)
                continue
        for error in _element_errors(db, item.entry):
            sheet, row, column = item.locate(error.field)
            errors.add(column, error.code, rules.localize(error, locale), row=row, sheet=sheet,
                       **dict(error.params))
        plan.append((item, org, existing))
    if errors:
        raise ValidationFailed("The file was not imported: it has errors.", errors=errors.errors,
                               code="catalog_import_failed")
    outcome = ImportOutcome()
    for item, org, existing in plan:
        if existing is None:
            entry = create_entry(actor, db, item.entry, provider_org_id=org.id,
                                 resource_code=item.resource_code, audit_action="import",
                                 change_note=filename)
            outcome.created.append(entry)
        else:
            existing = _locked_entry(db, existing.id)
            if existing.working_version is None:
                flows.revise(actor, db, existing.id)
            entry = update_entry(actor, db, existing.id, item.entry, change_note=filename)
            outcome.updated.append(entry)
        outcome.rows.append((item.row, entry))
        if submit:
            flows.submit(actor, db, entry.id)
            outcome.submitted += 1
    audit.record(db, actor, "catalog.import_file", target_type="catalog_import",
                 target_id=filename[:128],
                 details={"file": filename, "created": len(outcome.created),
                          "updated": len(outcome.updated), "submitted": outcome.submitted})
    return outcome


EXPORT_FORMATS = {
    "xlsx": (xlsx.XLSX_MEDIA_TYPE, "xlsx"),
    "csv": (xlsx.CSV_MEDIA_TYPE, "csv"),
    "dcat-jsonld": ("application/ld+json", "jsonld"),
    "dcat-ttl": ("text/turtle; charset=utf-8", "ttl"),
}


def exportable(actor: Actor, db: Session, /, *, include_working: bool = False,
               provider_org_id: uuid.UUID | None = None) -> list[CatalogEntryPublic]:
    """Published entries (and, with ``include_working``, the working versions the actor may
    see instead), in resource-code order."""
    access.require_read(actor, db)
    shown = sa.and_(CatalogEntry.published_version_id.is_not(None), visible_clause(actor, db))
    if include_working:
        shown = sa.or_(shown, access.privileged_clause(actor, CatalogEntry.provider_path,
                                                       CatalogEntry.bureau_path))
    stmt = sa.select(CatalogEntry).where(shown)
    if provider_org_id:
        stmt = stmt.where(CatalogEntry.provider_org_id == provider_org_id)
    out = []
    for entry in db.scalars(stmt.order_by(CatalogEntry.resource_code)):
        if include_working and entry.working_version is not None and may_see_working(actor, entry):
            out.append(entry_public(entry, entry.working_version))
        elif entry.published_version is not None:
            out.append(entry_public(entry, entry.published_version))
    return out


def export_entries(actor: Actor, db: Session, /, *, fmt: str, include_working: bool = False,
                   provider_org_id: uuid.UUID | None = None,
                   page_url: str | None = None) -> tuple[bytes, str, str]:
    """The catalog as a file: (bytes, media type, file extension). DCAT exports carry only
    published entries (they go to other portals); ``page_url`` (with ``{code}``) is where a
    dataset's landing page is (the catalog page by default, the portal's for the public)."""
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed.single("format", "not_in_list", f"Unknown export format {fmt!r}.",
                                      value=fmt, list=", ".join(EXPORT_FORMATS))
    media_type, ext = EXPORT_FORMATS[fmt]
    dcat_format = fmt.startswith("dcat")
    entries = exportable(actor, db, include_working=include_working and not dcat_format,
                         provider_org_id=provider_org_id)
    if fmt == "xlsx":
        body = xlsx.export_xlsx(entries)
    elif fmt == "csv":
        body = xlsx.export_csv(entries)
    else:
        base = runtime_of(db).settings.base_url.rstrip("/")
        options = {"base_uri": f"{base}/catalog/",
                   "page_url": page_url or f"{base}/catalog/code/{{code}}"}
        text = (dcat.to_jsonld(entries, **options) if fmt == "dcat-jsonld"
                else dcat.to_turtle(entries, **options))
        body = text.encode("utf-8")
    return body, media_type, ext


def published_count(db: Session, /, org_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many published entries each organisation has (for the census, Art. 9)."""
    if not org_ids:
        return {}
    rows = db.execute(sa.select(CatalogEntry.provider_org_id, sa.func.count())
                      .where(CatalogEntry.provider_org_id.in_(org_ids),
                             CatalogEntry.published_version_id.is_not(None))
                      .group_by(CatalogEntry.provider_org_id)).all()
    return {org_id: n for org_id, n in rows}


def today_local(db: Session) -> dt.date:
    """Today in the display time zone (publish dates are calendar dates in China)."""
    from zoneinfo import ZoneInfo

    return utcnow().astimezone(ZoneInfo(runtime_of(db).settings.display_timezone)).date()


def audit_labels(db: Session, /, ids: Sequence[str]) -> dict[str, str]:
    """Catalog entries as the audit log names them ("resource code name"), in one query."""
    version = sa.orm.aliased(CatalogVersion)
    rows = db.execute(
        sa.select(CatalogEntry.id, CatalogEntry.resource_code, version.name)
        .outerjoin(version, version.id == sa.func.coalesce(CatalogEntry.published_version_id,
                                                          CatalogEntry.working_version_id))
        .where(CatalogEntry.id.in_(as_uuids(ids))))
    return {str(i): f"{code} {name or ''}".strip() for i, code, name in rows}


def audit_find(db: Session, /, text: str, *, limit: int = 200) -> list[str]:
    """Ids of catalog entries whose resource code or name contains ``text`` (audit filter)."""
    like = f"%{text}%"
    rows = db.scalars(
        sa.select(CatalogEntry.id).join(CatalogVersion, CatalogVersion.entry_id == CatalogEntry.id)
        .where(sa.or_(CatalogEntry.resource_code.ilike(like), CatalogVersion.name.ilike(like)))
        .distinct().limit(limit))
    return [str(i) for i in rows]
