"""The library and grading pages as people use them: upload through the form, follow the ingest,
read the column report, see the dataset, its quality and masked preview, confirm a grade."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gongshu.core.jobs import Worker
from library.data import HEADER, register_rows, uploaded_files, write_file
from support import csrf_of, web_login

ROWS = register_rows(30)


def upload(client: Any, entry: Any, path: Path, **form: str) -> Any:
    page = client.get(f"/library/upload?entry_id={entry.id}")
    assert page.status_code == 200 and str(entry.id) in page.text
    with path.open("rb") as fh:
        return client.post("/library/upload", data={"csrf_token": csrf_of(page.text),
                                                    "entry_id": str(entry.id), **form},
                           files={"file": (path.name, fh, "text/csv")}, follow_redirects=False)


def test_upload_follow_and_confirm(runtime: Any, client: Any, entry: Any, people: Any,
                                   tmp_path: Path) -> None:
    web_login(client, people.steward.username, people.steward.password)
    response = upload(client, entry, write_file(tmp_path / "people.csv", ROWS))
    assert response.status_code == 303
    ingest_url = response.headers["location"]
    waiting = client.get(ingest_url)
    assert waiting.status_code == 200
    assert 'hx-trigger="job-finished from:body"' in waiting.text  # the report follows the job
    assert 'id="job-progress"' in waiting.text
    Worker(runtime).run_pending()
    outcome = client.get(ingest_url + "/outcome")
    assert 'data-ingest-status="succeeded"' in outcome.text
    assert outcome.text.count('data-status="ok"') == len(HEADER)
    dataset_url = re.search(r'href="(/library/datasets/[0-9a-f-]+)"', outcome.text).group(1)
    dataset = client.get(dataset_url)
    assert dataset.status_code == 200 and "v1" in dataset.text and 'id="quality-score"' in dataset.text
    preview = client.get(dataset_url + "/preview")
    assert preview.status_code == 200 and ROWS[0][1] in preview.text  # the steward sees all

    grading = client.get(f"/grading/entries/{entry.id}")
    assert grading.status_code == 200
    assert 'id="proposed-grade"' in grading.text and "公民身份号码属于敏感个人信息" in grading.text
    assert "公民身份号码" in grading.text and "100.0%" in grading.text
    token = csrf_of(grading.text)
    refused = client.post(f"/grading/entries/{entry.id}/decide",
                          data={"csrf_token": token, "grade": "important", "reason": ""})
    assert refused.status_code == 422 and "理由" in refused.text
    done = client.post(f"/grading/entries/{entry.id}/decide",
                       data={"csrf_token": token, "grade": "general-4", "reason": ""})
    assert done.status_code == 200 and "分级已记录到目录条目" in done.text
    assert 'id="confirmed-grade"' in done.text and "一般数据（4级）" in done.text

    panel = client.get(f"/library/entries/{entry.id}/panel")
    assert panel.status_code == 200 and 'id="library-panel"' in panel.text
    assert "v1" in panel.text


def test_a_rejected_upload_shows_every_problem(runtime: Any, client: Any, entry: Any,
                                               people: Any, tmp_path: Path) -> None:
    web_login(client, people.editor.username, people.editor.password)
    header = ["姓名", "身份证", *HEADER[2:]]
    rows = [list(r) for r in ROWS]
    rows[0][4] = "很多"
    response = upload(client, entry, write_file(tmp_path / "bad.csv", rows, header=header))
    Worker(runtime).run_pending()
    outcome = client.get(response.headers["location"] + "/outcome")
    assert 'data-ingest-status="rejected"' in outcome.text
    assert 'data-status="missing"' in outcome.text and 'data-status="extra"' in outcome.text
    assert 'data-status="wrong_type"' in outcome.text
    assert "很多" in outcome.text and "第 1 行" in outcome.text


def _remap_form(page: str) -> str:
    found = re.search(r'<form[^>]*id="remap-form".*?</form>', page, re.S)
    assert found, "no column mapping form on the page"
    return found.group(0)


def test_a_rejected_upload_is_mapped_and_ingested_again_without_sending_it_again(
        runtime: Any, client: Any, entry: Any, people: Any, tmp_path: Path) -> None:
    web_login(client, people.steward.username, people.steward.password)
    header = ["姓名", "身份证", "电话", *HEADER[3:]]
    response = upload(client, entry, write_file(tmp_path / "renamed.csv", ROWS, header=header))
    Worker(runtime).run_pending()
    first = response.headers["location"]
    outcome = client.get(first + "/outcome").text
    assert 'data-ingest-status="rejected"' in outcome
    # the job's own panel says it in the reader's language too
    panel = client.get(first).text
    assert "正在核对文件的列与目录条目的信息项" in panel and "详见下方的导入报告" in panel
    assert "does not fit" not in panel
    form = _remap_form(outcome)
    assert f'action="{first}/remap"' in form and 'type="file"' not in form  # the file is kept
    items = re.findall(r'name="map_item" value="([^"]+)"', form)
    assert items == ["GMSFHM", "LXDH"]  # the missing items, in the entry's order
    assert '<option value="身份证">' in form and '<option value="电话">' in form
    again = client.post(first + "/remap", data={
        "csrf_token": csrf_of(outcome), "map_column": ["身份证", ""], "map_item": items},
        follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] != first
    Worker(runtime).run_pending()
    second = client.get(again.headers["location"] + "/outcome").text
    # 身份证 is mapped now; 电话 was left unmapped, so the file is still short of 联系电话
    assert 'data-ingest-status="rejected"' in second
    assert "按指定对应" in second and second.count('data-status="missing"') == 1
    third = client.post(again.headers["location"] + "/remap", data={
        "csrf_token": csrf_of(second), "map_column": ["电话"], "map_item": ["LXDH"]},
        follow_redirects=False)  # added to the mapping so far
    Worker(runtime).run_pending()
    done = client.get(third.headers["location"] + "/outcome").text
    assert 'data-ingest-status="succeeded"' in done
    assert not uploaded_files(runtime)
    # the first ingest links to the one that took its file; its file is not kept twice
    assert 'id="retried-as"' in client.get(first + "/outcome").text
    refused = client.post(first + "/remap", data={
        "csrf_token": csrf_of(outcome), "map_column": ["电话"], "map_item": ["LXDH"]})
    assert refused.status_code == 409 and "请重新上传" in refused.text


def test_without_kept_uploads_the_mapping_form_asks_for_the_file(
        runtime: Any, client: Any, entry: Any, people: Any, tmp_path: Path,
        monkeypatch: Any) -> None:
    monkeypatch.setattr(runtime.settings, "upload_keep_hours", 0)
    web_login(client, people.steward.username, people.steward.password)
    header = ["姓名", "身份证", *HEADER[2:]]
    path = write_file(tmp_path / "renamed.csv", ROWS, header=header)
    response = upload(client, entry, path)
    Worker(runtime).run_pending()
    outcome = client.get(response.headers["location"] + "/outcome").text
    form = _remap_form(outcome)
    assert 'action="/library/upload"' in form and 'type="file"' in form
    assert not uploaded_files(runtime)
    with path.open("rb") as fh:
        again = client.post("/library/upload", data={
            "csrf_token": csrf_of(outcome), "entry_id": str(entry.id),
            "map_column": ["身份证"], "map_item": ["GMSFHM"]},
            files={"file": (path.name, fh, "text/csv")}, follow_redirects=False)
    assert again.status_code == 303
    Worker(runtime).run_pending()
    assert 'data-ingest-status="succeeded"' in client.get(
        again.headers["location"] + "/outcome").text


def test_upload_form_errors_stay_on_the_form(client: Any, entry: Any, people: Any,
                                             tmp_path: Path) -> None:
    web_login(client, people.steward.username, people.steward.password)
    path = write_file(tmp_path / "p.csv", ROWS)
    bad = upload(client, entry, path, encoding="no-such-codec")
    assert bad.status_code == 422 and "无法识别的文字编码" in bad.text
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    response = upload(client, entry, empty)
    assert response.status_code == 422 and "文件是空的" in response.text


def test_each_role_sees_its_pages(client: Any, entry: Any, people: Any, run_ingest: Any,
                                  tmp_path: Path, runtime: Any) -> None:
    run_ingest(people.steward.actor, entry, write_file(tmp_path / "p.csv", ROWS))
    web_login(client, people.reviewer.username, people.reviewer.password)
    index = client.get("/library")
    assert index.status_code == 200 and "人口基本信息（测试）" in index.text
    dataset_url = re.search(r'href="(/library/datasets/[0-9a-f-]+)"', index.text).group(1)
    preview = client.get(dataset_url + "/preview")
    assert 'id="hidden-columns"' in preview.text and ROWS[0][1] not in preview.text
    assert client.get("/grading").status_code == 200
    scheme = client.get("/grading/scheme")
    assert scheme.status_code == 200 and "一般数据（4级）" in scheme.text and "health" in scheme.text
    assert 'action="/grading/scheme"' in scheme.text  # a bureau reviewer may choose the scheme
    client.post("/logout", data={"csrf_token": csrf_of(scheme.text)})

    web_login(client, people.outsider.username, people.outsider.password)
    assert "人口基本信息" not in client.get("/library").text
    assert client.get(dataset_url).status_code == 404
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/library").text)})

    web_login(client, people.admin.username, people.admin.password)
    home = client.get("/")
    assert 'href="/grading/scheme"' in home.text and 'href="/library"' not in home.text
    assert client.get("/library").status_code == 403
    page = client.get("/grading/scheme")
    chosen = client.post("/grading/scheme", data={"csrf_token": csrf_of(page.text),
                                                  "scheme": "national"})
    assert chosen.status_code == 200 and "分级方案已更换" in chosen.text


def test_quality_rules_through_the_page(client: Any, entry: Any, people: Any, run_ingest: Any,
                                        tmp_path: Path, runtime: Any) -> None:
    run_ingest(people.steward.actor, entry, write_file(tmp_path / "p.csv", ROWS))
    web_login(client, people.steward.username, people.steward.password)
    index = client.get("/library")
    dataset_url = re.search(r'href="(/library/datasets/[0-9a-f-]+)"', index.text).group(1)
    page = client.get(dataset_url)
    token = csrf_of(page.text)
    bad = client.post(dataset_url + "/rules", data={"csrf_token": token, "kind": "range",
                                                   "column": "XM"})
    assert bad.status_code == 422 and "取值范围只适用于数值或日期字段" in bad.text
    good = client.post(dataset_url + "/rules", data={"csrf_token": token, "kind": "detector",
                                                    "column": "LXDH", "detector": "cn_mobile"})
    assert good.status_code == 200 and "质量规则已添加" in good.text
    job = client.post(dataset_url + "/evaluate", data={"csrf_token": token},
                      follow_redirects=False)
    assert job.headers["location"].startswith("/jobs/")
    Worker(runtime).run_pending()
    page = client.get(dataset_url)
    assert "敏感数据校验" in page.text and "100.0%" in page.text
