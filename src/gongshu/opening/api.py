"""REST API of opening (Art. 13).

``/api/v1/portal``: public (no platform account). Anyone lists the open datasets, reads one's
description and usage and downloads an ``open`` one; a developer signs up for an API key and
reads rows with it (``X-API-Key: gso_…``, rate-limited per key: 429 with Retry-After) and
applies for conditionally open ones. ``/api/v1/opening``: the provider's and the bureau's side
(applications to decide, usage of their open datasets).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from gongshu.catalog import service as catalog
from gongshu.core.errors import Unauthenticated
from gongshu.opening import flows, service
from gongshu.opening.permissions import OPENING_MANAGE, OPENING_REPORT
from gongshu.opening.schemas import (
    ApplicationCreate,
    ApplicationPublic,
    Decision,
    DeveloperCreate,
    DeveloperCreated,
    DeveloperPublic,
    DeveloperStatus,
    OpenDatasetPublic,
    OpenDatasetsPublic,
    OpenDatasetSummary,
    ProviderUsagePublic,
    RowsPublic,
    UsageDayPublic,
    application_public,
    column_public,
    developer_public,
)
from gongshu.opening.service import ApiKey, Developer
from gongshu.web.deps import ApiActor, Db, guard, locale_of, public, write_intent

router = APIRouter(tags=["opening"])


def _key_header(x_api_key: Annotated[str | None, Header(description="gso_… portal API key")] = None,
                authorization: Annotated[str | None, Header()] = None) -> str:
    if x_api_key:
        return x_api_key
    if authorization and authorization.lower().startswith("bearer gso_"):
        return authorization.split(" ", 1)[1]
    raise Unauthenticated("Send your portal API key as 'X-API-Key: gso_…'.", code="api_key_invalid")


def developer_key(request: Request, db: Db, raw: Annotated[str, Depends(_key_header)]
                  ) -> tuple[Developer, ApiKey]:
    developer, key = service.authenticate_key(db, raw)
    left = service.check_rate(db, key)
    request.state.rate_left = left
    return developer, key


DeveloperKey = Annotated[tuple[Developer, ApiKey], Depends(developer_key)]


def keyed() -> dict[str, Any]:
    """A public route that needs a developer's key (and counts against its rate limit)."""
    options = public()
    options["dependencies"] = [Depends(write_intent)]
    options["openapi_extra"]["x-api-key"] = "portal developer key (X-API-Key)"
    return options


def counted() -> dict[str, Any]:
    """A public read that writes (usage counts, audit)."""
    options = public()
    options["dependencies"] = [Depends(write_intent)]
    return options


# ------------------------------------------------------------------------------- the portal


@router.get("/api/v1/portal/datasets", response_model=OpenDatasetsPublic, **public())
def list_datasets(request: Request, db: Db, q: str = Query("", max_length=200),
                  opening_type: str | None = Query(None, pattern="^(open|conditional_open)$"),
                  provider: uuid.UUID | None = None, limit: int = Query(20, ge=1, le=100),
                  offset: int = Query(0, ge=0, le=100_000)) -> OpenDatasetsPublic:
    filters = catalog.SearchFilters(opening_type=opening_type, provider=provider)
    result = service.search(db, q=q, filters=filters, limit=limit, offset=offset,
                            locale=locale_of(request))
    return OpenDatasetsPublic(
        items=[OpenDatasetSummary(id=h.entry_id, resource_code=h.resource_code, name=h.name,
                                  provider_name=h.provider_name, opening_type=h.opening_type,
                                  grade=h.grade, updated_at=h.updated_at) for h in result.hits],
        total=result.count,
        facets={k: [{"value": f.value, "count": f.count, "label": f.label} for f in v]
                for k, v in result.facets.items()})


def _dataset_public(db: Any, dataset: service.OpenDataset) -> OpenDatasetPublic:
    usage = service.usage(db, dataset.entry.id)
    return OpenDatasetPublic(
        entry=service.entry_public(dataset), opening_type=dataset.version.opening_type,
        openable=dataset.level, downloadable=dataset.downloadable,
        columns=[column_public(c) for c in dataset.columns], withheld=dataset.withheld,
        usage=[UsageDayPublic(day=d, **counts) for d, counts in usage.days],
        totals=usage.totals)


@router.get("/api/v1/portal/datasets/{entry_id}", response_model=OpenDatasetPublic, **public())
def get_dataset(db: Db, entry_id: uuid.UUID) -> OpenDatasetPublic:
    return _dataset_public(db, service.get_dataset(db, entry_id))


