"""REST API of the catalog (Arts. 9, 12, 47): entries and their review, versions and diffs,
search with facets, import and export, data elements, and the census."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, Query, Request, Response, UploadFile

from gongshu.catalog import flows, rules, service
from gongshu.catalog.census import service as census
from gongshu.catalog.census.service import Census, CensusResponse
from gongshu.catalog.permissions import (
    CATALOG_EDIT,
    CATALOG_READ,
    CATALOG_REVIEW,
    CENSUS_MANAGE,
    CENSUS_RESPOND,
    DATA_ELEMENT_MANAGE,
)
from gongshu.catalog.schemas import (
    ApproveIn,
    BodyProgressPublic,
    CatalogEntriesPublic,
    CatalogEntryCreate,
    CatalogEntryPublic,
    CatalogEntryUpdate,
    CensusCreate,
    CensusProgressPublic,
    CensusPublic,
    CensusResponseIn,
    CensusResponsePublic,
    CensusSummaryPublic,
    ChangePublic,
    CommentIn,
    DataElementCreate,
    DataElementPublic,
    DataElementsPublic,
    DataElementUpdate,
    DiffPublic,
    DuplicateCheckIn,
    DuplicateReportPublic,
    FacetValuePublic,
    FieldErrorPublic,
    GradeIn,
    ImportedRowPublic,
    ImportPublic,
    OffCloudSystemPublic,
    RegionProgressPublic,
    RemindedPublic,
    RemindIn,
    ReviewRecordPublic,
    ReviseIn,
    SearchHitPublic,
    SearchPublic,
    ValidationReport,
    VersionPublic,
    WithdrawIn,
)
from gongshu.catalog.search import service as search
from gongshu.catalog.service import CatalogEntry
from gongshu.catalog.transfer import xlsx
from gongshu.catalog.vocab import vocab
from gongshu.core.permissions import Actor
from gongshu.grading.permissions import GRADING_CONFIRM
from gongshu.web.deps import ApiActor, Db, guard, locale_of

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"])



def _public(actor: Actor, entry: CatalogEntry) -> CatalogEntryPublic:
    return service.entry_public(entry, service.shown_version(actor, entry))


def _has_request_page(request: Request) -> bool:
    """Whether the sharing module's request page is installed (its link is then offered)."""
    return any(getattr(r, "path", None) == service.SHARING_REQUEST_PAGE
               for r in request.app.routes)


def _detailed(request: Request, actor: Actor, db: Any, entry: CatalogEntry) -> CatalogEntryPublic:
    """The entry with the duplicate-collection warnings of its working version (Art. 12)."""
    public = _public(actor, entry)
    if not actor.can(CATALOG_READ):  # a token for editing only names no other entry
        return public
    report = service.entry_duplicates(actor, db, entry.id)
    if report is not None:
        public.duplicate_warnings = service.duplicate_public(
            report, request_page=_has_request_page(request))
    return public


def _page(actor: Actor, rows: list[CatalogEntry], count: int) -> CatalogEntriesPublic:
    return CatalogEntriesPublic(data=[_public(actor, e) for e in rows], count=count)


