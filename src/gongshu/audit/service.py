"""The audit log as auditors see it: filtered, paged, verified (Arts. 12, 41-44).

The chain itself (recording, hashing, checkpoints) is ``gongshu.core.audit``.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gongshu.audit import present
from gongshu.audit.permissions import AUDIT_ACKNOWLEDGE
from gongshu.catalog import service as catalog
from gongshu.core import audit, exports, jobs
from gongshu.core.audit import AuditEvent, VerifyReport
from gongshu.core.db import as_uuids, runtime_of
from gongshu.core.db import utcnow as audit_now
from gongshu.core.errors import InvalidState, NotFound, PermissionDenied, ValidationFailed
from gongshu.core.i18n import translator
from gongshu.core.permissions import Actor, Perm, require
from gongshu.library import service as library
from gongshu.orgs import service as orgs
from gongshu.sharing import service as sharing

#: the most rows one export holds (an inspection asks for a period, not the whole chain)
EXPORT_MAX_ROWS = 100_000
EXPORT_FORMATS = ("csv", "xlsx")


@dataclass(frozen=True)
class Resolver:
    """How the owning room names a target type for the audit log (through its service)."""

    labels: Callable[[Session, Sequence[str]], dict[str, str]]
    find: Callable[..., list[str]] | None = None
    href: str = ""  # "/catalog/{id}"


RESOLVERS: dict[str, Resolver] = {
    catalog.TARGET: Resolver(catalog.audit_labels, catalog.audit_find, "/catalog/{id}"),
    library.TARGET: Resolver(library.audit_labels, library.audit_find, "/library/datasets/{id}"),
    sharing.REQUEST: Resolver(partial(sharing.audit_labels, kind=sharing.REQUEST),
                              partial(sharing.audit_find, kind=sharing.REQUEST),
                              "/sharing/requests/{id}"),
    sharing.TARGET: Resolver(partial(sharing.audit_labels, kind=sharing.TARGET),
                             partial(sharing.audit_find, kind=sharing.TARGET), "/sharing/grants/{id}"),
    "user": Resolver(partial(orgs.audit_labels, kind="user"), partial(orgs.audit_find, kind="user"),
                     "/users/{id}"),
    "organization": Resolver(partial(orgs.audit_labels, kind="organization"),
                             partial(orgs.audit_find, kind="organization"), "/orgs/{id}"),
    "api_token": Resolver(partial(orgs.audit_labels, kind="api_token"),
                          partial(orgs.audit_find, kind="api_token")),
    "job": Resolver(jobs.audit_labels, None, "/jobs/{id}"),
}


@dataclass(frozen=True)
class ObjectRef:
    """An event's target as the auditor reads it."""

    target_type: str
    target_id: str
    name: str  # the object's name; "" when it cannot be resolved (gone, or an unknown type)
    href: str  # "" when the object has no page

    def text(self, type_label: str) -> str:
        if not self.target_type:
            return ""
        if self.name:
            return self.name
        return f"{type_label} {self.target_id}" if self.target_id else type_label


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None  # exact, or a prefix ending in "." ("catalog.")
    actor: str | None = None  # username
    target_type: str | None = None
    target_id: str | None = None
    org_id: uuid.UUID | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    org_path: str | None = None  # the organisation's path: events of it and its subtree
    object_query: str | None = None  # a name or code, searched in the target types' owners

    def describe(self) -> dict[str, str]:
        """The filters set, as text (kept in the audit event of an export)."""
        return {k: (v.isoformat() if isinstance(v, dt.datetime) else str(v))
                for k, v in vars(self).items() if v not in (None, "")}


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
    if f.org_path:
        conds.append(AuditEvent.org_path.startswith(f.org_path))
    if f.object_query:
        conds.append(_object_condition(db, f.target_type, f.object_query.strip()))
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


def _object_condition(db: Session, target_type: str | None, text: str) -> object:
    """Events whose target's name or code contains ``text`` (or whose id starts with it)."""
    alternatives: list[object] = [AuditEvent.target_id.startswith(text)] if len(text) >= 8 else []
    for kind, resolver in RESOLVERS.items():
        if resolver.find is None or (target_type and kind != target_type):
            continue
        ids = resolver.find(db, text)
        if ids:
            alternatives.append((AuditEvent.target_type == kind) & AuditEvent.target_id.in_(ids))
    return or_(*alternatives) if alternatives else AuditEvent.seq.is_(None)


def objects(db: Session, /, events: Sequence[AuditEvent]) -> dict[int, ObjectRef]:
    """Each event's target named by its owning room: one query per target type on the page."""
    wanted: dict[str, set[str]] = {}
    for e in events:
        if e.target_type in RESOLVERS and e.target_id:
            wanted.setdefault(e.target_type, set()).add(e.target_id)
    names = {kind: RESOLVERS[kind].labels(db, sorted(ids)) for kind, ids in wanted.items()}
    out = {}
    for e in events:
        resolver = RESOLVERS.get(e.target_type)
        name = names.get(e.target_type, {}).get(e.target_id, "")
        href = resolver.href.format(id=e.target_id) if resolver and resolver.href and name else ""
        out[e.seq] = ObjectRef(e.target_type, e.target_id, name, href)
    return out


def target_types() -> list[str]:
    """The target types the filter offers (those whose names can be searched first)."""
    return sorted(RESOLVERS)