@router.get("/api/v1/portal/datasets/{entry_id}/download", **counted(),
            responses={200: {"content": {m: {} for m, _e in service.FORMATS.values()}}})
def download(db: Db, entry_id: uuid.UUID,
             format: str = Query("csv", pattern="^(csv|xlsx|json|parquet)$")) -> Response:
    body, media_type, ext, dataset, more = service.download(db, entry_id, fmt=format)
    name = dataset.entry.resource_code.replace("/", "-")
    return Response(body, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{name}.{ext}"',
        "X-Gongshu-Truncated": "true" if more else "false"})


@router.post("/api/v1/portal/developers", response_model=DeveloperCreated, status_code=201,
             **public())
def register(db: Db, body: DeveloperCreate) -> DeveloperCreated:
    developer, raw = service.register_developer(db, name=body.name, email=body.email,
                                                organisation=body.organisation)
    return DeveloperCreated(id=developer.id, name=developer.name, email=developer.email,
                            api_key=raw)


@router.get("/api/v1/portal/datasets/{entry_id}/rows", response_model=RowsPublic, **keyed())
def rows(request: Request, response: Response, db: Db, dev: DeveloperKey, entry_id: uuid.UUID,
         offset: int = Query(0, ge=0), limit: int = Query(1000, ge=1, le=100_000)) -> RowsPublic:
    found = service.api_rows(db, dev[0], str(entry_id), offset=offset, limit=limit)
    response.headers["X-RateLimit-Remaining"] = str(request.state.rate_left)
    return RowsPublic(resource_code=found.dataset.entry.resource_code,
                      columns=[column_public(c) for c in found.columns], offset=found.offset,
                      limit=found.limit, more=found.more,
                      rows=[{k: service.json_value(v) for k, v in r.items()} for r in found.rows])


@router.post("/api/v1/portal/applications", response_model=ApplicationPublic, status_code=201,
             **keyed())
def apply(db: Db, dev: DeveloperKey, body: ApplicationCreate) -> ApplicationPublic:
    application = flows.apply(db, developer=dev[0], ref=body.entry_id, purpose=body.purpose,
                              safeguards=body.safeguards, items=body.items, days=body.days)
    return application_public(application)


@router.get("/api/v1/portal/applications", response_model=list[ApplicationPublic], **keyed())
def my_applications(db: Db, dev: DeveloperKey) -> list[ApplicationPublic]:
    return [application_public(a) for a in flows.developer_applications(db, dev[0])]


# ------------------------------------------------------------------ providers and bureaus


@router.get("/api/v1/opening/applications", response_model=list[ApplicationPublic],
            tags=["opening"], **guard())
def list_applications(actor: ApiActor, db: Db, status: str | None = None,
                      limit: int = Query(100, ge=1, le=500),
                      offset: int = Query(0, ge=0)) -> list[ApplicationPublic]:
    return [application_public(a) for a in flows.list_applications(
        actor, db, status=status, limit=limit, offset=offset)]


@router.post("/api/v1/opening/applications/{application_id}/decision",
             response_model=ApplicationPublic, **guard())
def decide(actor: ApiActor, db: Db, application_id: uuid.UUID, body: Decision) -> ApplicationPublic:
    return application_public(flows.decide(actor, db, application_id, step=body.step,
                                           approve=body.approve, comment=body.comment))


@router.get("/api/v1/opening/usage", response_model=list[ProviderUsagePublic],
            **guard(OPENING_REPORT))
def provider_usage(actor: ApiActor, db: Db, days: int = Query(30, ge=1, le=366)
                   ) -> list[ProviderUsagePublic]:
    return [ProviderUsagePublic(entry_id=e.id, resource_code=e.resource_code,
                                name=e.published_version.name if e.published_version else "",
                                **totals)
            for e, totals in service.provider_usage(actor, db, days=days)]


@router.get("/api/v1/opening/developers", response_model=list[DeveloperPublic],
            **guard(OPENING_MANAGE))
def list_developers(actor: ApiActor, db: Db, limit: int = Query(100, ge=1, le=1000),
                    offset: int = Query(0, ge=0)) -> list[DeveloperPublic]:
    return [developer_public(d) for d in service.list_developers(actor, db, limit=limit,
                                                                 offset=offset)]


@router.post("/api/v1/opening/developers/{developer_id}/status", response_model=DeveloperPublic,
             **guard(OPENING_MANAGE))
def developer_status(actor: ApiActor, db: Db, developer_id: uuid.UUID,
                     body: DeveloperStatus) -> DeveloperPublic:
    return developer_public(service.set_developer_status(actor, db, developer_id,
                                                         active=body.active, reason=body.reason))
