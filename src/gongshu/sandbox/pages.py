"""Web pages of the sandbox (Art. 14): the operator's workspace (authorised tables with their
columns' release levels and the ε left, an SQL editor, the result, the history, marking a result
for export, downloading released results); the bureau's authorisations (list, new, status,
agreement) and column policy editor; the output review queue with the operator's similar
earlier queries; each role's own work on the home page."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from gongshu.catalog import service as catalog
from gongshu.core.errors import GongshuError, PermissionDenied, ValidationFailed
from gongshu.core.i18n import Translator
from gongshu.core.permissions import Actor
from gongshu.sandbox import service
from gongshu.sandbox.permissions import SANDBOX_AUTHORISE, SANDBOX_QUERY, SANDBOX_REVIEW
from gongshu.sandbox.views import auth_out, query_out
from gongshu.web.deps import Db, PageActor, locale_of, write_intent
from gongshu.web.forms import error_map
from gongshu.web.nav import Card, NavItem
from gongshu.web.templating import render

router = APIRouter(include_in_schema=False)

NAV = [
    NavItem("nav.sandbox", "/sandbox", SANDBOX_QUERY, 50),
    NavItem("nav.sandbox_authorisations", "/sandbox/authorisations", SANDBOX_AUTHORISE, 51),
    NavItem("nav.sandbox_reviews", "/sandbox/reviews", SANDBOX_REVIEW, 52),
]
LEVELS = ["plain", "group_by", "aggregate", "compare", "join", "hidden"]


def dashboard_cards(actor: Actor, db: Session) -> list[Card]:
    """An operator's authorisations, queries this month and results awaiting review; the
    bureau's results to review and authorisations expiring within 30 days."""
    cards: list[Card] = []
    if not any(actor.can(p) for p in (SANDBOX_QUERY, SANDBOX_AUTHORISE, SANDBOX_REVIEW)):
        return products_pages.dashboard_cards(actor, db)
    counts = service.counts(actor, db)
    if actor.can(SANDBOX_QUERY) and not actor.is_system:
        cards.append(Card("sandbox.card_authorisations", counts.authorizations, "/sandbox"))
        cards.append(Card("sandbox.card_queries_month", counts.queries_this_month,
                          "/sandbox#history"))
        cards.append(Card("sandbox.card_awaiting_review", counts.awaiting_review,
                          "/sandbox#history"))
    if actor.can(SANDBOX_REVIEW):
        cards.append(Card("sandbox.card_to_review", counts.to_review, "/sandbox/reviews"))
    if actor.can(SANDBOX_AUTHORISE) or actor.can(SANDBOX_REVIEW):
        cards.append(Card("sandbox.card_expiring", counts.expiring,
                          "/sandbox/authorisations?status=active"))
    return cards + products_pages.dashboard_cards(actor, db)


def _any(actor: Actor, *perms: Any) -> None:
    if not any(actor.can(p) for p in perms):
        raise PermissionDenied("You do not have a sandbox permission.",
                               permission=str(perms[0]))


def _back(url: str, flash: str) -> RedirectResponse:
    sep = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{sep}flash={flash}", status_code=303)


def _message(request: Request, exc: GongshuError) -> str:
    return Translator(locale_of(request))(f"errors.{exc.code}", default=exc.detail)


# ------------------------------------------------------------------------------ workspace


def _workspace(request: Request, actor: Actor, db: Session, *, sql: str = "",
               result: Any = None, errors: dict[str, str] | None = None,
               values: dict[str, Any] | None = None, status: int = 200) -> Response:
    locale = locale_of(request)
    history, total = service.list_queries(actor, db, limit=30)
    return render(request, "sandbox/workspace.html", {
        "tables": service.workspace(actor, db), "sql": sql, "result": result,
        "history": [query_out(actor, q, locale) for q in history], "total": total,
        "errors": errors or {}, "values": values or {}}, status_code=status)


@router.get("/sandbox", dependencies=[Depends(write_intent)])
def workspace(request: Request, actor: PageActor, db: Db, q: uuid.UUID | None = None) -> Response:
    _any(actor, SANDBOX_QUERY)
    result = None
    sql = ""
    if q is not None:
        found = service.get_query(actor, db, q)
        result = query_out(actor, found, locale_of(request))
        sql = found.sql
    return _workspace(request, actor, db, sql=sql, result=result)


