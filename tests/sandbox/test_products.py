"""Data products and the revenue ledger (Art. 14): registered under an active authorisation of
the operator's own organisation, priced within its fee cap (public-interest ones free), sales
recorded within price and term, supervised by the bureau (annual figures, suspension).

The authorisations here are rows written directly: the products' rules do not depend on how
an authorisation was made (``test_authorizations.py`` covers that)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from concurrency import race
from gongshu.cli.main import build_app
from gongshu.core.audit import AuditEvent
from gongshu.core.errors import Conflict, InvalidState, NotFound, PermissionDenied, ValidationFailed
from gongshu.sandbox import products
from gongshu.sandbox.models import Authorization
from gongshu.sandbox.products_models import DataProduct, RevenueEntry

TODAY = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the platform's day


@pytest.fixture
def cast(make_user: Any) -> Any:
    class Cast:
        operator = make_user("op", "operator", "operator")
        other_operator = make_user("op2", "operator", "operator")  # same org, second user
        reviewer = make_user("rev", "bureau_reviewer", "province.bureau")
        city_reviewer = make_user("tyrev", "bureau_reviewer", "taiyuan.bureau")
        security = make_user("sec", "security_officer", "province", subtree=True)
        editor = make_user("ed", "catalog_editor", "province.hr")
    return Cast()


@pytest.fixture
def authorize(runtime: Any, tree: dict[str, Any]) -> Any:
    def make(*, status: str = "active", categories: tuple[str, ...] = ("public_interest",
                                                                      "industry"),
             fee_cap: str | None = "1000.00", operator: str = "operator",
             bureau: str = "province.bureau", starts: dt.date | None = None,
             ends: dt.date | None = None) -> uuid.UUID:
        with runtime.db.transaction() as db:
            n = db.scalar(sa.select(sa.func.count()).select_from(Authorization)) or 0
            auth = Authorization(
                number=f"SQ-T-{n + 1:06d}", operator_org_id=tree[operator].id,
                operator_path=tree[operator].path, bureau_org_id=tree[bureau].id,
                bureau_path=tree[bureau].path, purpose="人口结构分析产品",
                scenarios=["人口结构"], starts_on=starts or TODAY - dt.timedelta(days=400),
                ends_on=ends or TODAY + dt.timedelta(days=400), product_categories=list(categories),
                fee_cap=Decimal(fee_cap) if fee_cap else None, k=10, review_all=False,
                status=status)
            db.add(auth)
            db.flush()
            return auth.id
    return make


def product_in(auth_id: uuid.UUID, **changes: Any) -> products.ProductIn:
    base: dict[str, Any] = dict(
        authorization_id=auth_id, name="县域人口结构指数", category="industry",
        method="按县、性别、年龄段汇总常住人口（沙箱结果，每组至少 10 人）", price="800.00",
        unit="per_copy", output_schema=[{"name": "county", "type": "string"},
                                        {"name": "index", "type": "number"}])
    base.update(changes)
    return products.ProductIn(**base)


def run(runtime: Any, fn: Any, actor: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(actor, db, *args, **kwargs)`` in a transaction of its own."""
    with runtime.db.transaction() as db:
        result = fn(actor, db, *args, **kwargs)
        db.flush()
        return result


def test_register_within_the_fee_cap_is_numbered_and_audited(runtime: Any, cast: Any,
                                                             authorize: Any) -> None:
    auth = authorize()
    product = run(runtime, products.register_product, cast.operator.actor, product_in(auth))
    with runtime.db.transaction(write=False) as db:
        assert product.number == f"CP-{products.local_today(db).year}-000001"
    assert product.status == "registered" and product.price == Decimal("800.00")
    with runtime.db.transaction(write=False) as db:
        events = db.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == "sandbox.product.register")).all()
        assert [e.target_id for e in events] == [str(product.id)]


