"""Web pages of the resource library (Art. 11): the three libraries, upload with progress, the
column-by-column ingest report, a dataset's versions and quality, the masked preview."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from gongshu.catalog import service as catalog
from gongshu.core import jobs
from gongshu.core.errors import (
    GongshuError,
    InvalidState,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from gongshu.core.i18n import Translator
from gongshu.core.permissions import Actor
from gongshu.grading import service as grading
from gongshu.grading.permissions import GRADING_CONFIRM
from gongshu.grading.vocab import DETECTOR_TYPES
from gongshu.library import quality, service
from gongshu.library.permissions import LIBRARY_INGEST, LIBRARY_READ, QUALITY_MANAGE
from gongshu.library.service import LibraryKind
from gongshu.library.uploads import safe_name, save_upload
from gongshu.web.deps import Db, PageActor, locale_of, write_intent
from gongshu.web.forms import error_map
from gongshu.web.nav import Card, NavItem
from gongshu.web.templating import render

router = APIRouter(include_in_schema=False)

NAV = [NavItem("nav.library", "/library", LIBRARY_READ, 30)]

ENCODINGS = ("utf-8", "gb18030", "big5", "utf-16")
DELIMITER_CHOICES = ((",", ","), ("\\t", "Tab"), (";", ";"), ("|", "|"))


def dashboard_cards(actor: Actor, db: Session) -> list[Card]:
    """Home-page figures: the datasets the reader may see; for those who ingest or grade
    (stewards, editors), the ingests under way, those failed this week and the datasets
    with data but no grade (the first listed)."""
    if not (actor.can(LIBRARY_READ) or actor.can(GRADING_CONFIRM)):
        return []
    _, total = service.list_datasets(actor, db, limit=1)
    cards = [Card("library.card_datasets", total, "/library")]
    if actor.can(LIBRARY_INGEST) or actor.can(GRADING_CONFIRM):
        w = service.workload(actor, db)
        cards += [
            Card("library.card_ingests_open", w.ingests_open, "/jobs"),
            Card("library.card_ingests_failed", w.ingests_failed, "/jobs?status=failed",
                 warn=w.ingests_failed > 0),
            Card("library.card_ungraded", w.ungraded, "/grading",
                 warn=w.ungraded > 0, items=tuple((d.name, f"/library/datasets/{d.id}")
                                                  for d in w.ungraded_first)),
        ]
    return cards


def _reader(actor: PageActor) -> Actor:
    if not (actor.can(LIBRARY_READ) or actor.can(GRADING_CONFIRM)):
        raise PermissionDenied("You do not have the permission library.read.",
                               permission=LIBRARY_READ.value)
    return actor


Reader = Annotated[Actor, Depends(_reader)]


def _ingestable_entries(actor: Actor, db: Session) -> list[Any]:
    """Catalog entries the actor may ingest into (of the bodies it works for)."""
    rows, _ = catalog.list_entries(actor, db, mine=True, limit=500)
    return [e for e in rows if actor.can(LIBRARY_INGEST, e.provider_path)]


def _entry_label(entry: Any) -> str:
    version = entry.current_version
    return f"{entry.resource_code} {version.name if version else ''}"


# ---------------------------------------------------------------------------- the libraries


@router.get("/library")
def library_index(request: Request, actor: Reader, db: Db, kind: str | None = None,
                  q: str | None = None, offset: int = 0) -> Response:
    limit = request.app.state.runtime.settings.page_size
    kind = kind if kind in {k.value for k in LibraryKind} else None
    rows, total = service.list_datasets(actor, db, kind=kind, q=q, limit=limit, offset=offset)
    return render(request, "library/index.html", {
        "datasets": rows, "total": total, "kind": kind or "", "q": q or "", "offset": offset,
        "limit": limit, "kinds": [k.value for k in LibraryKind],
        "counts": service.kind_counts(actor, db), "can_ingest": actor.can(LIBRARY_INGEST)})


# ---------------------------------------------------------------------------- upload


def _upload_form(request: Request, actor: Actor, db: Session, *, values: dict[str, Any],
                 errors: dict[str, str], status: int = 200) -> Response:
    entries = _ingestable_entries(actor, db)
    return render(request, "library/upload.html", {
        "values": values, "errors": errors,
        "entries": [(str(e.id), _entry_label(e)) for e in entries],
        "kinds": [k.value for k in LibraryKind], "encodings": ENCODINGS,
        "delimiters": DELIMITER_CHOICES,
        "max_mb": request.app.state.runtime.settings.upload_max_mb}, status_code=status)


@router.get("/library/upload")
def upload_form(request: Request, actor: PageActor, db: Db,
                entry_id: str | None = None) -> Response:
    if not actor.can(LIBRARY_INGEST):
        raise PermissionDenied("You do not have the permission library.ingest.",
                               permission=LIBRARY_INGEST.value)
    return _upload_form(request, actor, db, values={"entry_id": entry_id or ""}, errors={})


@router.post("/library/upload")
def upload(
    request: Request,
    actor: PageActor,
    db: Db,
    file: Annotated[UploadFile, File()],
    entry_id: Annotated[str, Form()] = "",
    sheet: Annotated[str, Form()] = "",
    encoding: Annotated[str, Form()] = "",
    delimiter: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
    drop_extra: Annotated[str, Form()] = "",
    map_column: Annotated[list[str] | None, Form()] = None,
    map_item: Annotated[list[str] | None, Form()] = None,
) -> Response:
    values = {"entry_id": entry_id, "sheet": sheet, "encoding": encoding,
              "delimiter": delimiter, "kind": kind, "drop_extra": drop_extra}
    path = None
    try:
        # the column mapping of the "map the columns and upload again" form of a rejected
        # ingest: pairs of (file column, data item code); an empty choice maps nothing
        columns_, items_ = map_column or [], map_item or []
        if len(columns_) != len(items_):
            raise ValidationFailed.single("columns", "invalid_mapping",
                                          "The column mapping is incomplete.")
        mapping = {c.strip(): i.strip() for c, i in zip(columns_, items_, strict=True)
                   if c.strip() and i.strip()}
        try:
            entry = uuid.UUID(entry_id)
        except ValueError:
            raise ValidationFailed.single("entry_id", "required",
                                          "Choose the catalog entry.") from None
        service.ensure_dataset(actor, db, entry, kind=kind or None)
        path = save_upload(request, file, service.upload_area(db),
                           request.app.state.runtime.settings.upload_max_mb)
        ingest = service.start_ingest(
            actor, db, entry_id=entry, source=path, source_name=safe_name(file.filename),
            source_kind="upload", kind=kind or None,
            options=service.IngestOptions(sheet=sheet or None, encoding=encoding or None,
                                          delimiter=delimiter or None,
                                          drop_extra=bool(drop_extra),
                                          columns=mapping or None))
    except GongshuError as exc:
        db.rollback()
        if path is not None:
            service.discard_upload(service.upload_area(db), path)
        if exc.status in (401, 403, 404):
            raise
        if not isinstance(exc, ValidationFailed):
            exc = ValidationFailed(exc.detail, code=exc.code, errors=[])
        return _upload_form(request, actor, db, values=values, errors=error_map(request, exc),
                            status=422)
    return RedirectResponse(f"/library/ingests/{ingest.id}", status_code=303)


# ---------------------------------------------------------------------------- ingests


def _ingest_context(actor: Actor, db: Session, ingest_id: uuid.UUID) -> dict[str, Any]:
    ingest = service.get_ingest(actor, db, ingest_id)
    dataset = service.get_dataset(actor, db, ingest.dataset_id)
    job = None
    if ingest.job_id is not None:
        try:
            job = jobs.get_job(actor, db, ingest.job_id)
        except NotFound:
            job = None
    return {"ingest": ingest, "dataset": dataset, "job": job,
            "finished": ingest.status in ("rejected", "failed", "succeeded"),
            "report": ingest.report or {},
            "can_ingest": actor.can(LIBRARY_INGEST, dataset.provider_path),
            "options": ingest.options or {},
            "kept": service.kept_upload(db, ingest) is not None}


@router.get("/library/ingests/{ingest_id}")
def ingest_page(request: Request, actor: Reader, db: Db, ingest_id: uuid.UUID) -> Response:
    """Progress of an ingest (the job, polled by htmx), then its column-by-column report."""
    context = _ingest_context(actor, db, ingest_id)
    if context["job"] is not None:
        context["finished_job"] = context["job"].status in jobs.FINISHED
    return render(request, "library/ingest.html", context)


@router.post("/library/ingests/{ingest_id}/remap")
def remap(
    request: Request,
    actor: PageActor,
    db: Db,
    ingest_id: uuid.UUID,
    map_column: Annotated[list[str] | None, Form()] = None,
    map_item: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Ingest a rejected upload's kept file again, with the columns mapped on its page."""
    columns_, items_ = map_column or [], map_item or []
    mapping = {c.strip(): i.strip() for c, i in zip(columns_, items_, strict=False)
               if c.strip() and i.strip()}
    try:
        if len(columns_) != len(items_):
            raise ValidationFailed.single("columns", "invalid_mapping",
                                          "The column mapping is incomplete.")
        ingest = service.remap_ingest(actor, db, ingest_id, columns=mapping)
    except (ValidationFailed, InvalidState) as exc:
        db.rollback()
        context = _ingest_context(actor, db, ingest_id)
        context["finished_job"] = True
        if isinstance(exc, ValidationFailed):
            context["remap_error"] = next(iter(error_map(request, exc).values()), exc.detail)
        else:
            context["remap_error"] = Translator(locale_of(request))(f"errors.{exc.code}",
                                                                    default=exc.detail)
        return render(request, "library/ingest.html", context, status_code=exc.status)
    return RedirectResponse(f"/library/ingests/{ingest.id}", status_code=303)