@router.post("/sandbox/query")
def run_query(
    request: Request, actor: PageActor, db: Db,
    sql: Annotated[str, Form()] = "",
    dp: Annotated[str, Form()] = "",
    epsilon: Annotated[str, Form()] = "",
    export: Annotated[str, Form()] = "",
) -> Response:
    _any(actor, SANDBOX_QUERY)
    values = {"dp": bool(dp), "epsilon": epsilon, "export": bool(export)}
    try:
        eps = float(epsilon) if epsilon.strip() else None
    except ValueError:
        return _workspace(request, actor, db, sql=sql, values=values, status=422,
                          errors={"epsilon": Translator(locale_of(request))(
                              "sandbox.epsilon_invalid")})
    try:
        with db.begin_nested():
            found = service.run_query(actor, db, sql=sql, dp=bool(dp), epsilon=eps,
                                      export=bool(export))
    except ValidationFailed as exc:
        return _workspace(request, actor, db, sql=sql, values=values,
                          errors=error_map(request, exc), status=422)
    return RedirectResponse(f"/sandbox?q={found.id}#result", status_code=303)


@router.get("/sandbox/queries/{query_id}")
def query_detail(request: Request, actor: PageActor, db: Db, query_id: uuid.UUID,
                 errors: dict[str, str] | None = None) -> Response:
    _any(actor, SANDBOX_QUERY, SANDBOX_REVIEW)
    found = service.get_query(actor, db, query_id)
    return render(request, "sandbox/query.html", {
        "q": query_out(actor, found, locale_of(request)),
        "own": service.is_own(actor, found),
        "operator": service.org_name(db, found.operator_org_id), "errors": errors or {}})


@router.post("/sandbox/queries/{query_id}/export")
def mark_export(request: Request, actor: PageActor, db: Db, query_id: uuid.UUID) -> Response:
    _any(actor, SANDBOX_QUERY)
    try:
        with db.begin_nested():
            service.mark_export(actor, db, query_id)
    except GongshuError as exc:
        if exc.status == 404:
            raise
        return query_detail(request, actor, db, query_id, errors={"_": _message(request, exc)})
    return _back(f"/sandbox/queries/{query_id}", "sandbox_export_requested")


