"""Sign in through the real page in headless Chromium, look around, watch a job finish."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e
SHOTS = Path(os.environ.get("GONGSHU_SCREENSHOTS", "/tmp/gongshu-screenshots"))


def login(page: Any, server: dict[str, Any], username: str) -> None:
    page.goto(server["url"] + "/")
    assert "/login" in page.url  # sent to the login page first
    page.fill("#username", username)
    page.fill("#password", server["logins"][username])
    page.click("button[type=submit]")
    page.wait_for_url(server["url"] + "/")


def test_login_and_browse_as_admin(page: Any, live_server: dict[str, Any]) -> None:
    login(page, live_server, "admin")
    assert page.locator("h1").inner_text().startswith("您好")
    page.click("nav >> text=组织机构")
    page.wait_for_selector("ul.tree")
    assert page.locator("text=太原市人民政府").count() >= 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "orgs.png"), full_page=False)
    page.click("text=English")
    page.wait_for_selector("text=Organisations")
    page.click("button:has-text('Sign out')")
    page.wait_for_url("**/login**")


def test_wrong_password_stays_on_the_login_page(page: Any, live_server: dict[str, Any]) -> None:
    page.goto(live_server["url"] + "/login")
    page.fill("#username", "admin")
    page.fill("#password", "definitely-wrong")
    page.click("button[type=submit]")
    assert page.locator(".alert.error").inner_text() == "用户名或密码错误。"


def test_auditor_verifies_the_chain_with_a_live_progress_bar(page: Any, live_server: dict[str, Any]) -> None:
    login(page, live_server, "auditor")
    page.goto(live_server["url"] + "/audit")
    page.click("button:has-text('校验哈希链')")
    page.wait_for_url("**/jobs/**")
    # htmx polls the progress fragment until the job has finished
    page.wait_for_selector("[data-status=succeeded]", timeout=20_000)
    assert "哈希链完整" in page.locator("#job-progress").inner_text()
    page.screenshot(path=str(SHOTS / "audit-verify.png"))
