"""Proposed grades with their reasons (Art. 10), from detections, column names and the catalog
classification. Pure: no database, no files but the scheme and rule packs it reads.

Art. 10 has the province grade public data by the national and provincial rules, and lets sector
authorities issue detailed rules. So the scheme (the levels, and when a detection counts) and the
sector rule packs (which type, column name or classification means which level) are data under
``grading/data/schemes`` and ``grading/data/rules``; this module only applies them. The result is
a *proposal*: a data steward confirms or overrides it with a reason (issue 4 §3).

Every proposed level carries its reasons: which detector, what share of values, which rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from gongshu.grading.detectors import ColumnDetections, Detection
from gongshu.grading.vocab import DETECTOR_TYPES, read_yaml

__all__ = [
    "ColumnProposal",
    "DatasetProposal",
    "Level",
    "REASON_KINDS",
    "Reason",
    "Rule",
    "Scheme",
    "load_scheme",
    "propose",
    "propose_column",
]


@dataclass(frozen=True)
class Level:
    id: str
    tier: str
    rank: int
    zh: str
    en: str
    meaning: str = ""
    source: str = ""
    #: Art. 13: may data of this level be opened to society, and how: "clear", "masked" or ""
    openable: str = ""


def _openable(value: Any, origin: str, level: str) -> str:
    """A level's ``openable``: ``clear`` / ``masked`` (``true`` is ``masked``, the cautious
    reading), absent or ``false``: not opened."""
    if value is None or value is False or value == "":
        return ""
    if value is True:
        return "masked"
    if value in ("clear", "masked"):
        return str(value)
    raise ValueError(f"{origin}: level {level!r} has openable {value!r} (clear, masked or false)")


@dataclass(frozen=True)
class DatasetCondition:
    """A dataset-wide condition: types detected somewhere in it, and its size."""

    all_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    min_rows: int = 0

    def holds(self, found: frozenset[str], rows: int) -> bool:
        if self.all_of and not set(self.all_of) <= found:
            return False
        if self.any_of and not set(self.any_of) & found:
            return False
        return rows >= self.min_rows


@dataclass(frozen=True)
class Rule:
    """One line of a sector rule pack: a condition, the level it proposes, and why."""

    id: str
    pack: str
    level: str
    reason: str
    detector: str | None = None
    column: re.Pattern[str] | None = None
    classification: re.Pattern[str] | None = None
    dataset: DatasetCondition | None = None
    #: the reason in English (``reason_en`` in the pack), for English readers; ``reason`` is
    #: the pack's own (Chinese in the built-in packs)
    reason_en: str | None = None

    @property
    def scope(self) -> str:
        return "dataset" if self.dataset or self.classification else "column"


@dataclass(frozen=True)
class Settings:
    """When a detection counts (scheme ``settings``)."""

    min_ratio: float = 0.05
    min_count: int = 1
    min_ratio_with_hint: float = 0.01
    weak_types: frozenset[str] = frozenset()
    min_ratio_weak: float = 0.5

    def needed_ratio(self, kind: str, hinted: bool) -> float:
        if hinted:
            return self.min_ratio_with_hint
        return self.min_ratio_weak if kind in self.weak_types else self.min_ratio


@dataclass(frozen=True)
class Scheme:
    id: str
    zh: str
    en: str
    source: str
    levels: tuple[Level, ...]
    default_level: str
    settings: Settings
    rules: tuple[Rule, ...]

    def level(self, level_id: str) -> Level:
        for level in self.levels:
            if level.id == level_id:
                return level
        raise KeyError(f"scheme {self.id!r} has no level {level_id!r}")

    @property
    def default(self) -> Level:
        return self.level(self.default_level)


# --------------------------------------------------------------------------- loading


def _compile(pattern: str | None) -> re.Pattern[str] | None:
    return re.compile(pattern, re.IGNORECASE) if pattern else None


def _rules_from(data: Mapping[str, Any], origin: str) -> tuple[Rule, ...]:
    pack = str(data.get("pack", origin))
    rules = []
    for item in data.get("rules", []):
        when = item.get("when") or {}
        unknown = set(when) - {"detector", "column", "classification", "dataset"}
        if unknown or len(when) != 1:
            raise ValueError(f"{origin}: rule {item.get('id')!r} needs exactly one of detector, "
                             f"column, classification, dataset")
        detector = when.get("detector")
        dataset = when.get("dataset")
        condition = None
        if dataset is not None:
            condition = DatasetCondition(tuple(dataset.get("all_of", ())),
                                         tuple(dataset.get("any_of", ())),
                                         int(dataset.get("min_rows", 0)))
        named = {detector} if detector else set()
        if condition:
            named |= set(condition.all_of) | set(condition.any_of)
        if named - set(DETECTOR_TYPES):
            raise ValueError(f"{origin}: rule {item['id']!r} names unknown detector types "
                             f"{sorted(named - set(DETECTOR_TYPES))}")
        reason_en = item.get("reason_en")
        rules.append(Rule(id=str(item["id"]), pack=pack, level=str(item["level"]),
                          reason=str(item["reason"]), detector=detector,
                          reason_en=str(reason_en) if reason_en else None,
                          column=_compile(when.get("column")),
                          classification=_compile(when.get("classification")),
                          dataset=condition))
    return tuple(rules)


def scheme_from_data(data: Mapping[str, Any], packs: Iterable[Mapping[str, Any]],
                     origin: str = "scheme") -> Scheme:
    """Build a scheme from already loaded YAML (a scheme document and its rule packs)."""
    levels = tuple(
        Level(id=str(v["id"]), tier=str(v.get("tier", v["id"])), rank=int(v["rank"]),
              zh=str(v.get("zh", v["id"])), en=str(v.get("en", v["id"])),
              meaning=str(v.get("meaning", "")), source=str(v.get("source", "")),
              openable=_openable(v.get("openable"), origin, str(v["id"])))
        for v in data["levels"]
    )
    if len({lv.rank for lv in levels}) != len(levels):
        raise ValueError(f"{origin}: level ranks must be distinct")
    s = data.get("settings", {}) or {}
    settings = Settings(
        min_ratio=float(s.get("min_ratio", 0.05)),
        min_count=int(s.get("min_count", 1)),
        min_ratio_with_hint=float(s.get("min_ratio_with_hint", s.get("min_ratio", 0.05))),
        weak_types=frozenset(s.get("weak_types", ())),
        min_ratio_weak=float(s.get("min_ratio_weak", s.get("min_ratio", 0.05))),
    )
    rules = tuple(r for pack in packs for r in _rules_from(pack, str(pack.get("pack", origin))))
    scheme = Scheme(id=str(data["id"]), zh=str(data.get("zh", data["id"])),
                    en=str(data.get("en", data["id"])), source=str(data.get("source", "")),
                    levels=tuple(sorted(levels, key=lambda lv: lv.rank)),
                    default_level=str(data.get("default_level", levels[0].id)),
                    settings=settings, rules=rules)
    for rule in rules:
        scheme.level(rule.level)  # raises on a rule naming a level the scheme lacks
    scheme.level(scheme.default_level)
    return scheme


@cache
def load_scheme(name: str = "national", *, packs: tuple[str, ...] | None = None) -> Scheme:
    """A scheme by name (``grading/data/schemes/<name>.yaml``) or by path to a YAML file, with
    the rule packs it lists (or ``packs``: names under ``rules/`` or paths)."""
    data = _load(name, "schemes")
    pack_names = packs if packs is not None else tuple(data.get("rule_packs", ()))
    return scheme_from_data(data, [_load(p, "rules") for p in pack_names], origin=name)


def _load(name: str, folder: str) -> dict[str, Any]:
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(loaded, dict):
            raise ValueError(f"{path} must hold a mapping")
        return loaded
    return read_yaml(f"{folder}/{name}.yaml")


# --------------------------------------------------------------------------- proposing

#: What a reason says, as a stable ``kind`` and its ``params``. Pages render a reason in the
#: reader's language from the ``grading_reason.<kind>`` messages; ``text`` is the English
#: sentence of the scan contract (issue 4 §6) and stays as it is.
#:
#: ============== ===================================================================
#: kind           params
#: ============== ===================================================================
#: detected       detector, ratio, count, nonempty, hinted, level, rule, rule_reason,
#:                rule_reason_en: a detection that counts raised the column by a rule
#: below_threshold detector, ratio, count, nonempty, hinted, needed: a detection too rare
#:                to count (``needed``: the share it would have needed)
#: column_name    column, level, rule, rule_reason, rule_reason_en: the column's name
#: default        level, scheme: nothing raised the column
#: dataset_column column, level, rules: a column raised the dataset
#: dataset_rule   level, rule, rule_reason, rule_reason_en: a dataset-wide rule (types
#:                found together, size)
#: classification classification, level, rule, rule_reason, rule_reason_en: the catalog
#:                classification
#: dataset_default level, scheme: no column raised the dataset
#: ============== ===================================================================
#:
#: ``rule_reason`` is the rule pack's ``reason`` (Chinese in the built-in packs) and
#: ``rule_reason_en`` its ``reason_en`` (None when the pack has none).
REASON_KINDS = ("detected", "below_threshold", "column_name", "default", "dataset_column",
                "dataset_rule", "classification", "dataset_default")


@dataclass(frozen=True)
class Reason:
    """Why a level was proposed: the rule, and the evidence (detector and share) if any.

    ``kind`` and ``params`` say it for people in any language (see ``REASON_KINDS``); ``text``
    says it in English for the scan contract.
    """

    level: str
    text: str
    rule: str | None = None
    detector: str | None = None
    ratio: float | None = None
    count: int | None = None
    kind: str = ""
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ColumnProposal:
    name: str
    level: Level
    reasons: tuple[Reason, ...]
    detections: tuple[Detection, ...]
    counted: frozenset[str] = field(default_factory=frozenset)

    @property
    def reason_texts(self) -> list[str]:
        return [r.text for r in self.reasons]


@dataclass(frozen=True)
class DatasetProposal:
    level: Level
    reasons: tuple[Reason, ...]
    columns: tuple[ColumnProposal, ...]
    scheme: str

    @property
    def reason_texts(self) -> list[str]:
        return [r.text for r in self.reasons]


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.1f}%"


def _counts(d: Detection, hinted: frozenset[str], settings: Settings) -> tuple[bool, float]:
    needed = settings.needed_ratio(d.type, d.type in hinted)
    return d.ratio >= needed and d.count >= settings.min_count, needed


def _evidence(d: Detection, hinted: frozenset[str]) -> tuple[str, dict[str, Any]]:
    text = f"{d.type}: {_pct(d.ratio)} of non-empty values ({d.count}/{d.nonempty})"
    if d.type in hinted:
        text += ", column name agrees"
    return text, {"detector": d.type, "ratio": d.ratio, "count": d.count,
                  "nonempty": d.nonempty, "hinted": d.type in hinted}


def _by_rule(rule: Rule) -> dict[str, Any]:
    return {"level": rule.level, "rule": rule.id, "rule_reason": rule.reason,
            "rule_reason_en": rule.reason_en}


def propose_column(column: ColumnDetections, *, scheme: Scheme | None = None) -> ColumnProposal:
    """The level a column's detections and name call for under ``scheme``, with reasons."""
    scheme = scheme or load_scheme()
    name = column.name or ""
    detections = tuple(column.detections)
    counted: dict[str, Detection] = {}
    notes: list[Reason] = []
    for d in detections:
        ok, needed = _counts(d, column.hinted, scheme.settings)
        if ok:
            counted[d.type] = d
        else:
            evidence, params = _evidence(d, column.hinted)
            notes.append(Reason(scheme.default_level, f"{evidence}, below the {_pct(needed)} "
                                "needed: not counted", detector=d.type, ratio=d.ratio,
                                count=d.count, kind="below_threshold",
                                params={**params, "needed": needed}))
    found: list[Reason] = []
    for rule in scheme.rules:
        if rule.detector and rule.detector in counted:
            d = counted[rule.detector]
            evidence, params = _evidence(d, column.hinted)
            found.append(Reason(rule.level, f"{evidence} → {rule.level} by rule {rule.id}: "
                                f"{rule.reason}", rule=rule.id, detector=d.type, ratio=d.ratio,
                                count=d.count, kind="detected",
                                params={**params, **_by_rule(rule)}))
        elif rule.column and name and rule.column.search(name):
            found.append(Reason(rule.level, f"column name {name!r} → {rule.level} by rule "
                                f"{rule.id}: {rule.reason}", rule=rule.id, kind="column_name",
                                params={"column": name, **_by_rule(rule)}))
    if found:
        top = max((scheme.level(r.level) for r in found), key=lambda lv: lv.rank)
        found.sort(key=lambda r: -scheme.level(r.level).rank)
    else:
        top = scheme.default
        found.append(Reason(top.id, f"no sensitive data detected → {top.id} (default of scheme "
                            f"{scheme.id})", kind="default",
                            params={"level": top.id, "scheme": scheme.id}))
    return ColumnProposal(name, top, tuple(found + notes), detections, frozenset(counted))


