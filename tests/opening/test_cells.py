"""Spreadsheet cells never start like a formula (OWASP CSV injection), whatever the text; any
text sent as a developer key is refused as unauthenticated, never an error."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gongshu.core.errors import Unauthenticated
from gongshu.opening.service import _neutral, authenticate_key

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


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.text(max_size=80),
                     st.builds(lambda p, s: f"gso_{p}_{s}", st.text(min_size=8, max_size=8),
                               st.text(max_size=40))))
def test_any_key_text_is_refused_as_unauthenticated(runtime: Any, raw: str) -> None:
    with runtime.db.transaction(write=False) as db, pytest.raises(Unauthenticated):
        authenticate_key(db, raw)
