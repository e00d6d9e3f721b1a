"""Similar queries for the output review: normalisation drops literals and case, similarity is
a symmetric score in [0, 1], 1 for queries of the same shape."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gongshu.sandbox import similar


@pytest.mark.parametrize(("a", "b", "same"), [
    ("SELECT COUNT(*) FROM p WHERE id_no <> '1401'", "select count(*) from p where id_no <> '9'",
     True),
    ("SELECT SUM(x) FROM p WHERE age > 30", "SELECT SUM(x) FROM p WHERE age > 31.5;", True),
    ("SELECT county, COUNT(*) FROM p GROUP BY county", "SELECT gender FROM q", False),
])
def test_normalise(a: str, b: str, same: bool) -> None:
    assert (similar.normalise(a) == similar.normalise(b)) is same


@given(st.text(max_size=200), st.text(max_size=200))
def test_similarity_is_a_symmetric_score(a: str, b: str) -> None:
    na, nb = similar.normalise(a), similar.normalise(b)
    score = similar.similarity(na, nb)
    assert 0.0 <= score <= 1.0 and score == similar.similarity(nb, na)
    assert similar.similarity(na, na) == 1.0


def test_rank_keeps_the_most_similar_first() -> None:
    target = similar.normalise("SELECT SUM(i) FROM p WHERE g = '1' GROUP BY c")
    candidates = [(similar.normalise(q), q) for q in (
        "SELECT SUM(i) FROM p WHERE g = '2' GROUP BY c",
        "SELECT SUM(i) FROM p GROUP BY c",
        "SELECT n FROM other")]
    ranked = similar.rank(target, candidates)
    assert [q for _, q in ranked][:2] == ["SELECT SUM(i) FROM p WHERE g = '2' GROUP BY c",
                                          "SELECT SUM(i) FROM p GROUP BY c"]
    assert all(score >= 0.5 for score, _ in ranked)
