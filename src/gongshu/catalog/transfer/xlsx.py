"""Catalogs in Excel: the template, the import, and the export (xlsx and CSV).

Public bodies keep their catalogs in spreadsheets (Art. 9 asks each to compile one). The
workbook has four sheets:

- ``信息资源``: one row per catalog entry, Chinese headers, ``*`` marking required columns;
- ``信息项``: one row per data item, linked to its entry by the entry's ``序号`` (or, if it has
  none, its exact name) in the ``资源序号`` column;
- ``填写说明``: what each column means and which list its values come from;
- ``代码表``: every value list (code, Chinese, English, source); the dropdowns of coded columns
  read from it. People pick or type the Chinese label; the code, the guide's number or the
  English label are accepted too.

Import is all or nothing: :func:`parse_workbook` checks every cell and every entry (types,
value lists, the Art. 12 and compilation-guide rules of ``rules.py``) and returns either all
entries or every error as (sheet, the row number Excel shows, column header, message), never
a part. The export writes the same sheets and columns, so an export is a filled template that
imports again. The CSV export has one row per data item with the entry's columns repeated
(entries without items get one row), in the same column order, UTF-8 with a BOM so Excel
opens it; :func:`parse_csv` imports it.

No export carries a formula: every cell is written through ``core.exports`` (text that a
spreadsheet would read as a formula gets a leading quote, XLSX cells are typed as text), and
both imports undo that first, so an exported file imports back unchanged.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from gongshu.catalog import codes, rules
from gongshu.catalog.schemas import CatalogEntryBase, CatalogEntryCreate
from gongshu.catalog.vocab import ValueList, vocab
from gongshu.core.errors import FieldError, ValidationFailed
from gongshu.core.exports import restore_cell, write_csv, xlsx_append

ENTRIES_SHEET = "信息资源"
ITEMS_SHEET = "信息项"
GUIDE_SHEET = "填写说明"
LISTS_SHEET = "代码表"
CSV_SHEET = "CSV"

#: Import limits; the web and CLI layers may pass their own (settings, not constants).
MAX_ROWS = 20_000
#: the longest cell read (Excel's own limit); a longer one is an error naming its column
CELL_MAX = 32_767
#: the longest CSV cell read at all (beyond it the file is refused at that line)
CSV_READ_LIMIT = 16 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"

Kind = Literal[
    "key", "link", "text", "int", "date", "code", "subject", "list", "uuid", "resource_code"
]
_LIST_SPLIT = re.compile(r"[;；,，、\n]+")
_INT = re.compile(r"[+-]?[0-9]+(\.0*)?")
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d")


@dataclass(frozen=True, slots=True)
class Column:
    """One spreadsheet column: its header, where its value goes, how a cell is read."""

    header: str
    path: str  # dotted path in the entry (entry columns) or in the data item (item columns)
    kind: Kind
    note: str
    required: bool = False
    list_name: str | None = None
    pad: int = 0  # digits Excel drops from numbers typed into the cell (项 01, 目 001)
    width: int = 14


ENTRY_COLUMNS: tuple[Column, ...] = (
    Column(
        "序号",
        "",
        "key",
        "本表内唯一的行号，信息项表用它指向本资源；可留空，此时按资源名称关联。",
        width=8,
    ),
    Column(
        "信息资源代码",
        "resource_code",
        "resource_code",
        "平台赋予的前段码/后段码；新资源留空，导出的资源保留原代码。",
        width=20,
    ),
    Column(
        "资源属性", "category.resource_kind", "code", "信息资源分类的“类”。", True, "resource_kinds"
    ),
    Column(
        "项",
        "category.subject",
        "subject",
        "信息资源分类的“项”：所选资源属性下的项（名称或两位代码）。",
        True,
        pad=2,
        width=20,
    ),
    Column("目", "category.group", "text", "信息资源分类的“目”：三位数字。", True, pad=3, width=8),
    Column(
        "细目", "category.subgroup", "text", "信息资源分类的“细目”：至多六位数字，可留空。", width=8
    ),
    Column("信息资源名称", "name", "text", "资源的名称。", True, width=28),
    Column(
        "信息资源提供方",
        "provider.name",
        "text",
        "提供资源的公共管理和服务机构名称。",
        True,
        width=22,
    ),
    Column("提供方代码", "provider.code", "text", "部门代码或统一社会信用代码。", True, width=20),
    Column(
        "提供方机构ID",
        "provider.org_id",
        "uuid",
        "平台上提供方机构的标识（UUID），可留空。",
        width=20,
    ),
    Column("信息资源摘要", "summary", "text", "资源内容的简要说明。", True, width=40),
    Column(
        "格式分类", "format.format_class", "code", "信息资源格式的分类。", True, "format_classes"
    ),
    Column(
        "格式类型",
        "format.format_type",
        "code",
        "信息资源格式的类型，须属于所选格式分类。",
        False,
        "format_types",
    ),
    Column(
        "共享类型",
        "sharing.type",
        "code",
        "第十二条：无条件共享、有条件共享或不予共享。",
        True,
        "sharing_types",
    ),
    Column(
        "共享条件或不予共享理由",
        "sharing.condition",
        "text",
        "第十二条：有条件共享和不予共享的须说明理由。",
        width=30,
    ),
    Column(
        "共享依据",
        "sharing.legal_basis",
        "text",
        "第十二条：有条件共享和不予共享的须提供法律法规或政策依据。",
        width=30,
    ),
    Column(
        "共享方式分类",
        "sharing.method_class",
        "code",
        "可共享资源的共享方式。",
        False,
        "sharing_method_classes",
    ),
    Column(
        "共享方式类型",
        "sharing.method_type",
        "code",
        "通过共享平台共享时：数据库、接口或文件。",
        False,
        "sharing_method_types",
    ),
    Column("开放类型", "opening.type", "code", "是否及如何向社会开放。", True, "opening_types"),
    Column("开放条件", "opening.condition", "text", "有条件开放的须填写。", width=24),
    Column("更新周期", "update_cycle", "code", "资源的更新频率。", True, "update_cycles"),
    Column(
        "发布日期", "publish_date", "date", "YYYY-MM-DD，可留空（发布时由平台填写）。", width=12
    ),
    Column(
        "关联资源代码",
        "related_resource_codes",
        "list",
        "相关或来源资源的代码，多个用分号分隔。",
        width=24,
    ),
    Column("涉密属性", "secrecy", "code", "涉密或非涉密。", True, "secrecy"),
    Column("数据性质", "data_kind", "code", "第三条：公共数据或非公共数据。", True, "data_kinds"),
    Column("分级", "grade", "text", "数据分级，可留空，由分级结果填写。", width=12),
    Column("关键词", "keywords", "list", "多个用分号或顿号分隔。", width=24),
)

ITEM_COLUMNS: tuple[Column, ...] = (
    Column("资源序号", "", "link", "所属信息资源的序号（或资源名称）。", True, width=10),
    Column("信息项名称", "name", "text", "字段的中文名称。", True, width=20),
    Column(
        "信息项编码",
        "code",
        "text",
        "字段编码：字母、数字、下划线、点或连字符，本资源内唯一。",
        True,
        width=16,
    ),
    Column(
        "数据类型", "data_type", "code", "信息项的数据类型。", True, "data_item_types", width=12
    ),
    Column("数据长度", "length", "int", "正整数；字符型必填。", width=10),
    Column(
        "数据元ID",
        "data_element_id",
        "uuid",
        "所遵循的数据元在平台上的标识（UUID），可留空。",
        width=20,
    ),
    Column(
        "信息项共享类型",
        "sharing_type",
        "code",
        "留空表示与所属资源相同；不能比资源更开放。",
        False,
        "sharing_types",
    ),
    Column(
        "信息项共享条件或理由",
        "sharing_condition",
        "text",
        "比资源更严格的须说明理由（第十二条）。",
        width=24,
    ),
    Column(
        "信息项共享依据", "legal_basis", "text", "比资源更严格的须提供依据（第十二条）。", width=24
    ),
    Column(
        "信息项开放类型",
        "opening_type",
        "code",
        "留空表示与所属资源相同；不能比资源更开放。",
        False,
        "opening_types",
    ),
)

_KEY = ENTRY_COLUMNS[0]
_LINK = ITEM_COLUMNS[0]


@dataclass(frozen=True, slots=True)
class CellError:
    """One problem in an imported file: where a person finds it, and what is wrong."""

    sheet: str
    row: int | None  # the row number the spreadsheet shows (header = 1); None: the whole file
    column: str  # the column header, "" when the problem is not in one column
    message: str
    code: str
    #: the message's values (``value`` …), so another layer can word it in another language
    params: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        where = f"{self.sheet} 第{self.row}行" if self.row else self.sheet or "文件"
        return (
            f"{where} [{self.column}] {self.message}" if self.column else f"{where} {self.message}"
        )

    def as_field_error(self) -> FieldError:
        return FieldError(
            self.column, self.code, self.message, row=self.row,
            params={**self.params, "sheet": self.sheet},
        )


@dataclass(frozen=True, slots=True)
class ImportedEntry:
    """An entry read from a file: where it was, the code it carried (re-imports), the entry,
    and where each of its data items was (sheet, row), in the entry's item order."""

    sheet: str
    row: int
    key: str | None
    resource_code: str | None
    entry: CatalogEntryCreate
    item_rows: tuple[tuple[str, int], ...] = ()

    def locate(self, path: str) -> tuple[str, int, str]:
        """(sheet, row, column header) of a field of the entry (``items.2.length`` …), for
        problems found after the file was read (the platform's own checks)."""
        parts = path.split(".")
        if parts[0] == "items" and len(parts) > 1 and parts[1].isdigit() \
                and int(parts[1]) < len(self.item_rows):
            sheet, row = self.item_rows[int(parts[1])]
            column = _column_for(".".join(parts[2:]), ITEM_COLUMNS[1:])
            return sheet, row, (column or _LINK).header
        column = _column_for(path, ENTRY_COLUMNS)
        return self.sheet, self.row, (column or _KEY).header