@router.get("/library/ingests/{ingest_id}/outcome")
def ingest_outcome(request: Request, actor: Reader, db: Db, ingest_id: uuid.UUID) -> Response:
    """The report fragment, loaded when the job has finished."""
    return render(request, "library/_ingest_outcome.html", _ingest_context(actor, db, ingest_id))


# ---------------------------------------------------------------------------- datasets


def _dataset_context(request: Request, actor: Actor, db: Session, dataset_id: uuid.UUID,
                     errors: dict[str, str] | None = None,
                     values: dict[str, Any] | None = None) -> dict[str, Any]:
    dataset = service.get_dataset(actor, db, dataset_id)
    versions = service.list_versions(actor, db, dataset.id)
    current = next((v for v in versions if v.id == dataset.current_version_id), None)
    scan = grading.latest_scan(actor, db, dataset.entry_id)
    entry = catalog.get_entry(actor, db, dataset.entry_id)
    columns = current.columns if current else [
        {"code": i.code, "name": i.name, "data_type": i.data_type}
        for i in catalog.entry_items(db, dataset.entry_id)]
    return {
        "dataset": dataset, "versions": versions, "current": current, "entry": entry,
        "quality": service.latest_quality(actor, db, dataset.id),
        "rules": service.list_rules(actor, db, dataset.id),
        "ingests": service.list_ingests(actor, db, dataset.id, limit=10),
        "scan": scan, "columns": columns, "rule_kinds": quality.RULE_KINDS,
        "detectors": DETECTOR_TYPES,
        "can_manage_quality": actor.can(QUALITY_MANAGE, dataset.provider_path),
        "can_ingest": actor.can(LIBRARY_INGEST, dataset.provider_path),
        "errors": errors or {}, "values": values or {},
    }


