"""Spreadsheet cells never start like a formula (OWASP CSV injection), whatever the text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gongshu.opening.service import _neutral

STARTS = ("=", "+", "-", "@", "\t", "\r")


@given(st.text())
def test_a_neutral_cell_never_starts_a_formula(text: str) -> None:
    cell = _neutral(text)
    assert not cell.startswith(STARTS)
    assert cell in (text, "'" + text)
    assert (cell != text) == text.startswith(STARTS)


@given(st.one_of(st.integers(), st.floats(allow_nan=False), st.none(), st.booleans()))
def test_other_values_pass_unchanged(value: object) -> None:
    assert _neutral(value) == value or value != value
