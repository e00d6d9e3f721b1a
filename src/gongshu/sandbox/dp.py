"""Differential privacy for sandbox answers (Art. 14, ``domain/SANDBOX.md`` "Differencing").

The policy (``check(..., dp=True)``) has already bounded every contributor to ONE row (so one
group) and clamped every summed value into its declared bounds ``[lo, hi]``; the exact SQL gives,
per group, the contributor count ``__gs_contributors``, and per aggregate ``i`` a count
``__gs_n<i>`` and/or a clamped sum ``__gs_s<i>``. Here each group gets noise from OpenDP's
mechanisms and is released only if its noisy contributor count clears a threshold.

ε accounting (one answer spends exactly the ε asked for). A contributor changes one group's
noisy quantities by at most: 1 for the contributor count (also the value of every COUNT(*)),
1 for each COUNT(col), ``max(|lo|, |hi|)`` for each clamped SUM; AVG is a noisy SUM over a
noisy COUNT(col). With ``m`` noisy quantities per group (the contributor count, each COUNT(col),
each SUM, two per AVG; COUNT(*) reuses the contributor count), each gets ``ε / m``: counts get
discrete Laplace noise (``make_geometric``) of scale ``m / ε``, sums Laplace noise
(``make_laplace``) of scale ``m · max(|lo|, |hi|) / ε``. By basic composition the whole answer
is ε-DP for the values, and (ε, δ)-DP with the threshold below for which groups appear.

Releasing groups whose key set is unknown in advance (the keys come from the data): a group of
one contributor must appear with probability at most δ. With discrete Laplace noise of scale
``b`` (``α = exp(-1/b)``), ``P(1 + Z ≥ τ) = α^(τ-1) / (1 + α)``, so ``τ = 1 + ⌈ln(δ(1+α)) /
ln α⌉``; a group is released when its noisy count is at least ``max(τ, k)``.
Test hook: ``rng`` (a ``numpy.random.Generator``) replaces OpenDP's sampler with numpy's, for
reproducible tests only — never in production, where OpenDP's secure sampler is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from gongshu.sandbox.policy import CONTRIBUTORS, DpPlan


@dataclass(frozen=True)
class Budget:
    """How an answer's ε is split: ``epsilon_each`` for each of ``quantities`` per group."""

    epsilon: float
    quantities: int
    epsilon_each: float


def split(plan: DpPlan, epsilon: float) -> Budget:
    if not epsilon > 0 or math.isinf(epsilon):
        raise ValueError("epsilon must be a positive number")
    m = 1  # the contributor count
    for agg in plan.aggregates:
        if agg.kind == "count":
            m += 0 if agg.column is None else 1
        elif agg.kind == "sum":
            m += 1
        else:  # avg
            m += 2
    return Budget(epsilon=epsilon, quantities=m, epsilon_each=epsilon / m)


def sensitivity(bounds: tuple[float, float]) -> float:
    lo, hi = bounds
    return max(abs(lo), abs(hi), 1e-12)


def threshold(epsilon_count: float, delta: float, k: int = 1) -> int:
    """The noisy contributor count a group needs to be released (never below ``k``)."""
    if not 0 < delta < 1:
        raise ValueError("delta must be between 0 and 1")
    alpha = math.exp(-epsilon_count)
    tau = 1 + math.ceil(math.log(delta * (1 + alpha)) / math.log(alpha))
    return max(int(tau), int(k), 1)


#: sums are noised on a grid of 2^-40 (about 1e-12): exact to the cent for any sum the
#: sandbox sees, and three times faster than OpenDP's default grid (2^-1074)
GRANULARITY = -40


@lru_cache(maxsize=64)
def counting(epsilon: float) -> Any:
    """OpenDP's discrete Laplace (geometric) measurement on a vector of counts, each of
    sensitivity 1, spending at most ``epsilon`` by OpenDP's own privacy map."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    domain = dp.vector_domain(dp.atom_domain(T=int))
    return _calibrated(lambda scale: dp.m.make_geometric(domain, dp.l1_distance(T=int),
                                                         scale=scale), 1, epsilon)


@lru_cache(maxsize=256)
def summing(sensitivity: float, epsilon: float, size: int) -> Any:
    """OpenDP's Laplace measurement on a vector of ``size`` sums of the given sensitivity,
    discretised on ``GRANULARITY`` (which needs the size), spending at most ``epsilon``."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    domain = dp.vector_domain(dp.atom_domain(T=float, nan=False), size=size)
    return _calibrated(lambda scale: dp.m.make_laplace(domain, dp.l1_distance(T=float),
                                                       scale=scale, k=GRANULARITY),
                       sensitivity, epsilon)


