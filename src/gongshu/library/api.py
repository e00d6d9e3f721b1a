"""REST API of the resource library (Art. 11): datasets, versions, ingests, quality, previews."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile

from gongshu.core.errors import BadRequest
from gongshu.core.permissions import Perm
from gongshu.library import service
from gongshu.library.permissions import LIBRARY_INGEST, LIBRARY_READ, QUALITY_MANAGE
from gongshu.library.schemas import (
    DatabaseIngest,
    DatasetPublic,
    DatasetsPublic,
    EntryLibraryPublic,
    IngestPublic,
    JobStarted,
    PreviewColumnPublic,
    PreviewPublic,
    QualityReportPublic,
    QualityRuleCreate,
    QualityRulePublic,
    Remap,
    VersionPublic,
    dataset_public,
    ingest_public,
    version_public,
)
from gongshu.library.uploads import safe_name, save_upload
from gongshu.web.deps import ApiActor, Db, guard, write_intent

router = APIRouter(prefix="/api/v1/library", tags=["library"])


def audited(perm: Perm | str) -> dict[str, Any]:
    """``guard(perm)`` for a read that is audited (it writes an audit event)."""
    options = guard(perm)
    options["dependencies"] = [Depends(write_intent), *options["dependencies"]]
    return options


# ------------------------------------------------------------------------------- datasets


@router.get("/datasets", response_model=DatasetsPublic, **guard(LIBRARY_READ))
def list_datasets(
    actor: ApiActor,
    db: Db,
    kind: str | None = Query(None, description="base, sector or topic"),
    q: str | None = Query(None, description="Name or resource code contains"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> DatasetsPublic:
    rows, total = service.list_datasets(actor, db, kind=kind, q=q, limit=limit, offset=offset)
    return DatasetsPublic(items=[dataset_public(d) for d in rows], total=total)


@router.get("/datasets/{dataset_id}", response_model=DatasetPublic, **guard(LIBRARY_READ))
def get_dataset(actor: ApiActor, db: Db, dataset_id: uuid.UUID) -> DatasetPublic:
    return dataset_public(service.get_dataset(actor, db, dataset_id))


@router.get("/datasets/{dataset_id}/versions", response_model=list[VersionPublic],
            **guard(LIBRARY_READ))
def list_versions(actor: ApiActor, db: Db, dataset_id: uuid.UUID) -> list[VersionPublic]:
    """Every version, newest first; ``current`` marks the one readers get."""
    dataset = service.get_dataset(actor, db, dataset_id)
    return [version_public(v, dataset.current_version_id)
            for v in service.list_versions(actor, db, dataset_id)]


@router.get("/datasets/{dataset_id}/ingests", response_model=list[IngestPublic],
            **guard(LIBRARY_READ))
def list_ingests(actor: ApiActor, db: Db, dataset_id: uuid.UUID) -> list[IngestPublic]:
    return [ingest_public(i) for i in service.list_ingests(actor, db, dataset_id)]


@router.get("/datasets/{dataset_id}/preview", response_model=PreviewPublic,
            **audited(LIBRARY_READ))
def preview(
    actor: ApiActor,
    db: Db,
    dataset_id: uuid.UUID,
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0),
    version: int | None = Query(None, ge=1),
) -> PreviewPublic:
    """Rows as you may see them: columns above your clearance hidden, personal identifiers
    masked unless you are a data steward of the provider (Arts. 10, 16). Every preview is
    audited."""
    found = service.preview(actor, db, dataset_id, limit=limit, offset=offset, version=version)

    def col(c: Any) -> PreviewColumnPublic:
        return PreviewColumnPublic(code=c.code, name=c.name, data_type=c.data_type,
                                   level=c.level, masked=found.masked.get(c.code, []))

    return PreviewPublic(dataset_id=found.dataset.id, version=found.version.number,
                         columns=[col(c) for c in found.columns],
                         hidden=[col(c) for c in found.hidden], rows=found.rows,
                         offset=found.offset, limit=found.limit,
                         unmasked=found.policy.unmasked, role=found.policy.role)


# ------------------------------------------------------------------------------- quality


@router.get("/datasets/{dataset_id}/quality", response_model=QualityReportPublic | None,
            **guard(LIBRARY_READ))
def quality_report(actor: ApiActor, db: Db, dataset_id: uuid.UUID,
                   version: int | None = Query(None, ge=1)) -> QualityReportPublic | None:
    """The newest quality report of a version (default: the current one)."""
    version_id = service.get_version(actor, db, dataset_id, version).id if version else None
    report = service.latest_quality(actor, db, dataset_id, version_id)
    return QualityReportPublic.model_validate(report) if report is not None else None


@router.get("/datasets/{dataset_id}/quality-rules", response_model=list[QualityRulePublic],
            **guard(LIBRARY_READ))
def list_rules(actor: ApiActor, db: Db, dataset_id: uuid.UUID) -> list[QualityRulePublic]:
    return [QualityRulePublic.model_validate(r) for r in service.list_rules(actor, db, dataset_id)]


@router.post("/datasets/{dataset_id}/quality-rules", response_model=QualityRulePublic,
             status_code=201, **guard(QUALITY_MANAGE))
def add_rule(actor: ApiActor, db: Db, dataset_id: uuid.UUID,
             body: QualityRuleCreate) -> QualityRulePublic:
    rule = service.add_rule(actor, db, dataset_id, kind=body.kind, column=body.column,
                            params=body.params, weight=body.weight, description=body.description)
    return QualityRulePublic.model_validate(rule)


@router.delete("/quality-rules/{rule_id}", status_code=204, **guard(QUALITY_MANAGE))
def delete_rule(actor: ApiActor, db: Db, rule_id: uuid.UUID) -> Response:
    service.delete_rule(actor, db, rule_id)
    return Response(status_code=204)


@router.post("/datasets/{dataset_id}/quality/evaluate", response_model=JobStarted,
             status_code=202, **guard(QUALITY_MANAGE))
def evaluate(actor: ApiActor, db: Db, dataset_id: uuid.UUID) -> JobStarted:
    """Evaluate the rules over the current version now (a job; the report is kept)."""
    job = service.request_quality(actor, db, dataset_id)
    return JobStarted(job_id=job.id, href=f"/api/v1/jobs/{job.id}")


# ------------------------------------------------------------------------------- ingests


@router.post("/ingests", response_model=IngestPublic, status_code=202,
             **guard(LIBRARY_INGEST))
def upload(
    request: Request,
    actor: ApiActor,
    db: Db,
    file: Annotated[UploadFile, File(description="CSV, XLSX, JSON, JSON Lines or Parquet")],
    entry_id: Annotated[uuid.UUID, Form()],
    sheet: Annotated[str | None, Form()] = None,
    encoding: Annotated[str | None, Form()] = None,
    delimiter: Annotated[str | None, Form()] = None,
    format: Annotated[str | None, Form()] = None,
    kind: Annotated[str | None, Form()] = None,
    drop_extra: Annotated[bool, Form()] = False,
    columns: Annotated[str | None, Form(description=(
        "Column mapping, a JSON object: source column → data item code (or name), for columns "
        'whose names match no data item, e.g. {"身份证": "GMSFHM"}'))] = None,
) -> IngestPublic:
    """Upload a file as the next version of the entry's dataset. The answer comes at once;
    follow ``job_id`` (or this ingest) for progress and the column-by-column report. Files
    above ``GONGSHU_UPLOAD_MAX_MB`` are refused with 413."""
    settings = request.app.state.runtime.settings
    mapping = service.parse_column_mapping(columns)
    service.ensure_dataset(actor, db, entry_id, kind=kind)  # permission before the bytes
    path = save_upload(request, file, service.upload_area(db), settings.upload_max_mb)
    try:
        ingest = service.start_ingest(
            actor, db, entry_id=entry_id, source=path, source_name=safe_name(file.filename),
            source_kind="upload", kind=kind,
            options=service.IngestOptions(sheet=sheet, encoding=encoding, delimiter=delimiter,
                                          format=format, drop_extra=drop_extra,
                                          columns=mapping))
    except BaseException:
        service.discard_upload(service.upload_area(db), path)
        raise
    return ingest_public(ingest)


@router.post("/ingests/database", response_model=IngestPublic, status_code=202,
             **guard(LIBRARY_INGEST))
def ingest_database(actor: ApiActor, db: Db, body: DatabaseIngest) -> IngestPublic:
    """Ingest a table of another database (its URL is kept only in the job, never shown)."""
    if body.url.lower().startswith("sqlite"):
        # a file URL would read files of the platform's own server
        raise BadRequest("Database files cannot be read through the API; use a server URL, or "
                         "`gongshu library ingest` on the server.", code="source_not_allowed")
    ingest = service.start_ingest(
        actor, db, entry_id=body.entry_id, source=body.url, source_kind="database",
        kind=body.kind, options=service.IngestOptions(table=body.table,
                                                      drop_extra=body.drop_extra,
                                                      columns=body.columns))
    return ingest_public(ingest)


@router.post("/ingests/{ingest_id}/remap", response_model=IngestPublic, status_code=202,
             **guard(LIBRARY_INGEST))
def remap(actor: ApiActor, db: Db, ingest_id: uuid.UUID, body: Remap) -> IngestPublic:
    """Ingest a rejected upload again with a column mapping, without sending the file again:
    the server keeps such a file for ``GONGSHU_UPLOAD_KEEP_HOURS`` (409 ``upload_not_kept``
    after that, or once it has been ingested again). Returns the new ingest."""
    return ingest_public(service.remap_ingest(actor, db, ingest_id, columns=body.columns))


@router.get("/ingests/{ingest_id}", response_model=IngestPublic, **guard(LIBRARY_READ))
def get_ingest(actor: ApiActor, db: Db, ingest_id: uuid.UUID) -> IngestPublic:
    return ingest_public(service.get_ingest(actor, db, ingest_id))


# ------------------------------------------------------------------------------- entries


@router.get("/entries/{entry_id}", response_model=EntryLibraryPublic, **guard(LIBRARY_READ))
def entry_summary(actor: ApiActor, db: Db, entry_id: uuid.UUID) -> EntryLibraryPublic:
    """The catalog entry's dataset, current version, quality and grade (for the entry page)."""
    found = service.entry_summary(actor, db, entry_id)
    return EntryLibraryPublic(
        entry_id=entry_id, grade=found.grade,
        dataset=dataset_public(found.dataset) if found.dataset else None,
        quality=QualityReportPublic.model_validate(found.quality) if found.quality else None,
        proposed_grade=found.scan.proposed_grade if found.scan else None,
        scan_id=found.scan.id if found.scan else None)
