"""Duplicate collection in Chromium (Art. 12): while a body types its data items, the form names
the published entries of other bodies that sharing could provide, beside (not instead of) the
inline validation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from support import sign_in

pytestmark = pytest.mark.e2e
SHOTS = Path(os.environ.get("GONGSHU_SCREENSHOTS", "/tmp/gongshu-screenshots"))


def test_the_form_names_what_sharing_could_provide(browser: Any,
                                                   live_server: dict[str, Any]) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    editor = sign_in(browser, live_server, "editor")
    editor.goto(live_server["url"] + "/catalog/new")
    editor.fill('[name="name"]', "困难群众救助对象信息（浏览器测试）")
    editor.fill('[name="summary"]', "困难群众救助对象的认定信息。")  # htmx checks required fields
    editor.fill('[name="category.group"]', "202")
    editor.fill('[name="items.0.name"]', "身份证号码")
    editor.fill('[name="items.0.code"]', "SFZHM")
    editor.fill('[name="items.0.length"]', "18")
    editor.fill('[name="items.1.name"]', "姓 名")
    editor.fill('[name="items.1.code"]', "XM")
    editor.fill('[name="items.1.length"]', "50")
    editor.locator('[name="items.1.length"]').dispatch_event("change")
    editor.wait_for_selector("#duplicates #duplicate-warnings")
    panel = editor.locator("#duplicates").inner_text()
    assert "可通过共享获取" in panel and "身份证号码 = 公民身份号码" in panel
    assert editor.locator("#duplicates a[href^='/catalog/']").count() >= 1
    # the validation keeps its own place
    editor.wait_for_selector("#validation .alert")
    assert "可通过共享获取" not in editor.locator("#validation").inner_text()
    editor.screenshot(path=str(SHOTS / "catalog-duplicates.png"), full_page=True)
    # items nobody publishes: the panel goes away
    editor.fill('[name="items.0.name"]', "探测器编号")
    editor.fill('[name="items.1.name"]', "轨道高度")
    editor.locator('[name="items.1.name"]').dispatch_event("change")
    editor.wait_for_selector("#duplicates #duplicate-warnings", state="detached")
