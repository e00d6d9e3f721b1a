"""`gongshu library ingest|versions|list` and `gongshu scan`, run as an operator would."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gongshu.catalog import service as catalog
from gongshu.cli.main import build_app
from gongshu.core.config import Settings
from gongshu.core.migrations import upgrade
from gongshu.core.runtime import Runtime
from gongshu.demo.builder import synthetic_uscc
from gongshu.orgs import service as orgs
from library.data import ENTRY, SYSTEM, register_rows, write_file

ROWS = register_rows(25)


@pytest.fixture
def gongshu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("GONGSHU_DATA_DIR", str(data_dir))
    monkeypatch.delenv("GONGSHU_DATABASE_URL", raising=False)
    rt = Runtime(Settings(data_dir=data_dir))
    upgrade(rt.db)
    with rt.db.transaction() as db:
        gov = orgs.create_organization(SYSTEM, db, name="山西省人民政府", kind="government",
                                       level="province", region_code="140000")
        body = orgs.create_organization(
            SYSTEM, db, name="山西省人力资源和社会保障厅", kind="public_body", level="province",
            region_code="140000", parent_id=gov.id,
            uscc=synthetic_uscc("山西省人力资源和社会保障厅", "140000", "11"))
        entry = catalog.create_entry(SYSTEM, db, copy.deepcopy(ENTRY), provider_org_id=body.id)
        code = entry.resource_code
    rt.close()
    runner = CliRunner()
    app = build_app()

    def run(*args: str) -> Any:
        return runner.invoke(app, list(args), catch_exceptions=False)

    run.code = code  # type: ignore[attr-defined]
    return run


def test_ingest_and_versions(gongshu: Any, tmp_path: Path) -> None:
    path = write_file(tmp_path / "people.csv", ROWS, encoding="gbk")
    result = gongshu("library", "ingest", str(path), "--entry", gongshu.code)
    assert result.exit_code == 0, result.output
    assert "stored version 1: 25 rows" in result.stdout
    again = gongshu("library", "ingest", str(path), "--entry", gongshu.code, "--json")
    outcome = json.loads(again.stdout)
    assert outcome["status"] == "succeeded" and outcome["version"] == 2
    assert outcome["report"]["source"]["encoding"] == "gb18030"
    versions = json.loads(gongshu("library", "versions", gongshu.code, "--json").stdout)
    assert [(v["version"], v["current"], v["rows"]) for v in versions] == [(2, True, 25),
                                                                           (1, False, 25)]
    table = gongshu("library", "versions", gongshu.code)
    assert table.exit_code == 0 and "2 *" in table.stdout  # the current version is starred
    listed = json.loads(gongshu("library", "list", "--json").stdout)
    assert listed == [{"resource_code": gongshu.code, "name": ENTRY["name"], "kind": "base",
                       "versions": 2, "rows": 25}]


def test_a_mismatch_prints_every_problem_and_exits_1(gongshu: Any, tmp_path: Path) -> None:
    path = write_file(tmp_path / "bad.csv", [r[:2] for r in ROWS], header=["姓名", "证件号"])
    result = gongshu("library", "ingest", str(path), "--entry", gongshu.code)
    assert result.exit_code == 1
    assert "missing" in result.stderr and "extra 证件号" in result.stderr
    assert "rejected" in result.stderr
    assert json.loads(gongshu("library", "versions", gongshu.code, "--json").stdout) == []


def test_a_column_mapping_on_the_command_line(gongshu: Any, tmp_path: Path) -> None:
    from library.data import HEADER

    path = write_file(tmp_path / "renamed.csv", ROWS, header=["姓名", "证件号", "电话",
                                                             *HEADER[3:]])
    assert gongshu("library", "ingest", str(path), "--entry", gongshu.code).exit_code == 1
    result = gongshu("library", "ingest", str(path), "--entry", gongshu.code, "--map",
                     "证件号=GMSFHM", "--map", "电话=联系电话", "--json")
    assert result.exit_code == 0, result.output
    by = {c["code"]: (c["source"], c["by"]) for c in json.loads(result.stdout)["report"]["columns"]}
    assert by["GMSFHM"] == ("证件号", "mapping") and by["LXDH"] == ("电话", "mapping")
    wrong = gongshu("library", "ingest", str(path), "--entry", gongshu.code, "--map", "证件号")
    assert wrong.exit_code == 2 and "COLUMN=ITEM" in wrong.output


def test_ingest_a_database_table(gongshu: Any, tmp_path: Path) -> None:
    path = write_file(tmp_path / "people.db", ROWS)
    result = gongshu("library", "ingest", f"sqlite:///{path}", "--table", "people", "--entry",
                     gongshu.code, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == 25


def test_unknown_entry(gongshu: Any, tmp_path: Path) -> None:
    path = write_file(tmp_path / "p.csv", ROWS)
    result = gongshu("library", "ingest", str(path), "--entry", "999999/000001")
    assert result.exit_code == 1 and "catalog_entry_not_found" in result.stderr


def test_scan_is_a_top_level_command(gongshu: Any, tmp_path: Path) -> None:
    path = write_file(tmp_path / "people.csv", ROWS)
    result = gongshu("scan", str(path), "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert list(report) == ["file", "rows_scanned", "suggested_grade", "columns"]
    assert report["rows_scanned"] == 25 and report["suggested_grade"] == "general-4"
    ident = next(c for c in report["columns"] if c["name"] == "公民身份号码")
    assert ident["detections"][0] == {"type": "cn_id", "ratio": 1.0, "count": 25}
