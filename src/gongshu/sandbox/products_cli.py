"""`gongshu sandbox products|product-register|revenue|supervision` (Art. 14): data products,
the revenue ledger and the bureau's supervision, for scripts. Registered by ``sandbox.cli``.

- ``gongshu sandbox products [--as USER] [--json]``: products USER may see (all without --as).
- ``gongshu sandbox product-register --as USER --authorization NUMBER --name … --category
  public_interest|industry --method … [--price P --unit per_copy] --column name:type:description``
- ``gongshu sandbox revenue PRODUCT_NUMBER --as USER --amount A --on 2026-12-01 --buyer NAME``:
  record a sale; without ``--amount`` list the ledger.
- ``gongshu sandbox supervision --year 2026 [--json]``: annual figures per operator.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Optional

import sqlalchemy as sa
import typer
from rich.table import Table

from gongshu.cli.main import acting_as as _actor
from gongshu.cli.main import console, print_json, runtime
from gongshu.core.errors import NotFound, ValidationFailed
from gongshu.core.permissions import Actor
from gongshu.sandbox import products
from gongshu.sandbox.models import Authorization
from gongshu.sandbox.products_models import DataProduct


def _product_json(p: DataProduct, revenue: Decimal) -> dict[str, Any]:
    return {"id": str(p.id), "number": p.number, "name": p.name, "category": p.category,
            "price": str(p.price), "unit": p.unit, "status": p.status,
            "authorization_id": str(p.authorization_id), "operator_org_id": str(p.operator_org_id),
            "revenue": str(revenue), "output_schema": p.output_schema, "method": p.method}


def _by_number(actor: Actor, db: Any, ref: str) -> DataProduct:
    found = db.scalars(sa.select(DataProduct).where(
        sa.or_(DataProduct.number == ref, sa.cast(DataProduct.id, sa.String) == ref))).first()
    if found is None:
        raise NotFound(f"No product {ref}.", code="product_not_found")
    return products.get_product(actor, db, found.id)


def register(app: typer.Typer) -> None:
    @app.command("products")
    def list_products(
        as_user: Optional[str] = typer.Option(None, "--as", help="See as this user."),  # noqa: UP045
        json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Data products (an operator's own; all under a supervising bureau)."""
        with runtime().db.transaction(write=False) as db:
            actor = _actor(db, as_user)
            rows, _total = products.list_products(actor, db, limit=500)
            revenue = products.revenue_of(db, [p.id for p in rows])
            data = [_product_json(p, revenue.get(p.id, Decimal("0.00"))) for p in rows]
        if json_output:
            print_json(data)
            return
        table = Table("number", "name", "category", "price", "status", "revenue")
        for d in data:
            table.add_row(d["number"], d["name"], d["category"], f"{d['price']} {d['unit']}",
                          d["status"], d["revenue"])
        console.print(table)

    @app.command("product-register")
    def register_product(
        as_user: str = typer.Option(..., "--as", help="The operator's user."),
        authorization: str = typer.Option(..., "--authorization",
                                          help="The authorisation's number (SQ-…) or id."),
        name: str = typer.Option(..., "--name"),
        category: str = typer.Option(..., "--category", help="public_interest or industry."),
        method: str = typer.Option(..., "--method", help="How the product is made."),
        price: str = typer.Option("0", "--price", help="Yuan."),
        unit: str = typer.Option("per_copy", "--unit", help="per_call, per_copy, per_month, "
                                 "per_year."),
        description: str = typer.Option("", "--description"),
        column: list[str] = typer.Option([], "--column", help="An output column, "  # noqa: B008
                                         "name:type:description; repeat."),
        json_output: bool = typer.Option(False, "--json"),
    ) -> None:
        """Register a data product under an active authorisation."""
        schema = []
        for c in column:
            parts = c.split(":", 2)
            schema.append({"name": parts[0], "type": parts[1] if len(parts) > 1 else "string",
                           "description": parts[2] if len(parts) > 2 else ""})
        with runtime().db.transaction() as db:
            actor = _actor(db, as_user)
            auth = db.scalars(sa.select(Authorization).where(sa.or_(
                Authorization.number == authorization,
                sa.cast(Authorization.id, sa.String) == authorization))).first()
            if auth is None:
                raise NotFound(f"No authorisation {authorization}.",
                               code="sandbox_authorization_not_found")
            product = products.register_product(actor, db, products.ProductIn(
                authorization_id=auth.id, name=name, category=category, method=method,
                price=price, unit=unit, description=description, output_schema=schema))
            data = _product_json(product, Decimal("0.00"))
        if json_output:
            print_json(data)
        else:
            console.print(f"registered {data['number']} {data['name']}")

    @app.command("revenue")
    def revenue(
        product: str = typer.Argument(..., help="The product's number (CP-…) or id."),
        as_user: Optional[str] = typer.Option(None, "--as"),  # noqa: UP045
        amount: Optional[str] = typer.Option(None, "--amount", help="Yuan; records a sale."),  # noqa: UP045
        on: Optional[str] = typer.Option(None, "--on", help="The day of the sale (today)."),  # noqa: UP045
        buyer: str = typer.Option("", "--buyer", help="Who bought it."),
        quantity: int = typer.Option(1, "--quantity"),
        note: str = typer.Option("", "--note"),
        json_output: bool = typer.Option(False, "--json"),
    ) -> None:
        """Record a sale of a product, or (without --amount) list its ledger."""
        with runtime().db.transaction(write=amount is not None) as db:
            actor = _actor(db, as_user)
            found = _by_number(actor, db, product)
            if amount is not None:
                try:
                    day = dt.date.fromisoformat(on) if on else products.local_today(db)
                except ValueError:
                    raise ValidationFailed.single("on", "invalid", "A date like 2026-01-31."
                                                  ) from None
                products.record_revenue(actor, db, found.id, occurred_on=day, amount=amount,
                                        quantity=quantity, counterparty=buyer, note=note)
            rows: list[dict[str, Any]] = [{"occurred_on": e.occurred_on.isoformat(), "amount": str(e.amount),
                     "quantity": e.quantity, "counterparty": e.counterparty, "note": e.note}
                    for e in products.ledger(actor, db, found.id)]
        if json_output:
            print_json(rows)
            return
        table = Table("day", "amount", "quantity", "buyer")
        for r in rows:
            table.add_row(r["occurred_on"], r["amount"], str(r["quantity"]), r["counterparty"])
        console.print(table)

    @app.command("supervision")
    def supervision(
        year: int = typer.Option(..., "--year"),
        as_user: Optional[str] = typer.Option(None, "--as"),  # noqa: UP045
        json_output: bool = typer.Option(False, "--json"),
    ) -> None:
        """Annual figures per operator: authorisations, products, sales, revenue."""
        with runtime().db.transaction(write=False) as db:
            rows = products.supervision(_actor(db, as_user), db, year=year)
        data: list[dict[str, Any]] = [{"operator": r.org_name, "org_id": str(r.org_id),
                 "authorizations": r.authorizations, "products": r.products,
                 "products_by_category": r.products_by_category, "sales": r.sales,
                 "revenue": str(r.revenue),
                 "revenue_by_category": {k: str(v) for k, v in r.revenue_by_category.items()},
                 "revenue_by_month": [str(m) for m in r.revenue_by_month]} for r in rows]
        if json_output:
            print_json({"year": year, "operators": data})
            return
        table = Table("operator", "authorisations", "products", "sales", "revenue")
        for d in data:
            table.add_row(d["operator"], str(d["authorizations"]), str(d["products"]),
                          str(d["sales"]), d["revenue"])
        console.print(table)
