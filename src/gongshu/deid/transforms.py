"""De-identification transforms (Art. 16), pure and vectorised over Arrow.

Art. 16: personal data may go out without consent only when processed so that no specific
person can be identified and it cannot be restored. A **profile** says, per column, how it is
processed before it leaves, which columns are the quasi-identifiers (the ones a reader could
link to other data: birth date, sex, place), the sensitive column (for l-diversity) and the
thresholds a release must meet (``risk.py`` measures them).

=============  ===================================================  ============================
transform      params                                               example
=============  ===================================================  ============================
keep           -                                                    as is
drop           -                                                    the column is left out
mask           type (id_number, name, mobile, address, generic),    110105********0028
               first, last, char
truncate       length                                               山西省太原市
date           to (month, year, band5, band10)                      1985-07-09 → 1985-07 / 1985
                                                                    / 1985-1989
region         to (county, city, province), output (code, name)     140105 → 140100 / 太原市
id_region      same as region, from an ID number's first 6 digits   1401051985… → 140100
pseudonym      length (hex digits, 16-64), prefix                   SM3-HMAC under a secret key
rare           min_count: values seen fewer times become missing    rare occupations blanked
bucket         width (fixed) or edges (ascending)                   3456.7 → 0-5000 / 3000-8000
=============  ===================================================  ============================

Profile-wide: ``suppress`` (``none``, ``blank``, ``drop``) handles the records whose
quasi-identifier class is still smaller than ``thresholds.k`` after the column transforms:
``blank`` empties their quasi-identifiers (they then form one class of their own, which the
assessment measures like any other), ``drop`` leaves them out. Columns a profile does not name
are left out (``unlisted: drop``, the default) or kept (``unlisted: keep``); the
quasi-identifiers and the sensitive column are kept unless they name a transform.

Pseudonyms are keyed: the same value under the same key gives the same pseudonym (so records
of one person still link inside a release), another key gives unrelated ones, and without the
key nobody can recompute them (a salted hash of an ID number is restored by trying all
~10^11 numbers; an HMAC under a 256-bit secret is not). The key is the caller's (``service``
derives a per-dataset or per-release key from the key store, never written beside the output).

Everything is Arrow compute on whole columns or a map over a column's distinct values, so a
million rows take about a second.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.hazmat.primitives import hashes, hmac

from gongshu.core.errors import FieldError, ValidationFailed
from gongshu.orgs.regions import Level, regions

TRANSFORMS = ("keep", "drop", "mask", "truncate", "date", "region", "id_region", "pseudonym",
              "rare", "bucket")
MASK_TYPES: Mapping[str, tuple[int, int]] = {
    # type: (characters kept at the start, at the end)
    "id_number": (6, 4),
    "name": (1, 0),
    "mobile": (3, 4),
    "address": (6, 0),
    "generic": (1, 1),
}
DATE_LEVELS = ("month", "year", "band5", "band10")
REGION_LEVELS = ("county", "city", "province")
SUPPRESS = ("none", "blank", "drop")
KEY_SCOPES = ("release", "dataset")


# ---------------------------------------------------------------------------- the profile


@dataclass(frozen=True)
class ColumnRule:
    column: str
    transform: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Thresholds:
    k: int = 10
    l: int | None = None  # noqa: E741 - the letter of l-diversity
    max_risk: float | None = None


@dataclass(frozen=True)
class Profile:
    rules: tuple[ColumnRule, ...]
    quasi_identifiers: tuple[str, ...]
    sensitive: str | None = None
    thresholds: Thresholds = Thresholds()
    suppress: str = "none"
    unlisted: str = "drop"
    #: the pseudonym key's scope: a new key per release, or one per dataset (links releases)
    key_scope: str = "release"

    def rule(self, column: str) -> ColumnRule | None:
        return next((r for r in self.rules if r.column == column), None)

    def output_columns(self, columns: Sequence[str]) -> list[str]:
        """The columns of the de-identified output, in the input's order."""
        out = []
        for c in columns:
            rule = self.rule(c)
            if rule is None:
                keep = (self.unlisted == "keep" or c in self.quasi_identifiers
                        or c == self.sensitive)
            else:
                keep = rule.transform != "drop"
            if keep:
                out.append(c)
        return out

    def needs_key(self) -> bool:
        return any(r.transform == "pseudonym" for r in self.rules)

    def as_dict(self) -> dict[str, Any]:
        t = self.thresholds
        return {
            "columns": {r.column: {"transform": r.transform, **dict(r.params)} for r in self.rules},
            "quasi_identifiers": list(self.quasi_identifiers),
            "sensitive": self.sensitive,
            "thresholds": {"k": t.k, "l": t.l, "max_risk": t.max_risk},
            "suppress": self.suppress, "unlisted": self.unlisted, "key_scope": self.key_scope,
        }