@pytest.mark.parametrize("changes,field,code", [
    ({"price": "1000.01"}, "price", "over_fee_cap"),
    ({"category": "public_interest", "price": "1"}, "price", "public_interest_is_free"),
    ({"price": "-1"}, "price", "invalid"),
    ({"price": "12.345"}, "price", "too_precise"),
    ({"price": "abc"}, "price", "invalid"),
    ({"category": "charity"}, "category", "invalid"),
    ({"unit": "per_hour"}, "unit", "invalid"),
    ({"name": " "}, "name", "required"),
    ({"method": "汇总"}, "method", "required"),
    ({"output_schema": []}, "output_schema", "required"),
    ({"output_schema": [{"name": "a"}, {"name": "a"}]}, "output_schema.1.name", "duplicate"),
])
def test_bad_products_are_refused_field_by_field(runtime: Any, cast: Any, authorize: Any,
                                                 changes: dict[str, Any], field: str,
                                                 code: str) -> None:
    auth = authorize()
    with pytest.raises(ValidationFailed) as caught:
        run(runtime, products.register_product, cast.operator.actor, product_in(auth, **changes))
    assert (field, code) in {(e.field, e.code) for e in caught.value.errors}
    with runtime.db.transaction(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(DataProduct)) == 0


def test_category_must_be_authorised(runtime: Any, cast: Any, authorize: Any) -> None:
    auth = authorize(categories=("public_interest",))
    with pytest.raises(ValidationFailed) as caught:
        run(runtime, products.register_product, cast.operator.actor, product_in(auth))
    assert ("category", "not_authorised") in {(e.field, e.code) for e in caught.value.errors}
    free = run(runtime, products.register_product, cast.operator.actor,
               product_in(auth, category="public_interest", price="0"))
    assert free.price == 0


@pytest.mark.parametrize("status,ends", [("suspended", None), ("revoked", None),
                                         ("active", TODAY - dt.timedelta(days=1))])
def test_only_an_authorisation_in_force_takes_products(runtime: Any, cast: Any, authorize: Any,
                                                       status: str, ends: Any) -> None:
    auth = authorize(status=status, ends=ends)
    with pytest.raises(InvalidState) as caught:
        run(runtime, products.register_product, cast.operator.actor, product_in(auth))
    assert caught.value.code == "authorization_not_active"


def test_others_cannot_register_under_an_authorisation(runtime: Any, cast: Any,
                                                       authorize: Any, make_user: Any,
                                                       tree: dict[str, Any]) -> None:
    auth = authorize()
    with pytest.raises(PermissionDenied):  # the bureau supervises, it does not sell
        run(runtime, products.register_product, cast.reviewer.actor, product_in(auth))
    with pytest.raises(NotFound):  # a body that is no party to it does not even see it
        run(runtime, products.register_product, cast.editor.actor, product_in(auth))


