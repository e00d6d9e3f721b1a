"""Masked previews of a dataset (Arts. 10, 16): rows as a viewer may see them.

Who sees what is data (``deid/data/masks.yaml``): per role, the highest level rank of the
columns it may see (columns graded above are hidden) and whether it sees values unmasked (only
the provider's data stewards do). What is masked comes from the grading scan: a column in which
a detector found a type is masked for that type, wherever in the value it occurs:

=================  =====================================  =========================
type               example                                shown as
=================  =====================================  =========================
cn_id              110105198507090028                     110105********0028
cn_mobile          13812345678                            138****5678
cn_landline        0351-1234567                           0351-****4567
bank_card          6222021234567890123                    6222********0123
email              zhang.san@example.cn                   z***@example.cn
passport           E12345678                              E*****78
license_plate      晋A12345                               晋A***45
ip                 192.168.10.20                          192.168.*.*
geo                37.870591,112.548963                   37.87,112.54
person_name        张三丰                                  张**
address            山西省太原市小店区体育路123号          山西省太原市小店区****
=================  =====================================  =========================

The masking is SQL (DuckDB ``regexp_replace``) in the query that reads the page of rows, so a
preview never loads more than the page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from gongshu.core.permissions import Actor


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _re(x: str, pattern: str, replacement: str) -> str:
    return f"regexp_replace({x}, {_lit(pattern)}, {_lit(replacement)}, 'g')"


def _name(x: str) -> str:
    whole = (f"CASE WHEN length({x}) BETWEEN 2 AND 4 AND regexp_full_match({x}, '\\p{{Han}}+') "
             f"THEN left({x}, 1) || repeat('*', length({x}) - 1) ")
    in_text = _re(x, r"((?:姓名|联系人|申请人|户主|患者|当事人)[:：]?\s*\p{Han})\p{Han}{1,3}", r"\1**")
    return whole + f"ELSE {in_text} END"


def _address(x: str) -> str:
    return (f"CASE WHEN regexp_matches({x}, '^.{{0,12}}(区|县|旗|市).') "
            f"THEN regexp_replace({x}, '^(.{{0,12}}(?:区|县|旗|市))(.+)$', '\\1****') "
            f"WHEN length({x}) > 6 THEN left({x}, 6) || '****' ELSE {x} END")


#: SQL that masks one detector type inside a text value ``x`` (applied in this order)
MASKS: Mapping[str, Callable[[str], str]] = {
    "cn_id": lambda x: _re(_re(x, r"([1-9][0-9]{5})[0-9]{8}([0-9]{3}[0-9Xx])", r"\1********\2"),
                           r"\b([1-9][0-9]{5})[0-9]{6}([0-9]{3})\b", r"\1******\2"),
    "bank_card": lambda x: _re(x, r"(^|[^0-9*])([0-9]{4})[0-9 ]{8,13}([0-9]{4})", r"\1\2********\3"),
    "cn_mobile": lambda x: _re(x, r"(^|[^0-9*])((?:\+?86[ -]?)?1[3-9][0-9])[ -]?[0-9]{4}[ -]?"
                               r"([0-9]{4})", r"\1\2****\3"),
    "cn_landline": lambda x: _re(x, r"(^|[^0-9*])(0[0-9]{2,3})[-( )]*[0-9]{3,4}([0-9]{4})",
                                 r"\1\2-****\3"),
    "email": lambda x: _re(x, r"([A-Za-z0-9])[A-Za-z0-9._%+-]*@", r"\1***@"),
    "passport": lambda x: _re(x, r"\b([A-Z]{1,2})[0-9]{3,6}([0-9]{2})\b", r"\1*****\2"),
    "license_plate": lambda x: _re(x, r"(\p{Han}[A-Z])[A-Z0-9]{3}([A-Z0-9]{2,3})", r"\1***\2"),
    "ip": lambda x: _re(x, r"\b([0-9]{1,3}\.[0-9]{1,3})\.[0-9]{1,3}\.[0-9]{1,3}\b", r"\1.*.*"),
    "geo": lambda x: _re(x, r"(-?[0-9]{1,3}\.[0-9]{2})[0-9]+", r"\1"),
    "person_name": _name,
    "address": _address,
}


@dataclass(frozen=True)
class Policy:
    clearance: int
    unmasked: bool
    role: str | None


@cache
def _config() -> dict[str, Any]:
    text = (resources.files("gongshu.deid") / "data" / "masks.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def policy_for(actor: Actor, *, provider_path: str, bureau_path: str = "") -> Policy | None:
    """The most permissive preview policy among the actor's roles at the provider (for a
    bureau reviewer: at the provider's reviewing bureau). None: the actor may not preview."""
    if actor.is_system:
        return Policy(10**6, True, None)
    best: Policy | None = None
    for grant in actor.grants:
        spec = _config()["roles"].get(grant.role.value)
        if spec is None:
            continue
        where = bureau_path if grant.role.value == "bureau_reviewer" else provider_path
        if not where or not grant.covers(where):
            continue
        found = Policy(int(spec["clearance"]), bool(spec.get("unmasked")), grant.role.value)
        if best is None or (found.unmasked, found.clearance) > (best.unmasked, best.clearance):
            best = found
    return best


@dataclass(frozen=True)
class PreviewColumn:
    code: str
    name: str
    data_type: str
    level: str | None = None
    rank: int = 0
    types: tuple[str, ...] = ()


@dataclass
class Plan:
    shown: list[PreviewColumn]
    hidden: list[PreviewColumn]
    masked: dict[str, list[str]] = field(default_factory=dict)  # code -> types masked
    sql: str = ""


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def plan(columns: Sequence[PreviewColumn], policy: Policy, *, table: str) -> Plan:
    """The SELECT (without LIMIT/OFFSET) that reads the visible columns, masked."""
    shown = [c for c in columns if c.rank <= policy.clearance]
    hidden = [c for c in columns if c.rank > policy.clearance]
    parts = []
    masked: dict[str, list[str]] = {}
    for c in shown:
        types = [] if policy.unmasked else [t for t in MASKS if t in c.types]
        expr = _q(c.code)
        if types:
            x = f"CAST({_q(c.code)} AS VARCHAR)"
            for t in types:
                x = MASKS[t](x)
            expr = x
            masked[c.code] = types
        parts.append(f"{expr} AS {_q(c.code)}")
    sql = f"SELECT {', '.join(parts) if parts else 'NULL AS _'} FROM {_q(table)}"
    return Plan(shown, hidden, masked, sql)


def mask_types(detections: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """The types to mask in a column: every type the scan found in it at all."""
    return tuple(str(d["type"]) for d in detections if int(d.get("count", 0)) > 0)


def column_mask(types: Iterable[str]) -> str | None:
    """The SQL that masks one text column for ``types`` (those of ``MASKS``, in their order),
    as a ``str.format`` template with ``{code}`` standing for the quoted column (the form
    ``library.service.read_columns``' ``mask`` takes); None when no type needs masking."""
    found = [t for t in MASKS if t in set(types)]
    if not found:
        return None
    sentinel = "\x00column\x00"
    x = f"CAST({sentinel} AS VARCHAR)"
    for t in found:
        x = MASKS[t](x)
    return x.replace("{", "{{").replace("}", "}}").replace(sentinel, "{code}")