@dataclass(frozen=True, slots=True)
class ImportResult:
    """Either every entry of the file and no errors, or no entries and every error."""

    entries: tuple[ImportedEntry, ...] = ()
    errors: tuple[CellError, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise :class:`ValidationFailed` carrying every error (for services and the API)."""
        if self.errors:
            raise ValidationFailed(
                "The file was not imported: it has errors.",
                errors=[e.as_field_error() for e in self.errors],
                code="catalog_import_failed",
            )


# -- reading cells ----------------------------------------------------------------------------


class _CellProblem(Exception):
    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


def _text(value: Any) -> str | None:
    """A cell as text. Numbers lose the ``.0`` Excel gives whole numbers."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime):
        value = value.date() if value.time() == dt.time() else value
    text = str(value).strip()
    return text or None


def _padded(text: str, width: int) -> str:
    """Put back the leading zeros Excel drops from numbers typed into code cells."""
    return text.zfill(width) if width and text.isdigit() and len(text) < width else text


def _read_int(value: Any) -> int:
    if isinstance(value, bool):
        raise _CellProblem("not_integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = _text(value) or ""
    if _INT.fullmatch(text):
        return int(float(text))
    raise _CellProblem("not_integer", value=text)


def _read_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _text(value) or ""
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise _CellProblem("invalid_date", value=text)


def _read_code(value: Any, list_name: str) -> str:
    text = _text(value) or ""
    term = vocab().get(list_name).resolve(text)
    if term is None:
        raise _CellProblem("not_in_list", value=text, list=vocab().get(list_name).zh)
    return term.code


def _read_subject(text: str, kind: str, pad: int) -> str:
    """A 项 given as its code, its Chinese label, or both (``01 人口``), within its kind."""
    subjects = vocab().subjects[kind]
    lead = re.match(r"^([0-9]{1,2})(?:[\s.、:：-]+(.*))?$", text)
    if lead:
        term = subjects.get(_padded(lead.group(1), pad))
        if term and (not lead.group(2) or lead.group(2).strip() == term.zh):
            return term.code
    term = subjects.resolve(text)
    if term is None:
        raise _CellProblem("subject_not_in_kind", value=text, kind=kind)
    return term.code


def _read_uuid(value: Any) -> UUID:
    try:
        return UUID(_text(value) or "")
    except ValueError:
        raise _CellProblem("invalid_uuid", value=_text(value)) from None


def _read_cell(column: Column, value: Any) -> Any:
    """The value of a non-blank cell for the entry, or raise :class:`_CellProblem`."""
    if column.kind == "int":
        return _read_int(value)
    if column.kind == "date":
        return _read_date(value)
    if column.kind == "uuid":
        return _read_uuid(value)
    if column.kind == "code":
        assert column.list_name is not None
        return _read_code(value, column.list_name)
    text = _text(value) or ""
    if column.kind == "list":
        return [part.strip() for part in _LIST_SPLIT.split(text) if part.strip()]
    if column.kind == "resource_code":
        try:
            return codes.normalize_code(text)
        except codes.InvalidResourceCode:
            raise _CellProblem("invalid_resource_code", value=text) from None
    return _padded(text, column.pad)  # text, key, link; subjects are resolved per entry


# -- the rows of a file -----------------------------------------------------------------------


@dataclass
class _Row:
    sheet: str
    number: int
    cells: dict[str, Any]  # header -> raw cell value (only columns the file has)


@dataclass
class _Report:
    """Errors as they are found; messages in the reader's language."""

    locale: str
    errors: list[CellError] = field(default_factory=list)

    def add(self, sheet: str, row: int | None, column: str, code: str, **params: Any) -> None:
        self.errors.append(
            CellError(sheet, row, column, rules.message(code, params, self.locale), code,
                      _plain(params))
        )

    def add_field_error(self, sheet: str, row: int, column: str, error: FieldError) -> None:
        self.errors.append(
            CellError(sheet, row, column, rules.localize(error, self.locale), error.code,
                      _plain(error.params))
        )


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    """Message values fit for JSON (dates, ids as text)."""
    return {k: v if isinstance(v, str | int | float) else str(v) for k, v in params.items()}


def _header_name(value: Any) -> str:
    return (_text(value) or "").rstrip("*＊").strip()


def _rows(
    sheet: str,
    raw_rows: Iterator[Sequence[Any]],
    columns: Sequence[Column],
    report: _Report,
    max_rows: int,
) -> list[_Row] | None:
    """Read one table: a header row, then data rows; blank rows are skipped. None if the
    header is unusable (a required column missing, a column twice)."""
    header = next(raw_rows, None) or ()
    positions: dict[str, int] = {}
    # an exported file imports back unchanged: undo the export's formula neutralising
    # (core.exports) before a cell is read
    known = {c.header for c in columns}
    usable = True
    for index, value in enumerate(header):
        name = _header_name(value)
        if name in known:
            if name in positions:
                report.add(sheet, 1, name, "duplicate_column", column_name=name)
                usable = False
            positions[name] = index
    for column in columns:
        if column.required and column.header not in positions:
            report.add(sheet, 1, column.header, "missing_column", column_name=column.header)
            usable = False
    if not usable:
        return None
    out: list[_Row] = []
    for number, values in enumerate(raw_rows, start=2):
        cells = {
            h: restore_cell(values[i]) if i < len(values) else None for h, i in positions.items()
        }
        for name, value in cells.items():
            if isinstance(value, str) and len(value) > CELL_MAX:
                report.add(sheet, number, name, "too_long", max_length=CELL_MAX)
        if all(_text(v) is None for v in cells.values()):
            continue
        if len(out) >= max_rows:
            report.add(sheet, number, "", "too_many_rows", max_rows=max_rows)
            return None
        out.append(_Row(sheet, number, cells))
    return out


def _convert(
    row: _Row, columns: Sequence[Column], report: _Report
) -> tuple[dict[str, Any], set[str]]:
    """The row's values by column path, and the headers of cells that were reported."""
    values: dict[str, Any] = {}
    failed: set[str] = set()
    for column in columns:
        raw = row.cells.get(column.header)
        if _text(raw) is None:
            if column.required:
                report.add(row.sheet, row.number, column.header, "required")
                failed.add(column.header)
            continue
        try:
            values[column.header] = _read_cell(column, raw)
        except _CellProblem as problem:
            report.add(row.sheet, row.number, column.header, problem.code, **problem.params)
            failed.add(column.header)
    return values, failed


def _put(target: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


def _column_for(path: str, columns: Sequence[Column]) -> Column | None:
    """The column a field path belongs to (``related_resource_codes.2`` → its column)."""
    matching = [c for c in columns if c.path and (path == c.path or path.startswith(c.path + "."))]
    return max(matching, key=lambda c: len(c.path), default=None)


@dataclass
class _Pending:
    """An entry being assembled from its row and its item rows."""

    row: _Row
    key: str | None
    values: dict[str, Any]
    failed: set[str]
    items: list[tuple[_Row, dict[str, Any], set[str]]] = field(default_factory=list)


def _assemble(
    entry_rows: list[_Row], item_rows: list[_Row], report: _Report
) -> list[ImportedEntry]:
    pending: list[_Pending] = []
    by_key: dict[str, _Pending] = {}
    by_name: dict[str, list[_Pending]] = {}
    for row in entry_rows:
        values, failed = _convert(row, ENTRY_COLUMNS, report)
        key = values.get(_KEY.header)
        entry = _Pending(row, key, values, failed)
        if key is not None:
            if key in by_key:
                first = by_key[key].row.number
                report.add(
                    row.sheet, row.number, _KEY.header, "duplicate_key", value=key, first_row=first
                )
                continue
            by_key[key] = entry
        name = values.get("信息资源名称")
        if name:
            by_name.setdefault(name, []).append(entry)
        pending.append(entry)

    for row in item_rows:
        values, failed = _convert(row, ITEM_COLUMNS, report)
        link = values.get(_LINK.header)
        if link is None:
            continue  # reported as a required cell
        owner = by_key.get(link)
        if owner is None:
            named = by_name.get(link, [])
            if len(named) > 1:
                report.add(row.sheet, row.number, _LINK.header, "ambiguous_entry", value=link)
                continue
            owner = named[0] if named else None
        if owner is None:
            sheet = entry_rows[0].sheet if entry_rows else ENTRIES_SHEET
            report.add(
                row.sheet,
                row.number,
                _LINK.header,
                "unknown_entry",
                value=link,
                entries_sheet=sheet,
            )
            continue
        owner.items.append((row, values, failed))

    return [imported for p in pending if (imported := _check(p, report)) is not None]


def _check(p: _Pending, report: _Report) -> ImportedEntry | None:
    """Build one entry from its cells and hold it to the schemas and rules."""
    data: dict[str, Any] = {"items": []}
    for column in ENTRY_COLUMNS:
        if column.path and column.kind != "resource_code" and column.header in p.values:
            _put(data, column.path, p.values[column.header])
    kind = data.get("category", {}).get("resource_kind")
    subject_text = p.values.get("项")
    if kind is None and subject_text is not None:
        p.failed.add("项")  # cannot be read without its kind, whose cell is reported
    elif kind is not None and subject_text is not None:
        try:
            data["category"]["subject"] = _read_subject(subject_text, kind, 2)
        except _CellProblem as problem:
            report.add(p.row.sheet, p.row.number, "项", problem.code, **problem.params)
            p.failed.add("项")
    for _, values, _ in p.items:
        item: dict[str, Any] = {}
        for column in ITEM_COLUMNS[1:]:
            if column.header in values:
                _put(item, column.path, values[column.header])
        data["items"].append(item)

    entry, errors = rules.check_entry(data)
    for error in errors:
        sheet, number, header = _locate(p, error.field)
        failed = (
            p.failed if sheet == p.row.sheet and number == p.row.number else _item_failed(p, number)
        )
        if header not in failed:  # a cell already reported says more than a rule about it
            report.add_field_error(sheet, number, header, error)
    if entry is None or p.failed or any(f for _, _, f in p.items):
        return None
    return ImportedEntry(p.row.sheet, p.row.number, p.key, p.values.get("信息资源代码"), entry,
                         tuple((row.sheet, row.number) for row, _, _ in p.items))


def _item_failed(p: _Pending, number: int) -> set[str]:
    return next((f for row, _, f in p.items if row.number == number), set())


def _locate(p: _Pending, path: str) -> tuple[str, int, str]:
    """(sheet, row, column header) of a field path of entry ``p``."""
    parts = path.split(".")
    if (
        parts[0] == "items"
        and len(parts) > 1
        and parts[1].isdigit()
        and int(parts[1]) < len(p.items)
    ):
        row = p.items[int(parts[1])][0]
        column = _column_for(".".join(parts[2:]), ITEM_COLUMNS[1:])
        return row.sheet, row.number, (column or _LINK).header
    column = _column_for(path, ENTRY_COLUMNS)
    return p.row.sheet, p.row.number, (column or _KEY).header


_SHEET_ORDER = {"": 0, ENTRIES_SHEET: 1, ITEMS_SHEET: 2, CSV_SHEET: 1}


def _finish(entries: list[ImportedEntry], report: _Report) -> ImportResult:
    if not report.errors and not entries:
        report.add("", None, "", "empty_file")
    if report.errors:
        # as a person goes through the file: sheet by sheet, row by row (stable within a row)
        ordered = sorted(report.errors, key=lambda e: (_SHEET_ORDER.get(e.sheet, 3), e.row or 0))
        return ImportResult((), tuple(ordered))
    return ImportResult(tuple(entries), ())


def _check_zip(data: bytes, max_bytes: int) -> None:
    """Refuse a file that would unpack to more than ``max_bytes`` (a zip bomb)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if sum(info.file_size for info in archive.infolist()) > max_bytes:
            raise ValueError(f"it unpacks to more than {max_bytes} bytes")


def parse_workbook(
    data: bytes,
    *,
    locale: str = "zh",
    max_rows: int = MAX_ROWS,
    max_bytes: int = MAX_UNCOMPRESSED_BYTES,
) -> ImportResult:
    """Read and check a filled template; every entry, or every error (see the module doc)."""
    report = _Report(locale)
    try:
        _check_zip(data, max_bytes)
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        report.add("", None, "", "invalid_file", kind="xlsx", detail=str(exc) or type(exc).__name__)
        return _finish([], report)
    try:
        tables: list[list[_Row] | None] = []
        for sheet, columns in ((ENTRIES_SHEET, ENTRY_COLUMNS), (ITEMS_SHEET, ITEM_COLUMNS)):
            if sheet not in workbook.sheetnames:
                report.add(sheet, None, "", "missing_sheet", sheet_name=sheet)
                tables.append(None)
                continue
            rows = workbook[sheet].iter_rows(values_only=True)
            tables.append(_rows(sheet, iter(rows), columns, report, max_rows))
    finally:
        workbook.close()
    entry_rows, item_rows = tables
    if entry_rows is None or item_rows is None:
        return _finish([], report)
    return _finish(_assemble(entry_rows, item_rows, report), report)


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) as we write it, else GB 18030, which Excel on a Chinese
    Windows uses when it saves a CSV."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def _csv_rows(text: str, report: _Report) -> Iterator[list[str]]:
    """The CSV's rows; a cell longer than ``CSV_READ_LIMIT`` (or a file the csv module cannot
    read) ends the file with an error at its line instead of an exception."""
    # the module's limit (128 KiB by default) is process-wide; it is only ever raised here, and
    # cells longer than CELL_MAX are reported by _rows naming their column
    if csv.field_size_limit() < CSV_READ_LIMIT:
        csv.field_size_limit(CSV_READ_LIMIT)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        yield from reader
    except csv.Error as exc:
        report.add(CSV_SHEET, reader.line_num or None, "", "invalid_file", kind="CSV",
                   detail=str(exc))


def parse_csv(data: bytes, *, locale: str = "zh", max_rows: int = MAX_ROWS) -> ImportResult:
    """Read a CSV in the export's flat layout (one row per data item); every entry or every
    error, as :func:`parse_workbook`."""
    report = _Report(locale)
    try:
        text = _decode(data)
    except UnicodeDecodeError as exc:
        report.add("", None, "", "invalid_file", kind="CSV", detail=str(exc))
        return _finish([], report)
    columns = ENTRY_COLUMNS + ITEM_COLUMNS[1:]
    rows = _rows(CSV_SHEET, _csv_rows(text, report), columns, report, max_rows)
    if rows is None:
        return _finish([], report)
    entry_headers = [c.header for c in ENTRY_COLUMNS]
    item_headers = [c.header for c in ITEM_COLUMNS[1:]]
    entry_rows: list[_Row] = []
    item_rows: list[_Row] = []
    groups: dict[str, _Row] = {}
    for row in rows:
        group = (
            _text(row.cells.get(_KEY.header))
            or _text(row.cells.get("信息资源名称"))
            or f"#{row.number}"
        )
        first = groups.get(group)
        if first is None:
            groups[group] = first = _Row(
                row.sheet, row.number, {h: row.cells.get(h) for h in entry_headers}
            )
            entry_rows.append(first)
        else:
            differing = [
                h for h in entry_headers if _text(row.cells.get(h)) != _text(first.cells.get(h))
            ]
            if differing:
                report.add(
                    row.sheet, row.number, differing[0], "entry_rows_differ", first_row=first.number
                )
                continue
        item_cells = {h: row.cells.get(h) for h in item_headers}
        if any(_text(v) is not None for v in item_cells.values()):
            link = _text(first.cells.get(_KEY.header)) or _text(first.cells.get("信息资源名称"))
            item_rows.append(_Row(row.sheet, row.number, {_LINK.header: link, **item_cells}))
    return _finish(_assemble(entry_rows, item_rows, report), report)


# -- writing ----------------------------------------------------------------------------------


def _value_at(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _shown(column: Column, value: Any, entry: CatalogEntryBase | None = None) -> Any:
    """How a value is written to a cell: labels for codes, joined lists, text for ids."""
    if value is None:
        return None
    if column.kind == "code":
        assert column.list_name is not None
        return vocab().get(column.list_name).label(value)
    if column.kind == "subject" and entry is not None:
        term = vocab().subject(entry.category.resource_kind, value)
        return term.zh if term else value
    if column.kind == "list":
        return "；".join(value) or None
    if column.kind == "uuid":
        return str(value)
    return value


def _entry_cells(index: int, entry: CatalogEntryBase) -> list[Any]:
    cells: list[Any] = []
    for column in ENTRY_COLUMNS:
        if column.kind == "key":
            cells.append(index)
        elif column.kind == "resource_code":
            cells.append(getattr(entry, "resource_code", None))
        else:
            cells.append(_shown(column, _value_at(entry, column.path), entry))
    return cells


def _item_cells(index: int, item: Any) -> list[Any]:
    return [index] + [_shown(c, _value_at(item, c.path)) for c in ITEM_COLUMNS[1:]]


_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_REQUIRED_FILL = PatternFill("solid", fgColor="FCE4D6")


def _write_lists(sheet: Worksheet) -> dict[str, str]:
    """The 代码表 sheet; returns each list's dropdown range (``'代码表'!$C$2:$C$4``)."""
    xlsx_append(sheet, ["代码表", "代码", "中文名称", "English", "上级", "来源", "依据标记"])
    ranges: dict[str, str] = {}

    def block(
        name: str, title: str, terms: Iterable[Any], parent_label: Callable[[Any], str]
    ) -> None:
        first = sheet.max_row + 1
        for t in terms:
            xlsx_append(
                sheet,
                [title, t.code, t.zh, t.en, parent_label(t), t.source.document, t.source.marker],
            )
        ranges[name] = f"'{LISTS_SHEET}'!$C${first}:$C${sheet.max_row}"

    v = vocab()
    for name in (
        "resource_kinds",
        "format_classes",
        "format_types",
        "sharing_types",
        "sharing_method_classes",
        "sharing_method_types",
        "opening_types",
        "update_cycles",
        "secrecy",
        "data_kinds",
        "data_item_types",
    ):
        lst: ValueList = v.get(name)
        parents = v.format_classes if name == "format_types" else None
        block(name, lst.zh, lst, lambda t, p=parents: p.label(t.parent) if p else "")
    subjects = [(kind, t) for kind, lst in v.subjects.items() for t in lst]
    first = sheet.max_row + 1
    for kind, t in subjects:
        xlsx_append(
            sheet,
            [
                "项",
                t.code,
                t.zh,
                t.en,
                v.resource_kinds.label(kind),
                t.source.document,
                t.source.marker,
            ]
        )
    ranges["subjects"] = f"'{LISTS_SHEET}'!$C${first}:$C${sheet.max_row}"
    for cell in sheet[1]:
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
    for letter, width in zip("ABCDEFG", (16, 14, 26, 34, 16, 52, 10), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    return ranges


def _write_guide(sheet: Worksheet) -> None:
    xlsx_append(sheet, ["公共数据目录导入模板 · 填写说明"])
    sheet["A1"].font = Font(bold=True, size=14)
    for line in (
        "1. 在“信息资源”表每行填写一个信息资源，在“信息项”表每行填写一个信息项，用“资源序号”指向所属资源的序号（或资源名称）。",
        "2. 列名带 * 的为必填项。带下拉框的列从“代码表”中选择中文名称，也可填写代码。",
        "3. 导入时检查每一个单元格和每一条规则；只要有一处错误，整个文件都不导入，并列出全部错误（工作表、行号、列名、原因）。",
        "4. 第十二条：有条件共享和不予共享的资源（或信息项）须说明理由并提供依据；不予共享的资源不能开放。",
        "5. 导出的文件与本模板格式相同，修改后可再次导入；“信息资源代码”由平台赋予，新资源留空。",
    ):
        xlsx_append(sheet, [line])
    xlsx_append(sheet, [])
    xlsx_append(sheet, ["工作表", "列", "必填", "说明", "取值"])
    header_row = sheet.max_row
    for sheet_name, columns in ((ENTRIES_SHEET, ENTRY_COLUMNS), (ITEMS_SHEET, ITEM_COLUMNS)):
        for c in columns:
            values = (
                vocab().get(c.list_name).zh
                if c.list_name
                else ("项（按资源属性）" if c.kind == "subject" else "")
            )
            xlsx_append(sheet, [sheet_name, c.header, "是" if c.required else "", c.note, values])
    for cell in sheet[header_row]:
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
    for letter, width in zip("ABCDE", (12, 24, 6, 70, 20), strict=True):
        sheet.column_dimensions[letter].width = width


def _write_table(
    sheet: Worksheet,
    columns: Sequence[Column],
    rows: Iterable[list[Any]],
    ranges: Mapping[str, str],
) -> None:
    xlsx_append(sheet, [c.header + ("*" if c.required else "") for c in columns])
    for index, (column, cell) in enumerate(zip(columns, sheet[1], strict=True), start=1):
        cell.font = _HEADER_FONT
        cell.fill = _REQUIRED_FILL if column.required else _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        cell.comment = Comment(column.note, "gongshu", width=260, height=90)
        letter = get_column_letter(index)
        dimension = sheet.column_dimensions[letter]
        dimension.width = column.width
        if column.kind in ("text", "key", "link", "subject", "resource_code", "list"):
            dimension.number_format = "@"  # keep the leading zeros of codes people type
        source = ranges.get(column.list_name or ("subjects" if column.kind == "subject" else ""))
        if source:
            validation = DataValidation(
                type="list",
                formula1=source,
                allow_blank=True,
                showErrorMessage=True,
                errorStyle="warning",
            )
            validation.error = "请从下拉列表中选择，或填写代码。"
            validation.add(f"{letter}2:{letter}1048576")
            sheet.add_data_validation(validation)
    for values in rows:
        xlsx_append(sheet, values)  # text as text, never a formula (core.exports)
        for column, cell in zip(columns, sheet[sheet.max_row], strict=True):
            if column.kind == "date" and cell.value is not None:
                cell.number_format = "yyyy-mm-dd"
            elif isinstance(cell.value, str):
                cell.number_format = "@"
    sheet.freeze_panes = "A2"


def _workbook(entries: Sequence[CatalogEntryBase]) -> Workbook:
    workbook = Workbook()
    entries_sheet = workbook.active
    assert entries_sheet is not None
    entries_sheet.title = ENTRIES_SHEET
    items_sheet = workbook.create_sheet(ITEMS_SHEET)
    guide_sheet = workbook.create_sheet(GUIDE_SHEET)
    lists_sheet = workbook.create_sheet(LISTS_SHEET)
    ranges = _write_lists(lists_sheet)
    _write_guide(guide_sheet)
    _write_table(
        entries_sheet, ENTRY_COLUMNS, (_entry_cells(i, e) for i, e in enumerate(entries, 1)), ranges
    )
    item_rows = (_item_cells(i, item) for i, e in enumerate(entries, 1) for item in e.items)
    _write_table(items_sheet, ITEM_COLUMNS, item_rows, ranges)
    return workbook


def _to_bytes(workbook: Workbook) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def build_template() -> bytes:
    """An empty import template (.xlsx) with headers, dropdowns, the guide and the lists."""
    return _to_bytes(_workbook([]))


def export_xlsx(entries: Sequence[CatalogEntryBase]) -> bytes:
    """Entries in the template's layout. A ``resource_code`` attribute, where the entries
    have one (``CatalogEntryPublic``), is written so a re-import can match them."""
    return _to_bytes(_workbook(entries))


def export_csv(entries: Sequence[CatalogEntryBase]) -> bytes:
    """Entries as one CSV table (one row per data item), UTF-8 with a BOM so Excel reads it;
    cells that a spreadsheet would read as formulas are neutralised (core.exports)."""
    blank_items = [None] * (len(ITEM_COLUMNS) - 1)

    def rows() -> Iterator[list[Any]]:
        for index, entry in enumerate(entries, 1):
            head = _entry_cells(index, entry)
            for item in entry.items or [None]:
                tail = _item_cells(index, item)[1:] if item is not None else blank_items
                yield head + tail

    return write_csv([c.header for c in ENTRY_COLUMNS + ITEM_COLUMNS[1:]], rows())


__all__ = [
    "CSV_MEDIA_TYPE",
    "ENTRIES_SHEET",
    "ENTRY_COLUMNS",
    "GUIDE_SHEET",
    "ITEMS_SHEET",
    "ITEM_COLUMNS",
    "LISTS_SHEET",
    "MAX_ROWS",
    "XLSX_MEDIA_TYPE",
    "CellError",
    "Column",
    "ImportResult",
    "ImportedEntry",
    "build_template",
    "export_csv",
    "export_xlsx",
    "parse_csv",
    "parse_workbook",
]
