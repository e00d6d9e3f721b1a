"""The library journey in Chromium: a data steward uploads a GBK export of an old system for a
catalog entry, watches the ingest job, reads the column report, opens the scan results with
their reasons and confirms the proposed grade (Arts. 10, 11)."""

from __future__ import annotations

import codecs
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from gongshu.catalog import service as catalog
from gongshu.core.permissions import Actor
from gongshu.library import synthetic

pytestmark = pytest.mark.e2e
SHOTS = Path(os.environ.get("GONGSHU_SCREENSHOTS", "/tmp/gongshu-screenshots"))
ENTRY = "社会保险参保信息"


def _entry_and_file(server: dict[str, Any], folder: Path) -> tuple[Any, Path]:
    """The demo entry of the province's HR department, and a GBK CSV of synthetic rows for it."""
    runtime = server["runtime"]
    system = Actor.system("e2e", via="system")
    with runtime.db.transaction(write=False) as db:
        rows, _ = catalog.list_entries(system, db, limit=1000)
        entry = next(e for e in rows if e.current_version and e.current_version.name == ENTRY
                     and "人力资源和社会保障厅" in e.current_version.content["provider"]["name"])
        items = [{"name": i.name, "code": i.code, "data_type": i.data_type, "length": i.length}
                 for i in catalog.entry_items(db, entry.id)]
    table: pa.Table = synthetic.table_for(items, 3000, seed=7)
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink)
    path = folder / "参保人员导出.csv"
    path.write_bytes(codecs.decode(sink.getvalue().to_pybytes(), "utf-8").encode("gbk"))
    return entry, path


def _steward_session(browser: Any, server: dict[str, Any]) -> tuple[Any, Any]:
    """A browser context signed in as the demo's data steward, and its page."""
    url = server["url"]
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.goto(url + "/login")
    page.fill("#username", "steward")
    page.fill("#password", server["logins"]["steward"])
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")
    return context, page


def test_upload_progress_scan_results_confirm(browser: Any, live_server: dict[str, Any],
                                              tmp_path: Path) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    entry, path = _entry_and_file(live_server, tmp_path)
    context, page = _steward_session(browser, live_server)

    page.click("nav >> text=资源库")
    page.wait_for_selector("text=社会保险缴费记录")  # the demo datasets of the steward's body
    page.click("#upload-link")
    page.select_option("#f-entry_id", str(entry.id))
    page.set_input_files("#f-file", str(path))
    page.screenshot(path=str(SHOTS / "library-upload.png"), full_page=True)
    # the file goes up by XHR with a byte progress bar (static/upload.js): slow the upload down
    # so that the bar can be read on the way
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.resource_type) if r.method == "POST"
            and r.url.endswith("/library/upload") else None)
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": path.stat().st_size // 4})  # about four seconds
    page.click("#upload-submit")
    page.wait_for_function(
        "() => { const b = document.getElementById('upload-progress');"
        " return b && !b.hidden && Number(b.dataset.loaded || 0) > 0"
        " && Number(b.dataset.loaded) < b.max; }", timeout=15_000)
    assert "上传中：" in page.locator("#upload-progress-label").inner_text()
    page.screenshot(path=str(SHOTS / "library-upload-progress.png"), full_page=True)
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})

    # the ingest page follows the job with htmx until it has finished, then shows the report
    page.wait_for_url("**/library/ingests/**")
    assert posts == ["xhr"]
    page.wait_for_selector("#job-progress [data-status=succeeded]", timeout=30_000)
    page.wait_for_selector("[data-ingest-status=succeeded]", timeout=10_000)
    report = page.locator("#mapping").inner_text()
    assert "公民身份号码" in report and "一致" in report
    assert "gb18030" in page.locator("#ingest-outcome").inner_text()
    page.screenshot(path=str(SHOTS / "library-ingest.png"), full_page=True)

    # the scan results with their reasons, and the steward's confirmation
    page.click("#scan-results-link")
    page.wait_for_selector("#proposal")
    proposed = page.locator("#proposed-grade").inner_text()
    assert proposed == "一般数据（4级）"
    columns = page.locator("#scan-columns").inner_text()
    # the rule is named in the reader's language, not by its id (pi.cn_id)
    assert "公民身份号码" in columns and "100.0%" in columns and "依据规则" in columns
    assert "pi.cn_id" not in columns
    assert page.locator("#confirmed-grade").inner_text() == "尚未确认"
    page.screenshot(path=str(SHOTS / "grading-proposal.png"), full_page=True)
    page.click("#decide")
    page.wait_for_selector("text=分级已记录到目录条目")
    assert page.locator("#confirmed-grade").inner_text() == "一般数据（4级）"
    assert "确认" in page.locator("#decision").inner_text()

    # the steward sees the data unmasked; the preview says so
    page.click("text=查看数据集")
    page.click("#preview-link")
    page.wait_for_selector("#preview")
    assert "数据管理员" in page.locator("#preview-policy").inner_text()
    page.screenshot(path=str(SHOTS / "library-preview.png"), full_page=True)
    context.close()


def test_a_file_with_other_column_names_is_mapped_and_ingested_again(
        browser: Any, live_server: dict[str, Any], tmp_path: Path) -> None:
    """An old system's export calls 公民身份号码 "身份证": the upload is rejected with the column
    report, the steward maps the column on the same page and ingests the kept file again."""
    url = live_server["url"]
    entry, path = _entry_and_file(live_server, tmp_path)
    lines = path.read_bytes().decode("gbk").split("\n", 1)
    renamed = tmp_path / "旧系统导出.csv"
    renamed.write_bytes((lines[0].replace("公民身份号码", "身份证") + "\n" + lines[1]).encode("gbk"))
    context, page = _steward_session(browser, live_server)
    page.goto(f"{url}/library/upload?entry_id={entry.id}")
    page.set_input_files("#f-file", str(renamed))
    page.click("#upload-submit")
    page.wait_for_url("**/library/ingests/**")
    first = page.url
    page.wait_for_selector("[data-ingest-status=rejected]", timeout=30_000)
    page.wait_for_selector("#remap-form")  # swapped in by htmx when the job finished
    page.select_option("#remap-1", "身份证")
    assert page.locator("#remap-form input[type=file]").count() == 0  # the server kept it
    page.screenshot(path=str(SHOTS / "library-remap.png"), full_page=True)
    page.click("#remap-submit")
    page.wait_for_url(lambda u: "/library/ingests/" in u and u != first)
    page.wait_for_selector("[data-ingest-status=succeeded]", timeout=30_000)
    assert "按指定对应" in page.locator("#mapping").inner_text()
    context.close()
