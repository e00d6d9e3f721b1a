"""The `gongshu catalog` contract: import (all or nothing, every error with row, column and
message, exit 1), export in four formats, search with JSON hits."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from gongshu.catalog.transfer import xlsx
from gongshu.cli.main import build_app
from gongshu.demo.builder import synthetic_uscc

HR = "山西省人力资源和社会保障厅"


@pytest.fixture
def gongshu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("GONGSHU_DATA_DIR", str(data_dir))
    monkeypatch.delenv("GONGSHU_DATABASE_URL", raising=False)
    runner = CliRunner()
    app = build_app()

    def run(*args: str) -> Any:
        return runner.invoke(app, list(args), catch_exceptions=False)

    assert run("init").exit_code == 0
    for args in (("山西省人民政府", "--kind", "government", "--level", "province", "--region", "140000"),
                 ("山西省数据局", "--kind", "data_bureau", "--parent", "山西省人民政府"),
                 (HR, "--kind", "public_body", "--parent", "山西省人民政府",
                  "--uscc", synthetic_uscc(HR, "140000", "11"), "--code", "SXRST")):
        result = run("org", "create", *args)
        assert result.exit_code == 0, result.output
    run.data_dir = data_dir  # type: ignore[attr-defined]
    return run


def _workbook(sample_entries: list[Any], tmp_path: Path, *, broken: bool) -> Path:
    entries = [e.model_copy(update={
        "provider": e.provider.model_copy(update={"name": HR, "code": "SXRST", "org_id": None}),
        "items": [i.model_copy(update={"data_element_id": None}) for i in e.items]})
        for e in sample_entries]
    book = load_workbook(io.BytesIO(xlsx.export_xlsx(entries)))
    if broken:
        sheet = book["信息资源"]
        headers = [str(c.value).rstrip("*") for c in sheet[1]]
        sheet.cell(row=3, column=headers.index("共享依据") + 1).value = None
        sheet.cell(row=4, column=headers.index("更新周期") + 1).value = "每十年"
        items = book["信息项"]
        item_headers = [str(c.value).rstrip("*") for c in items[1]]
        items.cell(row=5, column=item_headers.index("数据长度") + 1).value = "很长"
    path = tmp_path / ("broken.xlsx" if broken else "catalog.xlsx")
    book.save(path)
    return path


def test_import_with_errors_prints_every_error_and_imports_nothing(
    gongshu: Any, sample_entries: list[Any], tmp_path: Path
) -> None:
    result = gongshu("catalog", "import", str(_workbook(sample_entries, tmp_path, broken=True)))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[:3] == [  # sheet by sheet, row by row, as a person goes through the file
        "信息资源 row 3, column 共享依据: 第十二条：列为有条件共享的，须提供相关依据。",
        "信息资源 row 4, column 更新周期: “每十年”不在代码表“更新周期”中。",
        "信息项 row 5, column 数据长度: 必须是整数。",
    ]
    assert "nothing imported, 3 error(s)" in lines[-1]
    hits = json.loads(gongshu("catalog", "search", "养老保险", "--json").stdout)
    assert hits == []


def test_import_search_and_export(gongshu: Any, sample_entries: list[Any], tmp_path: Path) -> None:
    result = gongshu("catalog", "import", str(_workbook(sample_entries, tmp_path, broken=False)),
                     "--json")
    assert result.exit_code == 0, result.output
    imported = json.loads(result.stdout)
    assert imported["imported"] == 3 and {e["status"] for e in imported["entries"]} == {"submitted"}
    assert [e["row"] for e in imported["entries"]] == [2, 3, 4]

    hits = json.loads(gongshu("catalog", "search", "养老保险 参保", "--json").stdout)
    assert [h["name"] for h in hits] == ["城乡居民养老保险参保信息"]
    hit = hits[0]
    assert hit["resource_code"] == "2030030201/000001" and hit["provider"] == HR
    assert isinstance(hit["score"], float) and hit["score"] > 0
    assert json.loads(gongshu("catalog", "search", "社会保险", "--json").stdout)[0]["name"] == \
        "城乡居民养老保险参保信息"  # 社保 in the keywords, found by its synonym
    table = gongshu("catalog", "search", "人口")
    assert table.exit_code == 0 and "常住人口基本信息" in table.stdout

    for fmt, check in (("xlsx", b"PK"), ("csv", "\ufeff".encode()), ("dcat-jsonld", b"{"),
                       ("dcat-ttl", b"@prefix")):
        out = tmp_path / f"export.{fmt}"
        result = gongshu("catalog", "export", "--format", fmt, "-o", str(out))
        assert result.exit_code == 0, result.output
        assert out.read_bytes().startswith(check)
    parsed = xlsx.parse_workbook((tmp_path / "export.xlsx").read_bytes())
    assert [e.resource_code for e in parsed.entries] == [
        "101001/000001", "2030030201/000001", "307120/000001"]
    published = tmp_path / "published.xlsx"
    assert gongshu("catalog", "export", "--format", "xlsx", "-o", str(published),
                   "--published-only").exit_code == 0
    assert xlsx.parse_workbook(published.read_bytes()).errors[0].code == "empty_file"  # in review
    ttl = (tmp_path / "export.dcat-ttl").read_text(encoding="utf-8")
    assert "dcat:Dataset" not in ttl  # DCAT carries published entries only
    bad = gongshu("catalog", "export", "--format", "pdf", "-o", str(tmp_path / "x"))
    assert bad.exit_code == 2


def test_the_installed_command_keeps_the_contract(gongshu: Any, sample_entries: list[Any],
                                                  tmp_path: Path) -> None:
    """The real `gongshu` executable: errors on stderr, exit status 1, nothing else needed."""
    broken = _workbook(sample_entries, tmp_path, broken=True)
    exe = Path(sys.executable).with_name("gongshu")
    env = {**os.environ, "GONGSHU_DATA_DIR": str(gongshu.data_dir)}
    done = subprocess.run([str(exe), "catalog", "import", str(broken)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 1
    assert "row 3, column 共享依据" in done.stderr and "row 4, column 更新周期" in done.stderr
    assert "row 5, column 数据长度" in done.stderr
