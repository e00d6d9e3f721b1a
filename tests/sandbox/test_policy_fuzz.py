"""The policy never crashes: any text is accepted (and then runs) or refused with a reason."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gongshu.sandbox.policy import Checked, Rejected, check

from .test_policy import TABLES

TOKENS = [
    "SELECT", "FROM", "WHERE", "GROUP BY", "HAVING", "ORDER BY", "LIMIT 5", "JOIN", "ON", "AND",
    "OR", "NOT", "WITH t AS (", "(", ")", ",", "=", "<>", ">", "+", "*", "//", "||", "1", "'x'",
    "COUNT(*)", "SUM(", "AVG(", "MAX(", "CASE WHEN", "THEN", "ELSE", "END", "DISTINCT",
    "population", "insurance", "p", "i", "t", "county", "gender", "birth_date", "annual_income",
    "id_no", "name", "pay_base", "year", "p.id_no", "i.id_no", "year(birth_date)", "AS n", "n",
    "read_csv('/etc/passwd')", "OVER ()", ";", "UNION", "SELECT county, COUNT(*) FROM population",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=25))
def test_any_token_soup_is_accepted_or_refused(tokens) -> None:
    sql = " ".join(tokens)
    try:
        checked = check(sql, TABLES)
    except Rejected as exc:
        assert exc.code and isinstance(exc.message, str)
        return
    assert isinstance(checked, Checked) and checked.sql


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_any_text_is_accepted_or_refused(text) -> None:
    with contextlib.suppress(Rejected):  # anything else fails the test
        check(text, TABLES)
