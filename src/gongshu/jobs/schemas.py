"""API shapes of jobs."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel

from gongshu.core.jobs import Job


class JobPublic(BaseModel):
    id: uuid.UUID
    kind: str
    title: str
    status: str
    progress_done: int
    progress_total: int | None
    fraction: float | None
    message: str
    result: dict[str, Any] | None
    error: str | None
    created_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    cancel_requested: bool


class JobsPublic(BaseModel):
    items: list[JobPublic]
    total: int


def job_public(job: Job) -> JobPublic:
    return JobPublic(
        id=job.id, kind=job.kind, title=job.title, status=job.status,
        progress_done=job.progress_done, progress_total=job.progress_total,
        fraction=job.fraction, message=job.message, result=job.result, error=job.error,
        created_by=job.actor.get("username", ""), created_at=job.created_at,
        started_at=job.started_at, finished_at=job.finished_at,
        cancel_requested=job.cancel_requested,
    )
