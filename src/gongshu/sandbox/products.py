"""Data products and the revenue ledger (Art. 14): the use cases.

An operator registers each product it makes from public data against the authorisation it is
made under, and records every sale in the ledger; the data bureau supervises: it sees every
product and the annual figures per operator, and may suspend a product (and reinstate it).

The rules, all Art. 14 ("operators may obtain a reasonable return"; the bureau supervises):
- a product is registered only under an ACTIVE authorisation of the operator's own
  organisation, in a category that authorisation allows;
- a public-interest product is free (price 0) and earns nothing; an industry product's price is
  within the authorisation's fee cap;
- a sale is recorded only for a product on offer, for at most its price times the quantity,
  on a day within the authorisation's term and not in the future.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gongshu.core import audit
from gongshu.core.db import fetch, runtime_of, utcnow
from gongshu.core.errors import Collector, Conflict, InvalidState, NotFound, PermissionDenied
from gongshu.core.permissions import Actor, require
from gongshu.orgs import service as orgs
from gongshu.sandbox import service
from gongshu.sandbox.models import Authorization, AuthorizationStatus, ProductCategory
from gongshu.sandbox.permissions import SANDBOX_PRODUCT, SANDBOX_SUPERVISE
from gongshu.sandbox.products_models import DataProduct, PriceUnit, ProductStatus, RevenueEntry

PRODUCT = "sandbox_product"
CENT = Decimal("0.01")
#: what the bureau and the operator may do to a product's status, and from where
TRANSITIONS: dict[str, tuple[str, ...]] = {
    ProductStatus.SUSPENDED.value: (ProductStatus.REGISTERED.value,),  # bureau
    ProductStatus.REGISTERED.value: (ProductStatus.SUSPENDED.value,),  # bureau reinstates
    ProductStatus.WITHDRAWN.value: (ProductStatus.REGISTERED.value,
                                    ProductStatus.SUSPENDED.value),  # operator
}


def local_today(db: Session) -> dt.date:
    return utcnow().astimezone(ZoneInfo(runtime_of(db).settings.display_timezone)).date()


def money(value: Any, field_name: str, errors: Collector) -> Decimal | None:
    """Yuan with at most two decimals, not negative; ``None`` (and an error) otherwise."""
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors.add(field_name, "invalid", "A sum of money in yuan, e.g. 1200 or 99.50.")
        return None
    if not amount.is_finite() or amount < 0:
        errors.add(field_name, "invalid", "A sum of money in yuan, not negative.")
        return None
    if amount != amount.quantize(CENT):
        errors.add(field_name, "too_precise", "At most two decimals (fen).")
        return None
    if amount >= Decimal("1e16"):
        errors.add(field_name, "too_large", "The sum is too large.")
        return None
    return amount


# ================================================================================ products


def _authorization(db: Session, authorization_id: uuid.UUID, *, lock: bool = False
                   ) -> Authorization:
    return service._auth(db, authorization_id, lock=lock)  # the room's one lookup (and its 404)


def _supervises(actor: Actor, bureau_path: str) -> bool:
    return actor.can(SANDBOX_SUPERVISE, bureau_path)


def _operates(actor: Actor, operator_path: str) -> bool:
    return actor.can(SANDBOX_PRODUCT, operator_path)


def may_see(actor: Actor, product: DataProduct) -> bool:
    return _operates(actor, product.operator_path) or _supervises(actor, product.bureau_path)


@dataclass(frozen=True)
class ProductIn:
    authorization_id: uuid.UUID
    name: str
    category: str
    method: str
    price: Any = "0"
    unit: str = PriceUnit.PER_COPY.value
    description: str = ""
    output_schema: Sequence[dict[str, Any]] = field(default_factory=tuple)


def _check_schema(schema: Sequence[Any], errors: Collector) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for n, col in enumerate(schema):
        if not isinstance(col, dict) or not str(col.get("name") or "").strip():
            errors.add(f"output_schema.{n}.name", "required", "Each output column needs a name.")
            continue
        name = str(col["name"]).strip()[:128]
        if name in seen:
            errors.add(f"output_schema.{n}.name", "duplicate", f"{name} is listed twice.")
        seen.add(name)
        out.append({"name": name, "type": str(col.get("type") or "string")[:32],
                    "description": str(col.get("description") or "")[:500]})
    if not out and not errors:
        errors.add("output_schema", "required", "Describe at least one output column.")
    return out


def register_product(actor: Actor, db: Session, /, data: ProductIn) -> DataProduct:
    """Register a product under an active authorisation of the actor's organisation."""
    auth = _authorization(db, data.authorization_id, lock=True)
    if not _operates(actor, auth.operator_path):
        if _supervises(actor, auth.bureau_path):
            raise PermissionDenied("Only the operator registers its products.",
                                   code="permission_denied", permission=str(SANDBOX_PRODUCT))
        raise NotFound("No such authorisation.", code="sandbox_authorization_not_found")
    if auth.status != AuthorizationStatus.ACTIVE.value or auth.ends_on < local_today(db):
        raise InvalidState("Products are registered only under an active authorisation.",
                           code="authorization_not_active", status=auth.status)
    errors = Collector()
    name = data.name.strip()
    if not name:
        errors.add("name", "required", "The product needs a name.")
    elif len(name) > 200:
        errors.add("name", "too_long", "At most 200 characters.")
    method = data.method.strip()
    if len(method) < 10:
        errors.add("method", "required", "Say how the product is made (at least 10 characters).")
    if data.category not in {c.value for c in ProductCategory}:
        errors.add("category", "invalid", "public_interest or industry.")
    elif data.category not in (auth.product_categories or []):
        errors.add("category", "not_authorised",
                   "The authorisation does not allow products of this category.",
                   allowed=list(auth.product_categories or []))
    if data.unit not in {u.value for u in PriceUnit}:
        errors.add("unit", "invalid", f"One of {', '.join(u.value for u in PriceUnit)}.")
    price = money(data.price, "price", errors)
    if price is not None and data.category == ProductCategory.PUBLIC_INTEREST.value and price:
        errors.add("price", "public_interest_is_free", "A public-interest product is free.")
    if (price is not None and data.category == ProductCategory.INDUSTRY.value
            and auth.fee_cap is not None and price > Decimal(auth.fee_cap)):
        errors.add("price", "over_fee_cap", "The price is above the authorisation's fee cap.",
                   fee_cap=str(auth.fee_cap))
    schema = _check_schema(list(data.output_schema), errors)
    errors.raise_if_any()
    assert price is not None
    product = DataProduct(
        authorization_id=auth.id, operator_org_id=auth.operator_org_id,
        operator_path=auth.operator_path, bureau_path=auth.bureau_path, name=name,
        category=data.category, description=data.description.strip(), method=method,
        output_schema=schema, price=price, unit=data.unit, created_by=actor.username)
    _numbered(db, product)
    audit.record(db, actor, "sandbox.product.register", target_type=PRODUCT,
                 target_id=product.id, org_id=auth.operator_org_id, org_path=auth.operator_path,
                 details={"number": product.number, "name": name, "category": data.category,
                          "price": str(price), "unit": data.unit,
                          "authorization": auth.number})
    return product


