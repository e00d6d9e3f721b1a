"""The sharing journey in Chromium: the demo requester asks for an entry from its catalog page,
sees the deadline of the bureau's check; the bureau's reviewer finds it in the queue and lets it
through; the security officer reads the usage reports, whose ECharts charts draw under the
Content-Security-Policy (Art. 12)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gongshu.catalog import service as catalog
from gongshu.core.permissions import Actor

pytestmark = pytest.mark.e2e
SHOTS = Path(os.environ.get("GONGSHU_SCREENSHOTS", "/tmp/gongshu-screenshots"))
ENTRY = "定点医药机构信息"  # unconditional, of the province's healthcare security bureau


def _session(browser: Any, server: dict[str, Any], user: str) -> tuple[Any, Any, list[str]]:
    url = server["url"]
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url + "/login")
    page.fill("#username", user)
    page.fill("#password", server["logins"][user])
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")
    return context, page, errors


def test_ask_check_and_report(browser: Any, live_server: dict[str, Any]) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    url = live_server["url"]
    with live_server["runtime"].db.transaction(write=False) as db:
        rows, _ = catalog.list_entries(Actor.system("e2e"), db, limit=1000)
        entry = next(e for e in rows if e.published_version
                     and e.published_version.name == ENTRY)
    context, page, _errors = _session(browser, live_server, "requester")
    assert page.locator("text=本单位办理中的共享申请").count() == 1
    page.goto(f"{url}/catalog/{entry.id}")
    page.click("#ask-to-share")
    page.wait_for_url(f"{url}/sharing/new?entry={entry.id}")
    page.locator("input[name=items]").nth(0).check()
    page.locator("input[name=items]").nth(1).check()
    page.select_option("#f-scenario", label="医疗救助对象资格核验")
    page.fill("#f-contact_name", "周申请")
    page.fill("#f-contact_phone", "0351-1234567")
    page.click("#request-form button.primary")
    page.wait_for_url(f"{url}/sharing/requests/**")
    assert page.locator("#deadline").inner_text().startswith("符合性审查环节应于")
    number = page.locator("h1").inner_text().split()[0]
    page.screenshot(path=str(SHOTS / "sharing-request.png"), full_page=True)
    context.close()

    context, page, _errors = _session(browser, live_server, "reviewer")
    page.goto(f"{url}/sharing/queue")
    page.click(f"text={number}")
    page.click("#decide button[value=conform]")
    page.wait_for_url("**flash=share_request_decided")
    assert "已授权" in page.locator("h1").inner_text()
    context.close()

    context, page, errors = _session(browser, live_server, "security")
    page.goto(f"{url}/sharing/reports")
    page.wait_for_selector(".chart[data-chart=daily] canvas")
    page.wait_for_selector(".chart[data-chart=bodies] canvas")
    assert page.locator("#by-body tbody tr").count() >= 20
    page.screenshot(path=str(SHOTS / "sharing-reports.png"), full_page=True)
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
    context.close()