def propose(columns: Sequence[ColumnDetections], *, rows: int, scheme: Scheme | None = None,
            classification: str | None = None) -> DatasetProposal:
    """Levels for every column and for the dataset as a whole (the highest, plus dataset rules:
    combinations of types, size, catalog classification)."""
    scheme = scheme or load_scheme()
    proposals = tuple(propose_column(c, scheme=scheme) for c in columns)
    reasons: list[Reason] = []
    for p in proposals:
        if p.level.id != scheme.default_level:
            rules = list(dict.fromkeys(r.rule for r in p.reasons if r.rule
                                       and r.level == p.level.id))
            reasons.append(Reason(p.level.id, f"column {p.name!r} → {p.level.id} "
                                  f"({', '.join(rules)})", kind="dataset_column",
                                  params={"column": p.name, "level": p.level.id,
                                          "rules": rules}))
    found = frozenset().union(*(p.counted for p in proposals)) if proposals else frozenset()
    for rule in scheme.rules:
        if rule.dataset and rule.dataset.holds(found, rows):
            reasons.append(Reason(rule.level, f"dataset → {rule.level} by rule {rule.id}: "
                                  f"{rule.reason}", rule=rule.id, kind="dataset_rule",
                                  params=_by_rule(rule)))
        elif rule.classification and classification and rule.classification.search(classification):
            reasons.append(Reason(rule.level, f"catalog classification {classification!r} → "
                                  f"{rule.level} by rule {rule.id}: {rule.reason}", rule=rule.id,
                                  kind="classification",
                                  params={"classification": classification, **_by_rule(rule)}))
    if reasons:
        top = max((scheme.level(r.level) for r in reasons), key=lambda lv: lv.rank)
        reasons.sort(key=lambda r: -scheme.level(r.level).rank)
    else:
        top = scheme.default
        reasons.append(Reason(top.id, f"no column holds sensitive data → {top.id} (default of "
                              f"scheme {scheme.id})", kind="dataset_default",
                              params={"level": top.id, "scheme": scheme.id}))
    return DatasetProposal(top, tuple(reasons), proposals, scheme.id)
