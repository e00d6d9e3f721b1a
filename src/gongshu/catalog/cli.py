"""`gongshu catalog …`: import, export and search the catalog from a shell.

The commands are a contract other systems and checks rely on; keep them stable:

- ``gongshu catalog import FILE``: all or nothing; on any error prints every error as
  ``<sheet> row <N>, column <header>: <message>`` (N is the row number Excel shows) on stderr
  and exits 1. Imported entries enter the review workflow (submitted to their provider's
  same-level data bureau; ``--no-submit`` leaves them as drafts). Each row's provider is found
  by its organisation id, provider code, credit code or exact name.
- ``gongshu catalog export --format xlsx|csv|dcat-jsonld|dcat-ttl -o FILE``: xlsx and csv hold
  every entry (its working version where it has one; ``--published-only`` for the published
  ones), the DCAT formats the published entries.
- ``gongshu catalog search TEXT [--json]``: with ``--json`` a list of hits, each with
  ``resource_code``, ``name``, ``provider``, ``score`` (higher is better), and more.
- ``gongshu catalog duplicates [FILE] [--items 'name:type,…'] [--provider ORG] [--json]``: the
  published entries of other bodies that could provide, through sharing, the items a body or a
  project plans to collect (Art. 12, duplicate collection). FILE is a CSV or workbook with an
  item name column (信息项名称 / name …, else the first) and optionally a data type column
  (数据类型 / type: C or 字符型 …). With ``--json``: ``{"items", "need", "rationale",
  "matches": [{"entry_id", "resource_code", "name", "provider", "sharing_type", "share",
  "strong", "items": [{"name", "matched_name", "matched_code", "via"}]}]}``. Exit 0 whether or
  not something matched; 2 for unreadable input.

The CLI acts as the platform operator (the system actor), who sees every entry, drafts too.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import typer
from rich.table import Table

from gongshu.catalog import duplicates, service
from gongshu.catalog.search import service as search
from gongshu.catalog.transfer import xlsx
from gongshu.catalog.vocab import vocab
from gongshu.cli.main import console, print_json, runtime, system_actor
from gongshu.core.errors import FieldError, ValidationFailed

catalog_app = typer.Typer(help="The public data catalog (Arts. 9, 12, 47).", no_args_is_help=True)

FORMATS = tuple(service.EXPORT_FORMATS)


def register(app: typer.Typer) -> None:
    app.add_typer(catalog_app, name="catalog")


def error_line(error: FieldError) -> str:
    """``<sheet> row <N>, column <header>: <message>``; parts a whole-file problem lacks are
    left out."""
    where = " ".join(part for part in (
        error.params.get("sheet", ""),
        f"row {error.row}," if error.row is not None else "",
        f"column {error.field}" if error.field else "",
    ) if part).rstrip(",")
    return f"{where}: {error.message}" if where else error.message


@catalog_app.command("import")
def import_file(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                help="A filled template (.xlsx) or the CSV export"),
    submit: bool = typer.Option(True, "--submit/--no-submit",
                                help="Submit every entry for review (default) or keep drafts"),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON"),
) -> None:
    """Import a catalog file, all or nothing; on errors print every one and exit 1."""
    data = file.read_bytes()
    failed: ValidationFailed | None = None
    rows: list[dict[str, object]] = []
    try:
        with runtime().db.transaction() as db:
            outcome = service.import_entries(system_actor(), db, data, filename=file.name,
                                             submit=submit)
            rows = [{"row": row, "resource_code": e.resource_code,
                     "name": e.current_version.name if e.current_version else "",
                     "status": e.status, "id": str(e.id)} for row, e in outcome.rows]
            created, updated = len(outcome.created), len(outcome.updated)
    except ValidationFailed as exc:
        if exc.code != "catalog_import_failed":
            raise
        failed = exc
    if failed is not None:
        if json_output:
            print_json({"imported": 0, "errors": [
                {"sheet": e.params.get("sheet", ""), "row": e.row, "column": e.field,
                 "code": e.code, "message": e.message} for e in failed.errors]})
        for error in failed.errors:
            typer.echo(error_line(error), err=True)
        typer.echo(f"error: nothing imported, {len(failed.errors)} error(s) in {file.name}",
                   err=True)
        raise typer.Exit(1)
    if json_output:
        print_json({"imported": len(rows), "created": created, "updated": updated,
                    "entries": rows})
        return
    for row in rows:
        typer.echo(f"row {row['row']}: {row['resource_code']} {row['name']} ({row['status']})")
    typer.echo(f"imported {len(rows)} entries ({created} new, {updated} updated)")


@catalog_app.command("export")
def export(
    format: str = typer.Option(..., "--format", "-f", help="xlsx, csv, dcat-jsonld or dcat-ttl"),
    output: Path = typer.Option(..., "--output", "-o", dir_okay=False, help="File to write"),
    published_only: bool = typer.Option(
        False, "--published-only", help="Only published versions (xlsx, csv); DCAT always is"),
) -> None:
    """Export the catalog: the import template's layout (xlsx, csv) with every entry, its
    draft or revision in review where it has one (the operator sees them all), or DCAT-AP 3
    of the published entries for other portals."""
    if format not in FORMATS:
        typer.echo(f"error: --format must be one of {', '.join(FORMATS)}", err=True)
        raise typer.Exit(2)
    with runtime().db.transaction(write=False) as db:
        body, _media_type, _ext = service.export_entries(
            system_actor(), db, fmt=format, include_working=not published_only)
    output.write_bytes(body)
    typer.echo(f"wrote {len(body)} bytes to {output}")


@catalog_app.command("search")
def search_entries(
    text: str = typer.Argument(..., help="Words to find (Chinese or not), or a resource code"),
    json_output: bool = typer.Option(False, "--json", help="Print the hits as JSON"),
    limit: int = typer.Option(20, min=1, max=1000, help="At most this many hits"),
) -> None:
    """Search the catalog (jieba segmentation, synonyms), best hits first."""
    with runtime().db.transaction(write=False) as db:
        result = search.search(system_actor(), db, q=text, limit=limit, facets=False,
                               exact=True)
    hits = [{"resource_code": h.resource_code, "name": h.name, "provider": h.provider_name,
             "score": round(h.score, 6) if h.score is not None else None,
             "status": h.status, "version": h.version, "entry_id": str(h.entry_id),
             "provider_org_id": str(h.provider_org_id), "sharing_type": h.sharing_type,
             "grade": h.grade} for h in result.hits]
    if json_output:
        print_json(hits)
        return
    table = Table("resource code", "name", "provider", "status", "score",
                  title=f"{result.count} found for {text!r}")
    for h in hits:
        table.add_row(str(h["resource_code"]), str(h["name"]), str(h["provider"]),
                      str(h["status"]), f"{h['score']:.3f}" if h["score"] is not None else "")
    console.print(table)


@catalog_app.command("template")
def template(output: Path = typer.Option(..., "--output", "-o", dir_okay=False)) -> None:
    """Write the empty import template (.xlsx)."""
    body = xlsx.build_template()
    output.write_bytes(body)
    typer.echo(f"wrote {len(body)} bytes to {output}")


@catalog_app.command("reindex")
def reindex() -> None:
    """Rebuild the search index (after editing the synonyms or the domain dictionary) and key
    the data items again (after editing the duplicate-collection rules, Art. 12)."""
    with runtime().db.transaction() as db:
        rekeyed = service.rekey_items(db)
        count = search.reindex(db, progress=lambda done, total: sys.stderr.write(
            f"\r{done}/{total}"))
    typer.echo(f"indexed {count} entries, {rekeyed} item keys changed")


def _type_names() -> dict[str, str]:
    """Data type code, Chinese and English label → code (data_item_types.yaml)."""
    out: dict[str, str] = {}
    for term in vocab().get("data_item_types"):
        out.update({term.code: term.code, term.label("zh"): term.code,
                    term.label("en"): term.code})
    return out


def _planned_from_file(path: Path) -> tuple[list[duplicates.PlannedItem], list[str]]:
    from gongshu.engine.readers import open_source

    with open_source(path) as reader:
        columns = list(reader.schema.names)
        rows = (tuple(row.get(c) for c in columns)
                for batch in reader.batches() for row in batch.to_pylist())
        return duplicates.planned_from_rows(columns, rows, _type_names())


@catalog_app.command("duplicates")
def duplicates_check(
    file: Path | None = typer.Argument(None, exists=True, dir_okay=False, readable=True,
                                       help="CSV or workbook of planned items (name, type)"),
    items: str = typer.Option("", "--items", help="Planned items: 'name:type,name:type'"),
    provider: str = typer.Option("", "--provider",
                                 help="The collecting body (id, code or name): its own "
                                      "entries are not named"),
    weak: bool = typer.Option(False, "--weak", help="Also entries below the strong threshold"),
    limit: int = typer.Option(10, min=1, max=50, help="At most this many entries"),
    json_output: bool = typer.Option(False, "--json", help="Print the matches as JSON"),
) -> None:
    """Duplicate collection (Art. 12): which published entries of other bodies could provide
    the items you plan to collect through sharing."""
    planned: list[duplicates.PlannedItem] = []
    problems: list[str] = []
    if file is not None:
        found, bad = _planned_from_file(file)
        planned += found
        problems += bad
    if items:
        found, bad = duplicates.parse_items_text(items, _type_names())
        planned += found
        problems += bad
    if not planned and not problems:
        problems.append("give a FILE or --items with at least one item name")
    if problems:
        for line in problems:
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(2)
    with runtime().db.transaction(write=False) as db:
        org_id = None
        if provider:
            try:
                org = service.resolve_provider(db, org_id=uuid.UUID(provider))
            except ValueError:
                org = service.resolve_provider(db, code=provider, name=provider)
            if org is None:
                typer.echo(f"error: no organisation {provider!r}", err=True)
                raise typer.Exit(2)
            org_id = org.id
        report = service.check_duplicates(system_actor(), db, items=planned,
                                          provider_org_id=org_id, limit=limit,
                                          include_weak=weak)
    matches = service.duplicate_details(report)
    if json_output:
        print_json({"items": len(report.items), "need": report.need,
                    "rationale": report.rationale, "matches": matches})
        return
    table = Table("resource code", "name", "provider", "sharing", "covers", "items",
                  title=f"{len(matches)} entries could provide {len(report.items)} planned items")
    for m in matches:
        table.add_row(str(m["resource_code"]), str(m["name"]), str(m["provider"]),
                      str(m["sharing_type"]), f"{m['share']:.0%}" + ("" if m["strong"] else " (weak)"),
                      "、".join(f"{i['name']}={i['matched_name']}" for i in m["items"]))
    console.print(table)
