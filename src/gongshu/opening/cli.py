"""`gongshu opening …`: the open data and its developers from a shell (Art. 13).

- ``gongshu opening list [--json]``: the datasets open to the public (what the portal lists):
  resource code, name, provider, opening type, grade.
- ``gongshu opening usage CODE [--days N] [--json]``: downloads, API reads and previews per day.
- ``gongshu opening key create EMAIL [--name N] [--register NAME]``: a new API key for a
  developer (``--register`` signs the developer up first); the key is printed once.
- ``gongshu opening key revoke PREFIX``.
- ``gongshu opening applications [--status S] [--json]``: conditional-opening applications.

The CLI acts as the platform operator (the system actor).
"""

from __future__ import annotations

import typer
from rich.table import Table

from gongshu.cli.main import console, print_json, runtime, system_actor
from gongshu.opening import flows, service

opening_app = typer.Typer(help="Opening to society: the portal's data, developers, "
                          "conditional opening (Art. 13).", no_args_is_help=True)
key_app = typer.Typer(help="Developers' API keys of the portal.", no_args_is_help=True)
opening_app.add_typer(key_app, name="key")


def register(app: typer.Typer) -> None:
    app.add_typer(opening_app, name="opening")


@opening_app.command("list")
def list_open(json_output: bool = typer.Option(False, "--json", help="Print JSON"),
              limit: int = typer.Option(1000, min=1, max=100_000)) -> None:
    """The datasets open to the public, newest change first."""
    with runtime().db.transaction(write=False) as db:
        entries, total = service.list_open(db, limit=limit)
        rows = [{"id": str(e.id), "resource_code": e.resource_code,
                 "name": e.published_version.name if e.published_version else "",
                 "provider": (e.published_version.content.get("provider") or {}).get("name", "")
                 if e.published_version else "",
                 "opening_type": e.published_version.opening_type if e.published_version else "",
                 "grade": e.grade} for e in entries]
    if json_output:
        print_json(rows)
        return
    table = Table("resource code", "name", "provider", "opening", "grade",
                  title=f"{total} open datasets")
    for r in rows:
        table.add_row(*(str(r[k] or "") for k in ("resource_code", "name", "provider",
                                                   "opening_type", "grade")))
    console.print(table)


@opening_app.command("usage")
def usage(code: str = typer.Argument(..., help="Resource code or entry id"),
          days: int = typer.Option(30, min=1, max=366),
          json_output: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """Downloads, API reads and previews of one open dataset per day."""
    with runtime().db.transaction(write=False) as db:
        dataset = service.get_dataset(db, code)
        found = service.usage(db, dataset.entry.id, days=days)
    rows = [{"day": d.isoformat(), **counts} for d, counts in found.days]
    if json_output:
        print_json({"resource_code": dataset.entry.resource_code, "totals": found.totals,
                    "days": rows})
        return
    table = Table("day", "download", "api", "preview", title=dataset.version.name)
    for r in rows:
        table.add_row(r["day"], str(r["download"]), str(r["api"]), str(r["preview"]))
    console.print(table)


@key_app.command("create")
def key_create(email: str = typer.Argument(..., help="The developer's e-mail address"),
               name: str = typer.Option("cli", help="A name for the key"),
               register_as: str = typer.Option("", "--register",
                                                help="Sign the developer up first, "
                                                "with this name")) -> None:
    """A new API key for a developer; printed once, stored hashed."""
    with runtime().db.transaction() as db:
        if register_as:
            _developer, raw = service.register_developer(db, name=register_as, email=email,
                                                         key_name=name)
        else:
            raw = service.create_key(system_actor(), db, developer_email=email, name=name)
    typer.echo(raw)


@key_app.command("revoke")
def key_revoke(prefix: str = typer.Argument(..., help="The key's prefix (gso_<prefix>_…)")) -> None:
    """Revoke a developer's key; its next request is refused."""
    with runtime().db.transaction() as db:
        service.revoke_key(system_actor(), db, prefix=prefix)
    typer.echo(f"revoked {prefix}")


@opening_app.command("applications")
def applications(status: str = typer.Option("", help="provider_review, bureau_review, "
                                              "approved or refused"),
                 json_output: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """Conditional-opening applications, newest first."""
    with runtime().db.transaction(write=False) as db:
        found = flows.list_applications(system_actor(), db, status=status or None, limit=1000)
        rows = [{"id": str(a.id), "resource_code": a.resource_code, "name": a.entry_name,
                 "status": a.status, "created_at": a.created_at.isoformat(),
                 "grant_id": str(a.grant_id) if a.grant_id else None} for a in found]
    if json_output:
        print_json(rows)
        return
    table = Table("id", "resource code", "name", "status", title="applications")
    for r in rows:
        table.add_row(str(r["id"]), str(r["resource_code"]), str(r["name"]), str(r["status"]))
    console.print(table)
