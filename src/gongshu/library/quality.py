"""Data quality of a dataset version (Art. 11: the library keeps data that is fit to share).

A dataset has rules; each rule gives a score in [0, 1] (the share of checked values that pass)
and the version gets the weighted mean of its rules' scores. Rules:

==============  =========================================  ==========================================
kind            params                                     checks
==============  =========================================  ==========================================
not_null        —                                          rows whose column has a value
unique          —                                          values that occur once (of non-empty)
pattern         ``regex`` (RE2, whole value)               values matching the pattern
detector        ``detector`` (cn_id, cn_mobile, …)         values the sensitive-data detector accepts
                                                           (checksums included: ``match_mask``)
range           ``min`` and/or ``max``                     values within the range (numbers, dates)
allowed_values  ``values`` (list)                          values among the allowed ones
reference       ``dataset`` (resource code), ``column``    values found in another dataset's column
freshness       optional ``column`` (a date)               the version (or the newest date in
                                                           ``column``) is no older than the entry's
                                                           update cycle allows
==============  =========================================  ==========================================

Everything is computed by the engine (DuckDB) over the version's Parquet files; the detector rule
streams the column in batches. Nothing here touches the metadata store.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from gongshu.core.errors import FieldError
from gongshu.engine import Engine, QueryError
from gongshu.engine.base import Source
from gongshu.grading.detectors import match_mask
from gongshu.grading.vocab import DETECTOR_TYPES

RULE_KINDS: tuple[str, ...] = ("not_null", "unique", "pattern", "detector", "range",
                               "allowed_values", "reference", "freshness")
#: kinds that need a column
COLUMN_KINDS = frozenset(RULE_KINDS) - {"freshness"}
NUMERIC_TYPES = frozenset({"N", "Y", "B", "F", "I"})
TIME_TYPES = frozenset({"D", "T"})


@cache
def max_age_days() -> dict[str, int]:
    text = (resources.files("gongshu.library") / "data" / "freshness.yaml").read_text("utf-8")
    return {str(k): int(v) for k, v in yaml.safe_load(text)["max_age_days"].items()}


@dataclass(frozen=True)
class ColumnInfo:
    code: str
    name: str
    data_type: str


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    column: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    weight: float = 1.0


@dataclass
class RuleResult:
    rule_id: str
    kind: str
    column: str | None
    params: dict[str, Any]
    weight: float
    checked: int = 0
    passed: int = 0
    score: float | None = None
    detail: str = ""
    error: str | None = None
    #: the detail as a message (``quality_detail.<key>`` with these values) for pages; ``detail``
    #: is the English text for the API, the CLI and the logs
    detail_key: str = ""
    detail_params: dict[str, Any] = field(default_factory=dict)

    def say(self, key: str, text: str, **params: Any) -> None:
        self.detail, self.detail_key, self.detail_params = text, key, params

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Outcome:
    score: float | None
    results: list[RuleResult]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --------------------------------------------------------------------------- validation


def check_rule(kind: str, column: str | None, params: Mapping[str, Any], *,
               columns: Mapping[str, ColumnInfo], weight: float = 1.0) -> list[FieldError]:
    """Every problem with a rule definition, at once (checked before a rule is stored)."""
    errors: list[FieldError] = []

    def bad(where: str, code: str, message: str) -> None:
        errors.append(FieldError(where, code, message))

    if kind not in RULE_KINDS:
        bad("kind", "invalid_choice", f"Unknown rule kind {kind!r}; one of {', '.join(RULE_KINDS)}.")
        return errors
    if not (0 < weight <= 100) or math.isnan(weight):
        bad("weight", "weight_out_of_range", "The weight is a number above 0 and at most 100.")
    info = columns.get(column) if column else None
    if kind in COLUMN_KINDS or (kind == "freshness" and column):
        if not column:
            bad("column", "required", "Choose the column the rule checks.")
        elif info is None:
            bad("column", "unknown_column", f"The dataset has no column {column!r}.")
    if kind == "pattern":
        regex = params.get("regex")
        if not isinstance(regex, str) or not regex:
            bad("params.regex", "required", "Give the pattern (a regular expression).")
    elif kind == "detector":
        if params.get("detector") not in DETECTOR_TYPES:
            bad("params.detector", "invalid_choice",
                f"Choose one of the detectors: {', '.join(DETECTOR_TYPES)}.")
    elif kind == "range":
        lo, hi = params.get("min"), params.get("max")
        if lo in (None, "") and hi in (None, ""):
            bad("params.min", "required", "Give a minimum, a maximum or both.")
        if info is not None and info.data_type not in NUMERIC_TYPES | TIME_TYPES:
            bad("column", "not_comparable", "A range needs a column of numbers or dates.")
        if info is not None and info.data_type in NUMERIC_TYPES:
            for key in ("min", "max"):
                value = params.get(key)
                if value not in (None, ""):
                    try:
                        float(value)
                    except (TypeError, ValueError):
                        bad(f"params.{key}", "not_a_number", f"{key} must be a number.")
        if info is not None and info.data_type in TIME_TYPES:
            for key in ("min", "max"):
                value = params.get(key)
                if value not in (None, ""):
                    try:
                        dt.datetime.fromisoformat(str(value))
                    except ValueError:
                        bad(f"params.{key}", "not_a_date", f"{key} must be a date (YYYY-MM-DD).")
    elif kind == "allowed_values":
        values = params.get("values")
        if not isinstance(values, list) or not values or not all(
                isinstance(v, str | int | float) for v in values):
            bad("params.values", "required", "List the allowed values.")
    elif kind == "reference":
        if not params.get("dataset"):
            bad("params.dataset", "required", "Give the resource code of the referenced dataset.")
        if not params.get("column"):
            bad("params.column", "required", "Give the referenced column.")
    elif kind == "freshness" and info is not None and info.data_type not in TIME_TYPES:
        bad("column", "not_a_date", "Freshness by a column needs a date column.")
    return errors


# --------------------------------------------------------------------------- evaluation


@dataclass
class Context:
    """What rules need beyond the data: the version's time, the update cycle, other datasets."""

    created_at: dt.datetime
    update_cycle: str | None = None
    now: dt.datetime | None = None
    #: resource code -> (its data as ``Engine.register`` takes it, {column code}) of that
    #: dataset's current version
    resolve: Callable[[str], tuple[Source, set[str]] | None] | None = None


