"""`gongshu sharing pull` and `gongshu sharing trace` (Art. 12).

- ``gongshu sharing pull GRANT_ID -o FILE [--format csv|xlsx|parquet|json]``: write what the
  grant's holder receives through the API (every page, the same canaries), locally against the
  data directory; audited as the CLI operator (``via: cli``).
- ``gongshu sharing trace FILE [--json]``: name the grant a leaked copy came from, with a
  confidence; ``--json`` prints ``{"grant_id": str|null, "confidence": float,
  "candidates": [{"grant_id": str, "score": float}, …]}`` (a stable contract).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from gongshu.cli.main import console, print_json, runtime, system_actor
from gongshu.core.errors import ValidationFailed
from gongshu.sharing import delivery
from gongshu.sharing import trace as tracing

SUFFIX_FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".parquet": "parquet", ".json": "json",
                  ".jsonl": "ndjson", ".ndjson": "ndjson"}


def register(app: typer.Typer) -> None:
    """Add ``pull`` and ``trace`` to the ``sharing`` command group ``app``."""
    app.command("pull")(pull)
    app.command("trace")(trace)


def _grant_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ValidationFailed.single("grant_id", "invalid", f"{text!r} is not a grant id.") \
            from None


def pull(
    grant_id: str = typer.Argument(..., help="The grant's id."),
    output: Path = typer.Option(..., "-o", "--output", help="The file to write."),
    format: Optional[str] = typer.Option(  # noqa: UP045
        None, "--format", help="csv, xlsx, parquet or json (default: from the file's suffix, "
        "else json)."),
) -> None:
    """Write a grant's data as its holder receives it (audited)."""
    fmt = format or SUFFIX_FORMATS.get(output.suffix.lower(), "json")
    if fmt not in ("csv", "xlsx", "parquet", "json", "ndjson"):
        raise typer.BadParameter(f"{fmt!r}: use csv, xlsx, parquet or json", param_hint="--format")
    rt = runtime()
    done = delivery.pull_to_file(system_actor(), rt.db, _grant_id(grant_id), output, format=fmt)
    console.print(f"{output}: {done.rows:,} rows, {done.bytes:,} bytes ({fmt})")


def trace(
    file: Path = typer.Argument(..., help="A copy: CSV (UTF-8 or GBK), XLSX, JSON or Parquet."),
    json_output: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Name the grant a leaked copy came from, with a confidence."""
    rt = runtime()
    with rt.db.transaction() as db:
        found = tracing.trace(system_actor(), db, file)
    if json_output:
        print_json(found.as_dict())
        return
    if found.grant_id is None:
        console.print(f"no grant (confidence {found.confidence:.6f}, {found.rows:,} rows read)")
    else:
        console.print(f"grant {found.grant_id} (confidence {found.confidence:.6f})")
    if found.candidates:
        table = Table("grant", "canaries found", "of", "score")
        for c in found.candidates[:10]:
            table.add_row(c.grant_id, str(c.hits), str(c.compared), f"{c.score:.6f}")
        console.print(table)
