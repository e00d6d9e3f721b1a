"""Spreadsheet exports that cannot carry formulas (CSV and XLSX), and the undoing on import.

A cell whose text begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read
as a formula by Excel, LibreOffice and WPS when the file is opened (CSV injection, also called
formula injection; OWASP's rule). Every export of the platform writes its cells through
:func:`safe_cell`, which puts a single quote before such text, and every import of an exported
file reads its cells through :func:`restore_cell`, which takes that quote away again, so that
an exported file imports back unchanged.

So that the undoing is exact, text that already begins with a quote gets one more: the quote
is taken away only where it stands before a formula character or another quote, which only
:func:`safe_cell` writes. ``restore_cell(safe_cell(x)) == x`` for every text ``x``.

XLSX cells are written as text (``t="s"``/inline strings), never as formulas, whatever their
content: :func:`xlsx_append` sets the type of every string cell explicitly.

No database and no files: the writers fill in-memory buffers and worksheets.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from typing import Any

from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

#: what makes a spreadsheet program read a cell as a formula (OWASP, CSV injection)
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
_ESCAPED = (*FORMULA_TRIGGERS, QUOTE)
_ESCAPED_START = "^[=+\\-@\t\r']"


def safe_cell(value: Any) -> Any:
    """The value as an export writes it: text that a spreadsheet would read as a formula (or
    that begins with a quote) gets a leading quote; other values are returned as they are."""
    if isinstance(value, str) and value.startswith(_ESCAPED):
        return QUOTE + value
    return value


def safe_column(column: Any) -> Any:
    """:func:`safe_cell` over a whole Arrow text column at once (large deliveries); other
    columns are returned as they are."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return column
    risky = pc.match_substring_regex(column, _ESCAPED_START)
    if not pc.any(risky).as_py():
        return column
    return pc.if_else(risky, pc.binary_join_element_wise(QUOTE, column, ""), column)


def restore_cell(value: Any) -> Any:
    """Undo :func:`safe_cell` on a cell read from a file (values that are not such text are
    returned as they are)."""
    if isinstance(value, str) and value.startswith(QUOTE) and value[1:].startswith(_ESCAPED):
        return value[1:]
    return value


def is_safe(value: Any) -> bool:
    """True when no spreadsheet program would read ``value`` as a formula."""
    return not (isinstance(value, str) and value.startswith(FORMULA_TRIGGERS))


def csv_text(value: Any) -> str:
    """A value as a neutralised CSV field: empty for None, ISO dates, text otherwise."""
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool | int | float):
        return str(value)  # numbers are numbers, not formulas (a negative number stays one)
    return str(safe_cell(str(value)))


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Any]], *, bom: bool = True) -> bytes:
    """A CSV file (UTF-8, CRLF; with a BOM so that Excel reads it as UTF-8) whose every field
    went through :func:`csv_text`."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_text(h) for h in header])
    for row in rows:
        writer.writerow([csv_text(v) for v in row])
    return (("\ufeff" if bom else "") + out.getvalue()).encode("utf-8")


def xlsx_append(sheet: Any, values: Sequence[Any]) -> None:
    """Append a row to an openpyxl worksheet: text neutralised and typed as text (never a
    formula); numbers, dates and booleans as they are."""
    if isinstance(sheet, WriteOnlyWorksheet):
        cells = []
        for value in values:
            cell = WriteOnlyCell(sheet, value=safe_cell(value))
            if isinstance(cell.value, str):
                cell.data_type = "s"
            cells.append(cell)
        sheet.append(cells)
        return
    sheet.append([safe_cell(v) for v in values])
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"


def xlsx_cell(sheet: Any, row: int, column: int, value: Any) -> Any:
    """Set one cell of an openpyxl worksheet as :func:`xlsx_append` does; returns the cell."""
    cell = sheet.cell(row=row, column=column)
    cell.value = safe_cell(value)
    if isinstance(cell.value, str):
        cell.data_type = "s"
    return cell


__all__ = [
    "FORMULA_TRIGGERS",
    "csv_text",
    "is_safe",
    "restore_cell",
    "safe_cell",
    "write_csv",
    "xlsx_append",
    "xlsx_cell",
]