def _registrable(files: Source | Sequence[Path]) -> Source:
    """Parquet paths as a list; an Arrow dataset or table (an object store's version) as is."""
    if isinstance(files, str | Path) or not isinstance(files, Sequence):
        return files
    return list(files)


def evaluate(engine: Engine, files: Source | Sequence[Path], rules: Iterable[Rule], *,
             columns: Mapping[str, ColumnInfo], context: Context) -> Outcome:
    """Score every rule over the version stored in ``files`` (Parquet paths, or the version's
    ``engine_source()``); a rule that cannot run gets an error and no score (it does not drag
    the overall score)."""
    table = f"q_{uuid.uuid4().hex[:16]}"
    engine.register(table, _registrable(files))
    results = []
    try:
        for rule in rules:
            result = RuleResult(rule.id, rule.kind, rule.column, dict(rule.params), rule.weight)
            try:
                _run(engine, table, rule, result, columns, context)
            except QueryError as exc:
                result.error = exc.detail[:500]
            if result.score is None and result.error is None and result.checked:
                result.score = result.passed / result.checked
            results.append(result)
    finally:
        engine.unregister(table)
    scored = [r for r in results if r.score is not None]
    total = sum(r.weight for r in scored)
    score = sum(r.score * r.weight for r in scored) / total if total else None  # type: ignore[operator]
    return Outcome(score, results)


def _one(engine: Engine, sql: str, params: Sequence[Any] | None = None) -> tuple[Any, ...]:
    row = engine.query(sql, params).to_pylist()[0]
    return tuple(row.values())


