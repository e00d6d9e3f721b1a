"""`gongshu sharing …` (Art. 12).

- ``gongshu sharing request --entry CODE --items A,B --scenario NAME --as USER``: file a share
  request for USER's body (a new scenario also needs ``--description`` and ``--legal-basis``).
- ``gongshu sharing requests [--box mine|inbox|queue] [--as USER] [--json]``: requests.
- ``gongshu sharing grants [--entry CODE] [--status S] [--as USER] --json``: grants; the JSON
  is a stable contract: a list of objects with ``id``, ``entry`` (resource code), ``holder``,
  ``status`` (active, revoked, expired, suspended), and the grant's other fields.
- ``gongshu sharing calendar list|set|unset|deadline``: the working-day calendar.
- ``gongshu sharing sweep``: escalate overdue steps and expire grants now.

Without ``--as`` a command acts as the local operator (it sees everything; it cannot ask for
data, because only a body asks).
"""

from __future__ import annotations

import datetime as dt
from typing import Optional

import typer
from rich.table import Table

from gongshu.catalog import service as catalog
from gongshu.cli.main import acting_as as _actor
from gongshu.cli.main import console, print_json, runtime, system_actor
from gongshu.core.errors import ValidationFailed
from gongshu.sharing import delivery_cli, flows, service
from gongshu.sharing.views import grants_out, request_out

sharing_app = typer.Typer(help="Data sharing between public bodies (Art. 12).",
                          no_args_is_help=True)
calendar_app = typer.Typer(help="The working-day calendar of deadlines.", no_args_is_help=True)
sharing_app.add_typer(calendar_app, name="calendar")


def register(app: typer.Typer) -> None:
    app.add_typer(sharing_app, name="sharing")



