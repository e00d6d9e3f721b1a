"""`gongshu sandbox …` (Art. 14: authorised operation).

- ``gongshu sandbox query --as USER --sql SQL [--dp --epsilon E] [--export] --json``: run a
  query as an operator's user against the local data directory. The JSON is a stable contract:
  ``{"status": "ok"|"rejected", "code": str|null, "message": str, "columns": [str],
  "rows": [[…]], "suppressed_groups": int, "epsilon_spent": float|null}`` (plus ``id`` and
  ``review``); the columns keep the query's aliases. Exit status 0 when accepted, 1 when
  rejected (the JSON is printed either way). A result that waits for the bureau's review
  (``--export``, or a ``review_all`` authorisation) is ``ok`` with ``review`` true and, under
  ``review_all``, no rows until released.
- ``gongshu sandbox authorisations [--as USER] [--status S] [--json]``
- ``gongshu sandbox authorise --operator ORG --table CODE=NAME[:EPSILON] … --purpose P
  --from DATE --to DATE [--k 10] [--review-all] [--category public_interest|industry]
  [--fee-cap YUAN] [--scenario S] [--agreement FILE] [--as USER]``
- ``gongshu sandbox suspend|resume|revoke AUTHORISATION --reason R [--as USER]``
- ``gongshu sandbox policy ENTRY [--set COLUMN=LEVEL[:LO:HI][:contributor]] [--json]``
- ``gongshu sandbox override show|set|clear --authorization AUTH [--table T --column C]
  [--level L] [--as USER] [--json]``: one authorisation's own column release levels (the
  operator's level of a column, winning over the dataset's default; ``clear`` goes back to it)
- ``gongshu sandbox reviews [--as USER] [--json]``; ``sandbox release|refuse RESULT_ID``
- ``gongshu sandbox budget --as USER [--json]``; ``gongshu sandbox sweep``

Without ``--as`` a command acts as the local operator of the platform (the system), which
may manage and review but not query: only an operator's staff query.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from gongshu.catalog import service as catalog
from gongshu.cli.main import acting_as as _actor
from gongshu.cli.main import console, print_json, runtime, system_actor
from gongshu.core.errors import NotFound, ValidationFailed
from gongshu.core.permissions import Actor
from gongshu.orgs import service as orgs
from gongshu.sandbox import service

sandbox_app = typer.Typer(help="The sandbox of authorised operation (Art. 14).",
                          no_args_is_help=True)


override_app = typer.Typer(help="An authorisation's own column release levels (per operator).",
                           no_args_is_help=True)
sandbox_app.add_typer(override_app, name="override")


def register(app: typer.Typer) -> None:
    app.add_typer(sandbox_app, name="sandbox")



def _date(text: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed.single(field, "invalid", "A date like 2026-01-31.") from None


def query_json(query: service.Query, locale: str, *, rows_visible: bool) -> dict[str, Any]:
    rejected = query.status == service.QueryStatus.REJECTED
    return {
        "status": "rejected" if rejected else "ok",
        "code": query.code,
        "message": service.message_of(query.code, query.message_params, locale,
                                      default=query.message),
        "columns": list(query.columns),
        "rows": list(query.rows) if rows_visible else [],
        "suppressed_groups": int(query.suppressed_groups),
        "epsilon_spent": query.epsilon,
        "id": str(query.id),
        "review": query.status == service.QueryStatus.PENDING_REVIEW,
    }


@sandbox_app.command("query")
def query(
    sql: str = typer.Option(..., "--sql", help="The SQL query."),
    as_user: str = typer.Option(..., "--as", help="An operator's user."),
    dp: bool = typer.Option(False, "--dp", help="Differential privacy: spend ε from the budget."),
    epsilon: Optional[float] = typer.Option(None, "--epsilon", help="ε to spend (with --dp)."),  # noqa: UP045
    export: bool = typer.Option(False, "--export", help="Mark the result for export (review)."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Run a query in the sandbox as an operator's user. With --json the answer, accepted or
    rejected, is the JSON (exit 0; ``status`` says which); without it a rejection exits 1."""
    rt = runtime()
    with rt.db.transaction() as db:
        actor = _actor(db, as_user)
        found = service.run_query(actor, db, sql=sql, dp=dp, epsilon=epsilon, export=export)
        out = query_json(found, rt.settings.default_locale,
                         rows_visible=service.rows_visible(actor, found))
    if json_output:
        print_json(out)
    else:
        if out["status"] == "rejected":
            console.print(f"[red]rejected[/red] ({out['code']}): {out['message']}")
        else:
            table = Table(*out["columns"])
            for row in out["rows"]:
                table.add_row(*("" if v is None else str(v) for v in row))
            console.print(table)
            console.print(f"suppressed groups: {out['suppressed_groups']}"
                          + (f", ε spent: {out['epsilon_spent']}" if out["epsilon_spent"] else "")
                          + (", waiting for review" if out["review"] else ""))
    if out["status"] == "rejected" and not json_output:
        raise typer.Exit(1)


