"""`gongshu audit …`: verify the chain, acknowledge a break, read the log."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from gongshu.audit import present, service
from gongshu.audit.schemas import event_public
from gongshu.cli.main import console, err_console, print_json, runtime, system_actor
from gongshu.core.audit import VerifyReport
from gongshu.core.errors import GongshuError
from gongshu.core.i18n import translator

audit_app = typer.Typer(help="The audit chain (Arts. 12, 41-44).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


def _print_verdict(report: VerifyReport, json_output: bool) -> None:
    if json_output:
        print_json(report.as_dict())
        return
    if report.ok:
        console.print(f"[green]ok[/green]{escape(report.verdict()[2:])}")
    else:
        err_console.print(f"[red]TAMPERED[/red]{escape(report.verdict()[8:])}")
    for note in report.acknowledged:
        console.print(f"[yellow]acknowledged[/yellow]: {escape(note)}")


@audit_app.command("verify")
def verify(json_output: bool = typer.Option(False, "--json")) -> None:
    """Re-derive every hash, compare the signed checkpoints; exit 1 naming the first bad event.

    The verdict is printed before anything is written; then the verification is audited."""
    rt = runtime()
    try:
        with Progress(TextColumn("verifying"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=err_console, transient=True,
                      disable=json_output) as bar:
            task = bar.add_task("verify", total=None)
            with rt.db.transaction(write=False) as db:
                report = service.verify(
                    system_actor(), db,
                    progress=lambda done, total: bar.update(task, completed=done, total=total))
    except GongshuError:
        raise
    except Exception as exc:  # the database failed while reading the chain: still a verdict
        err_console.print(f"[red]NOT VERIFIED[/red]: the chain could not be read "
                          f"({escape(type(exc).__name__)}: {escape(str(exc).splitlines()[0] if str(exc) else '')})")
        raise typer.Exit(1) from None
    _print_verdict(report, json_output)
    try:
        with rt.db.transaction() as db:
            service.record_verification(system_actor(), db, report)
    except Exception as exc:  # the verdict stands; say why it is not in the chain
        message = exc.detail if isinstance(exc, GongshuError) else type(exc).__name__
        err_console.print(f"[yellow]the verification could not be recorded in the audit chain"
                          f"[/yellow]: {escape(message)}")
        raise typer.Exit(1) from None
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("acknowledge-break")
def acknowledge_break(
    reason: str = typer.Option(..., "--reason",
                               help="What was found, and what was done about it (kept in the "
                                    "audit event and the checkpoint log)."),
) -> None:
    """Acknowledge a break of the chain after investigating it (an audited act).

    Verifies first and refuses when the chain verifies. The verdict is kept as evidence with the
    reason; the chain's head then starts a new signed segment, and checkpoints are signed again.
    Everything logged before (checkpoints, the break) stays in the checkpoint log."""
    rt = runtime()
    with rt.db.transaction(write=False) as db:
        report = service.verify(system_actor(), db)
    _print_verdict(report, False)
    with rt.db.transaction() as db:
        service.acknowledge_break(system_actor(), db, reason=reason, report=report)
    checkpoint = rt.audit_checkpoints.read()
    console.print(f"acknowledged: a new signed segment starts at event "
                  f"{checkpoint.seq if checkpoint else '?'}")


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
        tz = runtime().settings.display_timezone
        t = translator("zh-CN")
        refs = service.objects(db, rows)
        table = Table("seq", f"time ({tz})", "actor", "action", "target", "details")
        for e in rows:
            label = t(f"audit_target.{e.target_type}", default=e.target_type)
            table.add_row(str(e.seq), present.local_time(e.occurred_at, tz), e.actor_name,
                          escape(t(f"audit_action.{e.action}", default=e.action)),
                          escape(refs[e.seq].text(label)),
                          escape(present.details_text(e.details_dict, t, tz)[:120]))
        console.print(table)


@audit_app.command("export")
def export(
    output: Path = typer.Option(..., "-o", "--output", help="The file to write"),
    fmt: str = typer.Option("csv", "--format", help="csv or xlsx"),
    action: str | None = typer.Option(None, help="Exact action or a prefix ending in '.'"),
    actor: str | None = typer.Option(None, help="Username"),
    target_type: str | None = typer.Option(None, "--target-type"),
    target_id: str | None = typer.Option(None, "--target-id"),
    q: str | None = typer.Option(None, "--object", help="The object's name, resource code or number"),
    org: str | None = typer.Option(None, "--org", help="Organisation (path, id, name, credit code "
                                   "or code): it and the organisations under it"),
    since: str | None = typer.Option(None, help="From this date (YYYY-MM-DD, display time zone)"),
    until: str | None = typer.Option(None, help="Up to this date, inclusive"),
    lang: str = typer.Option("zh-CN", "--lang", help="zh-CN or en"),
) -> None:
    """Export the filtered events to CSV or XLSX for an inspection (the export is audited)."""
    rt = runtime()
    tz = rt.settings.display_timezone
    with rt.db.transaction() as db:
        filters = service.AuditFilter(
            action=action, actor=actor, target_type=target_type, target_id=target_id,
            object_query=q, org_path=service.org_path_of(db, org) if org else None,
            since=_day(since, tz), until=_day(until, tz, end=True))
        body, rows = service.export_events(system_actor(), db, filters=filters, fmt=fmt,
                                           locale=lang, tz=tz)
    output.write_bytes(body)
    console.print(f"exported {rows} events to {escape(str(output))}")


def _day(value: str | None, tz: str, *, end: bool = False) -> dt.datetime | None:
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not a date: {value}") from None
    if end:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)
