"""Web pages of data products (Art. 14): an operator's products with the form to register one,
a product with its revenue ledger, and the bureau's supervision view (annual figures per
operator, revenue by month). Included by ``sandbox.pages``."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from gongshu.core.errors import PermissionDenied, ValidationFailed
from gongshu.core.permissions import Actor
from gongshu.orgs import service as orgs
from gongshu.sandbox import products
from gongshu.sandbox.models import Authorization, AuthorizationStatus
from gongshu.sandbox.permissions import SANDBOX_PRODUCT, SANDBOX_SUPERVISE
from gongshu.sandbox.products_models import PriceUnit
from gongshu.web.deps import Db, PageActor
from gongshu.web.forms import error_map
from gongshu.web.nav import Card, NavItem
from gongshu.web.templating import render

router = APIRouter(include_in_schema=False)

#: output column types with a label (``sandbox_products.types.*``); others are shown as code
TYPES = ("string", "integer", "number", "date", "boolean")

NAV = [
    NavItem("nav.sandbox_products", "/sandbox/products", SANDBOX_PRODUCT, 62),
    NavItem("nav.sandbox_supervision", "/sandbox/supervision", SANDBOX_SUPERVISE, 64),
]


def dashboard_cards(actor: Actor, db: Db) -> list[Card]:
    cards: list[Card] = []
    if actor.can(SANDBOX_PRODUCT):
        _, on_offer = products.list_products(actor, db, status="registered", limit=1)
        cards.append(Card("sandbox_products.card_products", on_offer, "/sandbox/products"))
    if actor.can(SANDBOX_SUPERVISE):
        _, suspended = products.list_products(actor, db, status="suspended", limit=1)
        cards.append(Card("sandbox_products.card_suspended", suspended,
                          "/sandbox/products?status=suspended"))
    return cards


def _sees(actor: Actor) -> None:
    if not (actor.can(SANDBOX_PRODUCT) or actor.can(SANDBOX_SUPERVISE)):
        raise PermissionDenied("You do not have a products permission.",
                               permission=str(SANDBOX_PRODUCT))


def _authorizations(actor: Actor, db: Db) -> list[Authorization]:
    """The operator's authorisations in force (to register a product under)."""
    if not actor.can(SANDBOX_PRODUCT):
        return []
    today = products.local_today(db)
    rows = db.query(Authorization).filter(
        Authorization.status == AuthorizationStatus.ACTIVE.value,
        Authorization.ends_on >= today, Authorization.starts_on <= today).all()
    return [a for a in rows if actor.can(SANDBOX_PRODUCT, a.operator_path)]


def _list_page(request: Request, actor: Actor, db: Db, *, status: str | None = None,
               errors: dict[str, str] | None = None, form: dict[str, Any] | None = None,
               status_code: int = 200) -> Response:
    rows, total = products.list_products(actor, db, status=status or None, limit=500)
    revenue = products.revenue_of(db, [p.id for p in rows])
    names = {}
    for p in rows:
        if p.operator_org_id not in names:
            org = orgs.org_by_id(db, p.operator_org_id)
            names[p.operator_org_id] = org.name if org else ""
    return render(request, "sandbox/products.html", {
        "products": rows, "total": total, "revenue": revenue, "status": status or "",
        "operators": names, "authorizations": _authorizations(actor, db),
        "units": [u.value for u in PriceUnit], "errors": errors or {}, "form": form or {},
        "may_register": actor.can(SANDBOX_PRODUCT)}, status_code=status_code)


@router.get("/sandbox/products")
def products_page(request: Request, actor: PageActor, db: Db,
                  status: str | None = None) -> Response:
    _sees(actor)
    return _list_page(request, actor, db, status=status)


def _schema(text: str) -> list[dict[str, str]]:
    """One output column per line: ``name, type, description``."""
    out = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.replace("，", ",").split(",", 2)]
        if parts and parts[0]:
            out.append({"name": parts[0], "type": parts[1] if len(parts) > 1 and parts[1]
                        else "string", "description": parts[2] if len(parts) > 2 else ""})
    return out