def test_revenue_within_price_term_and_status(runtime: Any, cast: Any, authorize: Any) -> None:
    auth = authorize()
    product = run(runtime, products.register_product, cast.operator.actor, product_in(auth))
    op = cast.operator.actor
    entry = run(runtime, products.record_revenue, op, product.id, occurred_on=TODAY,
                amount="1600", quantity=2, counterparty="太行数据科技有限公司")
    assert entry.amount == Decimal("1600.00")
    cases = [
        (dict(amount="1600.01", quantity=2), "amount", "over_price"),
        (dict(occurred_on=TODAY + dt.timedelta(days=1)), "occurred_on", "in_future"),
        (dict(occurred_on=TODAY - dt.timedelta(days=800)), "occurred_on", "outside_term"),
        (dict(counterparty=" "), "counterparty", "required"),
        (dict(quantity=0), "quantity", "invalid"),
    ]
    for changes, field, code in cases:
        args: dict[str, Any] = dict(occurred_on=TODAY, amount="100", quantity=1,
                                    counterparty="某公司")
        args.update(changes)
        with pytest.raises(ValidationFailed) as caught:
            run(runtime, products.record_revenue, op, product.id, **args)
        assert (field, code) in {(e.field, e.code) for e in caught.value.errors}, changes
    with pytest.raises(PermissionDenied):
        run(runtime, products.record_revenue, cast.reviewer.actor, product.id,
            occurred_on=TODAY, amount="1", counterparty="x")
    with runtime.db.transaction(write=False) as db:
        assert [e.amount for e in products.ledger(op, db, product.id)] == [Decimal("1600.00")]
        # the bureau reads the ledger too
        assert len(products.ledger(cast.reviewer.actor, db, product.id)) == 1
    # a suspended product sells nothing; reinstated, it does again
    with pytest.raises(ValidationFailed):
        run(runtime, products.set_status, cast.reviewer.actor, product.id, status="suspended")
    run(runtime, products.set_status, cast.reviewer.actor, product.id, status="suspended",
        reason="价格说明不清")
    with pytest.raises(InvalidState):
        run(runtime, products.record_revenue, op, product.id, occurred_on=TODAY, amount="1",
            counterparty="x")
    with pytest.raises(PermissionDenied):
        run(runtime, products.set_status, op, product.id, status="registered")
    run(runtime, products.set_status, cast.reviewer.actor, product.id, status="registered",
        reason="已补充说明")
    run(runtime, products.set_status, op, product.id, status="withdrawn")
    with pytest.raises(InvalidState):
        run(runtime, products.set_status, cast.reviewer.actor, product.id, status="registered",
            reason="x")


def test_a_free_product_earns_nothing(runtime: Any, cast: Any, authorize: Any) -> None:
    auth = authorize()
    free = run(runtime, products.register_product, cast.operator.actor,
               product_in(auth, category="public_interest", price="0"))
    with pytest.raises(ValidationFailed) as caught:
        run(runtime, products.record_revenue, cast.operator.actor, free.id, occurred_on=TODAY,
            amount="10", counterparty="x")
    assert caught.value.errors[0].code in {"public_interest_is_free", "over_price"}
    # a free use is still recorded (quantity, nothing paid)
    run(runtime, products.record_revenue, cast.operator.actor, free.id, occurred_on=TODAY,
        amount="0", quantity=5, counterparty="某县卫健局")


def test_supervision_sums_per_operator_and_year_within_the_bureau(
        runtime: Any, cast: Any, authorize: Any, make_user: Any) -> None:
    auth = authorize()
    op = cast.operator.actor
    paid = run(runtime, products.register_product, op, product_in(auth))
    free = run(runtime, products.register_product, op,
               product_in(auth, name="公益人口简报", category="public_interest", price="0"))
    last_year = dt.date(TODAY.year - 1, 12, 31)
    for day, amount in [(TODAY, "800"), (TODAY, "400"), (last_year, "800")]:
        run(runtime, products.record_revenue, op, paid.id, occurred_on=day, amount=amount,
            counterparty="甲公司")
    run(runtime, products.record_revenue, op, free.id, occurred_on=TODAY, amount="0",
        counterparty="乙局")
    with runtime.db.transaction(write=False) as db:
        rows = products.supervision(cast.reviewer.actor, db, year=TODAY.year)
        assert len(rows) == 1
        row = rows[0]
        assert (row.authorizations, row.products, row.sales) == (1, 2, 3)
        assert row.revenue == Decimal("1200.00")
        assert row.revenue_by_category == {"industry": Decimal("1200.00"),
                                           "public_interest": Decimal("0.00")}
        assert row.revenue_by_month[TODAY.month - 1] == Decimal("1200.00")
        assert products.supervision(cast.reviewer.actor, db,
                                    year=TODAY.year - 1)[0].revenue == Decimal("800.00")
        # the security officer over the province sees it; Taiyuan's bureau does not
        assert products.supervision(cast.security.actor, db, year=TODAY.year)[0].sales == 3
        assert products.supervision(cast.city_reviewer.actor, db, year=TODAY.year) == []
        with pytest.raises(PermissionDenied):
            products.supervision(op, db, year=TODAY.year)
        # lists: the operator its own, the bureau all under it, others nothing
        assert products.list_products(op, db)[1] == 2
        assert products.list_products(cast.reviewer.actor, db)[1] == 2
        assert products.list_products(cast.city_reviewer.actor, db)[1] == 0
        assert products.list_products(cast.editor.actor, db)[1] == 0
        with pytest.raises(NotFound):
            products.get_product(cast.editor.actor, db, paid.id)


