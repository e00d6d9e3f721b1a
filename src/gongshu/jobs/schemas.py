"""API shapes of jobs."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field

from gongshu.core.jobs import Job


class JobPublic(BaseModel):
    id: uuid.UUID
    kind: str
    title: str
    status: str
    queue: str = Field("default", description="The queue the job waits in")
    priority: int = Field(0, description="Higher runs first")
    progress_done: int
    progress_total: int | None
    fraction: float | None
    message: str = Field(description="The latest progress message, in English")
    message_key: str = Field("", description="The message as a stable key (empty if none)")
    message_params: dict[str, Any] = Field(default_factory=dict,
                                           description="The values the message names")
    result: dict[str, Any] | None
    error: str | None
    error_code: str = Field("", description="The stable code of the error (empty if none)")
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
        queue=job.queue or "default", priority=job.priority or 0,
        progress_done=job.progress_done, progress_total=job.progress_total,
        fraction=job.fraction, message=job.message, message_key=job.message_key or "",
        message_params=dict(job.message_params or {}), result=job.result, error=job.error,
        error_code=job.error_code or "",
        created_by=job.actor.get("username", ""), created_at=job.created_at,
        started_at=job.started_at, finished_at=job.finished_at,
        cancel_requested=job.cancel_requested,
    )
