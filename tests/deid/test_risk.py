"""Re-identification risk (Art. 16): figures against a naive computation, tables of cases."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gongshu.deid import risk


def naive(rows: list[tuple[Any, ...]], k_threshold: int) -> dict[str, Any]:
    classes = Counter(rows)
    records = len(rows)
    k = min(classes.values())
    return {"records": records, "classes": len(classes), "k": k, "max_risk": 1 / k,
            "avg_risk": len(classes) / records,
            "at_risk": sum(n for n in classes.values() if n < k_threshold),
            "class_sizes": sorted(Counter(classes.values()).items())}


cell = st.one_of(st.none(), st.sampled_from(["", "a", "b", "c"]))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(cell, cell), min_size=1, max_size=80), st.integers(1, 6))
def test_figures_agree_with_a_naive_computation(rows: list[tuple[Any, Any]],
                                                 k_threshold: int) -> None:
    table = pa.table({"x": pa.array([r[0] for r in rows], pa.string()),
                      "y": pa.array([r[1] for r in rows], pa.string())})
    got = risk.assess(table, ["x", "y"], k_threshold=k_threshold)
    want = naive(rows, k_threshold)
    assert (got.records, got.classes, got.k, got.at_risk) == \
        (want["records"], want["classes"], want["k"], want["at_risk"])
    assert got.max_risk == pytest.approx(want["max_risk"])
    assert got.avg_risk == pytest.approx(want["avg_risk"])
    assert [tuple(x) for x in got.class_sizes] == want["class_sizes"]
    sizes = risk.class_sizes_per_row(table, ["x", "y"]).to_pylist()
    counts = Counter(rows)
    assert sizes == [counts[r] for r in rows]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["p", "q"]), cell), min_size=1, max_size=60))
def test_l_diversity_agrees_with_a_naive_computation(rows: list[tuple[Any, Any]]) -> None:
    table = pa.table({"q": [r[0] for r in rows], "s": pa.array([r[1] for r in rows], pa.string())})
    got = risk.assess(table, ["q"], sensitive="s")
    values: dict[Any, set[Any]] = defaultdict(set)
    for q, s in rows:
        values[q].add(s)  # a missing value counts as one value
    assert got.l == min(len(v) for v in values.values())


@pytest.mark.parametrize(("rows", "figures"), [
    # one class of three: k = 3
    ([("男", "1985")] * 3, {"records": 3, "classes": 1, "k": 3, "at_risk": 3}),
    # a missing value is a value of its own: (男, None) is its own class
    ([("男", "1985"), ("男", "1985"), ("男", None)],
     {"records": 3, "classes": 2, "k": 1, "at_risk": 3}),
    ([("男", "1985")] * 10 + [("女", "1990")] * 12,
     {"records": 22, "classes": 2, "k": 10, "at_risk": 0}),
])
def test_table_of_cases(rows: list[tuple[Any, Any]], figures: dict[str, int]) -> None:
    table = pa.table({"sex": [r[0] for r in rows], "year": pa.array([r[1] for r in rows],
                                                                     pa.string())})
    got = risk.assess(table, ["sex", "year"], k_threshold=10)
    assert {k: getattr(got, k) for k in figures} == figures
    assert got.max_risk == pytest.approx(1 / figures["k"])


def test_empty_table_and_unknown_columns() -> None:
    empty = pa.table({"a": pa.array([], pa.string())})
    got = risk.assess(empty, ["a"])
    assert (got.records, got.classes, got.k, got.max_risk, got.avg_risk) == (0, 0, 0, 0.0, 0.0)
    assert [r.code for r in risk.reasons(got, k=1, max_risk=0.5)] == ["k_below", "max_risk_above"]
    with pytest.raises(KeyError, match="nope"):
        risk.assess(empty, ["nope"])


@pytest.mark.parametrize(("k", "l", "max_risk", "codes"), [
    (5, None, None, []),
    (6, None, None, ["k_below"]),
    (5, 2, None, []),
    (5, 3, None, ["l_below"]),
    (5, None, 0.2, []),
    (5, None, 0.19, ["max_risk_above"]),
    (6, 3, 0.1, ["k_below", "l_below", "max_risk_above"]),
])
def test_release_reasons(k: int, l: int | None, max_risk: float | None,  # noqa: E741
                         codes: list[str]) -> None:
    table = pa.table({"q": ["a"] * 5 + ["b"] * 7, "s": ["x", "y"] * 6})
    got = risk.assess(table, ["q"], sensitive="s")
    assert (got.k, got.l) == (5, 2)
    assert [r.code for r in risk.reasons(got, k=k, l=l, max_risk=max_risk)] == codes


def test_binned_distribution() -> None:
    bins = {b["label"]: b for b in risk.binned([[1, 2], [3, 1], [12, 4], [150, 1]])}
    assert bins["1"] == {"label": "1", "classes": 2, "records": 2}
    assert bins["3-4"]["records"] == 3 and bins["10-19"]["records"] == 48
    assert bins["100+"]["classes"] == 1 and bins["2"]["classes"] == 0