def _numbered(db: Session, product: DataProduct) -> None:
    """The year's next readable number (CP-2026-000001); a number taken concurrently is
    retried; a second product of the same name under one authorisation is refused."""
    prefix = f"CP-{local_today(db).year}-"
    for _ in range(8):
        last = db.scalar(sa.select(sa.func.max(DataProduct.number))
                         .where(DataProduct.number.like(prefix + "%")))
        product.number = f"{prefix}{(int(last.rsplit('-', 1)[1]) if last else 0) + 1:06d}"
        try:
            with db.begin_nested():
                db.add(product)
                db.flush()
            return
        except IntegrityError:
            if product in db:
                db.expunge(product)
            if db.scalar(sa.select(DataProduct.id).where(
                    DataProduct.authorization_id == product.authorization_id,
                    DataProduct.name == product.name)):
                raise Conflict("A product of this name is already registered under the "
                               "authorisation.", code="product_exists", name=product.name
                               ) from None
    raise Conflict("Could not number the product; try again.", code="conflict")


def get_product(actor: Actor, db: Session, /, product_id: uuid.UUID, *,
                lock: bool = False) -> DataProduct:
    missing = NotFound("No such product.", code="product_not_found")
    product = fetch(db, DataProduct, product_id, lock=lock, missing=missing)
    if not may_see(actor, product):
        raise missing
    return product


