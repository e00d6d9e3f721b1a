"""Web pages of jobs: lists, detail with a live progress bar, cancel."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gongshu.core import jobs
from gongshu.core.jobs import FINISHED
from gongshu.core.permissions import Perm
from gongshu.web.deps import Db, PageActor
from gongshu.web.nav import NavItem
from gongshu.web.templating import render

router = APIRouter(include_in_schema=False)
NAV = [NavItem("nav.jobs", "/jobs", None, 96)]


@router.get("/jobs")
def job_index(request: Request, actor: PageActor, db: Db, status: str | None = None,
              offset: int = 0) -> Response:
    settings = request.app.state.runtime.settings
    limit = settings.page_size
    rows, total = jobs.list_jobs(actor, db, status=status or None, limit=limit, offset=offset)
    # the queues, for those who see everyone's jobs (administrators, auditors)
    queues = (jobs.queue_states(actor, db, limits=settings.job_queue_limits)
              if actor.scopes(Perm.JOB_READ_ALL) else [])
    return render(request, "jobs/index.html", {"jobs": rows, "total": total, "offset": offset,
                                               "limit": limit, "status": status or "",
                                               "statuses": list(jobs.JobStatus),
                                               "queues": queues})


@router.get("/jobs/{job_id}")
def job_detail(request: Request, actor: PageActor, db: Db, job_id: uuid.UUID) -> Response:
    job = jobs.get_job(actor, db, job_id)
    return render(request, "jobs/detail.html", {"job": job, "finished": job.status in FINISHED})


@router.get("/jobs/{job_id}/progress")
def job_progress(request: Request, actor: PageActor, db: Db, job_id: uuid.UUID) -> Response:
    """The progress fragment, polled by htmx until the job finishes."""
    job = jobs.get_job(actor, db, job_id)
    response = render(request, "jobs/_progress.html", {"job": job, "finished": job.status in FINISHED})
    if job.status in FINISHED:
        response.headers["HX-Trigger"] = "job-finished"
    return response


@router.post("/jobs/{job_id}/cancel")
def job_cancel(request: Request, actor: PageActor, db: Db, job_id: uuid.UUID) -> Response:
    jobs.cancel(actor, db, job_id)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