def _int(errors: list[FieldError], where: str, value: Any, lo: int, hi: int) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif (isinstance(value, float) and value.is_integer()
          or isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,12}\s*", value)):
        number = int(value)
    if number is None or not lo <= number <= hi:
        errors.append(FieldError(where, "deid_number",
                                 f"{where}: a whole number from {lo} to {hi} is needed.",
                                 params={"lo": lo, "hi": hi}))
        return lo
    return number


def _choice(errors: list[FieldError], where: str, value: Any, options: Sequence[str]) -> str:
    if value not in options:
        errors.append(FieldError(where, "deid_choice",
                                 f"{where}: one of {', '.join(options)} (not {value!r}).",
                                 params={"options": ", ".join(options)}))
        return options[0]
    return str(value)


def _rule(errors: list[FieldError], column: str, spec: Any) -> ColumnRule:
    where = f"columns.{column}"
    if isinstance(spec, str):
        spec = {"transform": spec}
    if not isinstance(spec, Mapping):
        errors.append(FieldError(where, "deid_choice", f"{where}: a transform is needed.",
                                 params={"options": ", ".join(TRANSFORMS)}))
        return ColumnRule(column, "keep")
    kind = _choice(errors, f"{where}.transform", spec.get("transform"), TRANSFORMS)
    p: dict[str, Any] = {}
    if kind == "mask":
        mtype = _choice(errors, f"{where}.type", spec.get("type", "generic"), tuple(MASK_TYPES))
        first, last = MASK_TYPES[mtype]
        p = {"type": mtype,
             "first": _int(errors, f"{where}.first", spec.get("first", first), 0, 64),
             "last": _int(errors, f"{where}.last", spec.get("last", last), 0, 64),
             "char": str(spec.get("char", "*"))[:1] or "*"}
    elif kind == "truncate":
        p = {"length": _int(errors, f"{where}.length", spec.get("length", 6), 0, 10_000)}
    elif kind == "date":
        p = {"to": _choice(errors, f"{where}.to", spec.get("to", "year"), DATE_LEVELS)}
    elif kind in ("region", "id_region"):
        p = {"to": _choice(errors, f"{where}.to", spec.get("to", "city"), REGION_LEVELS),
             "output": _choice(errors, f"{where}.output", spec.get("output", "code"),
                               ("code", "name"))}
    elif kind == "pseudonym":
        p = {"length": _int(errors, f"{where}.length", spec.get("length", 32), 16, 64),
             "prefix": str(spec.get("prefix", ""))[:16]}
    elif kind == "rare":
        p = {"min_count": _int(errors, f"{where}.min_count", spec.get("min_count", 5), 1,
                               10**9)}
    elif kind == "bucket":
        edges = spec.get("edges")
        if edges is not None:
            try:
                values = [float(e) for e in edges]
            except (TypeError, ValueError):
                values = []
            if not values or any(b <= a for a, b in zip(values, values[1:], strict=False)):
                errors.append(FieldError(f"{where}.edges", "deid_edges",
                                         f"{where}.edges: ascending numbers are needed."))
            p = {"edges": values}
        else:
            try:
                width = float(spec.get("width", 0))
            except (TypeError, ValueError):
                width = 0
            if not width > 0 or width != width or width == float("inf"):
                errors.append(FieldError(f"{where}.width", "deid_width",
                                         f"{where}.width: a positive number is needed."))
                width = 1.0
            p = {"width": width}
    return ColumnRule(column, kind, p)