def auth_json(db: Any, auth: service.Authorization) -> dict[str, Any]:
    return {
        "id": str(auth.id), "number": auth.number,
        "operator": service.org_name(db, auth.operator_org_id),
        "bureau": service.org_name(db, auth.bureau_org_id),
        "status": service.effective_status(auth), "purpose": auth.purpose,
        "scenarios": list(auth.scenarios), "starts_on": auth.starts_on.isoformat(),
        "ends_on": auth.ends_on.isoformat(), "k": auth.k, "review_all": auth.review_all,
        "product_categories": list(auth.product_categories),
        "fee_cap": float(auth.fee_cap) if auth.fee_cap is not None else None,
        "agreement": {"name": auth.agreement_name, "sha256": auth.agreement_sha256}
        if auth.agreement_sha256 else None,
        "tables": [{"table": t.table_name, "entry": t.resource_code,
                    "epsilon_per_month": t.epsilon_per_month,
                    "overrides": service.overrides_of(db, auth.id, t.entry_id)}
                   for t in service.tables_of(db, auth.id)],
    }


@sandbox_app.command("authorisations")
def authorisations(
    as_user: Optional[str] = typer.Option(None, "--as", help="Act as this user."),  # noqa: UP045
    status: Optional[str] = typer.Option(None, "--status", help="active, suspended, expired, revoked."),  # noqa: UP045
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Authorisations you may see."""
    with runtime().db.transaction(write=False) as db:
        actor = _actor(db, as_user)
        out = [auth_json(db, a) for a in service.list_authorizations(actor, db, status=status)]
    if json_output:
        print_json(out)
        return
    table = Table("number", "operator", "status", "term", "tables", "k", "review")
    for a in out:
        table.add_row(a["number"], a["operator"], a["status"], f"{a['starts_on']} – {a['ends_on']}",
                      ", ".join(t["table"] for t in a["tables"]), str(a["k"]),
                      "all" if a["review_all"] else "export")
    console.print(table)


def _operator_id(db: Any, ref: str) -> uuid.UUID:
    try:
        return uuid.UUID(ref)
    except ValueError:
        pass
    found = orgs.find_organization(db, name=ref)
    if found is None:
        raise NotFound(f"No organisation {ref!r}.", code="organization_not_found")
    return found.id


def _table(actor: Actor, db: Any, spec: str) -> service.TableIn:
    code, _, rest = spec.partition("=")
    name, _, eps = rest.partition(":")
    if not code or not name:
        raise ValidationFailed.single("table", "invalid", "CODE=NAME[:EPSILON].")
    try:
        entry = catalog.get_entry(actor, db, uuid.UUID(code))
    except ValueError:
        entry = catalog.get_entry_by_code(actor, db, code)
    try:
        epsilon = float(eps) if eps else 1.0
    except ValueError:
        raise ValidationFailed.single("table", "invalid", "ε is a number.") from None
    return service.TableIn(entry.id, name, epsilon)


@sandbox_app.command("authorise")
def authorise(
    operator: str = typer.Option(..., "--operator", help="Operator organisation (name or id)."),
    tables: list[str] = typer.Option(..., "--table", help="CODE=TABLE[:EPSILON_PER_MONTH]; repeat."),
    purpose: str = typer.Option(..., "--purpose", help="What the data is used for."),
    starts: str = typer.Option(..., "--from", help="Start of the term (date)."),
    ends: str = typer.Option(..., "--to", help="End of the term (date; at most 5 years)."),
    k: int = typer.Option(10, "--k", help="Minimum group size."),
    review_all: bool = typer.Option(False, "--review-all", help="Review every result."),
    categories: list[str] = typer.Option(["public_interest"], "--category",
                                         help="public_interest and/or industry."),
    fee_cap: Optional[str] = typer.Option(None, "--fee-cap", help="Fee cap (yuan)."),  # noqa: UP045
    scenarios: list[str] = typer.Option([], "--scenario", help="A scenario; repeat."),
    agreement: Optional[Path] = typer.Option(None, "--agreement", help="The signed agreement file."),  # noqa: UP045
    as_user: Optional[str] = typer.Option(None, "--as", help="A data bureau's reviewer."),  # noqa: UP045
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The data bureau authorises an operator to use datasets in the sandbox."""
    try:
        cap = Decimal(fee_cap) if fee_cap else None
    except InvalidOperation:
        raise ValidationFailed.single("fee_cap", "invalid", "A number.") from None
    with runtime().db.transaction() as db:
        actor = _actor(db, as_user)
        data = service.AuthorizationIn(
            operator_org_id=_operator_id(db, operator), purpose=purpose,
            starts_on=_date(starts, "starts_on"), ends_on=_date(ends, "ends_on"),
            tables=[_table(actor, db, t) for t in tables], scenarios=scenarios,
            product_categories=categories, fee_cap=cap, k=k, review_all=review_all)
        auth = service.create_authorization(actor, db, data)
        if agreement is not None:
            service.attach_agreement(actor, db, auth.id, name=agreement.name,
                                     content=agreement.read_bytes())
        out = auth_json(db, auth)
    if json_output:
        print_json(out)
    else:
        console.print(f"authorised: {out['number']} ({out['id']})")


def _status(ref: str, status: str, reason: str, as_user: str | None) -> None:
    with runtime().db.transaction() as db:
        actor = _actor(db, as_user)
        auth = service.find_authorization(actor, db, ref)
        service.set_status(actor, db, auth.id, status=status, reason=reason)
        console.print(f"{auth.number}: {status}")


@sandbox_app.command("suspend")
def suspend(ref: str = typer.Argument(..., help="Authorisation number or id."),
            reason: str = typer.Option(..., "--reason"),
            as_user: Optional[str] = typer.Option(None, "--as")) -> None:  # noqa: UP045
    """Suspend an authorisation (queries are refused until it is resumed)."""
    _status(ref, "suspended", reason, as_user)


@sandbox_app.command("resume")
def resume(ref: str = typer.Argument(..., help="Authorisation number or id."),
           reason: str = typer.Option(..., "--reason"),
           as_user: Optional[str] = typer.Option(None, "--as")) -> None:  # noqa: UP045
    """Resume a suspended authorisation."""
    _status(ref, "active", reason, as_user)


@sandbox_app.command("revoke")
def revoke(ref: str = typer.Argument(..., help="Authorisation number or id."),
           reason: str = typer.Option(..., "--reason"),
           as_user: Optional[str] = typer.Option(None, "--as")) -> None:  # noqa: UP045
    """Revoke an authorisation for good."""
    _status(ref, "revoked", reason, as_user)


def _rule(spec: str) -> service.ColumnRule:
    column, _, rest = spec.partition("=")
    parts = rest.split(":")
    contributor = "contributor" in parts
    parts = [p for p in parts if p != "contributor"]
    try:
        lo = float(parts[1]) if len(parts) > 2 else None
        hi = float(parts[2]) if len(parts) > 2 else None
    except ValueError:
        raise ValidationFailed.single("set", "invalid", "COLUMN=LEVEL[:LO:HI][:contributor]."
                                      ) from None
    return service.ColumnRule(column, parts[0], lo, hi, contributor)


@sandbox_app.command("policy")
def column_policy(
    entry: str = typer.Argument(..., help="Resource code or id of the catalog entry."),
    rules: list[str] = typer.Option([], "--set", help="COLUMN=LEVEL[:LO:HI][:contributor]."),
    as_user: Optional[str] = typer.Option(None, "--as"),  # noqa: UP045
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show (or, with --set, change) how a dataset's columns may leave the sandbox."""
    with runtime().db.transaction() as db:
        actor = _actor(db, as_user)
        try:
            found = catalog.get_entry(actor, db, uuid.UUID(entry))
        except ValueError:
            found = catalog.get_entry_by_code(actor, db, entry)
        rows = (service.set_column_policy(actor, db, found.id, [_rule(r) for r in rules])
                if rules else service.get_column_policy(actor, db, found.id))
        out: list[dict[str, Any]] = [{"column": p.column, "level": p.level, "lo": p.lo, "hi": p.hi,
                "contributor": p.contributor, "source": p.source} for p in rows]
    if json_output:
        print_json(out)
        return
    table = Table("column", "level", "bounds", "contributor", "set by")
    for p in out:
        bounds = f"{p['lo']} – {p['hi']}" if p["lo"] is not None else ""
        table.add_row(p["column"], p["level"], bounds, "yes" if p["contributor"] else "",
                      p["source"])
    console.print(table)


def levels_json(levels: service.TableLevels) -> dict[str, Any]:
    return {"table": levels.table_name, "entry_id": str(levels.entry_id),
            "columns": [{"column": c.column, "name": c.name, "default": c.default,
                         "override": c.override, "level": c.level} for c in levels.columns]}


def _print_levels(out: list[dict[str, Any]], json_output: bool) -> None:
    if json_output:
        print_json(out)
        return
    table = Table("table", "column", "default", "this operator", "effective")
    for t in out:
        for c in t["columns"]:
            table.add_row(t["table"], c["column"], c["default"], c["override"] or "(default)",
                          c["level"])
    console.print(table)


AUTH_OPTION = typer.Option(..., "--authorization", help="Authorisation number or id.")


@override_app.command("show")
def override_show(
    ref: str = AUTH_OPTION,
    as_user: Optional[str] = typer.Option(None, "--as", help="Act as this user."),  # noqa: UP045
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Each authorised table's columns: the dataset default, this operator's level, effective."""
    with runtime().db.transaction(write=False) as db:
        actor = _actor(db, as_user)
        auth = service.find_authorization(actor, db, ref)
        out = [levels_json(t) for t in service.column_levels(actor, db, auth.id)]
    _print_levels(out, json_output)


@override_app.command("set")
def override_set(
    ref: str = AUTH_OPTION,
    table: str = typer.Option(..., "--table", help="The table's name in the operator's SQL."),
    column: str = typer.Option(..., "--column", help="The column."),
    level: str = typer.Option(..., "--level",
                              help="plain, group_by, aggregate, compare, join or hidden."),
    as_user: Optional[str] = typer.Option(None, "--as", help="A data bureau's reviewer."),  # noqa: UP045
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Give this authorisation (its operator) its own level of a column (the dataset's
    default level clears it)."""
    with runtime().db.transaction() as db:
        actor = _actor(db, as_user)
        auth = service.find_authorization(actor, db, ref)
        out = [levels_json(service.set_column_override(actor, db, auth.id, table=table,
                                                       column=column, level=level))]
    _print_levels(out, json_output)


@override_app.command("clear")
def override_clear(
    ref: str = AUTH_OPTION,
    table: str = typer.Option(..., "--table", help="The table's name in the operator's SQL."),
    column: str = typer.Option(..., "--column", help="The column."),
    as_user: Optional[str] = typer.Option(None, "--as", help="A data bureau's reviewer."),  # noqa: UP045
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Back to the dataset's default level of a column for this authorisation."""
    with runtime().db.transaction() as db:
        actor = _actor(db, as_user)
        auth = service.find_authorization(actor, db, ref)
        out = [levels_json(service.clear_column_override(actor, db, auth.id, table=table,
                                                         column=column))]
    _print_levels(out, json_output)


@sandbox_app.command("reviews")
def reviews(as_user: Optional[str] = typer.Option(None, "--as"),  # noqa: UP045
            json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Results waiting for the bureau's output review."""
    with runtime().db.transaction(write=False) as db:
        actor = _actor(db, as_user)
        rows, _ = service.review_queue(actor, db, limit=500)
        out: list[dict[str, Any]] = [{"id": str(q.id), "operator": service.org_name(db, q.operator_org_id),
                "user": q.username, "created_at": q.created_at.isoformat(), "sql": q.sql,
                "export": q.export, "columns": q.columns, "rows": len(q.rows)} for q in rows]
    if json_output:
        print_json(out)
        return
    table = Table("id", "operator", "user", "when", "rows", "sql")
    for q in out:
        table.add_row(q["id"], q["operator"], q["user"], q["created_at"][:16], str(q["rows"]),
                      q["sql"][:80])
    console.print(table)


def _decide(result_id: str, release: bool, reason: str, as_user: str | None) -> None:
    try:
        qid = uuid.UUID(result_id)
    except ValueError:
        raise NotFound("No such query.", code="sandbox_query_not_found") from None
    with runtime().db.transaction() as db:
        actor = _actor(db, as_user)
        found = service.decide(actor, db, qid, release=release, reason=reason)
        console.print(f"{found.id}: {found.status}")


@sandbox_app.command("release")
def release(result_id: str = typer.Argument(..., help="The result (query) id."),
            reason: str = typer.Option("", "--reason"),
            as_user: Optional[str] = typer.Option(None, "--as")) -> None:  # noqa: UP045
    """Release a result after review (the operator may then download it)."""
    _decide(result_id, True, reason, as_user)


@sandbox_app.command("refuse")
def refuse(result_id: str = typer.Argument(..., help="The result (query) id."),
           reason: str = typer.Option(..., "--reason"),
           as_user: Optional[str] = typer.Option(None, "--as")) -> None:  # noqa: UP045
    """Refuse to release a result, with the reason."""
    _decide(result_id, False, reason, as_user)


@sandbox_app.command("budget")
def budget(as_user: str = typer.Option(..., "--as", help="An operator's user."),
           json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The privacy budget (ε) of this month per authorised table."""
    with runtime().db.transaction() as db:
        actor = _actor(db, as_user)
        out: list[dict[str, Any]] = [{"table": b.table_name, "period": b.period, "total": b.total, "spent": b.spent,
                "left": b.left} for b in service.budgets(actor, db)]
    if json_output:
        print_json(out)
        return
    table = Table("table", "period", "total", "spent", "left")
    for b in out:
        table.add_row(b["table"], b["period"], f"{b['total']:g}", f"{b['spent']:g}",
                      f"{b['left']:g}")
    console.print(table)


@sandbox_app.command("sweep")
def sweep() -> None:
    """Mark authorisations past their term as expired now."""
    with runtime().db.transaction() as db:
        outcome = service.sweep(system_actor(), db)
    console.print(f"{outcome['expired']} authorisations expired")


# data products, the revenue ledger and supervision (``products_cli``)
from gongshu.sandbox import products_cli  # noqa: E402

products_cli.register(sandbox_app)
