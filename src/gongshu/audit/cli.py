"""`gongshu audit …`: verify the chain, read the log."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from gongshu.audit import service
from gongshu.audit.schemas import event_public
from gongshu.cli.main import console, err_console, print_json, runtime, system_actor

audit_app = typer.Typer(help="The audit chain (Arts. 12, 41-44).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def verify(json_output: bool = typer.Option(False, "--json")) -> None:
    """Re-derive every hash and check the signed checkpoint; exit 1 naming the first bad event."""
    rt = runtime()
    with Progress(TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True, disable=json_output) as bar:
        task = bar.add_task("verify", total=None)
        with rt.db.transaction(write=False) as db:
            report = service.verify(system_actor(), db,
                                    progress=lambda done, total: bar.update(task, completed=done, total=total))
    with rt.db.transaction() as db:
        service.record_verification(system_actor(), db, report)
    if json_output:
        print_json(report.as_dict())
    elif report.ok:
        console.print(f"[green]ok[/green]: {report.events_checked} events, head at {report.head_seq}"
                      f", checkpoint at {report.checkpoint_seq}")
    else:
        err_console.print(f"[red]TAMPERED[/red] at event {report.bad_seq}"
                          f"{f' (id {report.bad_event_id})' if report.bad_event_id else ''}: {report.reason}")
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("list")
def list_events(
    action: str | None = typer.Option(None, help="Exact action or a prefix ending in '.'"),
    actor: str | None = typer.Option(None, help="Username"),
    limit: int = 50,
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """The newest events."""
    with runtime().db.transaction(write=False) as db:
        rows, _ = service.list_events(system_actor(), db,
                                      filters=service.AuditFilter(action=action, actor=actor), limit=limit)
        if json_output:
            print_json([event_public(e).model_dump(mode="json") for e in rows])
            return
        table = Table("seq", "time (UTC)", "actor", "action", "target", "details")
        for e in rows:
            table.add_row(str(e.seq), f"{e.occurred_at:%Y-%m-%d %H:%M:%S}", e.actor_name, e.action,
                          f"{e.target_type}:{e.target_id[:8]}" if e.target_type else "", e.details[:60])
        console.print(table)