def _download(body: bytes, media_type: str, filename: str) -> Response:
    return Response(content=body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# ------------------------------------------------------------------------------ entries


@router.get("/entries", response_model=CatalogEntriesPublic, **guard(CATALOG_READ))
def list_entries(
    actor: ApiActor,
    db: Db,
    status: str | None = Query(None, description="The entry's status (its newest version's)"),
    provider_org_id: uuid.UUID | None = None,
    mine: bool = Query(False, description="Only entries of bodies you work for"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> CatalogEntriesPublic:
    """Entries you may see, newest change first: published ones, and the drafts and revisions
    of your bodies and of the bodies you review."""
    rows, count = service.list_entries(actor, db, status=status, provider_org_id=provider_org_id,
                                       mine=mine, limit=limit, offset=offset)
    return _page(actor, rows, count)


@router.post("/entries", response_model=CatalogEntryPublic, status_code=201,
             **guard(CATALOG_EDIT))
def create_entry(request: Request, actor: ApiActor, db: Db,
                 body: CatalogEntryCreate) -> CatalogEntryPublic:
    """Compile a new entry as a draft of its provider (``provider.org_id``, else the provider
    code or name). The resource code is given by the platform; every problem is listed.
    ``duplicate_warnings`` names other bodies' published entries that could provide its items
    through sharing (Art. 12)."""
    return _detailed(request, actor, db, service.create_entry(actor, db, body))


@router.post("/entries/validate", response_model=ValidationReport, **guard(CATALOG_EDIT))
def validate_entry(request: Request, actor: ApiActor, db: Db,
                   body: Annotated[dict[str, Any], Body()],
                   entry_id: uuid.UUID | None = None) -> ValidationReport:
    """Check an entry against the fields, the compilation guide, Art. 12 and the data
    elements without saving it (forms call this as people type)."""
    code = service.get_entry(actor, db, entry_id).resource_code if entry_id else None
    _entry, errors = service.check(db, body, resource_code=code)
    locale = locale_of(request)
    return ValidationReport(valid=not errors, errors=[
        FieldErrorPublic(field=e.field, code=e.code, message=rules.localize(e, locale))
        for e in errors])


@router.post("/duplicates/check", response_model=DuplicateReportPublic,
             **guard(CATALOG_READ))
def check_duplicates(request: Request, actor: ApiActor, db: Db,
                     body: DuplicateCheckIn) -> DuplicateReportPublic:
    """Duplicate collection (Art. 12: what sharing provides is not collected again): the
    published entries of other bodies (not ``provider_org_id``, by default your organisation)
    that could provide the items you plan to collect, strong matches first. Items match by
    data element, else by name (variants and synonyms made one) and a compatible type; only
    entries you may see are named."""
    report = service.check_duplicates(
        actor, db, items=body.items, provider_org_id=body.provider_org_id, limit=body.limit,
        include_weak=body.include_weak)
    return DuplicateReportPublic(need=report.need, rationale=report.rationale,
                                 matches=service.duplicate_public(
                                     report, request_page=_has_request_page(request)))


@router.get("/entries/by-code", response_model=CatalogEntryPublic, **guard(CATALOG_READ))
def entry_by_code(actor: ApiActor, db: Db,
                  code: str = Query(description="Resource code 前段码/后段码")) -> CatalogEntryPublic:
    return _public(actor, service.get_entry_by_code(actor, db, code))


@router.get("/entries/{entry_id}", response_model=CatalogEntryPublic, **guard(CATALOG_READ))
def get_entry(request: Request, actor: ApiActor, db: Db,
              entry_id: uuid.UUID) -> CatalogEntryPublic:
    """The entry as you see it: its working version if you are of its body or review it, else
    its published version. A working version comes with its ``duplicate_warnings`` (Art. 12)."""
    return _detailed(request, actor, db, service.get_entry(actor, db, entry_id))


@router.put("/entries/{entry_id}", response_model=CatalogEntryPublic, **guard(CATALOG_EDIT))
def replace_entry(request: Request, actor: ApiActor, db: Db, entry_id: uuid.UUID,
                  body: CatalogEntryCreate) -> CatalogEntryPublic:
    """Replace the content of the working version (a draft or a returned version)."""
    return _detailed(request, actor, db, service.update_entry(actor, db, entry_id, body))


@router.patch("/entries/{entry_id}", response_model=CatalogEntryPublic,
              **guard(CATALOG_EDIT))
def update_entry(request: Request, actor: ApiActor, db: Db, entry_id: uuid.UUID,
                 body: CatalogEntryUpdate) -> CatalogEntryPublic:
    """Change some fields of the working version; each field given replaces the whole field."""
    return _detailed(request, actor, db, service.update_entry(actor, db, entry_id, body))


@router.delete("/entries/{entry_id}/draft", status_code=204, **guard(CATALOG_EDIT))
def discard_draft(actor: ApiActor, db: Db, entry_id: uuid.UUID) -> Response:
    """Throw the working version away (an entry never published goes with it)."""
    service.discard_working(actor, db, entry_id)
    return Response(status_code=204)


# ----------------------------------------------------------------------------- workflow


@router.post("/entries/{entry_id}/submit", response_model=CatalogEntryPublic,
             **guard(CATALOG_EDIT))
def submit(actor: ApiActor, db: Db, entry_id: uuid.UUID,
           body: CommentIn | None = None) -> CatalogEntryPublic:
    """Submit the working version to the provider's same-level data bureau (Art. 9)."""
    return _public(actor, flows.submit(actor, db, entry_id, comment=body.comment if body else ""))


@router.post("/entries/{entry_id}/recall", response_model=CatalogEntryPublic,
             **guard(CATALOG_EDIT))
def recall(actor: ApiActor, db: Db, entry_id: uuid.UUID) -> CatalogEntryPublic:
    """Take a submission back before it is reviewed."""
    return _public(actor, flows.recall(actor, db, entry_id))


@router.post("/entries/{entry_id}/return", response_model=CatalogEntryPublic,
             **guard(CATALOG_REVIEW))
def return_entry(actor: ApiActor, db: Db, entry_id: uuid.UUID,
                 body: CommentIn) -> CatalogEntryPublic:
    """Return a submitted version to its body with your comments (required)."""
    return _public(actor, flows.return_entry(actor, db, entry_id, comment=body.comment))


@router.post("/entries/{entry_id}/approve", response_model=CatalogEntryPublic,
             **guard(CATALOG_REVIEW))
def approve(actor: ApiActor, db: Db, entry_id: uuid.UUID,
            body: ApproveIn | None = None) -> CatalogEntryPublic:
    """Approve a submitted version and (by default) publish it. Only a reviewer of the
    provider's same-level bureau, never the version's author or submitter."""
    body = body or ApproveIn()
    return _public(actor, flows.approve(actor, db, entry_id, comment=body.comment,
                                        publish=body.publish))


@router.post("/entries/{entry_id}/publish", response_model=CatalogEntryPublic,
             **guard(CATALOG_REVIEW))
def publish(actor: ApiActor, db: Db, entry_id: uuid.UUID) -> CatalogEntryPublic:
    """Publish an approved version; the previous published version is superseded."""
    return _public(actor, flows.publish_entry(actor, db, entry_id))


@router.post("/entries/{entry_id}/revise", response_model=CatalogEntryPublic,
             **guard(CATALOG_EDIT))
def revise(actor: ApiActor, db: Db, entry_id: uuid.UUID,
           body: ReviseIn | None = None) -> CatalogEntryPublic:
    """Start a new version of a published entry; the published one stays visible meanwhile."""
    return _public(actor, flows.revise(actor, db, entry_id,
                                       change_note=body.change_note if body else ""))


@router.post("/entries/{entry_id}/withdraw", response_model=CatalogEntryPublic, **guard())
def withdraw(actor: ApiActor, db: Db, entry_id: uuid.UUID, body: WithdrawIn) -> CatalogEntryPublic:
    """Take a published entry out of the catalog (its body or its data bureau), saying why."""
    return _public(actor, flows.withdraw(actor, db, entry_id, reason=body.reason))


@router.put("/entries/{entry_id}/grade", response_model=CatalogEntryPublic,
            **guard(GRADING_CONFIRM))
def set_grade(actor: ApiActor, db: Db, entry_id: uuid.UUID, body: GradeIn) -> CatalogEntryPublic:
    """Record the grade a data steward of the provider confirmed (Art. 10)."""
    return _public(actor, service.set_grade(actor, db, entry_id, grade=body.grade,
                                            reasons=body.reasons))


@router.get("/review-queue", response_model=CatalogEntriesPublic, **guard(CATALOG_REVIEW))
def review_queue(actor: ApiActor, db: Db, limit: int = Query(50, ge=1, le=500),
                 offset: int = Query(0, ge=0)) -> CatalogEntriesPublic:
    """Versions waiting for your review, oldest submission first."""
    rows, count = flows.review_queue(actor, db, limit=limit, offset=offset)
    return _page(actor, rows, count)


# ------------------------------------------------------------------------------ history


@router.get("/entries/{entry_id}/versions", response_model=list[VersionPublic],
            **guard(CATALOG_READ))
def versions(actor: ApiActor, db: Db, entry_id: uuid.UUID) -> list[VersionPublic]:
    return [VersionPublic.model_validate(v) for v in service.list_versions(actor, db, entry_id)]


@router.get("/entries/{entry_id}/versions/{number}", response_model=CatalogEntryPublic,
            **guard(CATALOG_READ))
def version(actor: ApiActor, db: Db, entry_id: uuid.UUID, number: int) -> CatalogEntryPublic:
    found = service.get_version(actor, db, entry_id, number)
    return service.entry_public(found.entry, found)


@router.get("/entries/{entry_id}/diff", response_model=DiffPublic, **guard(CATALOG_READ))
def diff(actor: ApiActor, db: Db, entry_id: uuid.UUID,
         from_version: int | None = Query(None, alias="from"),
         to_version: int = Query(alias="to")) -> DiffPublic:
    """What changed between two versions, field by field (data items matched by code)."""
    changes = service.version_diff(actor, db, entry_id, from_number=from_version,
                                   to_number=to_version)
    return DiffPublic(from_version=from_version, to_version=to_version, changes=[
        ChangePublic(path=c.path, field=c.field, kind=c.kind, before=c.before, after=c.after,
                     item=c.item) for c in changes])


@router.get("/entries/{entry_id}/reviews", response_model=list[ReviewRecordPublic],
            **guard(CATALOG_READ))
def reviews(actor: ApiActor, db: Db, entry_id: uuid.UUID) -> list[ReviewRecordPublic]:
    """The review trail: submissions, returns with their comments, approvals, publications."""
    return [ReviewRecordPublic.model_validate(r)
            for r in service.review_records(actor, db, entry_id)]


# ------------------------------------------------------------------------------- search


@router.get("/search", response_model=SearchPublic, **guard(CATALOG_READ))
def search_entries(
    request: Request,
    actor: ApiActor,
    db: Db,
    q: str = Query("", max_length=200, description="Words, in Chinese or not; a resource code"),
    provider: uuid.UUID | None = None,
    region: str | None = None,
    resource_kind: str | None = None,
    sharing_type: str | None = None,
    opening_type: str | None = None,
    grade: str | None = None,
    update_cycle: str | None = None,
    format_class: str | None = None,
    status: str | None = None,
    facets: bool = True,
    exact: bool = Query(False, description="Count and rank every match, even of a broad query"),
    limit: int = Query(20, ge=1, le=200),
    offset: int = Query(0, ge=0),
) -> SearchPublic:
    """Full-text search (jieba segmentation, synonyms) with facet counts and filters; results
    are what you may see."""
    filters = search.SearchFilters(provider=provider, region=region, resource_kind=resource_kind,
                                   sharing_type=sharing_type, opening_type=opening_type,
                                   grade=grade, update_cycle=update_cycle,
                                   format_class=format_class, status=status)
    result = search.search(actor, db, q=q, filters=filters, limit=limit, offset=offset,
                           facets=facets, exact=exact, locale=locale_of(request))
    return SearchPublic(
        data=[SearchHitPublic.model_validate(h) for h in result.hits], count=result.count,
        facets={name: [FacetValuePublic.model_validate(v) for v in values]
                for name, values in result.facets.items()},
        terms=result.terms, relaxed=result.relaxed, estimated=result.estimated,
        ranked=result.ranked, partial=result.partial, weak=result.weak,
        suggestions=result.suggestions,
        related=[SearchHitPublic.model_validate(h) for h in result.related])


# ------------------------------------------------------------------------ import / export


@router.post("/import", response_model=ImportPublic, status_code=201, **guard(CATALOG_EDIT))
async def import_file(
    request: Request,
    actor: ApiActor,
    db: Db,
    file: Annotated[UploadFile, File(description="A filled template (.xlsx) or the CSV export")],
    submit: Annotated[bool, Form(description="Submit every entry for review")] = False,
) -> ImportPublic:
    """Import a catalog file, all or nothing: every cell and rule is checked, and on any error
    nothing is imported and every error is listed (``errors``: ``row`` as Excel shows it,
    ``field`` the column, ``message``)."""
    data = await file.read(service.import_max_bytes(db) + 1)  # one byte more tells "too large"
    outcome = service.import_entries(actor, db, data, filename=file.filename or "",
                                     submit=submit, locale=locale_of(request))
    return ImportPublic(
        created=len(outcome.created), updated=len(outcome.updated), submitted=outcome.submitted,
        entries=[ImportedRowPublic(row=row, id=e.id, resource_code=e.resource_code,
                                   name=e.current_version.name if e.current_version else "",
                                   status=e.status) for row, e in outcome.rows])


@router.get("/export", **guard(CATALOG_READ),
            responses={200: {"content": {xlsx.XLSX_MEDIA_TYPE: {}, "text/csv": {},
                                         "application/ld+json": {}, "text/turtle": {}}}})
def export(
    actor: ApiActor,
    db: Db,
    format: str = Query("xlsx", description="xlsx, csv, dcat-jsonld or dcat-ttl"),
    include_working: bool = Query(False, description="Your drafts instead of the published "
                                                     "versions (not for DCAT)"),
    provider_org_id: uuid.UUID | None = None,
) -> Response:
    """The catalog as a file: the import template's layout (xlsx, CSV), or DCAT-AP 3 of the
    published entries (JSON-LD, Turtle) for other portals."""
    body, media_type, ext = service.export_entries(actor, db, fmt=format,
                                                   include_working=include_working,
                                                   provider_org_id=provider_org_id)
    return _download(body, media_type, f"catalog.{ext}")


@router.get("/template", **guard(CATALOG_READ),
            responses={200: {"content": {xlsx.XLSX_MEDIA_TYPE: {}}}})
def template(actor: ApiActor) -> Response:
    """The empty import template: Chinese headers, dropdowns, the guide and the value lists."""
    return _download(xlsx.build_template(), xlsx.XLSX_MEDIA_TYPE, "catalog-template.xlsx")


@router.get("/vocab", **guard(CATALOG_READ))
def value_lists(actor: ApiActor) -> dict[str, Any]:
    """Every value list of the compilation guide: code, labels, source (with [V]/[GK])."""
    return {name: {"zh": lst.zh, "en": lst.en, "values": [
        {"code": t.code, "zh": t.zh, "en": t.en, "guide_code": t.guide_code, "parent": t.parent,
         "source": t.source.cite()} for t in lst]} for name, lst in vocab().lists().items()}


# ------------------------------------------------------------------------ data elements


@router.get("/data-elements", response_model=DataElementsPublic, **guard(CATALOG_READ))
def list_data_elements(actor: ApiActor, db: Db, q: str | None = None,
                       limit: int = Query(50, ge=1, le=500),
                       offset: int = Query(0, ge=0)) -> DataElementsPublic:
    """The registry of standard data elements (Art. 47)."""
    rows, count = service.list_data_elements(actor, db, q=q, limit=limit, offset=offset)
    return DataElementsPublic(data=[DataElementPublic.model_validate(e) for e in rows],
                              count=count)


@router.post("/data-elements", response_model=DataElementPublic, status_code=201,
             **guard(DATA_ELEMENT_MANAGE))
def create_data_element(actor: ApiActor, db: Db, body: DataElementCreate) -> DataElementPublic:
    return DataElementPublic.model_validate(service.create_data_element(actor, db, body))


@router.patch("/data-elements/{element_id}", response_model=DataElementPublic,
              **guard(DATA_ELEMENT_MANAGE))
def update_data_element(actor: ApiActor, db: Db, element_id: uuid.UUID,
                        body: DataElementUpdate) -> DataElementPublic:
    """Change a data element of your scope (a city bureau changes its city's elements; the
    province's elements need the permission for the whole province)."""
    return DataElementPublic.model_validate(
        service.update_data_element(actor, db, element_id, body))


@router.get("/data-elements/suggest", response_model=list[DataElementPublic],
            **guard(CATALOG_READ))
def suggest_data_elements(actor: ApiActor, db: Db,
                          name: str = Query(max_length=100)) -> list[DataElementPublic]:
    """Data elements a data item of this name may follow."""
    return [DataElementPublic.model_validate(e)
            for e in service.suggest_data_elements(db, name)]


@router.get("/data-elements/{element_id}", response_model=DataElementPublic,
            **guard(CATALOG_READ))
def get_data_element(actor: ApiActor, db: Db, element_id: uuid.UUID) -> DataElementPublic:
    return DataElementPublic.model_validate(service.get_data_element(actor, db, element_id))


# --------------------------------------------------------------------------------- census


def _census_public(c: Census) -> CensusPublic:
    return CensusPublic.model_validate(c)


def _response_public(r: CensusResponse) -> CensusResponsePublic:
    return CensusResponsePublic.model_validate(r)


@router.get("/census", response_model=list[CensusPublic], **guard())
def list_censuses(actor: ApiActor, db: Db) -> list[CensusPublic]:
    """Census campaigns you manage or answer (Art. 9)."""
    return [_census_public(c) for c in census.list_censuses(actor, db)]


@router.post("/census", response_model=CensusPublic, status_code=201,
             **guard(CENSUS_MANAGE))
def open_census(actor: ApiActor, db: Db, body: CensusCreate) -> CensusPublic:
    """Open a census for every public body of the bureau's area."""
    return _census_public(census.open_census(actor, db, **body.model_dump()))


@router.get("/census/{census_id}", response_model=CensusPublic, **guard())
def get_census(actor: ApiActor, db: Db, census_id: uuid.UUID) -> CensusPublic:
    return _census_public(census.get_census(actor, db, census_id))


@router.post("/census/{census_id}/close", response_model=CensusPublic,
             **guard(CENSUS_MANAGE))
def close_census(actor: ApiActor, db: Db, census_id: uuid.UUID) -> CensusPublic:
    return _census_public(census.close_census(actor, db, census_id))


@router.post("/census/{census_id}/remind", response_model=RemindedPublic,
             **guard(CENSUS_MANAGE))
def remind(actor: ApiActor, db: Db, census_id: uuid.UUID,
           body: RemindIn | None = None) -> RemindedPublic:
    """Remind the bodies that have not handed in (they see it on the platform)."""
    body = body or RemindIn()
    return RemindedPublic(reminded=census.remind(actor, db, census_id, org_ids=body.org_ids,
                                                 message=body.message))


@router.get("/census/{census_id}/progress", response_model=CensusProgressPublic,
            **guard(CENSUS_MANAGE))
def census_progress(actor: ApiActor, db: Db, census_id: uuid.UUID) -> CensusProgressPublic:
    """Completion per body and per region."""
    report = census.progress(actor, db, census_id)
    return CensusProgressPublic(
        census=_census_public(report.census), submitted=report.submitted,
        bodies=[BodyProgressPublic(
            org_id=b.response.org_id, org_name=b.response.org_name,
            region_code=b.response.region_code, status=b.response.status,
            catalog_confirmed=b.response.catalog_confirmed, systems=b.systems,
            published_entries=b.published_entries, reminders=b.reminders) for b in report.bodies],
        regions=[RegionProgressPublic(region_code=r.region_code, region_name=r.region_name,
                                      bodies=r.bodies, submitted=r.submitted)
                 for r in report.regions])


@router.get("/census/{census_id}/summary", response_model=CensusSummaryPublic,
            **guard(CENSUS_MANAGE))
def census_summary(actor: ApiActor, db: Db, census_id: uuid.UUID) -> CensusSummaryPublic:
    """Systems off the government cloud (Art. 30) and bodies without a reviewed catalog."""
    s = census.summary(actor, db, census_id)
    return CensusSummaryPublic(
        bodies=s.bodies, submitted=s.submitted, systems=s.systems, on_cloud=s.on_cloud,
        should_migrate=s.should_migrate,
        off_cloud=[OffCloudSystemPublic.model_validate(o) for o in s.off_cloud],
        without_catalog=[r.org_name for r in s.without_catalog])


@router.get("/census/{census_id}/responses/{org_id}", response_model=CensusResponsePublic,
            **guard())
def get_response(actor: ApiActor, db: Db, census_id: uuid.UUID,
                 org_id: uuid.UUID) -> CensusResponsePublic:
    return _response_public(census.get_response(actor, db, census_id, org_id))


@router.put("/census/{census_id}/responses/{org_id}", response_model=CensusResponsePublic,
            **guard(CENSUS_RESPOND))
def save_response(actor: ApiActor, db: Db, census_id: uuid.UUID, org_id: uuid.UUID,
                  body: CensusResponseIn) -> CensusResponsePublic:
    """A body's information systems and the confirmation of its catalog."""
    return _response_public(census.save_response(
        actor, db, census_id, org_id, systems=body.systems,
        catalog_confirmed=body.catalog_confirmed, note=body.note))


@router.post("/census/{census_id}/responses/{org_id}/submit",
             response_model=CensusResponsePublic, **guard(CENSUS_RESPOND))
def submit_response(actor: ApiActor, db: Db, census_id: uuid.UUID,
                    org_id: uuid.UUID) -> CensusResponsePublic:
    return _response_public(census.submit_response(actor, db, census_id, org_id))


__all__ = ["router"]
