"""``gongshu scan PATH``: scan a file for sensitive data and propose grades, without storing it.

A plain function so the top-level CLI can register it (``app.command("scan")(scan)``); routes
and commands hold no logic (DESIGN.md): read options, call :func:`scan_file`, render.
With ``--json`` it prints the stable contract of issue 4 §6 (UTF-8, not escaped).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from gongshu.core.errors import GongshuError
from gongshu.grading.scan import ScanReport, scan_file

__all__ = ["render_table", "scan"]


def scan(
    path: Path = typer.Argument(..., help="CSV, XLSX, JSON, JSON Lines or Parquet file."),
    sheet: Optional[str] = typer.Option(None, "--sheet", help="Worksheet of an XLSX (default: first)."),  # noqa: UP045 - Typer reads the annotation
    sample: Optional[int] = typer.Option(None, "--sample", help="Scan only the first N rows."),  # noqa: UP045
    json_output: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Scan a file for sensitive data and propose a grade per column and for the file (Art. 10)."""
    try:
        report = scan_file(path, sheet=sheet, sample=sample)
    except GongshuError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(code=2) from exc
    if json_output:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        Console().print(render_table(report))


def render_table(report: ScanReport) -> Table:
    """A readable table: one row per column, its detections, proposed grade and reasons."""
    table = Table(title=f"{report.file} — {report.rows_scanned} rows — suggested grade "
                        f"{report.grade}", show_lines=True)
    table.add_column("column")
    table.add_column("detections")
    table.add_column("grade")
    table.add_column("reasons")
    for column in report.columns:
        found = column.detections.detections
        detections = "\n".join(f"{d.type} {d.ratio:.1%} ({d.count})" for d in found) or "—"
        table.add_row(column.name, detections, column.grade, "\n".join(column.reasons))
    return table


def register(app: typer.Typer) -> None:
    """The top-level ``gongshu scan`` (its ``--json`` output is a stable contract)."""
    app.command("scan")(scan)