def test_concurrent_registrations_and_decisions(runtime: Any, cast: Any, authorize: Any) -> None:
    auth = authorize()
    op = cast.operator.actor
    outcomes = race(runtime, 10, lambda db, i: products.register_product(
        op, db, product_in(auth)).id)
    assert outcomes.successes == 1 and outcomes.errors_of(Conflict) == 9, outcomes.errors
    outcomes = race(runtime, 10, lambda db, i: products.register_product(
        op, db, product_in(auth, name=f"产品{i}")).number)
    assert outcomes.unexpected() == [] and len(set(outcomes.results)) == 10
    product_id = outcomes_first_product(runtime)
    outcomes = race(runtime, 10, lambda db, i: products.set_status(
        cast.reviewer.actor, db, product_id, status="suspended", reason=f"r{i}").status)
    assert outcomes.successes == 1 and outcomes.errors_of(InvalidState) == 9, outcomes.errors
    with runtime.db.transaction(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "sandbox.product.status")) == 1


def outcomes_first_product(runtime: Any) -> uuid.UUID:
    with runtime.db.transaction(write=False) as db:
        return db.scalars(sa.select(DataProduct.id).order_by(DataProduct.number)).first()


def test_concurrent_sales_are_all_kept(runtime: Any, cast: Any, authorize: Any) -> None:
    auth = authorize()
    product = run(runtime, products.register_product, cast.operator.actor, product_in(auth))
    outcomes = race(runtime, 12, lambda db, i: products.record_revenue(
        cast.operator.actor, db, product.id, occurred_on=TODAY, amount="800",
        counterparty=f"买方{i}").id)
    assert outcomes.unexpected() == [] and outcomes.successes == 12
    with runtime.db.transaction(write=False) as db:
        assert db.scalar(sa.select(sa.func.sum(RevenueEntry.amount))) == Decimal("9600.00")


# ----------------------------------------------------------------------------------- API


def test_api_register_sell_supervise(client: Any, token_for: Any, cast: Any,
                                     authorize: Any) -> None:
    auth = authorize()
    op, rev = token_for(cast.operator), token_for(cast.reviewer)
    body = {"authorization_id": str(auth), "name": "县域人口结构指数", "category": "industry",
            "method": "按县汇总常住人口的沙箱结果，每组至少 10 人", "price": "800.00",
            "output_schema": [{"name": "county", "type": "string"}]}
    r = client.post("/api/v1/sandbox/products", json={**body, "price": "5000"}, headers=op)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem")
    assert r.json()["errors"][0]["code"] == "over_fee_cap"
    r = client.post("/api/v1/sandbox/products", json=body, headers=op)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert client.post("/api/v1/sandbox/products", json=body, headers=op).status_code == 409
    assert client.post("/api/v1/sandbox/products", json=body, headers=rev).status_code == 403
    r = client.post(f"/api/v1/sandbox/products/{pid}/revenue", headers=op,
                    json={"occurred_on": TODAY.isoformat(), "amount": "800",
                          "counterparty": "甲公司"})
    assert r.status_code == 201, r.text
    listed = client.get("/api/v1/sandbox/products", headers=rev).json()
    assert listed["total"] == 1 and Decimal(listed["items"][0]["revenue"]) == 800
    r = client.get("/api/v1/sandbox/supervision", params={"year": TODAY.year}, headers=rev)
    assert r.status_code == 200 and Decimal(r.json()["revenue"]) == 800
    assert client.get("/api/v1/sandbox/supervision", params={"year": TODAY.year},
                      headers=op).status_code == 403
    r = client.post(f"/api/v1/sandbox/products/{pid}/status", headers=rev,
                    json={"status": "suspended", "reason": "抽查"})
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    assert client.get(f"/api/v1/sandbox/products/{pid}/revenue",
                      headers=op).json()[0]["amount"] in ("800.00", 800.0, "800")