def parse_profile(data: Any, *, columns: Sequence[str] | None = None) -> Profile:
    """A profile from its YAML/JSON shape (module doc); every problem at once as
    ``ValidationFailed``. With ``columns``, names that are not among them are errors too."""
    errors: list[FieldError] = []
    if not isinstance(data, Mapping):
        raise ValidationFailed.single("profile", "deid_profile", "A profile is a mapping.")
    raw_cols = data.get("columns") or {}
    if not isinstance(raw_cols, Mapping):
        errors.append(FieldError("columns", "deid_profile", "columns: a mapping of column to "
                                 "transform."))
        raw_cols = {}
    rules = tuple(_rule(errors, str(c), s) for c, s in raw_cols.items())
    qi = data.get("quasi_identifiers") or []
    if isinstance(qi, str):
        qi = [q.strip() for q in qi.split(",") if q.strip()]
    if not isinstance(qi, Sequence) or not qi:
        errors.append(FieldError("quasi_identifiers", "deid_qi_required",
                                 "Name at least one quasi-identifier."))
        qi = []
    qi = tuple(dict.fromkeys(str(q) for q in qi))
    sensitive = data.get("sensitive") or None
    sensitive = str(sensitive) if sensitive is not None else None
    raw_t = data.get("thresholds") or {}
    if not isinstance(raw_t, Mapping):
        raw_t = {}
    k = _int(errors, "thresholds.k", raw_t.get("k", 10), 1, 10**9)
    ell = raw_t.get("l")
    ell = _int(errors, "thresholds.l", ell, 1, 10**6) if ell not in (None, "") else None
    max_risk = raw_t.get("max_risk")
    if max_risk not in (None, ""):
        try:
            max_risk = float(max_risk)
            if not 0 < max_risk <= 1:
                raise ValueError
        except (TypeError, ValueError):
            errors.append(FieldError("thresholds.max_risk", "deid_max_risk",
                                     "thresholds.max_risk: a number above 0, at most 1."))
            max_risk = None
    else:
        max_risk = None
    suppress = _choice(errors, "suppress", data.get("suppress", "none"), SUPPRESS)
    unlisted = _choice(errors, "unlisted", data.get("unlisted", "drop"), ("drop", "keep"))
    key_scope = _choice(errors, "key_scope", data.get("key_scope", "release"), KEY_SCOPES)
    for q in qi:
        rule = next((r for r in rules if r.column == q), None)
        if rule is not None and rule.transform == "drop":
            errors.append(FieldError(f"columns.{q}", "deid_qi_dropped",
                                     f"{q} is a quasi-identifier and cannot be dropped.",
                                     params={"column": q}))
    if sensitive is not None and sensitive in qi:
        errors.append(FieldError("sensitive", "deid_sensitive_qi",
                                 "The sensitive column cannot be a quasi-identifier."))
    if columns is not None:
        known = set(columns)
        named = [r.column for r in rules] + list(qi) + ([sensitive] if sensitive else [])
        for c in dict.fromkeys(named):
            if c not in known:
                errors.append(FieldError(f"columns.{c}", "deid_unknown_column",
                                         f"No column {c!r} in the data.", params={"column": c}))
    if errors:
        raise ValidationFailed("The profile is not valid.", errors=errors, code="deid_profile")
    return Profile(rules, qi, sensitive, Thresholds(k, ell, max_risk), suppress, unlisted,
                   key_scope)


# ----------------------------------------------------------------------- the transforms