def _date(text: str | None, field: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed.single(field, "invalid", "A date like 2026-01-31.") from None


@sharing_app.command("request")
def request(
    entry: str = typer.Option(..., "--entry", help="Resource code of the catalog entry."),
    items: str = typer.Option(..., "--items", help="Data item codes, comma-separated."),
    scenario: str = typer.Option(..., "--scenario", help="Scenario name (reused if your body "
                                 "has one of that name)."),
    description: str = typer.Option("", "--description", help="What the data is used for."),
    legal_basis: str = typer.Option("", "--legal-basis", help="The law or duty it serves."),
    volume: str = typer.Option("", "--volume", help="Expected volume."),
    period_from: Optional[str] = typer.Option(None, "--from", help="Scenario start (date)."),  # noqa: UP045
    period_to: Optional[str] = typer.Option(None, "--to", help="Scenario end (date)."),  # noqa: UP045
    contact: str = typer.Option(..., "--contact", help="Contact person."),
    phone: str = typer.Option(..., "--phone", help="Contact phone."),
    as_user: str = typer.Option(..., "--as", help="The user who asks, for their body."),
    json_output: bool = typer.Option(False, "--json", help="Print the request as JSON."),
) -> None:
    """File a share request for a user's body."""
    with runtime().db.transaction() as db:
        actor = _actor(db, as_user)
        found = catalog.get_entry_by_code(actor, db, entry)
        req = flows.submit(
            actor, db, entry_id=found.id, items=[i.strip() for i in items.split(",")],
            scenario=service.ScenarioIn(name=scenario, description=description,
                                        legal_basis=legal_basis, expected_volume=volume,
                                        period_start=_date(period_from, "scenario.period_start"),
                                        period_end=_date(period_to, "scenario.period_end")),
            contact_name=contact, contact_phone=phone)
        out = request_out(db, req, steps=service.request_steps(actor, db, req.id))
    if json_output:
        print_json(out.model_dump(mode="json"))
    else:
        console.print(f"{out.number}  {out.status}  due {out.step_due_at:%Y-%m-%d %H:%M} UTC")


@sharing_app.command("requests")
def requests(
    box: str = typer.Option("all", "--box", help="all, mine, inbox or queue."),
    status: Optional[str] = typer.Option(None, "--status"),  # noqa: UP045
    as_user: Optional[str] = typer.Option(None, "--as", help="See them as this user."),  # noqa: UP045
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """Share requests, overdue first."""
    with runtime().db.transaction(write=False) as db:
        actor = _actor(db, as_user)
        rows, _ = service.list_requests(actor, db, box=box, status=status, limit=1000)
        out = [request_out(db, r) for r in rows]
    if json_output:
        print_json([o.model_dump(mode="json") for o in out])
        return
    table = Table("number", "status", "entry", "requester", "provider", "due", "overdue")
    for o in out:
        table.add_row(o.number, o.status, o.resource_code, o.requester.name, o.provider.name,
                      f"{o.step_due_at:%Y-%m-%d}" if o.step_due_at else "", "!" if o.overdue else "")
    console.print(table)


@sharing_app.command("grants")
def grants(
    entry: Optional[str] = typer.Option(None, "--entry", help="Resource code of an entry."),  # noqa: UP045
    status: Optional[str] = typer.Option(None, "--status", help="active, revoked, expired, suspended."),  # noqa: UP045
    as_user: Optional[str] = typer.Option(None, "--as", help="See them as this user."),  # noqa: UP045
    json_output: bool = typer.Option(False, "--json", help="Print a JSON list (a stable contract)."),
) -> None:
    """Grants with their usage."""
    with runtime().db.transaction(write=False) as db:
        actor = _actor(db, as_user)
        entry_id = catalog.get_entry_by_code(actor, db, entry).id if entry else None
        uses = service.usage_by_grant(actor, db, entry_id=entry_id, limit=100_000)
        if status:
            uses = [u for u in uses if u.status == status]
        out = grants_out(db, uses)
    if json_output:
        print_json([o.model_dump(mode="json") for o in out])
        return
    table = Table("id", "entry", "holder", "status", "items", "expires", "pulls", "rows")
    for o in out:
        table.add_row(str(o.id), o.entry, o.holder, o.status, ",".join(o.items),
                      f"{o.expires_at:%Y-%m-%d}", str(o.pulls), str(o.rows))
    console.print(table)


@sharing_app.command("sweep")
def sweep() -> None:
    """Escalate overdue steps and mark expired grants now (the scheduled job does it too)."""
    with runtime().db.transaction() as db:
        out = flows.sweep(system_actor(), db)
    console.print(f"{out['escalated']} steps escalated, {out['expired']} grants expired")


@calendar_app.command("list")
def calendar_list(year: Optional[int] = typer.Option(None, "--year")) -> None:  # noqa: UP045
    """Years with data and the days administrators entered."""
    with runtime().db.transaction(write=False) as db:
        console.print("years: " + ", ".join(map(str, service.calendar_years(db))))
        for d in service.list_calendar_days(system_actor(), db, year=year):
            kind = "working day" if d.is_working else "holiday"
            console.print(f"{d.day}  {kind}  {d.note}")


@calendar_app.command("set")
def calendar_set(
    day: str = typer.Argument(..., help="The date (2027-01-01)."),
    working: bool = typer.Option(..., "--working/--holiday", help="A working day or a holiday."),
    note: str = typer.Option("", "--note"),
) -> None:
    """Mark a day as a working day (调休) or a holiday; it overrides the yearly files."""
    with runtime().db.transaction() as db:
        service.set_calendar_day(system_actor(), db, day=_date(day, "day"),  # type: ignore[arg-type]
                                 is_working=working, note=note)
    console.print(f"{day}: {'working day' if working else 'holiday'}")


@calendar_app.command("unset")
def calendar_unset(day: str = typer.Argument(...)) -> None:
    with runtime().db.transaction() as db:
        service.delete_calendar_day(system_actor(), db, day=_date(day, "day"))  # type: ignore[arg-type]
    console.print(f"{day}: back to the yearly file")


@calendar_app.command("deadline")
def calendar_deadline(
    days: int = typer.Argument(..., help="Working days."),
    start: Optional[str] = typer.Option(None, "--from", help="Start date (default today)."),  # noqa: UP045
) -> None:
    """When a step of DAYS working days started on a date is due."""
    with runtime().db.transaction(write=False) as db:
        begin = dt.datetime.now(dt.UTC)
        if start:
            day = _date(start, "from")
            assert day is not None
            begin = dt.datetime.combine(day, dt.time(12), tzinfo=service.calendar(db).tz)
        found = service.deadline(db, begin, days)
    console.print(f"due {found.due_day}")
    if found.missing_years:
        console.print(f"[yellow]warning[/yellow]: no calendar for "
                      f"{', '.join(map(str, found.missing_years))}; weekends only were counted")


delivery_cli.register(sharing_app)