def _run(engine: Engine, table: str, rule: Rule, r: RuleResult,
         columns: Mapping[str, ColumnInfo], ctx: Context) -> None:
    c = _q(rule.column) if rule.column else None
    t = _q(table)
    p = rule.params
    if rule.kind == "not_null":
        total, filled = _one(engine, f"SELECT count(*), count({c}) FROM {t}")
        r.checked, r.passed = int(total), int(filled)
        r.say("empty", f"{total - filled} empty", n=int(total - filled))
    elif rule.kind == "unique":
        # Grouped by a 64-bit hash of the value: a tenth of the memory of grouping the values
        # themselves, and two of ten million distinct values share a hash with odds ~ 3e-6.
        nonnull, once = _one(engine, f"SELECT coalesce(sum(n), 0), coalesce(sum(n) FILTER "
                             f"(WHERE n = 1), 0) FROM (SELECT count(*) AS n FROM {t} WHERE {c} "
                             f"IS NOT NULL GROUP BY hash({c}))")
        r.checked, r.passed = int(nonnull), int(once)
        r.say("duplicates", f"{nonnull - once} rows share their value with another row",
              n=int(nonnull - once))
    elif rule.kind == "pattern":
        checked, passed = _one(engine, f"SELECT count({c}), count(*) FILTER (WHERE "
                               f"regexp_full_match(CAST({c} AS VARCHAR), ?)) FROM {t}",
                               [str(p["regex"])])
        r.checked, r.passed = int(checked), int(passed)
    elif rule.kind == "detector":
        info = columns.get(rule.column or "")
        reader = engine.query_batches(f"SELECT CAST({c} AS VARCHAR) AS v FROM {t} WHERE {c} IS "
                                      f"NOT NULL", batch_size=131_072)
        for batch in reader:
            mask = match_mask(batch.column(0), str(p["detector"]),
                              header=info.name if info else rule.column)
            r.checked += len(mask)
            r.passed += int(np.count_nonzero(mask))
    elif rule.kind == "range":
        info = columns[rule.column or ""]
        cast = ("DOUBLE" if info.data_type in NUMERIC_TYPES else
                "DATE" if info.data_type == "D" else "TIMESTAMP")
        conds, args = [], []
        for key, op in (("min", ">="), ("max", "<=")):
            if p.get(key) not in (None, ""):
                conds.append(f"{c} {op} CAST(? AS {cast})")
                args.append(str(p[key]))
        checked, passed = _one(engine, f"SELECT count({c}), count(*) FILTER (WHERE "
                               f"{' AND '.join(conds)}) FROM {t}", args)
        r.checked, r.passed = int(checked), int(passed)
    elif rule.kind == "allowed_values":
        values = [str(v) for v in p["values"]]
        checked, passed = _one(engine, f"SELECT count({c}), count(*) FILTER (WHERE "
                               f"list_contains(?::VARCHAR[], CAST({c} AS VARCHAR))) FROM {t}",
                               [values])
        r.checked, r.passed = int(checked), int(passed)
    elif rule.kind == "reference":
        _reference(engine, t, c, r, p, ctx)
    elif rule.kind == "freshness":
        _freshness(engine, t, c, r, ctx)
    else:  # pragma: no cover - check_rule refuses unknown kinds
        r.error = f"unknown rule kind {rule.kind}"
    if rule.kind in ("pattern", "detector", "range", "allowed_values") and r.checked:
        r.say("fail", f"{r.checked - r.passed} of {r.checked} values fail",
              n=r.checked - r.passed, checked=r.checked)


def _reference(engine: Engine, t: str, c: str | None, r: RuleResult, p: Mapping[str, Any],
               ctx: Context) -> None:
    found = ctx.resolve(str(p["dataset"])) if ctx.resolve else None
    if found is None:
        r.error = f"the referenced dataset {p['dataset']} has no stored version"
        return
    files, names = found
    if str(p["column"]) not in names:
        r.error = f"the referenced dataset has no column {p['column']}"
        return
    other = f"r_{uuid.uuid4().hex[:16]}"
    engine.register(other, _registrable(files))
    try:
        rc = _q(str(p["column"]))
        checked, passed = _one(
            engine, f"SELECT count(a.v), count(b.v) FROM (SELECT CAST({c} AS VARCHAR) AS v FROM "
            f"{t} WHERE {c} IS NOT NULL) a LEFT JOIN (SELECT DISTINCT CAST({rc} AS VARCHAR) AS v "
            f"FROM {_q(other)}) b ON a.v = b.v")
    finally:
        engine.unregister(other)
    r.checked, r.passed = int(checked), int(passed)
    r.say("not_found", f"{checked - passed} values not found in {p['dataset']}",
          n=int(checked - passed), dataset=str(p["dataset"]))


def _freshness(engine: Engine, t: str, c: str | None, r: RuleResult, ctx: Context) -> None:
    now = ctx.now or dt.datetime.now(dt.UTC)
    limit = max_age_days().get(ctx.update_cycle or "")
    if c is not None:
        (newest,) = _one(engine, f"SELECT max({c}) FROM {t}")
        if newest is None:
            r.error = "the column has no dates"
            return
        if isinstance(newest, dt.datetime):
            at = newest if newest.tzinfo else newest.replace(tzinfo=dt.UTC)
        else:
            at = dt.datetime.combine(newest, dt.time(), dt.UTC)
    else:
        at = ctx.created_at
    age = max(0.0, (now - at).total_seconds() / 86400)
    r.params = {**r.params, "update_cycle": ctx.update_cycle, "max_age_days": limit}
    if limit is None:
        r.say("no_deadline", f"age {age:.1f} days; the update cycle {ctx.update_cycle or '—'} "
              "sets no deadline", age=f"{age:.1f}", cycle=ctx.update_cycle or "")
        return
    r.checked = 1
    r.passed = 1 if age <= limit else 0
    # Late data loses score in proportion to how late it is (twice the allowed age scores 0.5).
    r.score = 1.0 if age <= limit else round(limit / age, 4)
    r.say("age", f"age {age:.1f} days, {limit} allowed by the update cycle {ctx.update_cycle}",
          age=f"{age:.1f}", limit=limit, cycle=ctx.update_cycle or "")