def list_products(actor: Actor, db: Session, /, *, authorization_id: uuid.UUID | None = None,
                  status: str | None = None, category: str | None = None,
                  limit: int = 100, offset: int = 0) -> tuple[list[DataProduct], int]:
    """The operator's own products; everything under the bureaus the actor supervises."""
    scope = [DataProduct.operator_path.startswith(a.org_path) if a.subtree
             else DataProduct.operator_path == a.org_path
             for a in actor.grants if _operates(actor, a.org_path)]
    scope += [DataProduct.bureau_path.startswith(a.org_path) if a.subtree
              else DataProduct.bureau_path == a.org_path
              for a in actor.grants if _supervises(actor, a.org_path)]
    if not scope and not actor.is_system:
        return [], 0
    stmt = sa.select(DataProduct)
    if not actor.is_system:
        stmt = stmt.where(sa.or_(*scope))
    if authorization_id is not None:
        stmt = stmt.where(DataProduct.authorization_id == authorization_id)
    if status:
        stmt = stmt.where(DataProduct.status == status)
    if category:
        stmt = stmt.where(DataProduct.category == category)
    total = db.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    rows = db.scalars(stmt.order_by(DataProduct.created_at.desc(), DataProduct.id)
                      .limit(limit).offset(offset))
    return list(rows), total


def set_status(actor: Actor, db: Session, /, product_id: uuid.UUID, *, status: str,
               reason: str = "") -> DataProduct:
    """The bureau suspends or reinstates a product (with a reason); the operator withdraws it.
    The row is locked: of two concurrent changes one wins, the other answers 409."""
    product = get_product(actor, db, product_id, lock=True)
    if status not in TRANSITIONS:
        raise InvalidState(f"Unknown status {status!r}.", code="invalid_status")
    bureau_move = status in (ProductStatus.SUSPENDED.value, ProductStatus.REGISTERED.value)
    if bureau_move and not _supervises(actor, product.bureau_path):
        raise PermissionDenied("Only the supervising bureau suspends or reinstates a product.",
                               code="permission_denied", permission=str(SANDBOX_SUPERVISE))
    if not bureau_move and not _operates(actor, product.operator_path):
        raise PermissionDenied("Only the operator withdraws its product.",
                               code="permission_denied", permission=str(SANDBOX_PRODUCT))
    if product.status not in TRANSITIONS[status]:
        raise InvalidState(f"The product is {product.status}.", code="product_wrong_state",
                           status=product.status)
    reason = reason.strip()
    if bureau_move and not reason:
        errors = Collector()
        errors.add("reason", "required", "Say why.")
        errors.raise_if_any()
    previous = product.status
    product.status, product.status_reason = status, reason
    product.status_changed_at, product.status_changed_by = utcnow(), actor.username
    product.updated_at = utcnow()
    audit.record(db, actor, "sandbox.product.status", target_type=PRODUCT, target_id=product.id,
                 org_id=product.operator_org_id, org_path=product.operator_path,
                 details={"number": product.number, "from": previous, "to": status,
                          "reason": reason})
    return product


# ================================================================================= revenue


def record_revenue(actor: Actor, db: Session, /, product_id: uuid.UUID, *,
                   occurred_on: dt.date, amount: Any, counterparty: str, quantity: int = 1,
                   note: str = "") -> RevenueEntry:
    """One sale of a product on offer (the product row is locked while it is checked)."""
    product = get_product(actor, db, product_id, lock=True)
    if not _operates(actor, product.operator_path):
        raise PermissionDenied("Only the operator records its revenue.",
                               code="permission_denied", permission=str(SANDBOX_PRODUCT))
    if product.status != ProductStatus.REGISTERED.value:
        raise InvalidState(f"The product is {product.status}; no sales may be recorded.",
                           code="product_wrong_state", status=product.status)
    auth = _authorization(db, product.authorization_id)
    errors = Collector()
    value = money(amount, "amount", errors)
    if quantity < 1 or quantity > 10**9:
        errors.add("quantity", "invalid", "At least 1.")
    counterparty = counterparty.strip()
    if not counterparty:
        errors.add("counterparty", "required", "Who bought it.")
    today = local_today(db)
    if occurred_on > today:
        errors.add("occurred_on", "in_future", "A sale is recorded after it happens.")
    elif occurred_on < auth.starts_on or occurred_on > auth.ends_on:
        errors.add("occurred_on", "outside_term", "The day is outside the authorisation's term.",
                   starts_on=auth.starts_on.isoformat(), ends_on=auth.ends_on.isoformat())
    if value is not None and quantity >= 1:
        if product.category == ProductCategory.PUBLIC_INTEREST.value and value:
            errors.add("amount", "public_interest_is_free",
                       "A public-interest product is free: it earns nothing.")
        elif value > Decimal(product.price) * quantity:
            errors.add("amount", "over_price",
                       "More than the product's price times the quantity.",
                       price=str(product.price), quantity=quantity)
    errors.raise_if_any()
    assert value is not None
    entry = RevenueEntry(product_id=product.id, operator_org_id=product.operator_org_id,
                         occurred_on=occurred_on, quantity=quantity, amount=value,
                         counterparty=counterparty[:200], note=note.strip(),
                         recorded_by=actor.username)
    db.add(entry)
    db.flush()
    audit.record(db, actor, "sandbox.revenue.record", target_type=PRODUCT,
                 target_id=product.id, org_id=product.operator_org_id,
                 org_path=product.operator_path,
                 details={"number": product.number, "amount": str(value), "quantity": quantity,
                          "occurred_on": occurred_on.isoformat(), "counterparty": counterparty})
    return entry


