"""`gongshu library …` (Art. 11; issue 4 §6).

- ``gongshu library ingest PATH --entry CODE``: ingest a file (or, with ``--table``, a table
  from a database URL) as the next version of the entry's dataset, with a progress bar. The
  job is the same one the web upload runs; it runs here, in this process.
- ``gongshu library versions CODE``: the dataset's versions.
- ``gongshu library list``: datasets by library kind.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gongshu.catalog import service as catalog
from gongshu.cli.main import console, err_console, print_json, runtime, system_actor
from gongshu.core.errors import NotFound
from gongshu.core.jobs import run_inline
from gongshu.library import service

library_app = typer.Typer(help="The resource library (Art. 11): ingest, versions.",
                          no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(library_app, name="library")


@library_app.command("ingest")
def ingest(
    path: str = typer.Argument(..., help="CSV, XLSX, JSON, JSON Lines or Parquet file, or a "
                               "database URL (with --table)."),
    entry: str = typer.Option(..., "--entry", help="Resource code of the catalog entry."),
    sheet: Optional[str] = typer.Option(None, help="Worksheet of an XLSX (default: first)."),  # noqa: UP045
    table: Optional[str] = typer.Option(None, help="Table to read from a database URL."),  # noqa: UP045
    encoding: Optional[str] = typer.Option(None, help="Text encoding (default: detected)."),  # noqa: UP045
    delimiter: Optional[str] = typer.Option(None, help="CSV delimiter (default: sniffed)."),  # noqa: UP045
    format: Optional[str] = typer.Option(None, "--format", help="csv, xlsx, json, jsonl or parquet."),  # noqa: UP045
    kind: Optional[str] = typer.Option(None, help="Library: base, sector or topic (a new dataset)."),  # noqa: UP045
    drop_extra: bool = typer.Option(False, "--drop-extra", help="Leave out columns that are no "
                                    "data item of the entry instead of refusing the file."),
    column_map: Optional[list[str]] = typer.Option(  # noqa: UP045
        None, "--map", metavar="COLUMN=ITEM",
        help="Take the file's COLUMN as the data item ITEM (code or name); repeatable."),
    json_output: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Ingest a file or a database table as the next version of an entry's dataset."""
    mapping: dict[str, str] = {}
    for pair in column_map or []:
        column, sep, item = pair.partition("=")
        if not sep or not column.strip() or not item.strip():
            raise typer.BadParameter(f"{pair!r}: give COLUMN=ITEM", param_hint="--map")
        mapping[column.strip()] = item.strip()
    rt = runtime()
    actor = system_actor()
    database = "://" in path
    source = path if database else str(Path(path).resolve())
    options = service.IngestOptions(sheet=sheet, table=table, format=format, encoding=encoding,
                                    delimiter=delimiter, drop_extra=drop_extra,
                                    columns=mapping or None)
    with rt.db.transaction() as db:
        found = catalog.get_entry_by_code(actor, db, entry)
        queued = service.start_ingest(actor, db, entry_id=found.id, source=source,
                                      source_kind="database" if database else "file",
                                      options=options, kind=kind, queue=False)
        ingest_id = queued.id
        params = service.job_params(db, queued, source)
        title = service.job_title(service.get_dataset(actor, db, queued.dataset_id),
                                  queued.source_name)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,}"),
                  TimeElapsedColumn(), console=err_console, transient=True) as bar:
        task = bar.add_task("ingest", total=None)

        def observe(done: int, total: int | None, message: str) -> None:
            bar.update(task, completed=done, total=total, description=message[:60] or "ingest")

        # the same job a worker runs for a web upload, run here in this process
        run_inline(rt, actor, kind="library.ingest", params=params, title=title,
                   on_progress=observe)
    with rt.db.transaction(write=False) as db:
        done = service.get_ingest(actor, db, ingest_id)
        outcome = {"ingest_id": str(done.id), "status": done.status, "error": done.error,
                   "report": done.report}
        version = None
        if done.version_id:
            version = service.get_version(actor, db, done.dataset_id)
            outcome["version"] = version.number
            outcome["rows"] = version.rows
            outcome["quality_score"] = version.quality_score
    if json_output:
        print_json(outcome)
    else:
        _print_outcome(outcome)
    if outcome["status"] != "succeeded":
        raise typer.Exit(1)


