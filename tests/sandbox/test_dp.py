"""Differential privacy for sandbox answers: budget split, noise scale, threshold, clamping."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from gongshu.sandbox import dp
from gongshu.sandbox.policy import (
    CONTRIBUTORS,
    DpAggregate,
    DpPlan,
    ReleaseLevel,
    TablePolicy,
    check,
)
from gongshu.sandbox.runner import Limits, run_dp

from .test_policy import TABLES

LIMITS = Limits(memory_limit="256MB", timeout_seconds=30, max_rows=1000, threads=1)


def plan(*aggs: DpAggregate) -> DpPlan:
    return DpPlan(table="population", group_keys=["county"], aggregates=list(aggs))


COUNT = DpAggregate("n", "count", None, None)
COUNT_COL = DpAggregate("m", "count", "annual_income", None)
SUM = DpAggregate("s", "sum", "annual_income", (0.0, 1000.0))
AVG = DpAggregate("a", "avg", "annual_income", (-50.0, 100.0))


def test_the_budget_is_split_over_the_noisy_quantities() -> None:
    assert dp.split(plan(COUNT), 1.0).quantities == 1  # COUNT(*) is the contributor count
    assert dp.split(plan(COUNT, COUNT_COL, SUM, AVG), 2.0).quantities == 1 + 1 + 1 + 2
    budget = dp.split(plan(SUM, AVG), 1.5)
    assert budget.epsilon_each == pytest.approx(1.5 / 4)
    with pytest.raises(ValueError):
        dp.split(plan(COUNT), 0)


def test_sensitivity_is_the_largest_bound() -> None:
    assert dp.sensitivity((-50.0, 100.0)) == 100.0
    assert dp.sensitivity((-500.0, 10.0)) == 500.0


@pytest.mark.parametrize(("eps", "delta"), [(1.0, 1e-5), (0.5, 1e-6), (2.0, 1e-9), (0.1, 1e-6)])
def test_threshold_lets_a_single_contributor_through_with_probability_at_most_delta(eps, delta):
    tau = dp.threshold(eps, delta)
    alpha = math.exp(-eps)
    # P(1 + Z >= tau) for discrete Laplace Z of scale 1/eps, and the threshold is the least such
    assert alpha ** (tau - 1) / (1 + alpha) <= delta
    assert alpha ** (tau - 2) / (1 + alpha) > delta


def test_threshold_never_below_k_and_grows_as_epsilon_shrinks() -> None:
    assert dp.threshold(50.0, 1e-6, k=10) == 10
    assert dp.threshold(0.5, 1e-6) > dp.threshold(1.0, 1e-6) > dp.threshold(2.0, 1e-6)
    # SANDBOX.md's reference: SmartNoise's censor threshold at ε = 1, δ = 1e-5 is ≈ 12 rows
    assert 10 <= dp.threshold(1.0, 1e-5) <= 13


@pytest.mark.parametrize("rng", [None, np.random.default_rng(3)], ids=["opendp", "numpy"])
def test_count_noise_has_the_promised_scale(rng) -> None:
    noise = dp.Noise(rng)
    scale = 4.0
    draws = np.array([noise.count(100, 1 / scale) for _ in range(4000)])
    assert all(isinstance(int(d), int) for d in draws[:5])
    alpha = math.exp(-1 / scale)
    expected_sd = math.sqrt(2 * alpha) / (1 - alpha)  # discrete Laplace
    assert abs(draws.mean() - 100) < 0.5
    assert draws.std() == pytest.approx(expected_sd, rel=0.1)


@pytest.mark.parametrize("rng", [None, np.random.default_rng(4)], ids=["opendp", "numpy"])
def test_sum_noise_has_the_promised_scale(rng) -> None:
    noise = dp.Noise(rng)
    draws = np.array([noise.sum(1000.0, 50.0, 2.0) for _ in range(4000)])  # scale 25
    assert abs(draws.mean() - 1000.0) < 2.5
    assert np.abs(draws - 1000.0).mean() == pytest.approx(25.0, rel=0.1)  # E|Laplace| = b


@pytest.mark.parametrize("epsilon", [1.0, 1 / 3, 0.1, 0.05 / 7, 2.5, 1e-3])
@pytest.mark.parametrize("sensitivity", [1.0, 500000.0, 0.37, 123456.789])
def test_opendp_charges_never_less_than_the_noise_spends(epsilon: float,
                                                        sensitivity: float) -> None:
    """By OpenDP's own privacy map: the measurement spends at most the ε it is charged, and
    is not much noisier than asked (the scale is rounded up by a hair, never down)."""
    for measurement, d_in in ((dp.counting(epsilon), 1), (dp.summing(sensitivity, epsilon, 3),
                                                          sensitivity)):
        spent = measurement.map(d_in)
        assert spent <= epsilon
        assert spent >= epsilon * (1 - 1e-6)


def exact(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows)


def test_release_drops_tiny_groups_and_keeps_large_ones() -> None:
    table = exact([
        {"county": "big", "__gs_n0": 5000, CONTRIBUTORS: 5000},
        {"county": "one", "__gs_n0": 1, CONTRIBUTORS: 1},
        {"county": "few", "__gs_n0": 3, CONTRIBUTORS: 3},
    ])
    released = set()
    suppressed = 0
    for _ in range(200):
        rows, s = dp.release(plan(COUNT), table, k=10, epsilon=1.0, delta=1e-6)
        released |= {r["county"] for r in rows}
        suppressed += s
    assert released == {"big"} and suppressed == 400


def test_release_noises_each_aggregate_and_keeps_avg_in_bounds() -> None:
    table = exact([{"county": "c", "__gs_s0": 1000.0 * 90, "__gs_n0": 1000,
                    "__gs_s1": 5e5, CONTRIBUTORS: 1000}])
    aggs = (AVG, DpAggregate("s", "sum", "annual_income", (0.0, 1000.0)))
    p = DpPlan(table="population", group_keys=["county"], aggregates=list(aggs))
    values = [dp.release(p, table, k=10, epsilon=1.0)[0][0] for _ in range(300)]
    avgs = np.array([v["a"] for v in values])
    sums = np.array([v["s"] for v in values])
    assert ((avgs >= -50) & (avgs <= 100)).all()
    assert abs(avgs.mean() - 90) < 2
    # the sum's noise: Laplace of scale m·1000/ε with m = 1 + 2 + 1 = 4
    assert np.abs(sums - 5e5).mean() == pytest.approx(4000, rel=0.2)
    assert list(values[0]) == ["county", "a", "s"]


POP_POLICY = TablePolicy(
    "population", TABLES["population"].columns, contributor="id_no",
    bounds={"annual_income": (0, 500000)})


def test_run_dp_clamps_and_bounds_each_contributor_to_one_row() -> None:
    # 300 people in one county; each appears 3 times; incomes far above the bound
    ids = [f"p{i}" for i in range(300)] * 3
    table = pa.table({
        "id_no": ids, "name": ["x"] * 900, "gender": ["F"] * 900,
        "birth_date": pa.array([None] * 900, pa.date32()), "county": ["140105"] * 900,
        "address": ["a"] * 900, "mobile": ["m"] * 900,
        "annual_income": [10**9] * 900,
    })
    checked = check("SELECT county, COUNT(*) AS n, SUM(annual_income) AS s, "
                    "AVG(annual_income) AS a FROM population GROUP BY county",
                    {"population": POP_POLICY}, dp=True)
    result = run_dp(checked, {"population": table}, epsilon=1000.0, limits=LIMITS)
    assert result.epsilon_spent == 1000.0
    assert result.columns == ["county", "n", "s", "a"]
    [(county, n, s, a)] = result.rows
    assert county == "140105"
    assert abs(n - 300) <= 2  # people, not rows
    assert s == pytest.approx(300 * 500000, rel=0.01)  # clamped to the upper bound
    assert a == pytest.approx(500000, rel=0.01)


def test_run_dp_orders_and_limits_the_noisy_rows() -> None:
    from .test_runner import DATA

    checked = check("SELECT county, COUNT(*) AS n FROM population GROUP BY county "
                    "ORDER BY n DESC LIMIT 2", TABLES, dp=True)
    result = run_dp(checked, DATA, epsilon=5.0, limits=LIMITS)
    assert len(result.rows) == 2
    assert result.rows[0][1] >= result.rows[1][1]
    everything = run_dp(check("SELECT county, COUNT(*) AS n FROM population GROUP BY 1",
                              TABLES, dp=True), DATA, epsilon=5.0, limits=LIMITS)
    counties = {r[0] for r in everything.rows}
    assert "149901" not in counties and "140105" in counties  # 3 people never clear it
    assert everything.suppressed_groups == 0  # not released in DP mode: it would count groups


def test_run_dp_needs_a_dp_check() -> None:
    checked = check("SELECT county, COUNT(*) FROM population GROUP BY 1", TABLES)
    with pytest.raises(ValueError):
        run_dp(checked, {}, epsilon=1.0, limits=LIMITS)


def test_levels_still_apply_in_dp_mode() -> None:
    from gongshu.sandbox.policy import Rejected

    policy = TablePolicy("t", {"a": ReleaseLevel.HIDDEN, "g": ReleaseLevel.GROUP_BY},
                         bounds={"a": (0, 1)})
    with pytest.raises(Rejected):
        check("SELECT g, SUM(a) FROM t GROUP BY g", {"t": policy}, dp=True)
