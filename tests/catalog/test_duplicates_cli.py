"""`gongshu catalog duplicates`: the declaration path of duplicate collection (Art. 12) — a
project's planned items from a file or --items, matched against published entries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from gongshu.catalog.duplicates import PlannedItem, parse_items_text, planned_from_rows
from gongshu.cli.main import build_app

TYPES = {"C": "C", "字符型": "C", "Character": "C", "D": "D", "日期型": "D", "T": "T"}


@pytest.fixture
def cli(runtime: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The `gongshu` command over the test's database (either backend)."""
    monkeypatch.setenv("GONGSHU_DATA_DIR", str(runtime.settings.data_dir))
    monkeypatch.setenv("GONGSHU_DATABASE_URL", runtime.settings.database_url)
    runner, app = CliRunner(), build_app()
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def published(catalog_ops: Any, people: Any) -> Any:
    return catalog_ops.publish(people.city_editor.actor, people.city_reviewer.actor, "taiyuan.hr",
                               name="太原市人口信息")


def test_items_option(cli: Any, published: Any) -> None:
    result = cli("catalog", "duplicates", "--items", "身份证号码:C，姓名:字符型, 婚姻状况", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["items"] == 3 and answer["need"] == 2
    [match] = answer["matches"]
    assert match["entry_id"] == str(published) and match["strong"]
    assert match["provider"] == "太原市人力资源和社会保障局"
    assert [(i["name"], i["matched_name"]) for i in match["items"]] == [
        ("身份证号码", "公民身份号码"), ("姓名", "姓名")]
    # the collecting body's own entries are not named
    own = cli("catalog", "duplicates", "--items", "身份证号码:C,姓名:C", "--json",
              "--provider", "太原市人力资源和社会保障局")
    assert own.exit_code == 0 and json.loads(own.stdout)["matches"] == []
    table = cli("catalog", "duplicates", "--items", "身份证号码:C,姓名:C")
    assert table.exit_code == 0 and "1 entries could provide 2 planned items" in table.stdout


def test_a_workbook_and_a_csv(cli: Any, published: Any, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["序号", "信息项名称", "数据类型"])
    for row in ([1, "公民身份号码", "字符型"], [2, "出生时间", "T"], [3, "车牌号", "C"]):
        sheet.append(row)
    path = tmp_path / "planned.xlsx"
    book.save(path)
    result = cli("catalog", "duplicates", str(path), "--json")
    assert result.exit_code == 0, result.output
    [match] = json.loads(result.stdout)["matches"]
    assert [i["matched_name"] for i in match["items"]] == ["公民身份号码", "出生日期"]
    csv = tmp_path / "planned.csv"
    csv.write_bytes("name,type\n姓名,C\n车牌号,C\n".encode("gbk"))
    weak = json.loads(cli("catalog", "duplicates", str(csv), "--json", "--weak").stdout)
    assert [(m["strong"], m["share"]) for m in weak["matches"]] == [(False, 0.5)]


@pytest.mark.parametrize("args", [
    ("--items", "姓名:Q"),  # an unknown type
    ("--items", " , "),  # nothing
    (),
])
def test_bad_input_exits_2(cli: Any, args: tuple[str, ...]) -> None:
    result = cli("catalog", "duplicates", *args)
    assert result.exit_code == 2 and "error:" in result.output


PARSE_CASES = [
    ("姓名:C,身份证号：字符型", [PlannedItem("姓名", "C"), PlannedItem("身份证号", "C")], []),
    ("姓名;出生日期:D；", [PlannedItem("姓名"), PlannedItem("出生日期", "D")], []),
    ("姓名:Z", [], ["item 1 (姓名): unknown data type 'Z'"]),
    ("—:C", [], []),
]


@pytest.mark.parametrize(("text", "items", "problems"), PARSE_CASES)
def test_parse_items_text(text: str, items: list[PlannedItem], problems: list[str]) -> None:
    assert parse_items_text(text, TYPES) == (items, problems)


def test_planned_from_rows() -> None:
    rows = [("1", "姓名", "Character", "XM"), ("2", "", "C", ""), ("3", "出生", "X", "")]
    items, problems = planned_from_rows(["No", "Item", "Type", "Code"], rows, TYPES)
    assert items == [PlannedItem("姓名", "C", code="XM")]
    assert problems == ["row 4, column Type: unknown data type 'X'"]
    # without a known name header, the first column holds the names
    assert planned_from_rows(["字段"], [("姓名",)], TYPES)[0] == [PlannedItem("姓名")]