def _pct(share: object) -> str:
    """A share as a percentage, never rounded up to 100 %."""
    if not isinstance(share, int | float):
        return ""
    return f"{math.floor(share * 1000) / 10:.1f}%"


def _print_outcome(outcome: dict[str, object]) -> None:
    report = outcome.get("report") or {}
    assert isinstance(report, dict)
    columns = report.get("columns") or []
    if columns:
        table = Table("data item", "code", "type", "file column", "status")
        for row in columns:
            table.add_row(str(row.get("item") or ""), str(row.get("code") or ""),
                          str(row.get("data_type") or ""), str(row.get("source") or ""),
                          str(row.get("status")))
        console.print(table)
    for problem in report.get("problems") or []:
        where = problem.get("column") or problem.get("item") or ""
        examples = ", ".join(f"row {e['row']}: {e['value']!r}" for e in problem.get("examples", []))
        line = f"{'error' if problem.get('blocking') else 'warning'} {problem['code']} {where}: " \
               f"{problem['message']}"
        err_console.print(line + (f" ({examples})" if examples else ""))
    if outcome["status"] == "succeeded":
        console.print(f"stored version {outcome['version']}: {outcome['rows']:,} rows"
                      + (f", quality {_pct(outcome['quality_score'])}"
                         if outcome.get("quality_score") is not None else ""))
    else:
        err_console.print(f"{outcome['status']}: {outcome.get('error') or ''}")


@library_app.command("versions")
def versions(
    entry: str = typer.Argument(..., help="Resource code of the catalog entry."),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """List the versions of an entry's dataset, newest first."""
    actor = system_actor()
    with runtime().db.transaction(write=False) as db:
        found = catalog.get_entry_by_code(actor, db, entry)
        dataset = service.dataset_for_entry(actor, db, found.id)
        if dataset is None:
            raise NotFound(f"Entry {entry} has no dataset in the library yet.",
                           code="dataset_not_found")
        rows = service.list_versions(actor, db, dataset.id)
        current = dataset.current_version_id
        data = [{"version": v.number, "current": v.id == current, "rows": v.rows,
                 "bytes": v.bytes, "source": v.source_name, "format": v.source_format,
                 "encoding": v.source_encoding, "quality_score": v.quality_score,
                 "created_at": v.created_at.isoformat(), "created_by": v.created_by}
                for v in rows]
    if json_output:
        print_json(data)
        return
    table = Table("version", "rows", "bytes", "source", "encoding", "quality", "created", "by",
                  title=f"{dataset.name} ({dataset.resource_code}, {dataset.kind})")
    for v in data:
        table.add_row(f"{v['version']}{' *' if v['current'] else ''}", f"{v['rows']:,}",
                      f"{v['bytes']:,}", str(v["source"]), str(v["encoding"] or ""),
                      _pct(v["quality_score"]),
                      str(v["created_at"])[:19], str(v["created_by"]))
    console.print(table)


@library_app.command("list")
def list_datasets(
    kind: Optional[str] = typer.Option(None, help="base, sector or topic."),  # noqa: UP045
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """List the datasets of the library."""
    with runtime().db.transaction(write=False) as db:
        rows, _ = service.list_datasets(system_actor(), db, kind=kind, limit=10_000)
        data = [{"resource_code": d.resource_code, "name": d.name, "kind": d.kind,
                 "versions": d.version_count,
                 "rows": d.current_version.rows if d.current_version else 0}
                for d in rows]
    if json_output:
        print_json(data)
        return
    table = Table("resource code", "name", "library", "versions", "rows")
    for d in data:
        table.add_row(d["resource_code"], d["name"], d["kind"], str(d["versions"]),
                      f"{d['rows']:,}")
    console.print(table)