def _calibrated(make: Any, d_in: float, epsilon: float) -> Any:
    """The measurement of the smallest scale from ``d_in / epsilon`` up whose privacy map gives
    at most ``epsilon`` for ``d_in``: rounding (of the division, of the grid) never lets an
    answer spend more than it is charged."""
    scale = d_in / epsilon
    measurement = make(scale)
    while measurement.map(d_in) > epsilon:
        scale = math.nextafter(scale * (1 + 1e-12), math.inf)
        measurement = make(scale)
    return measurement


class Noise:
    """Adds noise to each value of a vector so that it spends ``epsilon`` (for one contributor
    changing each value by at most the sensitivity): OpenDP's samplers (one call per vector), or
    numpy's at the same scale when ``rng`` is given."""

    def __init__(self, rng: Any = None) -> None:
        self.rng = rng

    def counts(self, values: list[int], epsilon: float) -> list[int]:
        if not values:
            return []
        if self.rng is not None:  # discrete Laplace as the difference of two geometrics
            p = 1 - math.exp(-epsilon)
            n = len(values)
            diff = self.rng.geometric(p, n) - self.rng.geometric(p, n)
            return [int(v) + int(d) for v, d in zip(values, diff, strict=True)]
        return [int(v) for v in counting(float(epsilon))([int(v) for v in values])]

    def sums(self, values: list[float], sensitivity: float, epsilon: float) -> list[float]:
        if not values:
            return []
        if self.rng is not None:
            noise = self.rng.laplace(0.0, sensitivity / epsilon, len(values))
            return [float(v) + float(d) for v, d in zip(values, noise, strict=True)]
        return [float(v) for v in summing(float(sensitivity), float(epsilon), len(values))(
            [float(v) for v in values])]

    def count(self, value: int, epsilon: float) -> int:
        return self.counts([value], epsilon)[0]

    def sum(self, value: float, sensitivity: float, epsilon: float) -> float:
        return self.sums([value], sensitivity, epsilon)[0]


def release(plan: DpPlan, exact: Any, *, k: int, epsilon: float, delta: float = 1e-6,
            rng: Any = None) -> tuple[list[dict[str, Any]], int]:
    """Noisy rows (output name -> value, in output order) of the groups that clear the
    threshold, and how many groups did not. ``exact``: the DP SQL's result (a pyarrow Table)."""
    budget = split(plan, epsilon)
    each = budget.epsilon_each
    tau = threshold(budget.epsilon_each, delta, k)
    noise = Noise(rng)
    names = list(exact.column_names)
    data = exact.to_pydict()
    groups = exact.num_rows
    contributors = noise.counts([int(v or 0) for v in data[CONTRIBUTORS]], each)
    keep = [i for i in range(groups) if contributors[i] >= tau]
    # every quantity of every group is noised (one vector call each), kept or not
    values: dict[int, list[Any]] = {}
    for i, agg in enumerate(plan.aggregates):
        if agg.kind == "count":
            noisy = contributors if agg.column is None else noise.counts(
                [int(v or 0) for v in data[f"__gs_n{i}"]], each)
            values[i] = [max(v, 0) for v in noisy]
            continue
        assert agg.bounds is not None
        sums = noise.sums([float(v or 0.0) for v in data[f"__gs_s{i}"]],
                          sensitivity(agg.bounds), each)
        if agg.kind == "sum":
            values[i] = sums
        else:
            lo, hi = agg.bounds
            counts = noise.counts([int(v or 0) for v in data[f"__gs_n{i}"]], each)
            values[i] = [min(max(s / max(n, 1), lo), hi) for s, n in zip(sums, counts,
                                                                         strict=True)]
    order: list[tuple[str, int | None]] = []  # output name, aggregate index (None: a key)
    seen: set[int] = set()
    for name in names:
        if name == CONTRIBUTORS:
            continue
        if not name.startswith("__gs_"):
            order.append((name, None))
            continue
        i = int(name[len("__gs_n"):])
        if i not in seen:
            seen.add(i)
            order.append((plan.aggregates[i].output, i))
    rows = [{name: (data[name][g] if i is None else values[i][g]) for name, i in order}
            for g in keep]
    return rows, groups - len(keep)
