"""Re-identification risk of a table (Art. 16), pure: no files, no database.

For chosen quasi-identifiers (the columns a reader could link to other data), the records fall
into **classes**: the distinct combinations of their values, a missing value being a value of
its own. Under the prosecutor model (the attacker knows their target is in the data):

- ``k`` = the smallest class (k-anonymity); ``max_risk`` = 1/k, the risk of the worst-placed
  record; ``avg_risk`` = classes / records, the mean over records of 1/(its class size);
- ``at_risk`` = the records in classes smaller than the threshold k;
- ``l`` = the fewest distinct values of the sensitive column in a class (l-diversity; a
  missing value counts as one), so a class of 10 all with the same diagnosis still discloses it;
- ``class_sizes`` = the distribution: ``[[size, number of classes of that size], …]``.

An empty table has no classes: every figure is 0 (and k = 0 fails any threshold).

It is one ``GROUP BY`` in an in-memory DuckDB over the Arrow table (no file system, no
network: ``enable_external_access`` off), so a million rows take well under a second.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class Assessment:
    records: int
    classes: int
    k: int
    max_risk: float
    avg_risk: float
    at_risk: int
    #: the threshold ``at_risk`` counts below
    k_threshold: int
    quasi_identifiers: tuple[str, ...]
    sensitive: str | None = None
    l: int | None = None  # noqa: E741 - the letter of l-diversity
    class_sizes: list[list[int]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["quasi_identifiers"] = list(self.quasi_identifiers)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Assessment:
        fields = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in fields}
        values["quasi_identifiers"] = tuple(values.get("quasi_identifiers") or ())
        return cls(**values)


@dataclass(frozen=True)
class Reason:
    """Why a release is blocked: a stable code and its figures (for the message)."""

    code: str
    params: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, **self.params}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _connect() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(config={"enable_external_access": False,
                                  "autoinstall_known_extensions": False,
                                  "autoload_known_extensions": False})


def assess(table: pa.Table, quasi_identifiers: Sequence[str], *, k_threshold: int = 10,
           sensitive: str | None = None) -> Assessment:
    """The figures of the module doc. Unknown columns raise ``KeyError`` naming them."""
    started = time.perf_counter()
    qi = tuple(dict.fromkeys(quasi_identifiers))
    unknown = [c for c in (*qi, *([sensitive] if sensitive else [])) if c not in
               table.column_names]
    if unknown:
        raise KeyError(", ".join(unknown))
    if not qi:
        raise ValueError("at least one quasi-identifier is needed")
    if table.num_rows == 0:
        return Assessment(0, 0, 0, 0.0, 0.0, 0, k_threshold, qi, sensitive,
                          0 if sensitive else None, [], time.perf_counter() - started)
    needed = list(dict.fromkeys([*qi, *([sensitive] if sensitive else [])]))
    data = table.select(needed)
    keys = ", ".join(_q(c) for c in qi)
    diversity = (f", COUNT(DISTINCT {_q(sensitive)}) + "
                 f"CAST(COUNT(*) > COUNT({_q(sensitive)}) AS INTEGER) AS l" if sensitive else "")
    con = _connect()
    try:
        con.register("data", data)
        rows = con.execute(
            f"WITH c AS (SELECT COUNT(*) AS n{diversity} FROM data GROUP BY {keys}) "
            f"SELECT n, COUNT(*) AS classes{', MIN(l)' if sensitive else ', NULL'} "
            f"FROM c GROUP BY n ORDER BY n").fetchall()
    finally:
        con.close()
    sizes = [[int(n), int(c)] for n, c, _l in rows]
    records = sum(n * c for n, c in sizes)
    classes = sum(c for _n, c in sizes)
    k = sizes[0][0]
    ell = min(int(r[2]) for r in rows) if sensitive else None
    at_risk = sum(n * c for n, c in sizes if n < k_threshold)
    return Assessment(records, classes, k, 1.0 / k, classes / records, at_risk, k_threshold,
                      qi, sensitive, ell, sizes, time.perf_counter() - started)


def class_sizes_per_row(table: pa.Table, quasi_identifiers: Sequence[str]) -> pa.Array:
    """Each record's class size, in row order (NumPy over the columns' dictionary codes)."""
    n = table.num_rows
    key = np.zeros(n, dtype=np.int64)
    for name in quasi_identifiers:
        column = table.column(name)
        encoded = pc.dictionary_encode(column.combine_chunks()
                                       if isinstance(column, pa.ChunkedArray) else column)
        width = len(encoded.dictionary) + 1
        codes = pc.fill_null(encoded.indices, width - 1).to_numpy(zero_copy_only=False)
        # compress the key so far to 0..m-1 first, so the product never overflows
        _distinct, key = np.unique(key, return_inverse=True)
        key = key.reshape(-1).astype(np.int64) * width + codes.astype(np.int64)
    _distinct, inverse = np.unique(key, return_inverse=True)
    inverse = inverse.reshape(-1)
    counts = np.bincount(inverse)
    return pa.array(counts[inverse].astype(np.int64))


def reasons(assessment: Assessment, *, k: int, l: int | None = None,  # noqa: E741
            max_risk: float | None = None) -> list[Reason]:
    """What keeps a release blocked (empty: the thresholds are met). Art. 16."""
    out = []
    if assessment.k < k:
        out.append(Reason("k_below", {"k": assessment.k, "threshold": k,
                                      "at_risk": assessment.at_risk}))
    if l is not None and (assessment.l is None or assessment.l < l):
        out.append(Reason("l_below", {"l": assessment.l, "threshold": l}))
    if max_risk is not None and (assessment.records == 0 or assessment.max_risk > max_risk):
        out.append(Reason("max_risk_above", {"max_risk": round(assessment.max_risk, 6),
                                             "threshold": max_risk}))
    return out


#: the bins of the class-size chart: (label, smallest size, largest size or None)
SIZE_BINS: tuple[tuple[str, int, int | None], ...] = (
    ("1", 1, 1), ("2", 2, 2), ("3-4", 3, 4), ("5-9", 5, 9), ("10-19", 10, 19),
    ("20-49", 20, 49), ("50-99", 50, 99), ("100+", 100, None))


def binned(class_sizes: Sequence[Sequence[int]]) -> list[dict[str, Any]]:
    """The distribution in ``SIZE_BINS``: classes and records per bin."""
    out = []
    for label, lo, hi in SIZE_BINS:
        inside = [(n, c) for n, c in class_sizes if n >= lo and (hi is None or n <= hi)]
        out.append({"label": label, "classes": sum(c for _n, c in inside),
                    "records": sum(n * c for n, c in inside)})
    return out
