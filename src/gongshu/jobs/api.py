"""REST API of jobs: your own jobs, or all in scope for administrators and auditors."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query

from gongshu.core import jobs
from gongshu.jobs.schemas import JobPublic, JobsPublic, job_public
from gongshu.web.deps import ApiActor, Db, guard

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


@router.get("", response_model=JobsPublic, **guard())
def list_jobs(
    actor: ApiActor,
    db: Db,
    status: str | None = None,
    kind: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> JobsPublic:
    rows, total = jobs.list_jobs(actor, db, status=status, kind=kind, limit=limit, offset=offset)
    return JobsPublic(items=[job_public(j) for j in rows], total=total)


@router.get("/{job_id}", response_model=JobPublic, **guard())
def get_job(actor: ApiActor, db: Db, job_id: uuid.UUID) -> JobPublic:
    """A job with its progress (done/total, message), result or error."""
    return job_public(jobs.get_job(actor, db, job_id))


@router.post("/{job_id}/cancel", response_model=JobPublic, **guard())
def cancel_job(actor: ApiActor, db: Db, job_id: uuid.UUID) -> JobPublic:
    return job_public(jobs.cancel(actor, db, job_id))
