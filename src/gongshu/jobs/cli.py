"""`gongshu job …`: list and inspect jobs."""

from __future__ import annotations

import uuid

import typer
from rich.table import Table

from gongshu.cli.main import console, print_json, runtime, system_actor
from gongshu.core import jobs
from gongshu.jobs.schemas import job_public

job_app = typer.Typer(help="Background jobs.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(job_app, name="job")


@job_app.command("list")
def list_jobs(status: str | None = None, limit: int = 30,
              json_output: bool = typer.Option(False, "--json")) -> None:
    with runtime().db.transaction(write=False) as db:
        rows, _ = jobs.list_jobs(system_actor(), db, status=status, limit=limit)
        if json_output:
            print_json([job_public(j).model_dump(mode="json") for j in rows])
            return
        table = Table("id", "kind", "status", "progress", "by", "created (UTC)")
        for j in rows:
            progress = f"{j.progress_done}/{j.progress_total}" if j.progress_total else str(j.progress_done)
            table.add_row(str(j.id), j.kind, j.status, progress, j.actor.get("username", ""),
                          f"{j.created_at:%Y-%m-%d %H:%M:%S}")
        console.print(table)


@job_app.command("show")
def show(job_id: uuid.UUID) -> None:
    with runtime().db.transaction(write=False) as db:
        print_json(job_public(jobs.get_job(system_actor(), db, job_id)).model_dump(mode="json"))


@job_app.command("queues")
def queues(json_output: bool = typer.Option(False, "--json")) -> None:
    """Each queue's limit of running jobs (GONGSHU_JOB_QUEUE_LIMITS), waiting and running jobs."""
    rt = runtime()
    with rt.db.transaction(write=False) as db:
        states = jobs.queue_states(system_actor(), db, limits=rt.settings.job_queue_limits)
    if json_output:
        print_json([{"queue": s.queue, "limit": s.limit, "queued": s.queued,
                     "running": s.running} for s in states])
        return
    table = Table("queue", "limit", "queued", "running")
    for s in states:
        table.add_row(s.queue, "-" if s.limit is None else str(s.limit), str(s.queued),
                      str(s.running))
    console.print(table)


@job_app.command("schedules")
def schedules(json_output: bool = typer.Option(False, "--json")) -> None:
    """The scheduled jobs: their period, when each runs next and its last job."""
    with runtime().db.transaction() as db:
        jobs.sync_schedules(db)  # the declarations of this version, even before a worker ran
        rows = [(s.name, s.kind, s.period_seconds, s.next_run_at, s.last_run_at, s.last_job_id)
                for s in jobs.list_schedules(db)]
    if json_output:
        print_json([{"name": n, "kind": k, "period_seconds": p, "next_run_at": nx.isoformat(),
                     "last_run_at": lr.isoformat() if lr else None,
                     "last_job_id": str(j) if j else None} for n, k, p, nx, lr, j in rows])
        return
    table = Table("name", "kind", "every (s)", "next run (UTC)", "last job")
    for n, k, p, nx, _lr, j in rows:
        table.add_row(n, k, str(p), f"{nx:%Y-%m-%d %H:%M:%S}", str(j) if j else "")
    console.print(table)


@job_app.command("workers")
def workers(json_output: bool = typer.Option(False, "--json")) -> None:
    """The worker processes: host, pid, threads, when last seen, draining or not (a worker
    not seen within GONGSHU_JOB_STALE_SECONDS is no longer counted alive by /readyz)."""
    rt = runtime()
    with rt.db.transaction(write=False) as db:
        rows = [(w.name, w.host, w.pid, w.threads, w.started_at, w.seen_at, w.draining)
                for w in jobs.list_workers(db)]
    stale = rt.settings.job_stale_seconds
    now = jobs.utcnow()
    if json_output:
        print_json([{"name": n, "host": h, "pid": p, "threads": t, "started_at": s.isoformat(),
                     "seen_at": seen.isoformat(), "draining": d,
                     "alive": (now - seen).total_seconds() <= stale}
                    for n, h, p, t, s, seen, d in rows])
        return
    table = Table("name", "threads", "seen (UTC)", "state")
    for n, _h, _p, t, _s, seen, d in rows:
        state = ("draining" if d else "alive") if (now - seen).total_seconds() <= stale \
            else "gone"
        table.add_row(n, str(t), f"{seen:%Y-%m-%d %H:%M:%S}", state)
    console.print(table)
