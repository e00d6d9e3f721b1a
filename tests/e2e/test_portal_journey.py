"""The portal journey of an anonymous visitor in Chromium (Art. 13): from the login page to the
open-data portal, search, a dataset's page with its preview, and a CSV download; the demo's
open datasets, developer and pending conditional-opening application are there."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import pytest

from gongshu.opening import flows, service

pytestmark = pytest.mark.e2e
SHOTS = Path(os.environ.get("GONGSHU_SCREENSHOTS", "/tmp/gongshu-screenshots"))


def _open_with_data(server: dict[str, Any]) -> Any:
    runtime = server["runtime"]
    with runtime.db.transaction() as db:
        entries, total = service.list_open(db, limit=10_000)
        assert total >= 2, "the demo opens datasets on the portal"
        for entry in entries:
            dataset = service.get_dataset(db, entry.id)
            if dataset.downloadable and dataset.columns and \
                    service.has_data(service.ANONYMOUS, db, dataset):
                return dataset.entry.id, dataset.version.name, [c.name for c in dataset.columns]
    raise AssertionError("the demo has an open dataset with data")


def test_demo_has_open_data_and_a_pending_application(live_server: dict[str, Any]) -> None:
    runtime = live_server["runtime"]
    with runtime.db.transaction(write=False) as db:
        pending = flows.list_applications(service.ANONYMOUS.__class__.system("e2e"), db,
                                          status="provider_review")
    assert len(pending) == 1


def test_anonymous_browse_search_preview_download(browser: Any, live_server: dict[str, Any],
                                                  tmp_path: Path) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    entry_id, name, columns = _open_with_data(live_server)
    url = live_server["url"]
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1000},
                                  accept_downloads=True)
    page = context.new_page()
    page.goto(url + "/login")
    page.click("#portal-link")
    page.wait_for_url(url + "/portal")
    assert "公共数据开放门户" in page.inner_text("h1")
    assert "个开放数据集" in page.inner_text("#result-count")
    page.fill("#q", name)
    page.click("#portal-search")
    page.wait_for_load_state()
    assert name in page.inner_text("section.card")
    page.click(f"a[href='/portal/datasets/{entry_id}']")
    page.wait_for_url(f"{url}/portal/datasets/{entry_id}")
    assert page.inner_text("#dataset-name") == name
    header = page.inner_text("#preview thead")
    assert all(c in header for c in columns)
    assert page.locator("#preview tbody tr").count() > 0
    page.screenshot(path=str(SHOTS / "portal-dataset.png"), full_page=True)
    with page.expect_download() as info:
        page.click("#download-csv")
    download = info.value
    saved = tmp_path / "open.csv"
    download.save_as(saved)
    rows = list(csv.reader(io.StringIO(saved.read_bytes().decode("utf-8-sig"))))
    assert rows[0] == columns and len(rows) > 1
    page.reload()
    assert "下载 1 次" in page.inner_text("#usage-totals")
    context.close()
