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
from gongshu.sharing import fingerprint
from support import sign_in

pytestmark = pytest.mark.e2e
SHOTS = Path(os.environ.get("GONGSHU_SCREENSHOTS", "/tmp/gongshu-screenshots"))
ENTRY = "定点医药机构信息"  # unconditional, of the province's healthcare security bureau


def _session(browser: Any, server: dict[str, Any], user: str) -> tuple[Any, Any, list[str]]:
    page = sign_in(browser, server, user)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return page.context, page, errors


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


def test_search_request_approve_pull_revoke(browser: Any, live_server: dict[str, Any]) -> None:
    """Issue 10's journey: search → request with a scenario → bureau check → the provider
    approves → the holder makes a token bound to the grant and pulls through the API → the
    provider revokes → the next pull is refused with a problem+json code."""
    url = live_server["url"]
    context, page, _errors = _session(browser, live_server, "requester")
    page.goto(f"{url}/catalog?q=就业登记 信息")
    page.click("a:has-text('就业登记信息')")
    page.click("#ask-to-share")
    page.wait_for_url(f"{url}/sharing/new?entry=*")
    page.locator("input[name=items]").nth(0).check()
    page.locator("input[name=items]").nth(1).check()
    page.select_option("#f-scenario", label="医疗救助对象资格核验")
    page.fill("#f-contact_name", "周申请")
    page.fill("#f-contact_phone", "0351-1234567")
    page.click("#request-form button.primary")
    page.wait_for_url(f"{url}/sharing/requests/**")
    number = page.locator("h1").inner_text().split()[0]
    context.close()

    context, page, _errors = _session(browser, live_server, "reviewer")  # the requester's bureau
    page.goto(f"{url}/sharing/queue")
    page.click(f"text={number}")
    page.click("#decide button[value=conform]")
    page.wait_for_url("**flash=share_request_decided")
    assert "提供方答复" in page.locator("body").inner_text()
    context.close()

    context, page, _errors = _session(browser, live_server, "steward")  # the provider
    page.goto(f"{url}/sharing/inbox")
    page.click(f"text={number}")
    page.fill("#f-comment-a", "同意，仅限医疗救助资格核验使用")
    page.click("#decide button.primary")
    page.wait_for_url("**flash=share_request_decided")
    assert "已授权" in page.locator("h1").inner_text()
    context.close()

    context, page, _errors = _session(browser, live_server, "requester")  # the holder
    page.goto(f"{url}/sharing/grants?held=1")  # the grants its body holds
    page.locator("a[href^='/sharing/grants/']", has_text="201002").first.click()
    grant_url = page.url.split("?")[0]
    grant_id = grant_url.rsplit("/", 1)[1]
    page.fill("#f-token-name", "医疗救助系统")
    page.click("#grant-delivery button.primary")
    token = page.locator("#new-token pre").inner_text().strip()
    assert token.startswith("gs_")
    page.screenshot(path=str(SHOTS / "sharing-grant.png"), full_page=True)
    api = context.request
    pulled = api.get(f"{url}/api/v1/grants/{grant_id}/data?format=json&limit=50",
                     headers={"Authorization": f"Bearer {token}"})
    assert pulled.status == 200, pulled.text()
    body = pulled.json()
    assert len(body["columns"]) == 2  # the two granted items
    # 50 data rows, and the grant's canary rows that fall among them (a handful at most)
    assert 50 <= len(body["rows"]) <= 50 + fingerprint.MIN_CANARIES
    context.close()

    context, page, _errors = _session(browser, live_server, "steward")
    page.goto(grant_url)
    page.fill("#f-reason", "医疗救助资格核验场景已结束")
    page.click("#revoke button")
    page.wait_for_url("**flash=grant_revoked")
    refused = context.request.get(f"{url}/api/v1/grants/{grant_id}/data?format=json",
                                  headers={"Authorization": f"Bearer {token}"})
    assert refused.status == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "grant_revoked"
    context.close()
