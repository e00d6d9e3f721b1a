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
