"""The de-identification journey in Chromium (Art. 16): a data steward opens one of the body's
datasets, measures the risk of two quasi-identifiers, writes a profile in the editor, makes a
release and releases it once its thresholds are met."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from support import sign_in

pytestmark = pytest.mark.e2e
SHOTS = Path(os.environ.get("GONGSHU_SCREENSHOTS", "/tmp/gongshu-screenshots"))


def test_assess_profile_release(browser: Any, live_server: dict[str, Any]) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    url = live_server["url"]
    page = sign_in(browser, live_server, "steward")
    page.goto(url + "/deid")
    assert page.locator("h1").inner_text() == "去标识化"
    page.locator("#datasets a").first.click()
    page.wait_for_selector("#assess-form")

    boxes = page.locator("#assess-form input[name=qi]")
    assert boxes.count() >= 3
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.fill("#f-k", "5")
    page.click("#assess-form button")
    page.wait_for_selector("#class-sizes")
    assert int(page.locator("#figure-k").inner_text()) >= 1
    page.screenshot(path=str(SHOTS / "deid-assessment.png"), full_page=True)

    page.click("text=新建处理方案")
    page.wait_for_selector("#profile-form")
    page.fill("#f-name", "演示对外方案")
    rows = page.locator("#profile-columns tbody tr")
    rows.nth(0).locator("input[name=qi]").check()  # one quasi-identifier, generalised to nothing
    rows.nth(0).locator("select").select_option("rare")
    rows.nth(0).locator("input[name^=p_]").fill("min_count=1000000000")
    page.fill("#f-k", "2")
    page.select_option("#f-suppress", "drop")
    page.screenshot(path=str(SHOTS / "deid-profile.png"), full_page=True)
    page.click("#profile-form button")
    page.wait_for_selector("#flash .success, #flash")
    assert "处理方案已保存" in page.content()

    page.click("text=" + page.locator("h1 ~ p a, p a").first.inner_text())
    page.wait_for_selector("#profiles")
    page.locator("#profiles tr", has_text="演示对外方案").locator("button").click()
    page.wait_for_selector("#release-status")
    assert page.locator("#release-status").inner_text() == "待发布"
    page.click("#do-release")
    page.wait_for_selector("text=已发布，可以下载。")
    assert page.locator("#release-status").inner_text() == "已发布"
    assert page.locator("a", has_text="下载 CSV").count() == 1
    page.screenshot(path=str(SHOTS / "deid-release.png"), full_page=True)
    page.context.close()
