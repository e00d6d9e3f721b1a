"""Duplicate collection (重复采集, Art. 12): which published entries of other bodies could
provide, through sharing, the data items a body is about to collect. Pure: no I/O.

Art. 12: "what can be obtained through sharing shall not be collected again". When a body
drafts a catalog entry, or declares the data a project will collect, its items are matched
against other bodies' published items:

- **the same data element** (数据元, Art. 47) on both sides is the same item;
- else **the same name key** and a **compatible data type**. :func:`name_key` makes the key:
  NFKC (full-width → half-width) and case folding, punctuation, symbols and spaces dropped,
  leading words that change nothing dropped (本人, 所属), endings of one meaning made one
  (号码/编号 → 号, 代码/编码 → 码, 名称 → 名, 时间 → 日期) and strong synonyms made one
  (身份证号 = 公民身份号码). Types are compatible within a group (text, number, date …).

Only what sharing can provide counts: an item whose effective sharing type (its own, else its
entry's) is ``not_shared`` is never a match. Per candidate entry, the score is the share of the
draft's items it covers; above the threshold it is *strong* and warns the body and the
reviewing bureau. Rules, variants, synonyms and the threshold with its rationale are data
(``data/duplicates.yaml``); the database side (``service.duplicate_candidates``) finds the
candidate items through the stored keys (``catalog_data_item.name_key``).
"""

from __future__ import annotations

import math
import unicodedata
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from typing import Any

import yaml

#: the sharing type whose items sharing cannot provide (sharing_types.yaml)
NOT_SHARED = "not_shared"
#: how long a stored key may be (catalog_data_item.name_key)
KEY_MAX = 128
_MAX_PASSES = 8
_KEPT_CATEGORIES = ("L", "N", "M")  # letters, digits, marks; the rest is punctuation & spaces


# ------------------------------------------------------------------------------- the rules


@dataclass(frozen=True)
class Rules:
    """The contents of ``data/duplicates.yaml``, ready to apply."""

    share: float
    min_items: int
    rationale: str
    #: (variant ending, canonical ending), longest variant first
    suffixes: tuple[tuple[str, str], ...]
    prefixes: tuple[str, ...]
    #: the cleaned and rewritten name of each synonym → its group's key
    synonyms: Mapping[str, str]
    #: data type code → its group
    type_group: Mapping[str, str]


def _clean(text: str) -> str:
    """NFKC, case folded, only letters, digits and marks kept; repeated until it stays."""
    for _ in range(_MAX_PASSES):
        folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
        out = "".join(ch for ch in folded if unicodedata.category(ch)[0] in _KEPT_CATEGORIES)
        if out == text:
            break
        text = out
    return text


def _rewrite(text: str, suffixes: Sequence[tuple[str, str]], prefixes: Sequence[str]) -> str:
    """Leading words dropped and endings made canonical, until nothing changes (so a key is
    its own key)."""
    for _ in range(_MAX_PASSES):
        before = text
        for prefix in prefixes:
            if text.startswith(prefix) and len(text) > len(prefix):
                text = text[len(prefix):]
                break
        for variant, canonical in suffixes:
            if text.endswith(variant) and len(text) > len(variant):
                text = text[: -len(variant)] + canonical
                break
        if text == before:
            break
    return text


@cache
def rules() -> Rules:
    raw = yaml.safe_load(resources.files("gongshu.catalog").joinpath(
        "data", "duplicates.yaml").read_text(encoding="utf-8"))
    suffixes: list[tuple[str, str]] = []
    for group in raw.get("suffixes", []):
        canonical, *variants = [_clean(str(s)) for s in group]
        suffixes.extend((v, canonical) for v in variants if v != canonical)
    suffixes.sort(key=lambda p: (-len(p[0]), p[0]))
    prefixes = tuple(sorted((_clean(str(p)) for p in raw.get("prefixes", [])),
                            key=lambda p: (-len(p), p)))
    synonyms: dict[str, str] = {}
    for group in raw.get("synonyms", []):
        keys = [_rewrite(_clean(str(name)), suffixes, prefixes) for name in group]
        for key in keys:
            if synonyms.get(key, keys[0]) != keys[0]:
                raise ValueError(f"duplicates.yaml: {key!r} is in two synonym groups")
            synonyms[key] = keys[0]
    type_group = {str(code): str(name)
                  for name, codes in (raw.get("type_groups") or {}).items() for code in codes}
    strong = raw.get("strong") or {}
    return Rules(share=float(strong.get("share", 0.5)), min_items=int(strong.get("min_items", 2)),
                 rationale=str(strong.get("rationale", "")).strip(),
                 suffixes=tuple(suffixes), prefixes=prefixes, synonyms=synonyms,
                 type_group=type_group)