def ledger(actor: Actor, db: Session, /, product_id: uuid.UUID) -> list[RevenueEntry]:
    product = get_product(actor, db, product_id)
    return list(db.scalars(sa.select(RevenueEntry).where(RevenueEntry.product_id == product.id)
                           .order_by(RevenueEntry.occurred_on.desc(),
                                     RevenueEntry.created_at.desc())))


def revenue_of(db: Session, /, product_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
    if not product_ids:
        return {}
    rows = db.execute(sa.select(RevenueEntry.product_id, sa.func.sum(RevenueEntry.amount))
                      .where(RevenueEntry.product_id.in_(list(product_ids)))
                      .group_by(RevenueEntry.product_id))
    return {pid: Decimal(total or 0).quantize(CENT) for pid, total in rows}


# ============================================================================= supervision


@dataclass
class OperatorYear:
    """One operator's figures for one year (the bureau's supervision view)."""

    org_id: uuid.UUID
    org_name: str
    authorizations: int = 0  # active at some time in the year
    products: int = 0  # registered by the end of the year
    products_by_category: dict[str, int] = field(default_factory=dict)
    sales: int = 0
    revenue: Decimal = Decimal("0.00")
    revenue_by_category: dict[str, Decimal] = field(default_factory=dict)
    revenue_by_month: list[Decimal] = field(default_factory=lambda: [Decimal("0.00")] * 12)


def supervision(actor: Actor, db: Session, /, *, year: int) -> list[OperatorYear]:
    """Per operator under the bureaus the actor supervises: authorisations in force during
    ``year``, products, sales and revenue (by category and by month)."""
    require(actor, SANDBOX_SUPERVISE)
    scope = [(a.org_path, a.subtree) for a in actor.grants if _supervises(actor, a.org_path)]

    def within(column: Any) -> Any:
        if actor.is_system:
            return sa.true()
        return sa.or_(*[column.startswith(p) if sub else column == p for p, sub in scope])

    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    out: dict[uuid.UUID, OperatorYear] = {}

    def row(org_id: uuid.UUID) -> OperatorYear:
        if org_id not in out:
            org = orgs.org_by_id(db, org_id)
            out[org_id] = OperatorYear(org_id, org.name if org else str(org_id))
        return out[org_id]

    for org_id, n in db.execute(
            sa.select(Authorization.operator_org_id, sa.func.count())
            .where(within(Authorization.bureau_path), Authorization.starts_on <= last,
                   Authorization.ends_on >= first)
            .group_by(Authorization.operator_org_id)):
        row(org_id).authorizations = n
    for org_id, category, n in db.execute(
            sa.select(DataProduct.operator_org_id, DataProduct.category, sa.func.count())
            .where(within(DataProduct.bureau_path),
                   DataProduct.created_at < dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC))
            .group_by(DataProduct.operator_org_id, DataProduct.category)):
        r = row(org_id)
        r.products += n
        r.products_by_category[category] = n
    sums: dict[uuid.UUID, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for org_id, category, day, amount in db.execute(
            sa.select(RevenueEntry.operator_org_id, DataProduct.category,
                      RevenueEntry.occurred_on, RevenueEntry.amount)
            .join(DataProduct, DataProduct.id == RevenueEntry.product_id)
            .where(within(DataProduct.bureau_path), RevenueEntry.occurred_on >= first,
                   RevenueEntry.occurred_on <= last)):
        r = row(org_id)
        value = Decimal(amount)
        r.sales += 1
        r.revenue += value
        sums[org_id][category] += value
        r.revenue_by_month[day.month - 1] += value
    for org_id, by_category in sums.items():
        out[org_id].revenue_by_category = {k: v.quantize(CENT) for k, v in by_category.items()}
    for r in out.values():
        r.revenue = r.revenue.quantize(CENT)
        r.revenue_by_month = [m.quantize(CENT) for m in r.revenue_by_month]
    return sorted(out.values(), key=lambda r: (-r.revenue, r.org_name))


def dashboard_counts(actor: Actor, db: Session, /) -> dict[str, int]:
    """Home-page figures: the operator's products on offer; the products a supervisor sees."""
    rows, total = list_products(actor, db, status=ProductStatus.REGISTERED.value, limit=1)
    return {"products": total}
