"""The catalog through the real app and its JSON API, as another system uses it."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from openpyxl import load_workbook

from gongshu.catalog.transfer import xlsx

API = "/api/v1/catalog"


@pytest.fixture
def tokens(people: Any, token_for: Any) -> dict[str, dict[str, str]]:
    return {name: token_for(getattr(people, name))
            for name in ("editor", "reviewer", "city_reviewer", "outsider", "steward",
                         "city_editor")}


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text[:800]
    return response.json()


def test_the_journey_through_the_api(client: Any, tokens: dict[str, Any], valid_entry: Any,
                                     tree: dict[str, Any]) -> None:
    ed, rv, out = tokens["editor"], tokens["reviewer"], tokens["outsider"]
    data = {**valid_entry, "provider": {**valid_entry["provider"],
                                        "org_id": str(tree["province.hr"].id)}}
    bad = client.post(f"{API}/entries", headers=ed,
                      json={**data, "sharing": {"type": "conditional"}, "opening": {"type": "open"}})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem")
    assert {e["field"] for e in bad.json()["errors"]} >= {
        "sharing.condition", "sharing.legal_basis", "opening.type"}
    report = _ok(client.post(f"{API}/entries/validate", headers=ed,
                             json={**data, "sharing": {"type": "not_shared"}}))
    assert not report["valid"]
    assert any(e["message"].startswith("Art. 12") for e in report["errors"])  # the API's English

    entry = _ok(client.post(f"{API}/entries", headers=ed, json=data), 201)
    entry_id, code = entry["id"], entry["resource_code"]
    assert entry["status"] == "draft" and code == "101001/000001"
    assert entry["provider"]["name"] == "山西省人力资源和社会保障厅"  # as the platform names it
    assert client.get(f"{API}/entries/{entry_id}", headers=out).status_code == 404

    _ok(client.post(f"{API}/entries/{entry_id}/submit", headers=ed, json={"comment": "请审核"}))
    # another bureau's reviewer does not know of the submission: answered as if it did not exist
    assert client.post(f"{API}/entries/{entry_id}/approve", headers=tokens["city_reviewer"],
                       json={}).json()["code"] == "catalog_entry_not_found"
    returned = _ok(client.post(f"{API}/entries/{entry_id}/return", headers=rv,
                               json={"comment": "摘要过短，请补充。"}))
    assert returned["status"] == "returned"
    fixed = _ok(client.put(f"{API}/entries/{entry_id}", headers=ed,
                           json={**data, "summary": data["summary"] + "按月更新，覆盖全省。"}))
    assert fixed["status"] == "returned" and fixed["version"] == 1
    _ok(client.post(f"{API}/entries/{entry_id}/submit", headers=ed))
    published = _ok(client.post(f"{API}/entries/{entry_id}/approve", headers=rv,
                                json={"comment": "同意"}))
    assert published["status"] == "published" and published["publish_date"]
    assert _ok(client.get(f"{API}/entries/by-code", params={"code": code}, headers=out))["id"] == entry_id

    revision = _ok(client.post(f"{API}/entries/{entry_id}/revise", headers=ed,
                               json={"change_note": "增加信息项"}))
    assert revision["version"] == 2 and revision["published_version"] == 1
    patched = _ok(client.patch(f"{API}/entries/{entry_id}", headers=ed, json={
        "items": [*data["items"], {"name": "民族", "code": "MZ", "data_type": "C", "length": 2}]}))
    assert [i["code"] for i in patched["items"]] == ["GMSFHM", "XM", "CSRQ", "MZ"]
    _ok(client.post(f"{API}/entries/{entry_id}/submit", headers=ed))
    seen = _ok(client.get(f"{API}/entries/{entry_id}", headers=out))
    assert seen["version"] == 1 and len(seen["items"]) == 3  # the published one, meanwhile
    _ok(client.post(f"{API}/entries/{entry_id}/approve", headers=rv, json={"publish": False}))
    final = _ok(client.post(f"{API}/entries/{entry_id}/publish", headers=rv))
    assert final["version"] == 2 and final["resource_code"] == code

    versions = _ok(client.get(f"{API}/entries/{entry_id}/versions", headers=out))
    assert [(v["number"], v["status"]) for v in versions] == [(1, "superseded"), (2, "published")]
    diff = _ok(client.get(f"{API}/entries/{entry_id}/diff", params={"from": 1, "to": 2},
                          headers=out))
    assert [(c["path"], c["kind"], c["after"]) for c in diff["changes"]] == [
        ("items.MZ", "added", "民族")]
    trail = _ok(client.get(f"{API}/entries/{entry_id}/reviews", headers=ed))
    assert [r["action"] for r in trail] == ["submit", "return", "submit", "approve", "publish",
                                            "revise", "submit", "approve", "publish"]
    assert trail[1]["comment"] == "摘要过短，请补充。"

    graded = _ok(client.put(f"{API}/entries/{entry_id}/grade", headers=tokens["steward"],
                            json={"grade": "一般数据", "reasons": ["含个人信息"]}))
    assert graded["grade"] == "一般数据" and graded["grade_reasons"] == ["含个人信息"]
    found = _ok(client.get(f"{API}/search", params={"q": "常住人口", "grade": "一般数据"},
                           headers=out))
    assert [h["resource_code"] for h in found["data"]] == [code]
    assert found["facets"]["sharing_type"] == [
        {"value": "unconditional", "label": "Unconditional sharing", "count": 1}]


def test_lists_queue_and_visibility(client: Any, tokens: dict[str, Any], catalog_ops: Any,
                                    people: Any) -> None:
    from gongshu.catalog import flows

    draft = catalog_ops.create(people.editor.actor, name="草稿")
    waiting = catalog_ops.create(people.editor.actor, name="待审")
    catalog_ops.run(flows.submit, people.editor.actor, waiting)
    queue = _ok(client.get(f"{API}/review-queue", headers=tokens["reviewer"]))
    assert [e["id"] for e in queue["data"]] == [str(waiting)]
    assert client.get(f"{API}/review-queue", headers=tokens["editor"]).status_code == 403
    mine = _ok(client.get(f"{API}/entries", params={"mine": True}, headers=tokens["editor"]))
    assert {e["id"] for e in mine["data"]} == {str(draft), str(waiting)}
    assert _ok(client.get(f"{API}/entries", headers=tokens["outsider"]))["count"] == 0
    assert client.delete(f"{API}/entries/{draft}/draft", headers=tokens["editor"]).status_code == 204
    assert client.get(f"{API}/entries/{draft}", headers=tokens["editor"]).status_code == 404


def test_import_over_the_api_is_all_or_nothing(client: Any, tokens: dict[str, Any],
                                               import_workbook: Any) -> None:
    book, headers, entries = import_workbook
    sheet = book["信息资源"]
    sheet.cell(row=3, column=headers.index("共享条件或不予共享理由") + 1).value = None
    sheet.cell(row=4, column=headers.index("更新周期") + 1).value = "每十年"
    out = io.BytesIO()
    book.save(out)
    files = {"file": ("catalog.xlsx", out.getvalue(), xlsx.XLSX_MEDIA_TYPE)}
    failed = client.post(f"{API}/import", headers={**tokens["editor"], "Accept-Language": "zh-CN"},
                         files=files)
    assert failed.status_code == 422, failed.text
    problem = failed.json()
    assert problem["code"] == "catalog_import_failed"
    assert {(e["row"], e["field"]) for e in problem["errors"]} == {
        (3, "共享条件或不予共享理由"), (4, "更新周期")}
    assert any("每十年" in e["message"] for e in problem["errors"])
    assert _ok(client.get(f"{API}/entries", params={"mine": True}, headers=tokens["editor"]))[
        "count"] == 0
    good = {"file": ("catalog.xlsx", xlsx.export_xlsx(entries), xlsx.XLSX_MEDIA_TYPE)}
    done = _ok(client.post(f"{API}/import", headers=tokens["editor"], files=good,
                           data={"submit": "true"}), 201)
    assert done["created"] == 3 and done["submitted"] == 3
    assert [e["row"] for e in done["entries"]] == [2, 3, 4]
    assert {e["status"] for e in done["entries"]} == {"submitted"}


def test_exports_and_template(client: Any, tokens: dict[str, Any], catalog_ops: Any,
                              people: Any) -> None:
    catalog_ops.publish(people.editor.actor, people.reviewer.actor)
    out = tokens["outsider"]
    template = client.get(f"{API}/template", headers=out)
    assert template.status_code == 200
    assert load_workbook(io.BytesIO(template.content)).sheetnames[0] == "信息资源"
    as_xlsx = client.get(f"{API}/export", params={"format": "xlsx"}, headers=out)
    assert as_xlsx.headers["content-type"] == xlsx.XLSX_MEDIA_TYPE
    assert [e.resource_code for e in xlsx.parse_workbook(as_xlsx.content).entries] == [
        "101001/000001"]
    as_csv = client.get(f"{API}/export", params={"format": "csv"}, headers=out)
    assert "常住人口基本信息" in as_csv.content.decode("utf-8-sig")
    jsonld = client.get(f"{API}/export", params={"format": "dcat-jsonld"}, headers=out)
    assert "dcat" in json.dumps(jsonld.json())
    ttl = client.get(f"{API}/export", params={"format": "dcat-ttl"}, headers=out)
    assert ttl.headers["content-type"].startswith("text/turtle") and "dcat:Dataset" in ttl.text
    assert client.get(f"{API}/export", params={"format": "pdf"}, headers=out).status_code == 422
    lists = _ok(client.get(f"{API}/vocab", headers=out))
    assert [v["code"] for v in lists["sharing_types"]["values"]] == [
        "unconditional", "conditional", "not_shared"]


def test_data_elements_over_the_api(client: Any, tokens: dict[str, Any]) -> None:
    element = {"name": "公民身份号码", "identifier": "DE01001", "data_type": "C", "length": 18,
               "standard": "GB 11643-1999"}
    assert client.post(f"{API}/data-elements", headers=tokens["editor"], json=element).status_code == 403
    created = _ok(client.post(f"{API}/data-elements", headers=tokens["reviewer"], json=element), 201)
    again = client.post(f"{API}/data-elements", headers=tokens["reviewer"], json=element)
    assert again.status_code == 422 and again.json()["errors"][0]["code"] == "duplicate_identifier"
    assert _ok(client.get(f"{API}/data-elements", headers=tokens["editor"]))["count"] == 1
    suggested = _ok(client.get(f"{API}/data-elements/suggest", params={"name": "身份号码"},
                               headers=tokens["editor"]))
    assert [e["id"] for e in suggested] == [created["id"]]
    assert _ok(client.get(f"{API}/data-elements/{created['id']}", headers=tokens["outsider"]))[
        "identifier"] == "DE01001"


def test_census_over_the_api(client: Any, tokens: dict[str, Any], tree: dict[str, Any]) -> None:
    bureau = tokens["city_reviewer"]
    opened = _ok(client.post(f"{API}/census", headers=bureau, json={
        "bureau_org_id": str(tree["taiyuan.bureau"].id), "title": "2025年普查",
        "period_start": "2025-01-01", "period_end": "2025-06-30", "due_date": "2025-06-30"}), 201)
    census_id, body = opened["id"], str(tree["taiyuan.hr"].id)
    assert [c["id"] for c in _ok(client.get(f"{API}/census", headers=tokens["city_editor"]))] == [
        census_id]
    saved = _ok(client.put(f"{API}/census/{census_id}/responses/{body}",
                           headers=tokens["city_editor"], json={
                               "systems": [{"name": "就业服务系统", "on_government_cloud": False}],
                               "catalog_confirmed": True}))
    assert saved["systems"][0]["name"] == "就业服务系统"
    _ok(client.post(f"{API}/census/{census_id}/responses/{body}/submit",
                    headers=tokens["city_editor"]))
    assert _ok(client.post(f"{API}/census/{census_id}/remind", headers=bureau))["reminded"] == 1
    progress = _ok(client.get(f"{API}/census/{census_id}/progress", headers=bureau))
    assert progress["submitted"] == 1 and len(progress["regions"]) == 2
    summary = _ok(client.get(f"{API}/census/{census_id}/summary", headers=bureau))
    assert summary["should_migrate"] == 1 and summary["off_cloud"][0]["name"] == "就业服务系统"
    assert client.get(f"{API}/census/{census_id}/summary",
                      headers=tokens["city_editor"]).status_code == 403
    assert _ok(client.post(f"{API}/census/{census_id}/close", headers=bureau))["status"] == "closed"
