"""REST API of de-identification (Art. 16): ``/api/v1/deid``.

Assess an uploaded file or a dataset; keep a dataset's profiles; make releases (``ready`` or
``blocked`` with the reasons), release a ready one and download a released one.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile

from gongshu.deid import service
from gongshu.deid.permissions import DEID_ASSESS, DEID_MANAGE
from gongshu.deid.schemas import (
    AssessmentPublic,
    AssessResult,
    DatasetAssess,
    ProfileCreate,
    ProfilePublic,
    ProfileUpdate,
    ReleaseCreate,
    ReleaseJob,
    ReleasePublic,
    ReleasesPublic,
    profile_public,
    release_public,
)
from gongshu.web.deps import ApiActor, Db, guard, write_intent

router = APIRouter(prefix="/api/v1/deid", tags=["deid"])
MEDIA = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


def _writing(perm: Any) -> dict[str, Any]:
    options = guard(perm)
    options["dependencies"] = [*options["dependencies"], Depends(write_intent)]
    return options


@router.post("/assess", response_model=AssessmentPublic, **guard(DEID_ASSESS))
def assess_file(actor: ApiActor, db: Db,
                file: Annotated[UploadFile, File(description="CSV (UTF-8/GBK), XLSX, JSON or "
                                                 "Parquet")],
                qi: Annotated[str, Form(max_length=2000,
                                        description="Quasi-identifiers, comma-separated")],
                k: Annotated[int, Form(ge=1, le=1_000_000_000)] = 10,
                sensitive: Annotated[str | None, Form(max_length=200)] = None
                ) -> AssessmentPublic:
    """The re-identification risk of a file: classes of the quasi-identifiers' combinations,
    k, max_risk = 1/k, avg_risk = classes/records, at_risk (records in classes below k)."""
    found = service.assess_upload(actor, db, stream=file.file, filename=file.filename, qi=qi,
                                  k=k, sensitive=sensitive or None)
    return AssessmentPublic(**found.as_dict())


@router.post("/datasets/{entry_id}/assess", response_model=AssessResult, **guard(DEID_ASSESS))
def assess_dataset(actor: ApiActor, db: Db, entry_id: uuid.UUID,
                   body: DatasetAssess) -> AssessResult:
    """The risk of a dataset's version, raw or as a profile would release it."""
    found, reasons = service.assess_dataset(actor, db, entry_id=entry_id, qi=body.qi, k=body.k,
                                            sensitive=body.sensitive, profile_id=body.profile_id,
                                            version=body.version)
    return AssessResult(assessment=AssessmentPublic(**found.as_dict()),
                        reasons=[r.as_dict() for r in reasons])


@router.get("/datasets/{entry_id}/profiles", response_model=list[ProfilePublic],
            **guard(DEID_ASSESS))
def list_profiles(actor: ApiActor, db: Db, entry_id: uuid.UUID) -> list[ProfilePublic]:
    return [profile_public(p) for p in service.list_profiles(actor, db, entry_id)]


@router.post("/datasets/{entry_id}/profiles", response_model=ProfilePublic, status_code=201,
             **guard(DEID_MANAGE))
def create_profile(actor: ApiActor, db: Db, entry_id: uuid.UUID,
                   body: ProfileCreate) -> ProfilePublic:
    return profile_public(service.create_profile(actor, db, entry_id=entry_id, name=body.name,
                                                 spec=body.spec))


@router.get("/profiles/{profile_id}", response_model=ProfilePublic, **guard(DEID_ASSESS))
def get_profile(actor: ApiActor, db: Db, profile_id: uuid.UUID) -> ProfilePublic:
    return profile_public(service.get_profile(actor, db, profile_id))


@router.put("/profiles/{profile_id}", response_model=ProfilePublic, **guard(DEID_MANAGE))
def update_profile(actor: ApiActor, db: Db, profile_id: uuid.UUID,
                   body: ProfileUpdate) -> ProfilePublic:
    """Change a profile; ``version`` must be the one read (409 ``deid_profile_changed``)."""
    return profile_public(service.update_profile(actor, db, profile_id, name=body.name,
                                                 spec=body.spec, version=body.version))


@router.delete("/profiles/{profile_id}", status_code=204, **guard(DEID_MANAGE))
def delete_profile(actor: ApiActor, db: Db, profile_id: uuid.UUID) -> Response:
    service.delete_profile(actor, db, profile_id)
    return Response(status_code=204)


@router.get("/releases", response_model=ReleasesPublic, **guard(DEID_ASSESS))
def list_releases(actor: ApiActor, db: Db, entry_id: uuid.UUID | None = None,
                  status: str | None = Query(None, pattern="^(blocked|ready|released)$"),
                  limit: int = Query(50, ge=1, le=500),
                  offset: int = Query(0, ge=0, le=1_000_000)) -> ReleasesPublic:
    rows, total = service.list_releases(actor, db, entry_id=entry_id, status=status,
                                        limit=limit, offset=offset)
    return ReleasesPublic(items=[release_public(r) for r in rows], total=total)


@router.post("/datasets/{entry_id}/releases", response_model=ReleasePublic, status_code=201,
             **guard(DEID_MANAGE))
def create_release(actor: ApiActor, db: Db, entry_id: uuid.UUID,
                   body: ReleaseCreate) -> ReleasePublic:
    """Apply a profile to a version and record the release: ``ready`` when the thresholds are
    met, ``blocked`` (with ``reasons``) when not."""
    return release_public(service.create_release(actor, db, entry_id=entry_id,
                                                 profile_id=body.profile_id,
                                                 version=body.version))


@router.post("/datasets/{entry_id}/release-jobs", response_model=ReleaseJob, status_code=202,
             **guard(DEID_MANAGE))
def request_release(actor: ApiActor, db: Db, entry_id: uuid.UUID,
                    body: ReleaseCreate) -> ReleaseJob:
    """The same as ``POST …/releases``, as a job (for large datasets): answers at once."""
    job = service.request_release(actor, db, entry_id=entry_id, profile_id=body.profile_id,
                                  version=body.version)
    return ReleaseJob(job_id=job.id, href=f"/api/v1/jobs/{job.id}")


@router.get("/releases/{release_id}", response_model=ReleasePublic, **guard(DEID_ASSESS))
def get_release(actor: ApiActor, db: Db, release_id: uuid.UUID) -> ReleasePublic:
    return release_public(service.get_release(actor, db, release_id))


@router.post("/releases/{release_id}/release", response_model=ReleasePublic,
             **guard(DEID_MANAGE))
def release(actor: ApiActor, db: Db, release_id: uuid.UUID) -> ReleasePublic:
    """Make a ready release downloadable; a blocked one answers 409 ``deid_release_blocked``
    with its reasons."""
    return release_public(service.release(actor, db, release_id))


@router.get("/releases/{release_id}/download", **_writing(DEID_MANAGE),
            responses={200: {"content": {m: {} for m in MEDIA.values()}}})
def download(actor: ApiActor, db: Db, release_id: uuid.UUID,
             format: str = Query("csv", pattern="^(csv|parquet)$")) -> Response:
    body, fmt, found = service.download_release(actor, db, release_id, fmt=format)
    name = f"deid-{found.id}.{fmt}"
    return Response(body, media_type=MEDIA[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
