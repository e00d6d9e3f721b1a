"""`gongshu deid …`: de-identification from a shell (Art. 16).

- ``gongshu deid assess FILE --qi COL,COL,… [--k 10] [--sensitive COL] [--json]``: the
  re-identification risk of a file (UTF-8/GBK CSV, XLSX with title rows, Parquet, JSON):
  ``{"records", "classes", "k", "max_risk", "avg_risk", "at_risk", "l", "class_sizes",
  "seconds", …}`` (``risk.py``). Needs no data directory.
- ``gongshu deid apply FILE --profile PROFILE.yaml -o OUT [--format csv|parquet] [--json]``:
  writes the de-identified file and prints its assessment. When the profile's thresholds are
  not met it writes **nothing**, prints the assessment and the reasons, and exits 1. The
  output is written to a temporary file and renamed, so bad input leaves no half file.
  A profile with ``key_scope: dataset`` takes its pseudonym key from the data directory's key
  store (``--data-dir``); with ``release`` (the default) each run uses a fresh random key.
- ``gongshu deid apply --dataset CODE --profile NAME``: a release of a stored dataset with a
  stored profile (recorded, ``ready`` or ``blocked``; exits 1 when blocked).
- ``gongshu deid releases [--dataset CODE] [--json]``, ``gongshu deid release ID``.

Errors print their message and exit 1 (usage errors 2).
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from gongshu.cli.main import console, err_console, print_json, runtime, system_actor
from gongshu.core.errors import ValidationFailed
from gongshu.deid import service

deid_app = typer.Typer(help="De-identification: risk of re-identification, profiles, "
                       "releases (Art. 16).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(deid_app, name="deid")


def _figures(assessment: service.Assessment) -> dict[str, Any]:
    out = assessment.as_dict()
    out["seconds"] = round(out["seconds"], 4)
    return out


def _show(assessment: service.Assessment, title: str) -> None:
    table = Table("figure", "value", title=title)
    a = assessment
    for name, value in (("records", a.records), ("classes", a.classes), ("k", a.k),
                        ("max_risk", f"{a.max_risk:.4f}"), ("avg_risk", f"{a.avg_risk:.4f}"),
                        (f"at_risk (< {a.k_threshold})", a.at_risk),
                        *((("l", a.l),) if a.sensitive else ())):
        table.add_row(name, str(value))
    console.print(table)


@deid_app.command("assess")
def assess(file: Path = typer.Argument(..., help="CSV, XLSX, Parquet or JSON file"),
           qi: str = typer.Option(..., "--qi", help="Quasi-identifiers, comma-separated"),
           k: int = typer.Option(10, "--k", min=1, help="At-risk threshold (classes below k)"),
           sensitive: str | None = typer.Option(None, "--sensitive",
                                                help="Sensitive column, for l-diversity"),
           json_output: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """The re-identification risk of a file for these quasi-identifiers."""
    found = service.assess_file(file, qi, k=k, sensitive=sensitive or None)
    if json_output:
        print_json(_figures(found))
        return
    _show(found, str(file))


@deid_app.command("apply")
def apply(file: Path | None = typer.Argument(None, help="The file to de-identify"),
          profile: str = typer.Option(..., "--profile",
                                      help="Profile YAML file (or, with --dataset, a stored "
                                      "profile's name)"),
          out: Path | None = typer.Option(None, "-o", "--out", help="Output file"),
          fmt: str | None = typer.Option(None, "--format", help="csv or parquet"),
          dataset: str | None = typer.Option(None, "--dataset",
                                             help="Resource code or entry id of a dataset"),
          json_output: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """De-identify a file (or a stored dataset) with a profile; refused when its thresholds
    are not met."""
    if dataset is not None:
        _apply_dataset(dataset, profile, json_output)
        return
    if file is None or out is None:
        raise ValidationFailed.single("file", "deid_apply_usage",
                                      "Give FILE and -o OUT (or --dataset CODE).")
    try:
        text = Path(profile).read_text("utf-8")
    except OSError as exc:
        raise ValidationFailed.single("profile", "deid_profile",
                                      f"Cannot read the profile {profile}: {exc.strerror}.") \
            from None
    keys = None
    if "key_scope" in text:
        from gongshu.core.config import Settings
        from gongshu.core.security import KeyStore

        keys = KeyStore(Settings().keys_dir)
    try:
        done = service.apply_file(file, text, out, fmt=fmt, keys=keys)
    except service.Blocked as blocked:
        if json_output:
            print_json({**_figures(blocked.assessment), "written": False,
                        "reasons": [r.as_dict() for r in blocked.reasons]})
        else:
            _show(blocked.assessment, f"{file} (blocked)")
        err_console.print(f"[red]{blocked}[/red] Nothing was written.")
        raise typer.Exit(1) from None
    if json_output:
        print_json({**_figures(done.assessment), "written": True, "output": str(done.output),
                    "rows": done.rows, "columns": done.columns})
        return
    _show(done.assessment, f"{done.output} ({done.rows} rows)")


def _entry_id(db: Any, ref: str) -> uuid.UUID:
    try:
        return uuid.UUID(ref)
    except ValueError:
        from gongshu.catalog import service as catalog

        return catalog.get_entry_by_code(system_actor(), db, ref).id


def _apply_dataset(ref: str, profile_name: str, json_output: bool) -> None:
    actor = system_actor()
    with runtime().db.transaction() as db:
        entry_id = _entry_id(db, ref)
        found = [p for p in service.list_profiles(actor, db, entry_id) if p.name == profile_name]
        if not found:
            raise ValidationFailed.single("profile", "deid_profile_not_found",
                                          f"The dataset has no profile named {profile_name}.")
        made = service.create_release(actor, db, entry_id=entry_id, profile_id=found[0].id)
        result = {**made.assessment, "release": str(made.id), "status": made.status,
                  "reasons": made.reasons}
    if json_output:
        print_json(result)
    else:
        console.print(f"release {result['release']}: {result['status']} "
                      f"(k = {result['k']}, max_risk = {result['max_risk']:.4f})")
        for r in result["reasons"]:
            console.print(f"  - {service.reason_text(r)}")
    if result["status"] == "blocked":
        raise typer.Exit(1)


@deid_app.command("releases")
def releases(dataset: str | None = typer.Option(None, "--dataset"),
             json_output: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """De-identified releases, newest first."""
    actor = system_actor()
    with runtime().db.transaction(write=False) as db:
        entry_id = _entry_id(db, dataset) if dataset else None
        rows, total = service.list_releases(actor, db, entry_id=entry_id, limit=1000)
        data: list[dict[str, Any]] = [{"id": str(r.id), "entry_id": str(r.entry_id), "profile": r.profile_name,
                 "version": r.dataset_version, "status": r.status, "rows": r.rows,
                 "k": r.assessment.get("k"), "reasons": r.reasons,
                 "created_at": r.created_at.isoformat()} for r in rows]
    if json_output:
        print_json(data)
        return
    table = Table("id", "profile", "version", "status", "rows", "k", title=f"{total} releases")
    for r in data:
        table.add_row(*(str(r[c]) for c in ("id", "profile", "version", "status", "rows", "k")))
    console.print(table)


@deid_app.command("release")
def release(release_id: str = typer.Argument(..., help="The release's id")) -> None:
    """Make a ready release downloadable (refused while blocked)."""
    try:
        rid = uuid.UUID(release_id)
    except ValueError:
        raise ValidationFailed.single("release", "deid_release_not_found",
                                      "Not a release id.") from None
    with runtime().db.transaction() as db:
        done = service.release(system_actor(), db, rid)
        status = done.status
    sys.stdout.write(json.dumps({"id": release_id, "status": status}) + "\n")
