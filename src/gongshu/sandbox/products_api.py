"""REST API of data products, the revenue ledger and the bureau's supervision (Art. 14);
included by ``sandbox.api``."""

from __future__ import annotations

import uuid
from decimal import Decimal

from fastapi import APIRouter, Query

from gongshu.sandbox import products
from gongshu.sandbox.permissions import SANDBOX_PRODUCT, SANDBOX_SUPERVISE
from gongshu.sandbox.products_models import DataProduct
from gongshu.sandbox.products_schemas import (
    OperatorYearPublic,
    ProductIn,
    ProductPublic,
    ProductsPublic,
    RevenueIn,
    RevenuePublic,
    StatusIn,
    SupervisionPublic,
)
from gongshu.web.deps import ApiActor, Db, guard

#: no prefix: included by ``sandbox.api`` under its own
router = APIRouter(tags=["sandbox"])


def _out(db: Db, rows: list[DataProduct]) -> list[ProductPublic]:
    revenue = products.revenue_of(db, [p.id for p in rows])
    return [ProductPublic.model_validate(p).model_copy(
        update={"revenue": revenue.get(p.id, Decimal("0.00"))}) for p in rows]


@router.get("/products", response_model=ProductsPublic, **guard())
def list_products(actor: ApiActor, db: Db, authorization_id: uuid.UUID | None = None,
                  status: str | None = None, category: str | None = None,
                  limit: int = Query(100, ge=1, le=500),
                  offset: int = Query(0, ge=0)) -> ProductsPublic:
    """Your organisation's products (an operator); every product under the bureaus you
    supervise (the data bureau, security officers, auditors)."""
    rows, total = products.list_products(actor, db, authorization_id=authorization_id,
                                         status=status, category=category, limit=limit,
                                         offset=offset)
    return ProductsPublic(items=_out(db, rows), total=total)


@router.post("/products", response_model=ProductPublic, status_code=201,
             **guard(SANDBOX_PRODUCT))
def register_product(actor: ApiActor, db: Db, body: ProductIn) -> ProductPublic:
    """Register a data product under an active authorisation of your organisation: a
    public-interest product is free; an industry product's price is within the fee cap."""
    product = products.register_product(actor, db, products.ProductIn(
        authorization_id=body.authorization_id, name=body.name, category=body.category,
        method=body.method, price=body.price, unit=body.unit, description=body.description,
        output_schema=[c.model_dump() for c in body.output_schema]))
    return _out(db, [product])[0]


@router.get("/products/{product_id}", response_model=ProductPublic, **guard())
def get_product(actor: ApiActor, db: Db, product_id: uuid.UUID) -> ProductPublic:
    return _out(db, [products.get_product(actor, db, product_id)])[0]


@router.post("/products/{product_id}/status", response_model=ProductPublic, **guard())
def set_status(actor: ApiActor, db: Db, product_id: uuid.UUID, body: StatusIn) -> ProductPublic:
    """The bureau suspends (``suspended``, with a reason) or reinstates (``registered``) a
    product; the operator withdraws it (``withdrawn``, final)."""
    product = products.set_status(actor, db, product_id, status=body.status, reason=body.reason)
    return _out(db, [product])[0]


@router.get("/products/{product_id}/revenue", response_model=list[RevenuePublic], **guard())
def ledger(actor: ApiActor, db: Db, product_id: uuid.UUID) -> list[RevenuePublic]:
    """The product's revenue ledger, latest first."""
    return [RevenuePublic.model_validate(e) for e in products.ledger(actor, db, product_id)]


@router.post("/products/{product_id}/revenue", response_model=RevenuePublic, status_code=201,
             **guard(SANDBOX_PRODUCT))
def record_revenue(actor: ApiActor, db: Db, product_id: uuid.UUID,
                   body: RevenueIn) -> RevenuePublic:
    """Record a sale: at most the product's price times the quantity, on a day within the
    authorisation's term."""
    entry = products.record_revenue(actor, db, product_id, occurred_on=body.occurred_on,
                                    amount=body.amount, quantity=body.quantity,
                                    counterparty=body.counterparty, note=body.note)
    return RevenuePublic.model_validate(entry)


@router.get("/supervision", response_model=SupervisionPublic, **guard(SANDBOX_SUPERVISE))
def supervision(actor: ApiActor, db: Db,
                year: int = Query(..., ge=2000, le=2100)) -> SupervisionPublic:
    """Annual figures per operator: authorisations in force, products, sales, revenue by
    category and by month."""
    rows = products.supervision(actor, db, year=year)
    return SupervisionPublic(
        year=year, operators=[OperatorYearPublic.model_validate(r) for r in rows],
        revenue=sum((r.revenue for r in rows), Decimal("0.00")),
        products=sum(r.products for r in rows))