def name_key(name: str | None) -> str:
    """The key of a data item's name: one key for the names of one item (see the module doc).
    ``name_key(name_key(x)) == name_key(x)``; '' for a name of only punctuation."""
    r = rules()
    text = _rewrite(_clean(name or ""), r.suffixes, r.prefixes)
    for _ in range(_MAX_PASSES):
        mapped = r.synonyms.get(text, text)
        mapped = _rewrite(mapped, r.suffixes, r.prefixes)
        if mapped == text:
            break
        text = mapped
    return text[:KEY_MAX]


def types_compatible(a: str | None, b: str | None) -> bool:
    """Whether two data types hold the same kind of value (a missing type is no objection)."""
    if not a or not b or a == b:
        return True
    groups = rules().type_group
    return a in groups and groups.get(a) == groups.get(b)


# ---------------------------------------------------------------------------- the matching


@dataclass(frozen=True)
class PlannedItem:
    """An item a body is about to collect (a draft's item, or a project's declared one)."""

    name: str
    data_type: str | None = None
    data_element_id: uuid.UUID | None = None
    code: str | None = None

    @cached_property
    def key(self) -> str:
        return name_key(self.name)


@dataclass(frozen=True)
class PublishedItem:
    """An item of another body's published entry that a search found."""

    entry_id: uuid.UUID
    name: str
    name_key: str
    data_type: str | None = None
    data_element_id: uuid.UUID | None = None
    code: str | None = None
    #: its own sharing type, else its entry's (Art. 12)
    sharing_type: str | None = None


@dataclass(frozen=True)
class ItemMatch:
    """One of the draft's items that a candidate entry covers, and how."""

    index: int  # position in the draft's items
    name: str  # the draft item's name
    matched_name: str  # the candidate item's name
    matched_code: str | None
    via: str  # "element" (same data element) or "name" (same key, compatible type)


@dataclass
class Candidate:
    """A published entry of another body that could provide some of the draft's items."""

    entry_id: uuid.UUID
    matches: list[ItemMatch] = field(default_factory=list)
    share: float = 0.0
    strong: bool = False
    #: filled in by the caller: how the entry is named and who provides it
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def covered(self) -> int:
        return len(self.matches)


def coerce_items(items: Iterable[Any]) -> list[PlannedItem]:
    """Planned items from mappings or objects with ``name`` (``data_type``,
    ``data_element_id``, ``code`` optional); items without a usable name or element are
    dropped."""
    out: list[PlannedItem] = []
    for item in items:
        get = item.get if isinstance(item, Mapping) else (lambda k, o=item: getattr(o, k, None))
        element = get("data_element_id")
        if element is not None and not isinstance(element, uuid.UUID):
            try:
                element = uuid.UUID(str(element))
            except ValueError:
                element = None
        planned = PlannedItem(name=str(get("name") or "").strip(),
                              data_type=(str(get("data_type")).strip().upper() or None)
                              if get("data_type") else None,
                              data_element_id=element,
                              code=str(get("code")) if get("code") else None)
        if planned.key or planned.data_element_id:
            out.append(planned)
    return out


def distinct(items: Sequence[PlannedItem]) -> list[tuple[int, PlannedItem]]:
    """The draft's items that count, with their positions: one per name key (a draft that
    names one item twice is not scored twice)."""
    seen: set[str] = set()
    out = []
    for i, item in enumerate(items):
        key = item.key or f"element:{item.data_element_id}"
        if key in seen:
            continue
        seen.add(key)
        out.append((i, item))
    return out


def needed(total: int) -> int:
    """How many covered items make a strong match for a draft of ``total`` items."""
    r = rules()
    return max(min(r.min_items, total), math.ceil(r.share * total - 1e-9), 1 if total else 0)


def _item_match(planned: PlannedItem, found: PublishedItem) -> str | None:
    if (found.sharing_type or "") == NOT_SHARED:
        return None  # Art. 12: sharing cannot provide it
    if planned.data_element_id is not None and planned.data_element_id == found.data_element_id:
        return "element"
    key = planned.key
    if key and key == found.name_key and types_compatible(planned.data_type, found.data_type):
        return "name"
    return None


