"""The sandbox journey in Chromium (Art. 14): the bureau's reviewer authorises the demo operator
for the population sample under a new table name; the operator queries it, sees a refused
query's reason, marks a result for export; the reviewer releases it from the review queue
(beside the operator's similar queries); the operator downloads it as CSV and registers a
data product under the demo authorisation (refused above its fee cap); the reviewer sees it in
the supervision view."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gongshu.catalog import service as catalog
from gongshu.core.permissions import Actor
from support import sign_in

pytestmark = pytest.mark.e2e
SHOTS = Path(os.environ.get("GONGSHU_SCREENSHOTS", "/tmp/gongshu-screenshots"))
ENTRY = "常住人口登记（授权运营样本）"
OPERATOR = "晋数智算运营有限公司（示例）"


def test_authorise_query_refuse_export_release_download(browser: Any,
                                                        live_server: dict[str, Any]) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    url = live_server["url"]
    with live_server["runtime"].db.transaction(write=False) as db:
        rows, _ = catalog.list_entries(Actor.system("e2e"), db, limit=2000)
        entry = next(e for e in rows if e.current_version and e.current_version.name == ENTRY)

    page = sign_in(browser, live_server, "reviewer")
    page.goto(f"{url}/sandbox/authorisations/new")
    page.select_option("#f-operator_org_id", label=OPERATOR)
    page.fill("#f-purpose", "居民收入分布研究（端到端测试）")
    page.locator("select[name=entry]").first.select_option(str(entry.id))
    page.locator("input[name=table_name]").first.fill("residents")
    page.click("#authorise")
    page.wait_for_url("**flash=sandbox_authorised")
    assert "residents" in page.locator("body").inner_text()
    page.screenshot(path=str(SHOTS / "sandbox-authorisation.png"), full_page=True)
    page.context.close()

    page = sign_in(browser, live_server, "operator")
    page.goto(f"{url}/sandbox")
    assert page.locator("#tables").get_by_text("residents").count() >= 1
    page.fill("#f-sql", "SELECT name, annual_income FROM residents")
    page.click("#run")
    page.wait_for_url("**#result")
    verdict = page.locator(".verdict").inner_text()
    assert "COLUMN_NOT_RELEASABLE" in verdict and "发布级别" in verdict
    page.fill("#f-sql", "SELECT gender, COUNT(*) AS n, AVG(annual_income) AS avg_income "
                        "FROM residents GROUP BY gender")
    page.click("#run")
    page.wait_for_url("**#result")
    assert page.locator("#result table.result tbody tr").count() == 2
    page.screenshot(path=str(SHOTS / "sandbox-workspace.png"), full_page=True)
    page.click("text=查看这条结果")
    page.click("#mark-export")
    page.wait_for_url("**flash=sandbox_export_requested")
    result_url = page.url.split("?")[0]
    query_id = result_url.rsplit("/", 1)[1]
    page.context.close()

    page = sign_in(browser, live_server, "reviewer")
    page.goto(f"{url}/sandbox/reviews")
    review = page.locator(f"#review-{query_id}")
    assert "FROM residents GROUP BY gender" in review.inner_text()
    assert review.locator(".similar").count() == 1
    page.screenshot(path=str(SHOTS / "sandbox-review.png"), full_page=True)
    review.locator("button[value=release]").click()
    page.wait_for_url("**flash=sandbox_decided")
    page.context.close()

    page = sign_in(browser, live_server, "operator")
    page.goto(result_url)
    assert "已放行" in page.locator("h1").inner_text()
    with page.expect_download() as download:
        page.click("#download-csv")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == "gender,n,avg_income" and len(text.splitlines()) == 3

    # the released result becomes a data product under the demo authorisation (fee cap 50000)
    page.goto(f"{url}/sandbox/products")
    option = page.locator("#f-authorization_id option", has_text="开发区县人口")
    page.select_option("#f-authorization_id", option.first.get_attribute("value"))
    page.fill("#f-name", "分性别收入简报（端到端测试）")
    page.select_option("#f-category", "industry")
    page.fill("#f-price", "60000")
    page.fill("#f-method", "以经数据主管部门放行的沙箱结果（按性别汇总的人数和平均年收入）编制，每季度更新。")
    page.fill("#f-output_schema", "gender, string, 性别\nn, integer, 人数\navg_income, number, 平均年收入")
    page.click("#register-product button")
    assert "收费上限" in page.locator("#register-product").inner_text()  # above the fee cap
    page.fill("#f-price", "3000")
    page.click("#register-product button")
    page.wait_for_url("**flash=product_registered")
    assert "avg_income" in page.locator("body").inner_text()
    page.screenshot(path=str(SHOTS / "sandbox-product.png"), full_page=True)
    page.context.close()

    page = sign_in(browser, live_server, "reviewer")
    page.goto(f"{url}/sandbox/supervision")
    assert OPERATOR in page.locator("#supervision").inner_text()
    page.screenshot(path=str(SHOTS / "sandbox-supervision.png"), full_page=True)
    page.context.close()
