"""The audit log as an auditor reads it (page, API, CLI): Chinese action labels, objects by
name with links, labelled details, one-line local times, filters by object and organisation,
and exports (CSV, XLSX) whose cells cannot be formulas, each export itself audited."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from typer.testing import CliRunner

from gongshu.core.audit import AuditEvent
from support import web_login

FORMULA = "=cmd|' /C calc'!A0"
TIME_CELL = re.compile(r'<td class="audit-time">(.*?)</td>', re.S)


@pytest.fixture
def scene(make_entry: Callable[..., Any], make_user: Any, client: Any) -> dict[str, Any]:
    """An entry of province.hr, one of taiyuan.hr (named like a formula), a user, an auditor of
    the whole province signed in on ``client``."""
    hr_entry = make_entry(name="人口基础信息审计测试")
    ty_entry = make_entry(name=FORMULA, org="taiyuan.hr")
    person = make_user("zhang.san", "catalog_editor", "province.hr")
    auditor = make_user("aud.reader", "auditor", "province", subtree=True)
    web_login(client, auditor.username, auditor.password)
    return {"hr": hr_entry, "ty": ty_entry, "person": person, "auditor": auditor}


def rows_of(page: str) -> str:
    return page[page.index("<tbody>"):page.index("</tbody>")]


def test_page_reads_in_chinese_with_names_links_fields_and_one_line_times(
        client: Any, scene: dict[str, Any]) -> None:
    page = client.get("/audit")
    assert page.status_code == 200
    body = rows_of(page.text)
    assert "编制目录" in body and "新建用户" in body
    hr = scene["hr"]
    assert f'href="/catalog/{hr.id}">{hr.resource_code} 人口基础信息审计测试</a>' in body
    person = scene["person"].user
    assert f'href="/users/{person.id}">zhang.san (zhang.san)</a>' in body
    assert "<dt>资源代码</dt>" in body
    assert "{&#34;" not in body and '{"' not in body  # no raw JSON
    times = TIME_CELL.findall(body)
    assert times and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", t) for t in times)

    seq = client.app.state.runtime  # the detail page of the entry's creation
    with seq.db.transaction(write=False) as db:
        event = db.scalars(select(AuditEvent).where(AuditEvent.target_id == str(hr.id))).first()
    detail = client.get(f"/audit/{event.seq}")
    assert detail.status_code == 200
    assert "<dt>资源代码</dt><dd>" + hr.resource_code in detail.text
    assert f'href="/catalog/{hr.id}"' in detail.text and "(Asia/Shanghai)" in detail.text
    assert "<pre" not in detail.text


def test_page_filters_by_object_and_organisation(client: Any, scene: dict[str, Any],
                                                 tree: dict[str, Any]) -> None:
    hr, ty = scene["hr"], scene["ty"]
    by_name = rows_of(client.get("/audit", params={"object": "人口基础信息审计"}).text)
    assert f"/catalog/{hr.id}" in by_name and f"/catalog/{ty.id}" not in by_name
    assert "/users/" not in by_name
    by_code = rows_of(client.get("/audit", params={"object": hr.resource_code,
                                                   "target_type": "catalog_entry"}).text)
    assert f"/catalog/{hr.id}" in by_code and f"/catalog/{ty.id}" not in by_code
    by_id = rows_of(client.get("/audit", params={"object": f"catalog_entry:{ty.id}"}).text)
    assert f"/catalog/{ty.id}" in by_id and f"/catalog/{hr.id}" not in by_id
    page = client.get("/audit", params={"org": tree["taiyuan"].path})
    assert f'value="{tree["taiyuan"].path}" selected' in page.text  # the organisation picker
    by_org = rows_of(page.text)
    assert f"/catalog/{ty.id}" in by_org and f"/catalog/{hr.id}" not in by_org


def test_api_filters_and_names(client: Any, scene: dict[str, Any], token_for: Any,
                               tree: dict[str, Any]) -> None:
    headers = token_for(scene["auditor"])
    hr, ty = scene["hr"], scene["ty"]
    found = client.get("/api/v1/audit/events", params={"q": "人口基础信息审计"}, headers=headers)
    assert found.status_code == 200
    items = found.json()["items"]
    assert items and {i["target_id"] for i in items} == {str(hr.id)}
    assert items[0]["target_name"].endswith("人口基础信息审计测试")
    by_org = client.get("/api/v1/audit/events", params={"org_path": tree["taiyuan.hr"].path},
                        headers=headers).json()["items"]
    assert by_org and all(i["org_id"] == str(tree["taiyuan.hr"].id) for i in by_org)
    assert str(ty.id) in {i["target_id"] for i in by_org}
    none = client.get("/api/v1/audit/events", params={"q": "no-such-object-anywhere"},
                      headers=headers).json()["items"]
    assert none == []


def _export_events(runtime: Any) -> list[AuditEvent]:
    with runtime.db.transaction(write=False) as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.action == "audit.export")))


def _csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_api_and_page_exports_neutralise_formulas_and_are_audited(
        client: Any, scene: dict[str, Any], token_for: Any, runtime: Any) -> None:
    headers = token_for(scene["auditor"])
    ty = scene["ty"]
    got = client.get("/api/v1/audit/export", params={"format": "csv", "q": FORMULA},
                     headers={**headers, "Accept-Language": "zh-CN"})
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    rows = _csv_rows(got.content)
    assert rows[0][:3] == ["序号", "时间（北京时间）", "操作人"]
    assert len(rows) > 1 and all(r[9] == str(ty.id) for r in rows[1:])
    cells = [c for r in rows for c in r]
    assert any(c.endswith(FORMULA) for c in cells)
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)
    assert "编制目录" in cells

    page = client.get("/audit/export", params={"format": "xlsx", "object": FORMULA})
    assert page.status_code == 200
    sheet = load_workbook(io.BytesIO(page.content)).active
    values = [c.value for row in sheet.iter_rows() for c in row]
    assert any(isinstance(v, str) and v.endswith(FORMULA) for v in values)
    assert not any(isinstance(v, str) and v.startswith("=") for v in values)
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)

    exported = _export_events(runtime)
    assert len(exported) == 2
    assert {e.details_dict["format"] for e in exported} == {"csv", "xlsx"}
    assert all(e.actor_name == "aud.reader" for e in exported)
    assert exported[0].details_dict["filters"]["object_query"] == FORMULA


def test_export_needs_the_audit_permission(client: Any, make_user: Any, token_for: Any) -> None:
    admin = make_user("adm.noaudit", "admin", "province", subtree=True)
    assert client.get("/api/v1/audit/export", headers=token_for(admin)).status_code == 403


def test_cli_export(settings: Any, runtime: Any, scene: dict[str, Any], tmp_path: Any,
                    monkeypatch: pytest.MonkeyPatch, tree: dict[str, Any]) -> None:
    from gongshu.cli.main import build_app

    monkeypatch.setenv("GONGSHU_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GONGSHU_DATABASE_URL", settings.effective_database_url)
    monkeypatch.delenv("GONGSHU_AUDIT_CHECKPOINT_DIR", raising=False)
    runner, app = CliRunner(), build_app()
    out_csv, out_xlsx = tmp_path / "a.csv", tmp_path / "a.xlsx"
    done = runner.invoke(app, ["audit", "export", "--format", "csv", "-o", str(out_csv),
                               "--org", tree["taiyuan.hr"].name], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    rows = _csv_rows(out_csv.read_bytes())
    assert len(rows) > 1 and all(r[4].startswith(tree["taiyuan.hr"].path) for r in rows[1:])
    assert any(c == "'" + FORMULA or c.endswith(FORMULA) for r in rows for c in r)
    assert not any(c.startswith("=") for r in rows for c in r)
    done = runner.invoke(app, ["audit", "export", "--format", "xlsx", "-o", str(out_xlsx),
                               "--object", FORMULA, "--lang", "en"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    sheet = load_workbook(out_xlsx).active
    assert sheet.cell(1, 1).value == "No."
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
    assert len(_export_events(runtime)) == 2
    bad = runner.invoke(app, ["audit", "export", "--format", "pdf", "-o", str(tmp_path / "x")])
    assert bad.exit_code != 0 and not (tmp_path / "x").exists()
    bad = runner.invoke(app, ["audit", "export", "-o", str(tmp_path / "y"), "--org", "不存在的单位"])
    assert bad.exit_code != 0 and not (tmp_path / "y").exists()
    assert len(_export_events(runtime)) == 2  # refused exports are not recorded
    by_path = runner.invoke(app, ["audit", "export", "-o", str(tmp_path / "z.csv"),
                                  "--org", tree["taiyuan"].path], catch_exceptions=False)
    assert by_path.exit_code == 0
    under_taiyuan = _csv_rows((tmp_path / "z.csv").read_bytes())[1:]
    assert len(under_taiyuan) > len(rows) - 1  # the whole city: taiyuan.hr and more
    assert all(r[4].startswith(tree["taiyuan"].path) for r in under_taiyuan)


def test_names_are_resolved_in_one_query_per_type(runtime: Any, scene: dict[str, Any],
                                                  make_entry: Callable[..., Any]) -> None:
    """Not N+1: naming a page of events costs one query per target type, however many rows."""
    from sqlalchemy import event as sa_event

    from gongshu.audit import service

    for i in range(5):
        make_entry(name=f"批量目录{i}")
    with runtime.db.transaction(write=False) as db:
        events, _ = service.list_events(scene["auditor"].actor, db, limit=200)
        kinds = {e.target_type for e in events if e.target_type in service.RESOLVERS}
        assert len([e for e in events if e.target_type == "catalog_entry"]) >= 7
        statements: list[str] = []
        mine = db.connection()  # the app's start-up threads may query the same engine meanwhile

        def count(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if conn is mine:
                statements.append(statement)

        engine = db.get_bind()
        sa_event.listen(engine, "before_cursor_execute", count)
        try:
            refs = service.objects(db, events)
        finally:
            sa_event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == len(kinds)
    named = [r for r in refs.values() if r.target_type == "catalog_entry"]
    assert all(r.name and r.href.startswith("/catalog/") for r in named)


def test_unknown_types_fall_back_to_the_type_and_the_whole_id() -> None:
    from gongshu.audit.service import ObjectRef

    ref = ObjectRef("some_new_type", "01a24c6a-1111-7222-8333-444455556666", "", "")
    assert ref.text("新对象") == "新对象 01a24c6a-1111-7222-8333-444455556666"
    assert ObjectRef("", "", "", "").text("x") == ""


def test_cli_list_reads_like_the_page(settings: Any, runtime: Any, scene: dict[str, Any],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from gongshu.cli.main import build_app

    monkeypatch.setenv("GONGSHU_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GONGSHU_DATABASE_URL", settings.effective_database_url)
    monkeypatch.delenv("GONGSHU_AUDIT_CHECKPOINT_DIR", raising=False)
    monkeypatch.setenv("COLUMNS", "250")
    done = CliRunner().invoke(build_app(), ["audit", "list", "--action", "catalog."],
                              catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "编制目录" in done.output and "人口基础信息审计测试" in done.output
    assert "{" not in done.output


def test_page_in_english(client: Any, scene: dict[str, Any]) -> None:
    body = rows_of(client.get("/audit", params={"lang": "en"}).text)
    assert "Catalog entry compiled" in body and "<dt>Resource code</dt>" in body
    assert "编制目录" not in body
