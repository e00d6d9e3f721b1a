"""The catalog's web pages as people use them: forms with errors in place, the review through
buttons, search with facets, import with its error report, the census dashboard."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest

from gongshu import __version__
from gongshu.catalog import flows
from gongshu.catalog.transfer import xlsx
from support import csrf_of, web_login


def _form_values(valid_entry: dict[str, Any], provider_id: Any) -> dict[str, str]:
    values = {
        "provider.org_id": str(provider_id), "name": valid_entry["name"],
        "summary": valid_entry["summary"], "keywords": "人口；户籍",
        "category.resource_kind": "base", "category.subject": "01", "category.group": "001",
        "format.format_class": "database", "format.format_type": "dameng",
        "update_cycle": "daily", "sharing.type": "unconditional",
        "sharing.method_class": "platform", "sharing.method_type": "interface",
        "opening.type": "not_open", "secrecy": "unclassified", "data_kind": "public",
    }
    for i, item in enumerate(valid_entry["items"]):
        for key in ("name", "code", "data_type", "length"):
            values[f"items.{i}.{key}"] = str(item.get(key) or "")
    values["items.3.data_type"] = "C"  # an unused row: its select always sends a value
    return values


def _login(client: Any, member: Any) -> Any:
    client.cookies.clear()
    return web_login(client, member.username, member.password)


def test_compile_review_and_publish_through_the_pages(client: Any, people: Any,
                                                      tree: dict[str, Any],
                                                      valid_entry: dict[str, Any]) -> None:
    p = people
    _login(client, p.editor)
    form = client.get("/catalog/new")
    assert form.status_code == 200 and "信息资源名称" in form.text
    token = csrf_of(form.text)
    values = _form_values(valid_entry, tree["province.hr"].id)
    bad = {**values, "csrf_token": token, "sharing.type": "conditional", "action": "save"}
    response = client.post("/catalog/new", data=bad)
    assert response.status_code == 422
    assert "第十二条" in response.text  # the Art. 12 error, beside its field
    assert 'class="field invalid"' in response.text
    # inline validation answers with the same problems, and saves nothing
    check = client.post("/catalog/validate", data=bad, headers={"HX-Request": "true"})
    assert check.status_code == 200 and "第十二条" in check.text and "共享依据" in check.text
    assert "检查通过" in client.post("/catalog/validate", data={**values, "csrf_token": token}).text

    created = client.post("/catalog/new", data={**values, "csrf_token": token, "action": "submit"})
    assert created.status_code == 200 and "已报送同级数据管理部门审核" in created.text
    entry_id = re.search(r"/catalog/([0-9a-f-]{36})", str(created.url)).group(1)

    _login(client, p.reviewer)
    queue = client.get("/catalog/review")
    assert entry_id in queue.text
    page = client.get(f"/catalog/{entry_id}")
    assert 'id="review-box"' in page.text
    empty = client.post(f"/catalog/{entry_id}/return", data={"csrf_token": csrf_of(page.text),
                                                            "comment": ""})
    assert empty.status_code == 422 and "请填写理由或意见" in empty.text
    back = client.post(f"/catalog/{entry_id}/return",
                       data={"csrf_token": csrf_of(page.text), "comment": "请补充民族信息项。"})
    assert "已退回修改" in back.text

    _login(client, p.editor)
    edit = client.get(f"/catalog/{entry_id}/edit")
    assert "请补充民族信息项。" in edit.text
    fixed = {**values, "csrf_token": csrf_of(edit.text), "action": "submit",
             "items.3.name": "民族", "items.3.code": "MZ", "items.3.length": "2",
             "change_note": "补充民族"}
    assert "已报送" in client.post(f"/catalog/{entry_id}/edit", data=fixed).text

    _login(client, p.reviewer)
    page = client.get(f"/catalog/{entry_id}")
    done = client.post(f"/catalog/{entry_id}/approve", data={
        "csrf_token": csrf_of(page.text), "comment": "同意", "publish": "true"})
    assert "已审核通过并发布" in done.text

    _login(client, p.outsider)
    seen = client.get(f"/catalog/{entry_id}")
    assert seen.status_code == 200 and "民族" in seen.text and "101001/000001" in seen.text
    assert f"gongshu {__version__}" in seen.text  # the page's own names leave the layout's alone
    assert 'id="review-box"' not in seen.text
    found = client.get("/catalog", params={"q": "常住人口"})
    assert "常住人口基本信息" in found.text and "共 1 条目录" in found.text
    filtered = client.get("/catalog", params={"q": "常住人口", "sharing_type": "conditional"})
    assert "共 0 条目录" in filtered.text
    code_page = client.get("/catalog/code/101001/000001", follow_redirects=False)
    assert code_page.status_code == 303 and code_page.headers["location"] == f"/catalog/{entry_id}"


def test_revision_diff_and_versions_pages(client: Any, people: Any, catalog_ops: Any,
                                          valid_entry: dict[str, Any]) -> None:
    from gongshu.catalog import service

    p = people
    entry_id = catalog_ops.publish(p.editor.actor, p.reviewer.actor)
    catalog_ops.run(flows.revise, p.editor.actor, entry_id)
    catalog_ops.run(service.update_entry, p.editor.actor, entry_id,
                    {**valid_entry, "update_cycle": "weekly"})
    _login(client, p.editor)
    page = client.get(f"/catalog/{entry_id}")
    assert "第 2 版正在修订或审核中" in page.text
    diff = client.get(f"/catalog/{entry_id}/diff", params={"from": 1, "to": 2})
    assert diff.status_code == 200
    assert "更新周期" in diff.text and "每日" in diff.text and "每周" in diff.text
    old = client.get(f"/catalog/{entry_id}/versions/1")
    assert "每日" in old.text
    _login(client, p.outsider)
    assert client.get(f"/catalog/{entry_id}/versions/2").status_code == 404


def test_import_page_lists_every_error(client: Any, people: Any,
                                       import_workbook: Any) -> None:
    book, headers, entries = import_workbook
    sheet = book["信息资源"]
    sheet.cell(row=2, column=headers.index("信息资源名称") + 1).value = None
    sheet.cell(row=4, column=headers.index("开放类型") + 1).value = "无条件开放"  # not shared!
    out = io.BytesIO()
    book.save(out)
    _login(client, people.editor)
    page = client.get("/catalog/import")
    response = client.post("/catalog/import", data={"csrf_token": csrf_of(page.text)},
                           files={"file": ("目录.xlsx", out.getvalue(), xlsx.XLSX_MEDIA_TYPE)})
    assert response.status_code == 422
    table = response.text.split('id="import-errors"')[1]
    rows = re.findall(r"<tr><td>(.*?)</td><td class=\"num\">(\d+)</td><td>(.*?)</td>", table)
    assert rows == [("信息资源", "2", "信息资源名称"), ("信息资源", "4", "开放类型")]
    assert "文件未导入：共 2 处错误" in response.text
    ok = client.post("/catalog/import", data={"csrf_token": csrf_of(page.text), "submit": "on"},
                     files={"file": ("目录.xlsx", xlsx.export_xlsx(entries), xlsx.XLSX_MEDIA_TYPE)})
    assert ok.status_code == 200 and "新增 3 条" in ok.text and "报送 3 条" in ok.text


def test_census_pages(client: Any, people: Any, tree: dict[str, Any]) -> None:
    p = people
    _login(client, p.city_reviewer)
    page = client.get("/catalog/census")
    assert page.status_code == 200 and "发起普查" in page.text
    opened = client.post("/catalog/census", data={
        "csrf_token": csrf_of(page.text), "bureau_org_id": str(tree["taiyuan.bureau"].id),
        "title": "太原市2025年普查", "period_start": "2025-01-01", "period_end": "2025-06-30",
        "due_date": "2025-06-30"})
    assert "普查已发起" in opened.text and "0%" in opened.text
    census_url = str(opened.url).split("?")[0]
    census_id = census_url.rsplit("/", 1)[1]
    reminded = client.post(f"{census_url}/remind", data={"csrf_token": csrf_of(opened.text)})
    assert "已向未填报单位发送催报" in reminded.text

    _login(client, p.city_editor)
    home = client.get("/")
    assert "普查催报" in home.text  # the dashboard card
    respond_url = f"/catalog/census/{census_id}/respond/{tree['taiyuan.hr'].id}"
    form = client.get(respond_url)
    assert form.status_code == 200 and "请于 2025-06-30 前完成" in form.text
    unconfirmed = client.post(respond_url, data={
        "csrf_token": csrf_of(form.text), "systems.0.name": "就业系统", "action": "submit"})
    assert unconfirmed.status_code == 422 and "请先确认本单位目录" in unconfirmed.text
    handed = client.post(respond_url, data={
        "csrf_token": csrf_of(form.text), "systems.0.name": "就业系统",
        "systems.0.purpose": "就业登记", "catalog_confirmed": "on", "action": "submit"})
    assert "填报已提交" in handed.text and "已填报" in handed.text

    _login(client, p.city_reviewer)
    dashboard = client.get(census_url)
    assert "50%" in dashboard.text and "就业系统" in dashboard.text
    assert "太原市小店区人力资源和社会保障局" in dashboard.text.split('id="without-catalog"')[1]


@pytest.mark.parametrize("path", ["/catalog", "/catalog/review", "/catalog/census",
                                  "/catalog/elements", "/catalog/new", "/catalog/import"])
def test_pages_render_in_english_too(client: Any, people: Any, path: str) -> None:
    _login(client, people.reviewer if "review" in path or "census" in path else people.editor)
    client.get("/lang/en?next=/")
    page = client.get(path)
    assert page.status_code == 200, page.text[:500]
    assert "catalog." not in re.sub(r"<[^>]+>", "", page.text)  # no untranslated keys


def test_data_elements_page(client: Any, people: Any) -> None:
    _login(client, people.reviewer)
    page = client.get("/catalog/elements")
    bad = client.post("/catalog/elements", data={"csrf_token": csrf_of(page.text),
                                                 "name": "性别", "identifier": "bad id!",
                                                 "data_type": "C"})
    assert bad.status_code == 422
    ok = client.post("/catalog/elements", data={"csrf_token": csrf_of(page.text), "name": "性别",
                                                "identifier": "DE00002", "data_type": "C",
                                                "length": "1", "value_domain": "GB/T 2261.1"})
    assert ok.status_code == 200 and "DE00002" in ok.text
    _login(client, people.editor)
    options = client.get("/catalog/form/elements", params={"index": 2, "items.2.name": "性别"})
    assert "DE00002" in options.text and 'name="items.2.data_element_id"' in options.text
    assert client.post("/catalog/elements", data={"csrf_token": csrf_of(page.text),
                                                  "name": "x"}).status_code == 403