@router.post("/sandbox/products")
def register_product(
    request: Request, actor: PageActor, db: Db,
    authorization_id: Annotated[str, Form()], name: Annotated[str, Form()],
    category: Annotated[str, Form()], method: Annotated[str, Form()],
    price: Annotated[str, Form()] = "0", unit: Annotated[str, Form()] = "per_copy",
    description: Annotated[str, Form()] = "", output_schema: Annotated[str, Form()] = "",
) -> Response:
    form = {"authorization_id": authorization_id, "name": name, "category": category,
            "method": method, "price": price, "unit": unit, "description": description,
            "output_schema": output_schema}
    try:
        auth_id = uuid.UUID(authorization_id)
    except ValueError:
        return _list_page(request, actor, db, form=form, status_code=422,
                          errors={"authorization_id": "—"})
    try:
        product = products.register_product(actor, db, products.ProductIn(
            authorization_id=auth_id, name=name, category=category, method=method,
            price=price or "0", unit=unit, description=description,
            output_schema=_schema(output_schema)))
    except ValidationFailed as exc:
        db.rollback()
        return _list_page(request, actor, db, form=form, status_code=422,
                          errors=error_map(request, exc))
    return RedirectResponse(f"/sandbox/products/{product.id}?flash=product_registered",
                            status_code=303)


def _detail(request: Request, actor: Actor, db: Db, product_id: uuid.UUID, *,
            errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    product = products.get_product(actor, db, product_id)
    auth = db.get(Authorization, product.authorization_id)
    ledger = products.ledger(actor, db, product.id)
    operator = orgs.org_by_id(db, product.operator_org_id)
    return render(request, "sandbox/product.html", {
        "product": product, "authorization": auth, "ledger": ledger,
        "operator": operator.name if operator else "",
        "total": sum((e.amount for e in ledger), Decimal("0.00")),
        "today": products.local_today(db).isoformat(), "errors": errors or {},
        "types": TYPES,
        "may_sell": actor.can(SANDBOX_PRODUCT, product.operator_path),
        "may_supervise": actor.can(SANDBOX_SUPERVISE, product.bureau_path)},
        status_code=status_code)


@router.get("/sandbox/products/{product_id}")
def product_page(request: Request, actor: PageActor, db: Db, product_id: uuid.UUID) -> Response:
    _sees(actor)
    return _detail(request, actor, db, product_id)


@router.post("/sandbox/products/{product_id}/revenue")
def record_revenue(
    request: Request, actor: PageActor, db: Db, product_id: uuid.UUID,
    occurred_on: Annotated[str, Form()], amount: Annotated[str, Form()],
    counterparty: Annotated[str, Form()], quantity: Annotated[int, Form()] = 1,
    note: Annotated[str, Form()] = "",
) -> Response:
    try:
        day = dt.date.fromisoformat(occurred_on)
        products.record_revenue(actor, db, product_id, occurred_on=day, amount=amount,
                                quantity=quantity, counterparty=counterparty, note=note)
    except ValueError:
        db.rollback()
        return _detail(request, actor, db, product_id, status_code=422,
                       errors={"occurred_on": "YYYY-MM-DD"})
    except ValidationFailed as exc:
        db.rollback()
        return _detail(request, actor, db, product_id, status_code=422,
                       errors=error_map(request, exc))
    return RedirectResponse(f"/sandbox/products/{product_id}?flash=revenue_recorded",
                            status_code=303)


@router.post("/sandbox/products/{product_id}/status")
def set_status(request: Request, actor: PageActor, db: Db, product_id: uuid.UUID,
               status: Annotated[str, Form()], reason: Annotated[str, Form()] = "") -> Response:
    try:
        products.set_status(actor, db, product_id, status=status, reason=reason)
    except ValidationFailed as exc:
        db.rollback()
        return _detail(request, actor, db, product_id, status_code=422,
                       errors=error_map(request, exc))
    return RedirectResponse(f"/sandbox/products/{product_id}?flash=product_status",
                            status_code=303)


@router.get("/sandbox/supervision")
def supervision_page(request: Request, actor: PageActor, db: Db,
                     year: int | None = None) -> Response:
    if not actor.can(SANDBOX_SUPERVISE):
        raise PermissionDenied("You do not supervise operators.",
                               permission=str(SANDBOX_SUPERVISE))
    this_year = products.local_today(db).year
    year = year if year and 2000 <= year <= 2100 else this_year
    rows = products.supervision(actor, db, year=year)
    chart = {"months": [f"{m}月" for m in range(1, 13)],
             "series": [{"name": r.org_name, "data": [float(m) for m in r.revenue_by_month]}
                        for r in rows]}
    return render(request, "sandbox/supervision.html", {
        "rows": rows, "year": year, "years": list(range(this_year, this_year - 6, -1)),
        "total": sum((r.revenue for r in rows), Decimal("0.00")),
        "chart": json.dumps(chart, ensure_ascii=False)})