# ----------------------------------------------------------------------------------- CLI


def test_cli_register_revenue_supervision(runtime: Any, cast: Any, authorize: Any,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    auth = authorize()
    monkeypatch.setenv("GONGSHU_DATA_DIR", str(runtime.settings.data_dir))
    monkeypatch.setenv("GONGSHU_DATABASE_URL", runtime.settings.database_url)
    runner, app = CliRunner(), build_app()

    def gongshu(*args: str) -> Any:
        return runner.invoke(app, list(args), catch_exceptions=False)

    with runtime.db.transaction(write=False) as db:
        number = db.get(Authorization, auth).number
    r = gongshu("sandbox", "product-register", "--as", cast.operator.username,
                "--authorization", number, "--name", "县域人口结构指数", "--category", "industry",
                "--method", "按县汇总常住人口的沙箱结果", "--price", "800", "--column",
                "county:string:县", "--json")
    assert r.exit_code == 0, r.output
    product = json.loads(r.output)
    r = gongshu("sandbox", "revenue", product["number"], "--as", cast.operator.username,
                "--amount", "900", "--buyer", "甲公司")
    assert r.exit_code != 0 and "price" in r.output.lower()
    r = gongshu("sandbox", "revenue", product["number"], "--as", cast.operator.username,
                "--amount", "800", "--buyer", "甲公司", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)[0]["amount"] == "800.00"
    r = gongshu("sandbox", "supervision", "--year", str(TODAY.year), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["operators"][0]["revenue"] == "800.00"


# --------------------------------------------------------------------------------- pages


def test_pages_register_sell_and_supervise(app: Any, cast: Any, authorize: Any) -> None:
    from fastapi.testclient import TestClient

    from support import csrf_of, web_login

    auth = authorize()
    with TestClient(app) as op:
        assert web_login(op, cast.operator.username, cast.operator.password).status_code == 200
        page = op.get("/sandbox/products")
        assert page.status_code == 200 and 'id="register-product"' in page.text
        form = {"csrf_token": csrf_of(page.text), "authorization_id": str(auth),
                "name": "县域人口结构指数", "category": "industry", "price": "5000",
                "unit": "per_copy", "method": "按县汇总常住人口的沙箱结果，每组至少 10 人",
                "output_schema": "county, string, 县\nn, integer, 人数"}
        refused = op.post("/sandbox/products", data=form)
        assert refused.status_code == 422 and "收费上限" in refused.text
        done = op.post("/sandbox/products", data={**form, "price": "800"},
                       follow_redirects=False)
        assert done.status_code == 303, done.text
        product_url = done.headers["location"].split("?")[0]
        page = op.get(product_url)
        assert "county" in page.text and 'id="record-sale"' in page.text
        sold = op.post(f"{product_url}/revenue", follow_redirects=False, data={
            "csrf_token": csrf_of(page.text), "occurred_on": TODAY.isoformat(),
            "amount": "800", "counterparty": "甲公司", "quantity": "1"})
        assert sold.status_code == 303
        assert "甲公司" in op.get(product_url).text
        assert op.get("/sandbox/supervision").status_code == 403
    with TestClient(app) as rev:
        web_login(rev, cast.reviewer.username, cast.reviewer.password)
        page = rev.get(f"/sandbox/supervision?year={TODAY.year}")
        assert page.status_code == 200 and "晋数运营有限公司" in page.text and "800" in page.text
        assert 'id="register-product"' not in rev.get("/sandbox/products").text
        home = rev.get("/")
        assert "被暂停的数据产品" in home.text