@router.get("/sandbox/queries/{query_id}/download", dependencies=[Depends(write_intent)])
def download(actor: PageActor, db: Db, query_id: uuid.UUID, format: str = "csv") -> Response:  # noqa: A002
    _any(actor, SANDBOX_QUERY)
    name, data, media = service.download(actor, db, query_id, fmt=format)
    return Response(content=data, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ------------------------------------------------------------------------- authorisations


@router.get("/sandbox/authorisations")
def authorisations(request: Request, actor: PageActor, db: Db,
                   status: str | None = None) -> Response:
    _any(actor, SANDBOX_AUTHORISE, SANDBOX_REVIEW, SANDBOX_QUERY)
    rows = service.list_authorizations(actor, db, status=status or None)
    return render(request, "sandbox/authorisations.html", {
        "auths": [auth_out(db, a) for a in rows], "status": status or "",
        "can_authorise": actor.can(SANDBOX_AUTHORISE),
        "expiring_before": service.today() + dt.timedelta(days=30)})


def _new_form(request: Request, actor: Actor, db: Session, *, values: dict[str, Any],
              errors: dict[str, str], status: int = 200) -> Response:
    entries, _ = catalog.list_entries(service.LOOKUP, db, limit=500)
    choices = []
    for e in entries:
        version = e.published_version or e.current_version
        choices.append((str(e.id), f"{version.name if version else ''} ({e.resource_code})"))
    return render(request, "sandbox/new.html", {
        "operators": [(str(o.id), o.name) for o in service.operators(db)],
        "entries": choices, "values": values, "errors": errors}, status_code=status)


@router.get("/sandbox/authorisations/new")
def new_authorisation(request: Request, actor: PageActor, db: Db) -> Response:
    _any(actor, SANDBOX_AUTHORISE)
    start = service.today()
    return _new_form(request, actor, db, errors={}, values={
        "starts_on": start.isoformat(), "ends_on": service._add_years(start, 3).isoformat(),
        "k": 10, "categories": ["public_interest"], "tables": [("", "", "1")] * 3})


def _decimal(text: str) -> Decimal | None:
    if not text.strip():
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise ValidationFailed.single("fee_cap", "invalid", "A number.") from None


def _day(text: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed.single(field, "invalid", "A date like 2026-01-31.") from None


@router.post("/sandbox/authorisations/new")
async def create_authorisation(request: Request, actor: PageActor, db: Db) -> Response:
    _any(actor, SANDBOX_AUTHORISE)
    form = await request.form()

    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    entries = [str(v) for v in form.getlist("entry")]
    names = [str(v) for v in form.getlist("table_name")]
    epsilons = [str(v) for v in form.getlist("epsilon")]
    rows = list(zip(entries, names, epsilons, strict=False))
    values: dict[str, Any] = {"operator_org_id": text("operator_org_id"), "purpose": text("purpose"),
              "scenarios": text("scenarios"), "starts_on": text("starts_on"),
              "ends_on": text("ends_on"), "k": text("k"), "fee_cap": text("fee_cap"),
              "review_all": bool(text("review_all")),
              "categories": [str(v) for v in form.getlist("categories")], "tables": rows}
    upload = form.get("agreement")
    try:
        tables = []
        for i, (entry, name, eps) in enumerate(rows):
            if not entry and not name:
                continue
            try:
                tables.append(service.TableIn(uuid.UUID(entry), name.strip(),
                                              float(eps) if eps.strip() else 1.0))
            except ValueError:
                raise ValidationFailed.single(f"tables.{i}.entry_id", "invalid",
                                              "Choose a dataset and a number for ε.") from None
        try:
            operator = uuid.UUID(values["operator_org_id"])
            k = int(values["k"] or 10)
        except ValueError:
            raise ValidationFailed.single("operator_org_id", "invalid",
                                          "Choose an operator.") from None
        data = service.AuthorizationIn(
            operator_org_id=operator, purpose=values["purpose"],
            scenarios=[s for s in values["scenarios"].splitlines() if s.strip()],
            starts_on=_day(values["starts_on"], "starts_on"),
            ends_on=_day(values["ends_on"], "ends_on"), tables=tables,
            product_categories=values["categories"], fee_cap=_decimal(values["fee_cap"]),
            k=k, review_all=values["review_all"])
        with db.begin_nested():
            auth = service.create_authorization(actor, db, data)
            if upload is not None and not isinstance(upload, str) and upload.filename:
                content = await upload.read(service.MAX_AGREEMENT_BYTES + 1)
                service.attach_agreement(actor, db, auth.id, name=upload.filename,
                                         content=content)
    except ValidationFailed as exc:
        return _new_form(request, actor, db, values=values, errors=error_map(request, exc),
                         status=422)
    except GongshuError as exc:
        return _new_form(request, actor, db, values=values,
                         errors={"_": _message(request, exc)}, status=exc.status)
    return _back(f"/sandbox/authorisations/{auth.id}", "sandbox_authorised")


def _auth_page(request: Request, actor: Actor, db: Session, auth_id: uuid.UUID, *,
               errors: dict[str, str] | None = None, status: int = 200) -> Response:
    auth = service.get_authorization(actor, db, auth_id)
    view = auth_out(db, auth)
    return render(request, "sandbox/authorisation.html", {
        "auth": view, "may_manage": service.may_manage(actor, auth),
        "entry_names": {t.entry_id: service.entry_label(db, t.entry_id) for t in view.tables},
        "levels": service.column_levels(actor, db, auth.id), "level_choices": LEVELS,
        "errors": errors or {}}, status_code=status)


@router.get("/sandbox/authorisations/{auth_id}")
def authorisation(request: Request, actor: PageActor, db: Db, auth_id: uuid.UUID) -> Response:
    _any(actor, SANDBOX_AUTHORISE, SANDBOX_REVIEW, SANDBOX_QUERY)
    return _auth_page(request, actor, db, auth_id)


def _change_on_page(request: Request, actor: Actor, db: Session, auth_id: uuid.UUID,
                    change: Callable[[], object], flash: str) -> Response:
    """Run ``change`` (reading the form and calling the service) in a savepoint, then back to
    the authorisation's page with ``flash``; bad input shows the page again with the fields'
    errors (422), a refused change with its message and status; a 404 stays a 404."""
    try:
        with db.begin_nested():
            change()
    except ValidationFailed as exc:
        return _auth_page(request, actor, db, auth_id, errors=error_map(request, exc),
                          status=422)
    except GongshuError as exc:
        if exc.status == 404:
            raise
        return _auth_page(request, actor, db, auth_id, errors={"_": _message(request, exc)},
                          status=exc.status)
    return _back(f"/sandbox/authorisations/{auth_id}", flash)


@router.post("/sandbox/authorisations/{auth_id}/status")
def set_status(request: Request, actor: PageActor, db: Db, auth_id: uuid.UUID,
               status: Annotated[str, Form()] = "",
               reason: Annotated[str, Form()] = "") -> Response:
    _any(actor, SANDBOX_AUTHORISE)
    return _change_on_page(request, actor, db, auth_id, lambda: service.set_status(
        actor, db, auth_id, status=status, reason=reason), "sandbox_status_changed")


@router.post("/sandbox/authorisations/{auth_id}/terms")
async def change_terms(request: Request, actor: PageActor, db: Db, auth_id: uuid.UUID) -> Response:
    """The bureau changes the purpose, scenarios, end, categories, fee cap, k, review."""
    _any(actor, SANDBOX_AUTHORISE)
    form = await request.form()

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    def apply() -> None:
        try:
            k = int(text("k")) if text("k") else None
        except ValueError:
            raise ValidationFailed.single("k", "invalid", "A whole number.") from None
        change = service.AuthorizationChange(
            purpose=text("purpose") or None,
            scenarios=[s for s in text("scenarios").splitlines() if s.strip()],
            ends_on=_day(text("ends_on"), "ends_on") if text("ends_on") else None,
            product_categories=[str(v) for v in form.getlist("categories")] or None,
            fee_cap=_decimal(text("fee_cap")), k=k, review_all=bool(text("review_all")))
        service.update_authorization(actor, db, auth_id, change)

    return _change_on_page(request, actor, db, auth_id, apply, "sandbox_terms_saved")


@router.post("/sandbox/authorisations/{auth_id}/levels")
async def save_levels(request: Request, actor: PageActor, db: Db, auth_id: uuid.UUID) -> Response:
    """The bureau sets this operator's own level of an authorised table's columns ("" : the
    dataset's default)."""
    _any(actor, SANDBOX_AUTHORISE)
    form = await request.form()
    table = str(form.get("table") or "")
    levels = {str(c): str(form.get(f"level.{c}") or "") or None for c in form.getlist("column")}
    return _change_on_page(request, actor, db, auth_id, lambda: service.set_column_levels(
        actor, db, auth_id, table=table, levels=levels), "sandbox_levels_saved")


@router.post("/sandbox/authorisations/{auth_id}/agreement")
async def attach_agreement(request: Request, actor: PageActor, db: Db,
                           auth_id: uuid.UUID) -> Response:
    _any(actor, SANDBOX_AUTHORISE)
    form = await request.form()
    upload = form.get("agreement")
    file = upload if isinstance(upload, UploadFile) else None
    content = await file.read(service.MAX_AGREEMENT_BYTES + 1) if file else b""

    def attach() -> None:
        if file is None:
            raise ValidationFailed.single("agreement", "required", "Choose the file.")
        service.attach_agreement(actor, db, auth_id, name=file.filename or "agreement",
                                 content=content)

    return _change_on_page(request, actor, db, auth_id, attach, "sandbox_agreement_saved")


@router.get("/sandbox/authorisations/{auth_id}/agreement")
def agreement(actor: PageActor, db: Db, auth_id: uuid.UUID) -> Response:
    _any(actor, SANDBOX_AUTHORISE, SANDBOX_REVIEW, SANDBOX_QUERY)
    name, path = service.agreement_file(actor, db, auth_id)
    return FileResponse(path, filename=name, media_type="application/octet-stream")


# ---------------------------------------------------------------------------- column policy


def _policy_page(request: Request, actor: Actor, db: Session, entry_id: uuid.UUID, *,
                 errors: dict[str, str] | None = None, status: int = 200) -> Response:
    rows = service.get_column_policy(actor, db, entry_id)
    names = {i.code: i.name for i in catalog.entry_items(db, entry_id)}
    return render(request, "sandbox/policy.html", {
        "entry_id": entry_id, "entry_name": service.entry_label(db, entry_id), "rows": rows,
        "names": names, "levels": LEVELS, "may_edit": actor.can(SANDBOX_AUTHORISE),
        "errors": errors or {}}, status_code=status)


@router.get("/sandbox/policies/{entry_id}", dependencies=[Depends(write_intent)])
def column_policy(request: Request, actor: PageActor, db: Db, entry_id: uuid.UUID) -> Response:
    _any(actor, SANDBOX_AUTHORISE, SANDBOX_REVIEW)
    return _policy_page(request, actor, db, entry_id)


@router.post("/sandbox/policies/{entry_id}")
async def save_policy(request: Request, actor: PageActor, db: Db, entry_id: uuid.UUID) -> Response:
    _any(actor, SANDBOX_AUTHORISE)
    form = await request.form()
    contributor = str(form.get("contributor") or "")
    rules = []
    try:
        for i, column in enumerate(form.getlist("column")):
            column = str(column)
            lo, hi = str(form.get(f"lo.{column}") or ""), str(form.get(f"hi.{column}") or "")
            try:
                lo_v = float(lo) if lo.strip() else None
                hi_v = float(hi) if hi.strip() else None
            except ValueError:
                raise ValidationFailed.single(f"rules.{i}.hi", "invalid", "A number.") from None
            rules.append(service.ColumnRule(column, str(form.get(f"level.{column}") or ""),
                                            lo_v, hi_v, contributor == column))
        with db.begin_nested():
            service.set_column_policy(actor, db, entry_id, rules)
    except ValidationFailed as exc:
        return _policy_page(request, actor, db, entry_id, errors=error_map(request, exc),
                            status=422)
    return _back(f"/sandbox/policies/{entry_id}", "sandbox_policy_saved")


# ---------------------------------------------------------------------------- output review


def _reviews_page(request: Request, actor: Actor, db: Session, *, status: str,
                  errors: dict[str, str] | None = None, code: int = 200) -> Response:
    locale = locale_of(request)
    rows, total = service.review_queue(actor, db, status=status, limit=50)
    items = [{"q": query_out(actor, q, locale),
              "operator": service.org_name(db, q.operator_org_id),
              "similar": [(round(score, 2), query_out(actor, s, locale))
                          for score, s in service.similar_queries(actor, db, q.id)],
              "own_levels": service.own_levels_of_query(actor, db, q.id)}
             for q in rows]
    return render(request, "sandbox/reviews.html", {
        "items": items, "total": total, "status": status, "errors": errors or {}},
        status_code=code)


@router.get("/sandbox/reviews")
def reviews(request: Request, actor: PageActor, db: Db,
            status: str = "pending_review") -> Response:
    _any(actor, SANDBOX_REVIEW)
    if status not in ("pending_review", "released", "refused"):
        status = "pending_review"
    return _reviews_page(request, actor, db, status=status)


@router.post("/sandbox/reviews/{query_id}")
def decide(request: Request, actor: PageActor, db: Db, query_id: uuid.UUID,
           decision: Annotated[str, Form()] = "",
           reason: Annotated[str, Form()] = "") -> Response:
    _any(actor, SANDBOX_REVIEW)
    try:
        with db.begin_nested():
            service.decide(actor, db, query_id, release=decision == "release", reason=reason)
    except ValidationFailed as exc:
        return _reviews_page(request, actor, db, status="pending_review",
                             errors={str(query_id): "; ".join(error_map(request, exc).values())},
                             code=422)
    except GongshuError as exc:
        if exc.status == 404:
            raise
        return _reviews_page(request, actor, db, status="pending_review",
                             errors={str(query_id): _message(request, exc)}, code=exc.status)
    return _back("/sandbox/reviews", "sandbox_decided")


# data products, the revenue ledger and supervision (``products_pages``)
from gongshu.sandbox import products_pages  # noqa: E402

router.include_router(products_pages.router)
NAV += products_pages.NAV