@router.get("/library/datasets/{dataset_id}")
def dataset_page(request: Request, actor: Reader, db: Db, dataset_id: uuid.UUID) -> Response:
    return render(request, "library/dataset.html",
                  _dataset_context(request, actor, db, dataset_id))


@router.post("/library/datasets/{dataset_id}/rules")
def add_rule(
    request: Request,
    actor: PageActor,
    db: Db,
    dataset_id: uuid.UUID,
    kind: Annotated[str, Form()],
    column: Annotated[str, Form()] = "",
    regex: Annotated[str, Form()] = "",
    detector: Annotated[str, Form()] = "",
    min: Annotated[str, Form()] = "",
    max: Annotated[str, Form()] = "",
    values: Annotated[str, Form()] = "",
    ref_dataset: Annotated[str, Form()] = "",
    ref_column: Annotated[str, Form()] = "",
    weight: Annotated[str, Form()] = "1",
    description: Annotated[str, Form()] = "",
) -> Response:
    params: dict[str, Any] = {}
    if kind == "pattern":
        params["regex"] = regex
    elif kind == "detector":
        params["detector"] = detector
    elif kind == "range":
        params.update({k: v for k, v in (("min", min), ("max", max)) if v.strip()})
    elif kind == "allowed_values":
        params["values"] = values
    elif kind == "reference":
        params.update({"dataset": ref_dataset, "column": ref_column})
    form = {"kind": kind, "column": column, "regex": regex, "detector": detector, "min": min,
            "max": max, "values": values, "ref_dataset": ref_dataset, "ref_column": ref_column,
            "weight": weight, "description": description}
    try:
        try:
            w = float(weight or 1)
        except ValueError:
            raise ValidationFailed.single("weight", "not_a_number",
                                          "The weight is a number.") from None
        service.add_rule(actor, db, dataset_id, kind=kind, column=column or None, params=params,
                         weight=w, description=description)
    except ValidationFailed as exc:
        db.rollback()
        return render(request, "library/dataset.html", _dataset_context(
            request, actor, db, dataset_id, errors=error_map(request, exc), values=form),
            status_code=422)
    return RedirectResponse(f"/library/datasets/{dataset_id}?flash=rule_added#quality",
                            status_code=303)


