"""Exports cannot carry formulas (OWASP CSV injection) and still import back unchanged."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from gongshu.core import exports
from gongshu.core.exports import (
    FORMULA_TRIGGERS,
    csv_text,
    is_safe,
    restore_cell,
    safe_cell,
    write_csv,
    xlsx_append,
    xlsx_cell,
)


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+86 351 1234567", "'+86 351 1234567"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("'already quoted", "''already quoted"),  # so that the import can tell them apart
        ("'", "''"),
        ("公民身份号码", "公民身份号码"),
        (" =1", " =1"),  # not at the start
        ("a=b", "a=b"),
        ("", ""),
        (None, None),
        (-5, -5),  # numbers are not formulas
        (1.5, 1.5),
        (dt.date(2024, 7, 1), dt.date(2024, 7, 1)),
    ],
)
def test_safe_cell(value: Any, written: Any) -> None:
    assert safe_cell(value) == written
    assert is_safe(safe_cell(value))
    assert restore_cell(safe_cell(value)) == value


@pytest.mark.parametrize(
    ("read", "value"),
    [
        ("'=1", "=1"),
        ("''x", "'x"),
        ("'x", "'x"),  # a quote a person typed before ordinary text stays
        ("x", "x"),
        (None, None),
        (3, 3),
    ],
)
def test_restore_cell(read: Any, value: Any) -> None:
    assert restore_cell(read) == value


@given(st.text())
def test_any_text_round_trips_and_is_never_a_formula(text: str) -> None:
    written = safe_cell(text)
    assert not written.startswith(FORMULA_TRIGGERS)
    assert restore_cell(written) == text


@given(st.lists(st.lists(st.text(), min_size=1, max_size=4), min_size=1, max_size=5))
def test_csv_round_trip(rows: list[list[str]]) -> None:
    data = write_csv(["a", "b", "c", "d"], rows)
    assert data.startswith(b"\xef\xbb\xbf")
    read = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert all(is_safe(field) for row in read for field in row)
    assert [[restore_cell(f) for f in row] for row in read[1:]] == rows


# XML turns a carriage return into a line feed whatever we do, so the text has none (a cell that
# begins with one is still neutralised: test_xlsx_cells_are_text_never_formulas)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"))
                        | st.sampled_from(["\t", "\n"]), max_size=12), min_size=1, max_size=6))
def test_xlsx_round_trip(values: list[str]) -> None:
    book = Workbook()
    sheet = book.active
    xlsx_append(sheet, values)
    out = io.BytesIO()
    book.save(out)
    read = load_workbook(io.BytesIO(out.getvalue())).active
    cells = list(read[1])[: len(values)]
    assert all(c.data_type != "f" for c in cells)
    # openpyxl writes "" as an empty cell; everything else comes back exactly
    assert [restore_cell(c.value) if c.value is not None else "" for c in cells] + [""] * (
        len(values) - len(cells)) == values


@pytest.mark.parametrize("write_only", [False, True])
def test_xlsx_cells_are_text_never_formulas(write_only: bool) -> None:
    book = Workbook(write_only=write_only)
    sheet = book.create_sheet("s") if write_only else book.active
    xlsx_append(sheet, ["=1+1", "-x", 3, None, "ok", dt.date(2024, 7, 1), "\r=1"])
    if not write_only:
        xlsx_cell(sheet, 2, 1, "@A1")
    out = io.BytesIO()
    book.save(out)
    read = load_workbook(io.BytesIO(out.getvalue())).worksheets[0]
    first = [(c.value, c.data_type) for c in read[1]]
    assert first[:3] == [("'=1+1", "s"), ("'-x", "s"), (3, "n")]
    assert first[4] == ("ok", "s")
    assert first[6][0].startswith("'") and first[6][1] == "s"
    if not write_only:
        assert (read["A2"].value, read["A2"].data_type) == ("'@A1", "s")


def test_csv_text() -> None:
    assert [csv_text(v) for v in (None, dt.date(2024, 7, 1), -3, True, "=x", "ok")] == [
        "", "2024-07-01", "-3", "True", "'=x", "ok"]


def test_a_whole_arrow_column_is_made_safe_like_each_cell() -> None:
    import pyarrow as pa

    values = ["=1+1", "+86", "-3", "@SUM(A1)", "\tx", "\rx", "'quoted", "plain", None, "a=b"]
    out = exports.safe_column(pa.array(values)).to_pylist()
    assert out == [exports.safe_cell(v) for v in values]
    assert out[:7] == ["'=1+1", "'+86", "'-3", "'@SUM(A1)", "'\tx", "'\rx", "''quoted"]
    numbers = pa.array([-1, 2])
    assert exports.safe_column(numbers) is numbers