def org_choices(actor: Actor, db: Session, /) -> list[tuple[str, str]]:
    """(path, name) of the organisations the auditor may pick, within their scope, tree order."""
    require(actor, Perm.AUDIT_READ)
    try:
        found, _ = orgs.list_organizations(actor, db)
    except PermissionDenied:
        return []
    if actor.is_system:
        return [(o.path, o.name) for o in found]
    scopes = list(actor.scopes(Perm.AUDIT_READ))
    return [(o.path, o.name) for o in found
            if any(o.path.startswith(g.org_path) if g.subtree else o.path == g.org_path
                   for g in scopes)]


def org_path_of(db: Session, /, value: str) -> str:
    """The organisation filter typed on the command line: a path ("/…/"), or an organisation's
    id, exact name, credit code or provider code."""
    value = value.strip()
    if value.startswith("/"):
        return value
    ids = as_uuids([value])
    org = (orgs.org_by_id(db, ids[0]) if ids else None) or next(
        (o for o in (orgs.find_organization(db, name=value), orgs.find_organization(db, code=value),
                     orgs.find_organization(db, uscc=value)) if o is not None), None)
    if org is None:
        raise NotFound(f"No organisation {value!r}.", code="org_not_found")
    return org.path


def _all_events(actor: Actor, db: Session, filters: AuditFilter,
                limit: int) -> Iterator[list[AuditEvent]]:
    before: int | None = None
    left = limit
    while left > 0:
        rows, before = list_events(actor, db, filters=filters, before_seq=before,
                                   limit=min(1000, left))
        if rows:
            yield rows
        left -= len(rows)
        if before is None:
            return


EXPORT_COLUMNS = ("seq", "time", "actor", "via", "org", "action", "action_code", "target",
                  "target_type", "target_id", "details", "hash")


def export_events(actor: Actor, db: Session, /, *, filters: AuditFilter = AuditFilter(),
                  fmt: str = "csv", locale: str = "zh-CN", tz: str = "Asia/Shanghai",
                  max_rows: int = EXPORT_MAX_ROWS) -> tuple[bytes, int]:
    """The filtered events as a CSV or XLSX file for an inspection (newest first), in the
    reader's language; every cell is written through ``core.exports`` so none can be a
    formula. The export is itself audited (``audit.export``). Returns (file, rows)."""
    require(actor, Perm.AUDIT_READ)
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed.single("format", "export_format", "Choose csv or xlsx.",
                                      allowed=", ".join(EXPORT_FORMATS))
    t = translator(locale)
    header = [t(f"audit.column.{c}") for c in EXPORT_COLUMNS]
    rows: list[list[object]] = []
    for page in _all_events(actor, db, filters, max_rows):
        refs = objects(db, page)
        for e in page:
            type_label = t(f"audit_target.{e.target_type}", default=e.target_type) if e.target_type else ""
            rows.append([
                e.seq, present.local_time(e.occurred_at, tz), e.actor_name, e.via, e.org_path,
                t(f"audit_action.{e.action}", default=e.action), e.action,
                refs[e.seq].text(type_label), type_label, e.target_id,
                present.details_text(e.details_dict, t, tz), e.hash,
            ])
    if fmt == "csv":
        body = exports.write_csv(header, rows)
    else:
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(t("nav.audit")[:31])
        exports.xlsx_append(sheet, header)
        for row in rows:
            exports.xlsx_append(sheet, row)
        buffer = io.BytesIO()
        book.save(buffer)
        body = buffer.getvalue()
    audit.record(db, actor, "audit.export", target_type="audit_chain",
                 details={"format": fmt, "rows": len(rows), "filters": filters.describe()})
    return body, len(rows)


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


@dataclass(frozen=True)
class Watch:
    """What a security officer or an auditor watches (their home page): failed logins in the
    last 24 hours, the breaks of the chain not yet acknowledged, the last verification, and,
    for an auditor, how many events the last 24 hours brought."""

    failed_logins: int
    open_breaks: int
    last_verified_at: dt.datetime | None
    last_verified_ok: bool | None
    events_24h: int | None


def watch(actor: Actor, db: Session, /) -> Watch:
    """Counts only (no event is shown): ``audit.verify`` holders see the security figures; the
    event count needs ``audit.read`` and follows its scope."""
    require(actor, Perm.AUDIT_VERIFY)
    from sqlalchemy import func

    since = audit_now() - dt.timedelta(hours=24)
    failed = db.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "auth.login_failed", AuditEvent.occurred_at >= since)) or 0
    last = db.scalars(select(AuditEvent).where(AuditEvent.action == "audit.verify")
                      .order_by(AuditEvent.seq.desc()).limit(1)).first()
    try:
        store = runtime_of(db).audit_checkpoints
        _checkpoint, log = store.read_signed(runtime_of(db).keys.verify_key("audit"))
        breaks = len(log.segment()[2]) if log is not None else 0
    except Exception:  # a damaged log is the verification's to report, not the home page's
        breaks = 0
    events = None
    if actor.can(Perm.AUDIT_READ):
        events = db.scalar(select(func.count()).select_from(AuditEvent).where(
            *_scope(actor), AuditEvent.occurred_at >= since)) or 0
    return Watch(int(failed), breaks, last.occurred_at if last else None,
                 bool((last.details or {}).get("ok")) if last else None, events)


def submit_verify(actor: Actor, db: Session, /) -> jobs.Job:
    require(actor, Perm.AUDIT_VERIFY)
    return jobs.submit(actor, db, kind="audit.verify", title="audit.verify")
