"""The catalog journey in Chromium: compile → submit → review (return once, fix, approve) →
published → revise → review again, with inline validation on the way (Art. 9, 12)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from support import sign_in

pytestmark = pytest.mark.e2e
SHOTS = Path(os.environ.get("GONGSHU_SCREENSHOTS", "/tmp/gongshu-screenshots"))
NAME = "就业困难人员认定信息（浏览器测试）"


def test_compile_review_publish_revise_in_the_browser(browser: Any,
                                                      live_server: dict[str, Any]) -> None:
    url = live_server["url"]
    SHOTS.mkdir(parents=True, exist_ok=True)

    # the body's catalog editor compiles an entry; the form checks it while it is filled in
    editor = sign_in(browser, live_server, "editor")
    editor.click("nav >> text=数据目录")
    editor.click("text=编制目录")
    editor.fill('[name="name"]', NAME)
    editor.fill('[name="summary"]', "就业困难人员的认定结果。")
    editor.fill('[name="category.group"]', "201")
    editor.select_option('[name="sharing.method_type"]', "interface")
    editor.fill('[name="items.0.name"]', "公民身份号码")
    editor.fill('[name="items.0.code"]', "GMSFHM")
    editor.fill('[name="items.0.length"]', "18")
    editor.select_option('[name="sharing.type"]', "conditional")  # Art. 12: needs reasons
    editor.wait_for_selector("#validation .alert.error")
    problems = editor.locator("#validation").inner_text()
    assert "第十二条" in problems and "共享依据" in problems
    editor.fill('[name="sharing.condition"]', "仅用于就业援助")
    editor.fill('[name="sharing.legal_basis"]', "《就业促进法》第五十二条")
    editor.locator('[name="sharing.legal_basis"]').dispatch_event("change")
    editor.wait_for_selector("#validation .alert.success")
    editor.screenshot(path=str(SHOTS / "catalog-form.png"), full_page=True)
    editor.click("button:has-text('保存并报送审核')")
    editor.wait_for_selector("text=已报送同级数据管理部门审核")
    entry_url = editor.url.split("?")[0]
    code = editor.locator("#resource-code").inner_text()
    assert re.fullmatch(r"307201/\d{6}", code)

    # the same-level bureau's reviewer returns it once, with a comment
    reviewer = sign_in(browser, live_server, "reviewer")
    reviewer.click("nav >> text=目录审核")
    reviewer.click(f"text={NAME}")
    reviewer.fill("#return-comment", "请补充认定日期信息项。")
    reviewer.click("#return")
    reviewer.wait_for_selector("text=已退回修改")

    # the editor reads the comment, fixes the entry and submits it again
    editor.goto(entry_url)
    editor.click("text=编辑")
    assert "请补充认定日期信息项。" in editor.locator("#return-comment").inner_text()
    editor.fill('[name="items.1.name"]', "认定日期")
    editor.fill('[name="items.1.code"]', "RDRQ")
    editor.select_option('[name="items.1.data_type"]', "D")
    editor.click("button:has-text('保存并报送审核')")
    editor.wait_for_selector("text=已报送同级数据管理部门审核")

    # approved and published at once
    reviewer.goto(entry_url)
    reviewer.click("#approve")
    reviewer.wait_for_selector("text=已审核通过并发布")
    assert reviewer.locator("#version-status").inner_text() == "已发布"

    # a revision: version 2 goes through review while version 1 stays what others see
    editor.goto(entry_url)
    editor.click("button:has-text('修订（生成新版本）')")
    editor.wait_for_url("**/edit")
    editor.fill('[name="name"]', NAME + "（2025版）")
    editor.click("button:has-text('保存并报送审核')")
    editor.wait_for_selector("text=已报送同级数据管理部门审核")
    assert "第 2 版正在修订或审核中" in editor.content()

    requester = sign_in(browser, live_server, "requester")
    requester.goto(entry_url)
    assert requester.locator("h1").inner_text() == NAME  # still version 1
    requester.goto(f"{url}/catalog/code/{code}")
    assert requester.locator("#resource-code").inner_text() == code

    reviewer.goto(entry_url)
    reviewer.click("text=查看与已发布版本的差异")
    assert "（2025版）" in reviewer.locator("#diff").inner_text()
    reviewer.goto(entry_url)
    reviewer.click("#approve")
    reviewer.wait_for_selector("text=已审核通过并发布")
    versions = reviewer.locator("#versions").inner_text()
    assert "已被新版本替代" in versions and "已发布" in versions
    reviewer.screenshot(path=str(SHOTS / "catalog-detail.png"), full_page=True)

    requester.goto(entry_url)
    assert requester.locator("h1").inner_text() == NAME + "（2025版）"
    requester.goto(f"{url}/catalog?q=就业困难")
    assert NAME + "（2025版）" in requester.locator(".hit h3").first.inner_text()
    for page in (editor, reviewer, requester):
        page.context.close()


def test_the_demo_catalog_is_searchable_with_facets(browser: Any,
                                                    live_server: dict[str, Any]) -> None:
    page = sign_in(browser, live_server, "requester")
    page.goto(live_server["url"] + "/catalog?q=社保")
    count = int(re.search(r"共 (\d+) 条目录", page.locator("#result-count").inner_text()).group(1))
    assert count >= 5
    page.click(".facet >> text=有条件共享")
    page.wait_for_selector(".chips")
    narrowed = int(re.search(r"共 (\d+) 条目录",
                             page.locator("#result-count").inner_text()).group(1))
    assert 0 < narrowed < count
    page.goto(live_server["url"] + "/catalog")
    facets = page.locator(".facet").inner_text()
    for label in ("基础信息资源", "主题信息资源", "部门信息资源", "无条件共享", "有条件共享",
                  "不予共享", "每日", "每月", "每年", "实时", "按需"):
        assert label in facets, label
    page.screenshot(path=str(SHOTS / "catalog-search.png"), full_page=True)
    page.context.close()
