"""The demo's data products (Art. 14): under the demo operator's authorisation, a free
public-interest brief and a paid industry index with a few months of sales, so the operator's
products page, the ledger and the bureau's supervision view have something to show.
Called by ``sandbox.demo`` once the authorisation exists."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from gongshu.core.runtime import Runtime
from gongshu.orgs import service as orgs
from gongshu.sandbox import products
from gongshu.sandbox.models import Authorization

BUYERS = ["太行数据科技有限公司（示例）", "汾河数商服务有限公司（示例）", "某商业银行太原分行（示例）"]


def populate(runtime: Runtime, authorization_id: uuid.UUID, *, operator: str = "operator") -> int:
    """Register the demo products and their sales; returns how many sales were recorded."""
    with runtime.db.transaction() as db:
        user = orgs.find_user(db, operator)
        auth = db.get(Authorization, authorization_id)
        if user is None or auth is None:
            return 0
        actor = orgs.actor_for_user(user, via="system")
        today = products.local_today(db)
        free = products.register_product(actor, db, products.ProductIn(
            authorization_id=auth.id, name="县域人口结构公益简报", category="public_interest",
            price="0", unit="per_copy",
            method="在沙箱中按县、性别和十岁年龄段统计常住人口（每组至少 k 人，小组抑制），"
                   "每季度更新，供基层卫生和教育规划免费使用。",
            description="面向县级政府部门的公益性统计简报（演示）。",
            output_schema=[{"name": "county", "type": "string", "description": "县级行政区划代码"},
                           {"name": "gender", "type": "string", "description": "性别"},
                           {"name": "age_band", "type": "integer", "description": "年龄段（岁）"},
                           {"name": "people", "type": "integer", "description": "人数"}]))
        sales = 0
        if "industry" in (auth.product_categories or []):
            cap = Decimal(auth.fee_cap) if auth.fee_cap is not None else Decimal("5000")
            price = min(cap, Decimal("2000.00"))
            paid = products.register_product(actor, db, products.ProductIn(
                authorization_id=auth.id, name="县域居民收入结构指数", category="industry",
                price=str(price), unit="per_copy",
                method="在沙箱中按县汇总年收入的均值与分档人数（差分隐私模式，ε 记入预算），"
                       "经数据主管部门成果审核后发布，每月更新。",
                description="供金融机构和市场研究使用的县域收入结构指数（演示）。",
                output_schema=[{"name": "county", "type": "string", "description": "县级行政区划代码"},
                               {"name": "avg_income", "type": "number", "description": "平均年收入（元）"},
                               {"name": "index", "type": "number", "description": "收入结构指数"}]))
            for months_ago, buyer, quantity in [(3, 0, 1), (2, 1, 2), (1, 2, 1), (0, 0, 1)]:
                day = (today.replace(day=1) - dt.timedelta(days=28 * months_ago)).replace(day=5)
                day = min(max(day, auth.starts_on), today)
                products.record_revenue(actor, db, paid.id, occurred_on=day,
                                        amount=str(price * quantity), quantity=quantity,
                                        counterparty=BUYERS[buyer])
                sales += 1
        products.record_revenue(actor, db, free.id, occurred_on=today, amount="0", quantity=12,
                                counterparty="太原市小店区卫生健康局（示例）",
                                note="公益使用，免费")
        return sales + 1
