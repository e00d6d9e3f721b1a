"""Grading's use cases (Art. 10): the only door to its tables.

- The library records a scan of every dataset version it stores (``record_scan``); a rescan
  reads the stored version again (job ``grading.rescan``), e.g. after the scheme or a rule pack
  changed. Each scan stores, per column, what each detector found, and the grade proposed for
  the column and for the catalog entry, with the reasons (detector, share of values, rule).
- A data steward of the provider confirms the proposal or overrides it with a reason
  (``decide``); the grade is stored on the catalog entry through ``catalog.service.set_grade``
  (audited there) and the decision is kept here (audited too).
- The grading scheme is data (``grading.schemes``); the administrator chooses which one is
  active (``set_active_scheme``). Sector rule packs apply by the entry's catalog classification.

Who may see grading results: the provider's staff and the reviewing bureau who hold
``library.read``, the provider's data stewards (``grading.confirm``), the system.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gongshu.catalog import service as catalog
from gongshu.catalog.permissions import CATALOG_READ
from gongshu.catalog.service import CatalogEntry
from gongshu.core import audit, jobs
from gongshu.core.db import runtime_of, utcnow
from gongshu.core.errors import FieldError, NotFound, PermissionDenied, ValidationFailed
from gongshu.core.jobs import Job
from gongshu.core.permissions import Actor, require
from gongshu.grading import schemes
from gongshu.grading.detectors import ColumnDetections
from gongshu.grading.models import GradingDecision, GradingScan, GradingScanColumn, GradingSetting
from gongshu.grading.permissions import GRADING_CONFIRM, GRADING_MANAGE
from gongshu.grading.proposal import Scheme, propose

# re-exported: a grade's reasons in words (the audit log, the pages), the streaming scanner and
# level labels (the library's ingest, the page layer)
from gongshu.grading.reasons import reason_words  # noqa: F401  (re-exported)
from gongshu.grading.scan import SCAN_BATCH_ROWS, scan_batches  # noqa: F401  (re-exported)
from gongshu.grading.schemes import (  # noqa: F401  (re-exported)
    level_label,
    pack_label,
    rule_label,
    scheme_label,
)
from gongshu.library.permissions import LIBRARY_INGEST, LIBRARY_READ
from gongshu.orgs import service as orgs

TARGET = "catalog_entry"
SCHEME_KEY = "scheme"
#: an override needs a reason of at least this many characters (Art. 10: a person decides, and
#: says why)
MIN_REASON = 4


# ---------------------------------------------------------------------------------- schemes


def _data_dir(db: Session) -> Path | None:
    runtime = db.info.get("runtime")
    return runtime.settings.resolved_data_dir if runtime is not None else None


def active_scheme_name(db: Session, /) -> str:
    row = db.get(GradingSetting, SCHEME_KEY)
    name = str(row.value.get("name")) if row is not None and row.value.get("name") else None
    if name and schemes.scheme_exists(name, _data_dir(db)):
        return name
    return schemes.DEFAULT_SCHEME


def set_active_scheme(actor: Actor, db: Session, /, *, scheme: str) -> str:
    """Choose the grading scheme proposals use from now on (Art. 10; an administrator's or the
    bureau's choice). Existing proposals stay as they were made; rescan to apply the new one.

    The scheme (and with it the built-in rule packs it lists) applies province-wide, so only a
    holder of ``grading.manage`` for the whole province chooses it (``orgs.service.
    holds_province_wide``): a city bureau's reviewer does not."""
    require(actor, GRADING_MANAGE)
    orgs.require_province_wide(actor, db, GRADING_MANAGE)
    if not schemes.scheme_exists(scheme, _data_dir(db)):
        raise ValidationFailed.single("scheme", "unknown_scheme", f"No grading scheme {scheme!r}.",
                                      scheme=scheme)
    try:
        schemes.build_scheme(scheme, data_dir=_data_dir(db))
    except (KeyError, ValueError) as exc:
        raise ValidationFailed.single("scheme", "invalid_scheme",
                                      f"The scheme cannot be used: {exc}") from exc
    row = db.get(GradingSetting, SCHEME_KEY)
    previous = active_scheme_name(db)
    if row is None:
        row = GradingSetting(key=SCHEME_KEY, value={})
        db.add(row)
    row.value = {"name": scheme}
    row.updated_at = utcnow()
    row.updated_by = actor.username
    audit.record(db, actor, "grading.scheme", target_type="grading_setting", target_id=SCHEME_KEY,
                 details={"scheme": scheme, "previous": previous})
    return scheme


def may_manage_scheme(actor: Actor, db: Session, /) -> bool:
    """True if ``actor`` may choose the scheme (the pages show the form only then)."""
    return actor.can(GRADING_MANAGE) and orgs.holds_province_wide(actor, db,
                                                                       GRADING_MANAGE)


def classification_of(entry: CatalogEntry) -> str:
    """The entry's catalog classification as rule packs read it: "资源属性/项" in Chinese
    (``基础信息资源/人口``), from the version its body works on."""
    from gongshu.catalog.vocab import vocab

    version = entry.current_version
    if version is None:
        return ""
    category = (version.content or {}).get("category") or {}
    v = vocab()
    kind = v.resource_kinds.get(category.get("resource_kind"))
    subject = v.subject(str(category.get("resource_kind")), str(category.get("subject")))
    return "/".join(part for part in (kind.zh if kind else "", subject.zh if subject else "")
                    if part)


def scheme_for(db: Session, /, entry: CatalogEntry | None = None) -> Scheme:
    """The active scheme with the sector packs of the entry's classification."""
    return schemes.build_scheme(active_scheme_name(db),
                                classification=classification_of(entry) if entry else None,
                                data_dir=_data_dir(db))


def openable_levels(db: Session, /) -> dict[str, str]:
    """Art. 13: the levels of the active scheme whose data may be opened to society, each with
    how (``clear`` or ``masked``; the scheme's ``openable``). An entry of another level, or an
    ungraded one, is not opened. Public knowledge: no permission check."""
    return {lv.id: lv.openable for lv in scheme_for(db).levels if lv.openable}


def scheme_overview(actor: Actor, db: Session, /) -> dict[str, Any]:
    """The active scheme, every available scheme and rule pack (for the scheme page and API).
    The rules of grading are no secret: every member may read them."""
    require(actor, CATALOG_READ)
    data_dir = _data_dir(db)
    active = active_scheme_name(db)
    return {"active": active, "schemes": schemes.list_schemes(data_dir),
            "packs": schemes.list_packs(data_dir), "scheme": scheme_for(db)}


# ---------------------------------------------------------------------------------- access


def may_read(actor: Actor, provider_path: str, bureau_path: str = "") -> bool:
    return (actor.is_system or actor.can(LIBRARY_READ, provider_path)
            or actor.can(GRADING_CONFIRM, provider_path)
            or bool(bureau_path) and actor.can(LIBRARY_READ, bureau_path))


def _entry(actor: Actor, db: Session, entry_id: uuid.UUID) -> CatalogEntry:
    entry = catalog.get_entry(actor, db, entry_id)
    if not may_read(actor, entry.provider_path, entry.bureau_path):
        raise PermissionDenied("You may not see this entry's grading.", code="permission_denied",
                               permission=LIBRARY_READ.value)
    return entry


def _scoped(actor: Actor) -> Any:
    if actor.is_system:
        return sa.true()
    conds = []
    for perm in (LIBRARY_READ, GRADING_CONFIRM):
        for g in actor.scopes(perm):
            conds.append(GradingScan.provider_path.startswith(g.org_path) if g.subtree
                         else GradingScan.provider_path == g.org_path)
            if perm == LIBRARY_READ:
                conds.append(GradingScan.bureau_path.startswith(g.org_path) if g.subtree
                             else GradingScan.bureau_path == g.org_path)
    return sa.or_(*conds) if conds else sa.false()


# ---------------------------------------------------------------------------------- scans


@dataclass(frozen=True)
class ScannedColumn:
    """One stored column and what the detectors found in it."""

    name: str  # the data item's name: the header the detectors see
    code: str  # the stored column
    detections: ColumnDetections


def _stored(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, (list, tuple)):
        return [_stored(v) for v in value]
    return value


def _reason(r: Any) -> dict[str, Any]:
    """A reason as stored with the scan: ``text`` (English, as the scan contract prints it) and
    ``kind`` with ``params`` (``proposal.REASON_KINDS``), which pages render in the reader's
    language. Scans stored before reasons had a kind hold only the first six keys."""
    return {"level": r.level, "text": r.text, "rule": r.rule, "detector": r.detector,
            "ratio": round(r.ratio, 6) if r.ratio is not None else None, "count": r.count,
            "kind": r.kind, "params": {k: _stored(v) for k, v in r.params.items()}}


def record_scan(
    actor: Actor,
    db: Session,
    /,
    *,
    entry_id: uuid.UUID,
    dataset_id: uuid.UUID,
    dataset_version_id: uuid.UUID,
    storage_id: str,
    storage_version: int,
    rows: int,
    columns: Sequence[ScannedColumn],
    trigger: str = "ingest",
    job_id: uuid.UUID | None = None,
    seconds: float = 0.0,
) -> GradingScan:
    """Store a scan of a dataset version and the grades it proposes under the active scheme
    (with the sector packs of the entry's classification), with their reasons."""
    entry = catalog.get_entry(actor, db, entry_id)
    if not (actor.can(LIBRARY_INGEST, entry.provider_path)
            or actor.can(GRADING_CONFIRM, entry.provider_path)):
        raise PermissionDenied("You may not scan this entry's data.", code="permission_denied",
                               permission=LIBRARY_INGEST.value)
    scheme = scheme_for(db, entry)
    classification = classification_of(entry)
    proposal = propose([c.detections for c in columns], rows=rows, scheme=scheme,
                       classification=classification)
    scan = GradingScan(
        entry_id=entry.id, provider_path=entry.provider_path, bureau_path=entry.bureau_path or "",
        dataset_id=dataset_id, dataset_version_id=dataset_version_id, storage_id=storage_id,
        storage_version=storage_version, rows_scanned=rows, scheme=scheme.id,
        rule_packs=schemes.packs_in(scheme), classification=classification,
        proposed_grade=proposal.level.id, reasons=[_reason(r) for r in proposal.reasons],
        trigger=trigger, job_id=job_id, created_by=actor.username, seconds=round(seconds, 3))
    for position, (col, prop) in enumerate(zip(columns, proposal.columns, strict=True)):
        det = col.detections
        scan.columns.append(GradingScanColumn(
            position=position, name=col.name, code=col.code, rows=det.rows, nonempty=det.nonempty,
            detections=[{"type": d.type, "count": d.count, "ratio": round(d.ratio, 6)}
                        for d in det.detections],
            hinted=sorted(det.hinted), counted=sorted(prop.counted),
            proposed_grade=prop.level.id, rank=prop.level.rank,
            reasons=[_reason(r) for r in prop.reasons]))
    db.add(scan)
    db.flush()
    audit.record(db, actor, "grading.scan", target_type=TARGET, target_id=entry.id,
                 org_id=entry.provider_org_id, org_path=entry.provider_path,
                 details={"scan_id": str(scan.id), "trigger": trigger, "rows": rows,
                          "scheme": scheme.id, "proposed_grade": scan.proposed_grade,
                          "resource_code": entry.resource_code})
    return scan


def latest_scan(actor: Actor, db: Session, /, entry_id: uuid.UUID) -> GradingScan | None:
    _entry(actor, db, entry_id)
    return _latest(db, entry_id)


def _latest(db: Session, entry_id: uuid.UUID) -> GradingScan | None:
    return db.scalars(sa.select(GradingScan).where(GradingScan.entry_id == entry_id)
                      .order_by(GradingScan.created_at.desc(), GradingScan.id.desc())
                      .limit(1)).first()


def get_scan(actor: Actor, db: Session, /, scan_id: uuid.UUID) -> GradingScan:
    scan = db.get(GradingScan, scan_id)
    if scan is None or not may_read(actor, scan.provider_path, scan.bureau_path):
        raise NotFound("No such scan.", code="scan_not_found")
    return scan


def list_scans(actor: Actor, db: Session, /, entry_id: uuid.UUID, *,
               limit: int = 50) -> list[GradingScan]:
    _entry(actor, db, entry_id)
    return list(db.scalars(sa.select(GradingScan).where(GradingScan.entry_id == entry_id)
                           .order_by(GradingScan.created_at.desc(), GradingScan.id.desc())
                           .limit(limit)))


def column_grades(db: Session, /, entry_id: uuid.UUID) -> dict[str, GradingScanColumn]:
    """The latest scan's columns by stored column code (for previews: what to mask, what to
    hide). No permission check: callers have checked access to the dataset."""
    scan = _latest(db, entry_id)
    return {c.code: c for c in scan.columns} if scan is not None else {}


@dataclass
class Overview:
    entry: CatalogEntry
    scan: GradingScan
    decided: bool


def overview(actor: Actor, db: Session, /, *, pending: bool | None = None, limit: int = 50,
             offset: int = 0) -> tuple[list[Overview], int]:
    """Entries with a scan the actor may see, newest scan first: the proposal and whether a
    steward has decided on it (``pending=True``: not yet; ``False``: decided)."""
    if not actor.can(GRADING_CONFIRM):
        require(actor, LIBRARY_READ)
    newest = (sa.select(GradingScan.entry_id, sa.func.max(GradingScan.created_at).label("at"))
              .where(_scoped(actor)).group_by(GradingScan.entry_id).subquery())
    stmt = sa.select(GradingScan).join(newest, sa.and_(GradingScan.entry_id == newest.c.entry_id,
                                                       GradingScan.created_at == newest.c.at))
    decided = sa.select(GradingDecision.id).where(
        GradingDecision.entry_id == GradingScan.entry_id,
        GradingDecision.created_at >= GradingScan.created_at).exists()
    if pending is True:
        stmt = stmt.where(~decided)
    elif pending is False:
        stmt = stmt.where(decided)
    total = db.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    scans = db.scalars(stmt.order_by(GradingScan.created_at.desc()).limit(limit)
                       .offset(offset)).all()
    out = []
    for scan in scans:
        entry = catalog.entry_by_id(db, scan.entry_id)
        if entry is None:  # pragma: no cover - entries are never deleted
            continue
        last = _last_decision(db, scan.entry_id)
        out.append(Overview(entry, scan, last is not None and last.created_at >= scan.created_at))
    return out, total


# ---------------------------------------------------------------------------------- decisions


def _last_decision(db: Session, entry_id: uuid.UUID) -> GradingDecision | None:
    return db.scalars(sa.select(GradingDecision).where(GradingDecision.entry_id == entry_id)
                      .order_by(GradingDecision.created_at.desc(), GradingDecision.id.desc())
                      .limit(1)).first()


def decisions(actor: Actor, db: Session, /, entry_id: uuid.UUID) -> list[GradingDecision]:
    _entry(actor, db, entry_id)
    return list(db.scalars(sa.select(GradingDecision).where(GradingDecision.entry_id == entry_id)
                           .order_by(GradingDecision.created_at.desc(),
                                     GradingDecision.id.desc())))


def decide(actor: Actor, db: Session, /, entry_id: uuid.UUID, *, grade: str, reason: str = "",
           scan_id: uuid.UUID | None = None) -> GradingDecision:
    """A data steward of the provider confirms the proposed grade, or overrides it with a
    reason (Art. 10). The grade goes onto the catalog entry; the decision is kept and audited."""
    entry = catalog.get_entry(actor, db, entry_id)
    require(actor, GRADING_CONFIRM, entry.provider_path)
    scan = db.get(GradingScan, scan_id) if scan_id else _latest(db, entry.id)
    if scan is not None and scan.entry_id != entry.id:
        raise NotFound("No such scan.", code="scan_not_found")
    scheme = scheme_for(db, entry)
    grade = (grade or "").strip()
    reason = (reason or "").strip()
    errors = []
    if not any(level.id == grade for level in scheme.levels):
        errors.append(("grade", "unknown_grade", f"{grade!r} is not a level of the scheme "
                       f"{scheme.id}: {', '.join(lv.id for lv in scheme.levels)}."))
    proposed = scan.proposed_grade if scan is not None else None
    action = "confirm" if proposed is not None and grade == proposed else "override"
    if action == "override" and len(reason) < MIN_REASON:
        errors.append(("reason", "reason_required", "Overriding the proposed grade needs a "
                       f"reason (at least {MIN_REASON} characters)."))
    if len(reason) > 2000:
        errors.append(("reason", "too_long", "The reason is at most 2000 characters."))
    if errors:
        raise ValidationFailed("The grade cannot be recorded.", errors=[
            FieldError(f, c, m, params={"min_length": MIN_REASON, "max_length": 2000}) for f, c, m in errors])
    # the reasons go onto the entry as the scan stored them (``_reason``), so that pages say
    # them in the reader's language; the steward's own words are kept as written
    reasons: list[dict[str, Any]]
    if action == "confirm":
        reasons = [dict(r) for r in (scan.reasons if scan is not None else [])]
        if reason:
            reasons.append({"level": grade, "text": f"confirmed: {reason}", "kind": "confirmed",
                            "params": {"level": grade, "note": reason}})
    else:
        reasons = [{"level": grade, "text": f"override of the proposal {proposed or '—'}: {reason}",
                    "kind": "override",
                    "params": {"level": grade, "proposed": proposed or "", "note": reason}}]
    previous = entry.grade
    catalog.set_grade(actor, db, entry.id, grade=grade, reasons=reasons)
    decision = GradingDecision(
        entry_id=entry.id, scan_id=scan.id if scan is not None else None, action=action,
        proposed_grade=proposed, grade=grade, previous_grade=previous, scheme=scheme.id,
        reason=reason, decided_by_id=actor.user_id, decided_by=actor.username)
    db.add(decision)
    db.flush()
    audit.record(db, actor, f"grading.{action}", target_type=TARGET, target_id=entry.id,
                 org_id=entry.provider_org_id, org_path=entry.provider_path,
                 details={"grade": grade, "proposed": proposed, "previous": previous,
                          "reason": reason, "scan_id": str(scan.id) if scan else None,
                          "resource_code": entry.resource_code})
    return decision


# ---------------------------------------------------------------------------------- rescans


def request_rescan(actor: Actor, db: Session, /, entry_id: uuid.UUID) -> Job:
    """Queue a rescan of the entry's latest scanned dataset version (job ``grading.rescan``)."""
    entry = catalog.get_entry(actor, db, entry_id)
    if not (actor.can(GRADING_CONFIRM, entry.provider_path)
            or actor.can(LIBRARY_INGEST, entry.provider_path)):
        raise PermissionDenied("You may not rescan this entry's data.", code="permission_denied",
                               permission=GRADING_CONFIRM.value)
    scan = _latest(db, entry.id)
    if scan is None:
        raise NotFound("The entry has no stored data to scan yet.", code="nothing_to_scan")
    return jobs.submit(actor, db, kind="grading.rescan", params={"entry_id": str(entry.id)},
                       title=f"rescan {entry.resource_code}", org_path=entry.provider_path)


@dataclass(frozen=True)
class RescanTarget:
    entry_id: uuid.UUID
    dataset_id: uuid.UUID
    dataset_version_id: uuid.UUID
    storage_id: str
    storage_version: int
    columns: list[tuple[str, str]]  # (name, code)


def rescan_target(actor: Actor, db: Session, /, entry_id: uuid.UUID) -> RescanTarget:
    """What a rescan reads: the latest scanned version's storage place and columns."""
    _entry(actor, db, entry_id)
    scan = _latest(db, entry_id)
    if scan is None:
        raise NotFound("The entry has no stored data to scan yet.", code="nothing_to_scan")
    return RescanTarget(scan.entry_id, scan.dataset_id, scan.dataset_version_id, scan.storage_id,
                        scan.storage_version, [(c.name, c.code) for c in scan.columns])


def parquet_root(db: Session) -> Path:
    return runtime_of(db).settings.parquet_dir
