"""REST API of grading (Art. 10): proposals with reasons, decisions, rescans, the scheme."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from fastapi import APIRouter, Query

from gongshu.catalog import service as catalog
from gongshu.catalog.permissions import CATALOG_READ
from gongshu.grading import service
from gongshu.grading.permissions import GRADING_CONFIRM, GRADING_MANAGE
from gongshu.grading.schemas import (
    DecisionCreate,
    DecisionPublic,
    EntryGradingPublic,
    EntryGradingRow,
    EntryGradingRows,
    LevelPublic,
    PackPublic,
    RescanStarted,
    ScanPublic,
    ScanSummary,
    SchemeChoice,
    SchemeInfoPublic,
    SchemePublic,
)
from gongshu.library.permissions import LIBRARY_INGEST, LIBRARY_READ
from gongshu.web.deps import ApiActor, Db, guard

router = APIRouter(prefix="/api/v1/grading", tags=["grading"])


def scheme_public(overview: dict[str, Any]) -> SchemePublic:
    scheme = overview["scheme"]
    settings = dataclasses.asdict(scheme.settings)
    settings["weak_types"] = sorted(settings["weak_types"])
    return SchemePublic(
        active=overview["active"],
        levels=[LevelPublic(**dataclasses.asdict(lv)) for lv in scheme.levels],
        default_level=scheme.default_level, settings=settings,
        rule_packs=list(dict.fromkeys(r.pack for r in scheme.rules)),
        schemes=[SchemeInfoPublic(id=s.id, zh=s.zh, en=s.en, source=s.source, builtin=s.builtin,
                                  rule_packs=list(s.rule_packs)) for s in overview["schemes"]],
        packs=[PackPublic(id=p.id, zh=p.zh, en=p.en, source=p.source, builtin=p.builtin,
                          applies_to=p.applies_to, rules=list(p.rules))
               for p in overview["packs"]])


@router.get("/scheme", response_model=SchemePublic, **guard(CATALOG_READ))
def get_scheme(actor: ApiActor, db: Db) -> SchemePublic:
    """The active grading scheme (levels, settings, rule packs) and every available scheme and
    sector rule pack (``applies_to``: the catalog classifications a sector pack covers)."""
    return scheme_public(service.scheme_overview(actor, db))


@router.put("/scheme", response_model=SchemePublic, **guard(GRADING_MANAGE))
def set_scheme(actor: ApiActor, db: Db, body: SchemeChoice) -> SchemePublic:
    """Choose the active scheme; existing proposals stay until rescanned."""
    service.set_active_scheme(actor, db, scheme=body.scheme)
    return scheme_public(service.scheme_overview(actor, db))


@router.get("/entries", response_model=EntryGradingRows, **guard(LIBRARY_READ))
def list_entries(
    actor: ApiActor,
    db: Db,
    pending: bool | None = Query(None, description="true: awaiting a decision; false: decided"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> EntryGradingRows:
    rows, total = service.overview(actor, db, pending=pending, limit=limit, offset=offset)
    return EntryGradingRows(items=[EntryGradingRow(
        entry_id=o.entry.id, resource_code=o.entry.resource_code, grade=o.entry.grade,
        proposed_grade=o.scan.proposed_grade, decided=o.decided,
        scan=ScanSummary.model_validate(o.scan)) for o in rows], total=total)


@router.get("/entries/{entry_id}", response_model=EntryGradingPublic, **guard(LIBRARY_READ))
def get_entry(actor: ApiActor, db: Db, entry_id: uuid.UUID) -> EntryGradingPublic:
    """The latest scan with the proposed grade per column and for the entry, with reasons, the
    confirmed grade and the decisions so far."""
    scan = service.latest_scan(actor, db, entry_id)
    entry = catalog.get_entry(actor, db, entry_id)
    return EntryGradingPublic(
        entry_id=entry.id, resource_code=entry.resource_code, grade=entry.grade,
        grade_reasons=[catalog.reason_text(r) for r in entry.grade_reasons or []],
        proposal=ScanPublic.model_validate(scan) if scan else None,
        decisions=[DecisionPublic.model_validate(d)
                   for d in service.decisions(actor, db, entry_id)])


@router.get("/entries/{entry_id}/scans", response_model=list[ScanSummary],
            **guard(LIBRARY_READ))
def list_scans(actor: ApiActor, db: Db, entry_id: uuid.UUID) -> list[ScanSummary]:
    return [ScanSummary.model_validate(s) for s in service.list_scans(actor, db, entry_id)]


@router.get("/scans/{scan_id}", response_model=ScanPublic, **guard(LIBRARY_READ))
def get_scan(actor: ApiActor, db: Db, scan_id: uuid.UUID) -> ScanPublic:
    return ScanPublic.model_validate(service.get_scan(actor, db, scan_id))


@router.post("/entries/{entry_id}/decision", response_model=DecisionPublic, status_code=201,
             **guard(GRADING_CONFIRM))
def decide(actor: ApiActor, db: Db, entry_id: uuid.UUID, body: DecisionCreate) -> DecisionPublic:
    """Confirm the proposed grade, or override it with a reason; the grade is stored on the
    catalog entry (audited)."""
    decision = service.decide(actor, db, entry_id, grade=body.grade, reason=body.reason,
                              scan_id=body.scan_id)
    return DecisionPublic.model_validate(decision)


@router.post("/entries/{entry_id}/rescan", response_model=RescanStarted, status_code=202,
             **guard(LIBRARY_INGEST))
def rescan(actor: ApiActor, db: Db, entry_id: uuid.UUID) -> RescanStarted:
    """Scan the entry's stored data again under the scheme and rule packs in force."""
    job = service.request_rescan(actor, db, entry_id)
    return RescanStarted(job_id=job.id, href=f"/api/v1/jobs/{job.id}")