def match(items: Sequence[PlannedItem], found: Iterable[PublishedItem]) -> list[Candidate]:
    """Score each candidate entry against the draft's items; best first (strong ones, more
    items covered, more by data element, then by id for a stable order)."""
    targets = distinct(items)
    by_entry: dict[uuid.UUID, list[PublishedItem]] = {}
    for item in found:
        by_entry.setdefault(item.entry_id, []).append(item)
    need = needed(len(targets))
    out: list[Candidate] = []
    for entry_id, its in by_entry.items():
        candidate = Candidate(entry_id=entry_id)
        for index, planned in targets:
            best: tuple[str, PublishedItem] | None = None
            for published in its:
                via = _item_match(planned, published)
                if via is not None and (best is None or (via == "element" and best[0] != via)):
                    best = (via, published)
            if best is not None:
                candidate.matches.append(ItemMatch(
                    index=index, name=planned.name, matched_name=best[1].name,
                    matched_code=best[1].code, via=best[0]))
        if not candidate.matches:
            continue
        candidate.share = candidate.covered / len(targets)
        candidate.strong = candidate.covered >= need
        out.append(candidate)
    out.sort(key=lambda c: (not c.strong, -c.covered,
                            -sum(m.via == "element" for m in c.matches), str(c.entry_id)))
    return out


# ------------------------------------------------------------- declared items (CLI, files)

#: headers of a declaration file's columns (a project's planned items), first match wins
NAME_HEADERS = ("信息项名称", "信息项", "数据项名称", "数据项", "字段名称", "字段名", "名称",
                "name", "item", "item_name", "field")
TYPE_HEADERS = ("数据类型", "类型", "字段类型", "data_type", "type")
CODE_HEADERS = ("信息项编码", "编码", "字段编码", "code")


def type_code(value: Any, types: Mapping[str, str]) -> str | None:
    """A data type code from a code (C), a label (字符型, Character) or nothing; raises
    ValueError for anything else. ``types``: code, label and English label → code."""
    text = _clean(str(value or ""))
    if not text:
        return None
    for key, code in types.items():
        if _clean(key) == text:
            return code
    raise ValueError(str(value))


def parse_items_text(text: str, types: Mapping[str, str]) -> tuple[list[PlannedItem], list[str]]:
    """``name:type,name:type`` (``，``/``;`` separate too, ``：`` too; the type may be left
    out): the items and the problems (one line each)."""
    items: list[PlannedItem] = []
    problems: list[str] = []
    for n, part in enumerate(p.strip() for p in text.replace("，", ",").replace(";", ",")
                             .replace("；", ",").split(",")):
        if not part:
            continue
        name, _sep, kind = part.replace("：", ":").partition(":")
        try:
            items.append(PlannedItem(name=name.strip(), data_type=type_code(kind, types)))
        except ValueError:
            problems.append(f"item {n + 1} ({name.strip()}): unknown data type {kind.strip()!r}")
    return [i for i in items if i.key], problems


def planned_from_rows(columns: Sequence[str], rows: Iterable[Sequence[Any]],
                      types: Mapping[str, str]) -> tuple[list[PlannedItem], list[str]]:
    """The planned items of a table (a CSV or workbook a project declares): the item name
    column (``NAME_HEADERS``, else the first column), the data type and code columns if there
    are any. Returns the items and the problems (row numbers count the header as row 1)."""
    cleaned = [_clean(str(c or "")) for c in columns]

    def find(headers: Sequence[str]) -> int | None:
        for header in headers:
            if _clean(header) in cleaned:
                return cleaned.index(_clean(header))
        return None

    name_at = find(NAME_HEADERS)
    name_at = 0 if name_at is None else name_at
    type_at, code_at = find(TYPE_HEADERS), find(CODE_HEADERS)
    items: list[PlannedItem] = []
    problems: list[str] = []
    for n, row in enumerate(rows, start=2):
        name = str(row[name_at] or "").strip() if name_at < len(row) else ""
        if not name:
            continue
        try:
            kind = type_code(row[type_at], types) if type_at is not None else None
        except ValueError:
            problems.append(f"row {n}, column {columns[type_at or 0]}: unknown data type "
                            f"{row[type_at or 0]!r}")
            continue
        code = str(row[code_at]).strip() if code_at is not None and row[code_at] else None
        items.append(PlannedItem(name=name, data_type=kind, code=code))
    return items, problems


__all__ = [
    "Candidate",
    "ItemMatch",
    "PlannedItem",
    "PublishedItem",
    "Rules",
    "coerce_items",
    "distinct",
    "match",
    "name_key",
    "needed",
    "parse_items_text",
    "planned_from_rows",
    "rules",
    "type_code",
    "types_compatible",
]