def _text(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        array = pc.cast(array, pa.string())
    return array


def map_distinct(array: pa.Array | pa.ChunkedArray, fn: Callable[[str], str | None]) -> pa.Array:
    """``fn`` over each distinct value (missing stays missing), applied to all rows by index."""
    text = _text(array)
    encoded = pc.dictionary_encode(text)
    dictionary = encoded.dictionary.to_pylist()
    mapped = pa.array([fn(v) for v in dictionary], pa.string())
    return pc.take(mapped, encoded.indices)


def mask(array: pa.Array | pa.ChunkedArray, *, first: int, last: int, char: str = "*",
         type: str = "generic") -> pa.Array:
    """Keep ``first`` and ``last`` characters, replace the rest by ``char``. A value too short
    to keep both keeps at most half of it, at the start. Addresses keep everything up to the
    first 区/县/旗/市 within 12 characters (else ``first`` characters) and mask the rest."""
    text = _text(array)
    if type == "address":
        cut = pc.extract_regex(text, r"^(?P<head>.{0,12}(?:区|县|旗|市))")
        head = pc.struct_field(cut, [0])
        found = pc.is_valid(head)
        length = pc.fill_null(pc.utf8_length(text), 0)
        short = pc.if_else(pc.greater(length, first), first, pc.divide(length, 2))
        head_len = pc.if_else(found, pc.utf8_length(head), short)
        rest = pc.subtract(length, head_len)
        kept = pc.if_else(found, head, _slice_heads(text, short))
        # four marks whatever was cut, so the length of the address does not show
        stars = pc.binary_repeat(char, pc.fill_null(pc.if_else(pc.greater(rest, 0), 4, 0), 0))
        joined = pc.binary_join_element_wise(kept, stars, "")
        return pc.if_else(pc.is_valid(text), joined, pa.scalar(None, pa.string()))
    length = pc.fill_null(pc.utf8_length(text), 0)  # a missing value stays missing (below)
    long_enough = pc.greater(length, first + last)
    head_len = pc.if_else(long_enough, first, pc.min_element_wise(pc.divide(length, 2), first))
    tail_len = pc.if_else(long_enough, last, 0)
    heads = _slice_heads(text, head_len)
    tails = pc.if_else(pc.greater(tail_len, 0), pc.utf8_slice_codeunits(text, -max(last, 1)), "")
    stars = pc.binary_repeat(char, pc.subtract(pc.subtract(length, head_len), tail_len))
    joined = pc.binary_join_element_wise(heads, stars, tails, "")
    return pc.if_else(pc.is_valid(text), joined, pa.scalar(None, pa.string()))


def _slice_heads(text: pa.Array, head_len: pa.Array) -> pa.Array:
    """Each value's first ``head_len[i]`` characters (few distinct lengths: one slice each)."""
    lengths = pc.unique(head_len.drop_null()).to_pylist()
    if len(lengths) == 1:
        return pc.utf8_slice_codeunits(text, 0, int(lengths[0]))
    out = pc.utf8_slice_codeunits(text, 0, 0)
    for n in lengths:
        out = pc.if_else(pc.equal(head_len, n), pc.utf8_slice_codeunits(text, 0, int(n)), out)
    return out


def truncate(array: pa.Array | pa.ChunkedArray, *, length: int) -> pa.Array:
    return pc.utf8_slice_codeunits(_text(array), 0, length)


_DATE = re.compile(r"^\s*(\d{4})(?:[-/.年]?(\d{1,2})(?:[-/.月]?(\d{1,2})日?)?)?")


def generalise_date(value: str, to: str) -> str | None:
    """``1985-07-09`` (or ``19850709``, ``1985/7/9``, ``1985年7月9日``, a timestamp) at the
    level asked: ``1985-07``, ``1985``, ``1985-1989``, ``1980-1989``; None if not a date."""
    m = _DATE.match(value)
    if m is None:
        return None
    year = int(m.group(1))
    if to == "month":
        if m.group(2) is None or not 1 <= int(m.group(2)) <= 12:
            return None
        return f"{year:04d}-{int(m.group(2)):02d}"
    if to == "year":
        return f"{year:04d}"
    width = 5 if to == "band5" else 10
    lo = year - year % width
    return f"{lo:04d}-{lo + width - 1:04d}"


def dates(array: pa.Array | pa.ChunkedArray, *, to: str) -> pa.Array:
    return map_distinct(array, lambda v: generalise_date(v, to))


@cache
def _region_table() -> dict[str, tuple[str, str, str | None]]:
    """code -> (name, level, parent code) of the province's current divisions."""
    return {r.code: (r.name, r.level.value, r.parent_code) for r in regions()}


def generalise_region(code: str, to: str, output: str = "code") -> str | None:
    """A division code (its first 6 digits) lifted to ``to`` through the hierarchy: county →
    city → province (the table of ``orgs.regions``; codes it does not know by their prefix).
    ``output="name"`` gives the division's name where known. None if not a code."""
    code = code.strip()[:6]
    if not re.fullmatch(r"\d{6}", code):
        return None
    table = _region_table()
    found = table.get(code)
    level = found[1] if found else (Level.PROVINCE.value if code.endswith("0000") else
                                    Level.CITY.value if code.endswith("00") else
                                    Level.COUNTY.value)
    order = list(REGION_LEVELS)
    target = code
    while order.index(level) < order.index(to):
        parent = table[target][2] if target in table else None
        if parent is None:
            parent = target[:4] + "00" if level == Level.COUNTY.value else target[:2] + "0000"
        target = parent
        level = order[order.index(level) + 1]
    if output == "name" and target in table:
        return table[target][0]
    return target


def region(array: pa.Array | pa.ChunkedArray, *, to: str, output: str = "code") -> pa.Array:
    return map_distinct(array, lambda v: generalise_region(v, to, output))


def id_region(array: pa.Array | pa.ChunkedArray, *, to: str, output: str = "code") -> pa.Array:
    """The place an ID number was issued (its first 6 digits), generalised like ``region``."""
    heads = pc.utf8_slice_codeunits(_text(array), 0, 6)
    return map_distinct(heads, lambda v: generalise_region(v, to, output))


def pseudonym_hmac(key: bytes) -> hmac.HMAC:
    return hmac.HMAC(key, hashes.SM3())


def pseudonyms(array: pa.Array | pa.ChunkedArray, *, key: bytes, length: int = 32,
               prefix: str = "") -> pa.Array:
    """SM3-HMAC of each value under ``key``, as ``length`` hex digits after ``prefix``."""
    if len(key) < 16:
        raise ValueError("a pseudonym key has at least 128 bits")
    base = pseudonym_hmac(key)

    def one(value: str) -> str:
        h = base.copy()
        h.update(value.encode("utf-8"))
        return prefix + h.finalize().hex()[:length]

    return map_distinct(array, one)


def rare(array: pa.Array | pa.ChunkedArray, *, min_count: int) -> pa.Array:
    """Values seen fewer than ``min_count`` times in the column become missing."""
    text = _text(array)
    counts = pc.value_counts(text)
    values = counts.field("values")
    few = pc.filter(values, pc.less(counts.field("counts"), min_count))
    return pc.if_else(pc.is_in(text, value_set=few), pa.scalar(None, pa.string()), text)


_NUMBER = r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$"


def _numbers(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type) \
            or pa.types.is_decimal(array.type):
        return pc.cast(array, pa.float64())
    text = pc.utf8_trim_whitespace(_text(array))
    ok = pc.match_substring_regex(text, _NUMBER)
    clean = pc.if_else(ok, text, pa.scalar(None, pa.string()))
    return pc.cast(clean, pa.float64())


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def bucket(array: pa.Array | pa.ChunkedArray, *, width: float | None = None,
           edges: Sequence[float] | None = None) -> pa.Array:
    """Numbers into ranges: ``[lo, lo+width)`` shown ``lo-hi``, or between given ``edges``
    (``<e0``, ``e0-e1``, …, ``>=en``). Not a number: missing."""
    numbers = _numbers(array)
    values = numbers.to_numpy(zero_copy_only=False)
    valid = ~np.isnan(values)
    if edges:
        labels = [f"<{_fmt(edges[0])}"] + \
            [f"{_fmt(a)}-{_fmt(b)}" for a, b in zip(edges, edges[1:], strict=False)] + \
            [f">={_fmt(edges[-1])}"]
        where = np.searchsorted(np.asarray(edges, dtype=float), np.where(valid, values, 0),
                                side="right")
        out = pc.take(pa.array(labels), pa.array(where))
    else:
        assert width
        lo = np.floor(np.where(valid, values, 0) / width) * width
        distinct, index = np.unique(lo, return_inverse=True)
        labels = [f"{_fmt(a)}-{_fmt(a + width)}" for a in distinct]
        out = pc.take(pa.array(labels, pa.string()), pa.array(index.reshape(-1)))
    return pc.if_else(pa.array(valid), out, pa.scalar(None, pa.string()))


def apply_rule(array: pa.Array | pa.ChunkedArray, rule: ColumnRule, *,
               key: bytes | None = None) -> pa.Array | pa.ChunkedArray:
    p = dict(rule.params)
    match rule.transform:
        case "keep":
            return array
        case "mask":
            return mask(array, **p)
        case "truncate":
            return truncate(array, **p)
        case "date":
            return dates(array, **p)
        case "region":
            return region(array, **p)
        case "id_region":
            return id_region(array, **p)
        case "pseudonym":
            if key is None:
                raise ValueError("a pseudonym needs a key")
            return pseudonyms(array, key=key, **p)
        case "rare":
            return rare(array, **p)
        case "bucket":
            return bucket(array, **p)
    raise ValueError(f"unknown transform {rule.transform!r}")  # pragma: no cover - parsed


def apply_profile(table: pa.Table, profile: Profile, *, key: bytes | None = None) -> pa.Table:
    """The de-identified table: each column transformed by its rule, unlisted columns left out
    or kept, then the records of classes below k suppressed as the profile says."""
    if profile.needs_key() and key is None:
        raise ValueError("this profile makes pseudonyms: a key is needed")
    names = profile.output_columns(table.column_names)
    arrays = []
    for name in names:
        rule = profile.rule(name)
        column = table.column(name)
        arrays.append(column if rule is None else apply_rule(column, rule, key=key))
    out = pa.table(arrays, names=names) if names else pa.table({})
    if profile.suppress != "none" and profile.quasi_identifiers and out.num_rows:
        out = suppress_small_classes(out, profile.quasi_identifiers, profile.thresholds.k,
                                     how=profile.suppress)
    return out


def suppress_small_classes(table: pa.Table, qi: Sequence[str], k: int, *,
                           how: str) -> pa.Table:
    """Records whose quasi-identifier combination occurs fewer than ``k`` times: their
    quasi-identifiers emptied (``blank``) or the records left out (``drop``)."""
    from gongshu.deid.risk import class_sizes_per_row

    sizes = class_sizes_per_row(table, qi)
    small = pc.less(sizes, k)
    if how == "drop":
        return table.filter(pc.invert(small))
    columns = []
    for name in table.column_names:
        column = table.column(name)
        if name in qi:
            column = pc.if_else(small, pa.scalar(None, column.type), column)
        columns.append(column)
    return pa.table(columns, names=table.column_names)