@router.post("/library/rules/{rule_id}/delete")
def delete_rule(request: Request, actor: PageActor, db: Db, rule_id: uuid.UUID,
                dataset_id: Annotated[str, Form()]) -> Response:
    service.delete_rule(actor, db, rule_id)
    return RedirectResponse(f"/library/datasets/{dataset_id}?flash=rule_deleted#quality",
                            status_code=303)


@router.post("/library/datasets/{dataset_id}/evaluate")
def evaluate(request: Request, actor: PageActor, db: Db, dataset_id: uuid.UUID) -> Response:
    job = service.request_quality(actor, db, dataset_id)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.get("/library/datasets/{dataset_id}/preview", dependencies=[Depends(write_intent)])
def preview_page(request: Request, actor: Reader, db: Db, dataset_id: uuid.UUID,
                 offset: int = 0, version: int | None = None) -> Response:
    """The masked preview (audited, like every preview)."""
    limit = min(request.app.state.runtime.settings.page_size, 100)
    found = service.preview(actor, db, dataset_id, limit=limit, offset=offset, version=version)
    return render(request, "library/preview.html", {"p": found, "offset": found.offset,
                                                    "limit": found.limit,
                                                    "total": found.version.rows})


@router.get("/library/entries/{entry_id}/panel")
def entry_panel(request: Request, actor: PageActor, db: Db, entry_id: uuid.UUID) -> Response:
    """A fragment for the catalog entry page: its dataset, current version, quality score and
    grade proposal (``hx-get`` it from the entry page)."""
    summary = service.entry_summary(actor, db, entry_id)
    return render(request, "library/_entry_panel.html", {"s": summary, "entry_id": entry_id,
                                                         "can_ingest": actor.can(
                                                             LIBRARY_INGEST)})
