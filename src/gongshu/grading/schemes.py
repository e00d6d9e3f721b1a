"""Which grading scheme and rule packs apply (Art. 10): the registry of schemes as data.

A *scheme* (``schemes/<id>.yaml``) fixes the levels and when a detection counts, and lists the
rule packs that always apply with it. A *sector rule pack* (``rules/<id>.yaml`` with an
``applies_to.classification`` regular expression) is added for the datasets whose catalog
classification it names — Art. 10 lets sector authorities issue detailed rules for their sector.

Two places hold them, searched in this order:

1. ``<data_dir>/grading/schemes`` and ``<data_dir>/grading/rules``: a province or a sector
   bureau drops its own YAML here (a file with a built-in's name replaces it) — no code change;
2. the built-in files under ``gongshu/grading/data``.

Which scheme is active is an administrator's choice stored by ``grading.service`` (the default
is ``national``). This module only reads files; it holds no database state.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from gongshu.grading.proposal import Scheme, scheme_from_data

log = logging.getLogger("gongshu.grading")

DEFAULT_SCHEME = "national"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class SchemeInfo:
    id: str
    zh: str
    en: str
    source: str
    path: str
    builtin: bool
    rule_packs: tuple[str, ...]
    levels: tuple[dict[str, Any], ...]
    settings: dict[str, Any]
    #: the source note in Chinese (``source_zh``), for the zh-CN pages; "" when the file has none
    source_zh: str = ""


@dataclass(frozen=True)
class PackInfo:
    id: str
    zh: str
    en: str
    source: str
    path: str
    builtin: bool
    applies_to: str | None  # classification regex of a sector pack; None: listed by schemes
    rules: tuple[dict[str, Any], ...]
    source_zh: str = ""


def _builtin_dir(folder: str) -> Path:
    return Path(str(resources.files("gongshu.grading") / "data" / folder))


def _dirs(folder: str, data_dir: Path | None) -> list[tuple[Path, bool]]:
    found: list[tuple[Path, bool]] = []
    if data_dir is not None:
        found.append((Path(data_dir) / "grading" / folder, False))
    found.append((_builtin_dir(folder), True))
    return found


def _files(folder: str, data_dir: Path | None) -> dict[str, tuple[Path, bool]]:
    """name -> (path, builtin); a data-directory file shadows a built-in of the same name."""
    out: dict[str, tuple[Path, bool]] = {}
    for directory, builtin in reversed(_dirs(folder, data_dir)):
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.yaml")):
            if _NAME.match(path.stem):
                out[path.stem] = (path, builtin)
    return dict(sorted(out.items()))


@lru_cache(maxsize=256)
def _read(path: str, mtime: float) -> dict[str, Any]:
    loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} must hold a mapping")
    return loaded


def _load(path: Path) -> dict[str, Any]:
    return _read(str(path), path.stat().st_mtime)


def _readable(folder: str, what: str, data_dir: Path | None
              ) -> Iterator[tuple[str, Path, bool, dict[str, Any]]]:
    """(name, path, built in, content) of each file of ``folder`` that can be read; one that
    cannot is logged and left out."""
    for name, (path, builtin) in _files(folder, data_dir).items():
        try:
            data = _load(path)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            log.warning("grading %s %s cannot be read: %s", what, path, exc)
            continue
        yield name, path, builtin, data


def list_schemes(data_dir: Path | None = None) -> list[SchemeInfo]:
    out = []
    for name, path, builtin, data in _readable("schemes", "scheme", data_dir):
        out.append(SchemeInfo(
            id=name, zh=str(data.get("zh", name)), en=str(data.get("en", name)),
            source=str(data.get("source", "")), path=str(path), builtin=builtin,
            rule_packs=tuple(data.get("rule_packs", ())),
            levels=tuple(dict(v) for v in data.get("levels", [])),
            settings=dict(data.get("settings", {}) or {}),
            source_zh=str(data.get("source_zh", ""))))
    return out


def list_packs(data_dir: Path | None = None) -> list[PackInfo]:
    out = []
    for name, path, builtin, data in _readable("rules", "rule pack", data_dir):
        applies = (data.get("applies_to") or {}).get("classification")
        out.append(PackInfo(
            id=name, zh=str(data.get("zh", name)), en=str(data.get("en", data.get("zh", name))),
            source=str(data.get("source", "")), path=str(path), builtin=builtin,
            applies_to=str(applies) if applies else None,
            rules=tuple(dict(r) for r in data.get("rules", [])),
            source_zh=str(data.get("source_zh", ""))))
    return out


def scheme_exists(name: str, data_dir: Path | None = None) -> bool:
    return name in _files("schemes", data_dir)


def sector_packs_for(classification: str | None, data_dir: Path | None = None) -> list[str]:
    """The sector packs whose ``applies_to.classification`` matches ``classification``."""
    if not classification:
        return []
    out = []
    for pack in list_packs(data_dir):
        if pack.applies_to and re.search(pack.applies_to, classification, re.IGNORECASE):
            out.append(pack.id)
    return out


def build_scheme(name: str = DEFAULT_SCHEME, *, classification: str | None = None,
                 data_dir: Path | None = None) -> Scheme:
    """The scheme ``name`` with its listed packs plus the sector packs of ``classification``.

    A sector pack naming levels the scheme lacks is skipped (logged): a replacement scheme
    need not carry every sector's levels. A pack the scheme itself lists must fit it.
    """
    schemes = _files("schemes", data_dir)
    if name not in schemes:
        raise KeyError(f"no grading scheme {name!r}")
    data = _load(schemes[name][0])
    packs = _files("rules", data_dir)
    listed = [p for p in data.get("rule_packs", ())]
    missing = [p for p in listed if p not in packs]
    if missing:
        raise KeyError(f"scheme {name!r} lists unknown rule packs {missing}")
    sector = [p for p in sector_packs_for(classification, data_dir) if p not in listed]
    return _compose(name, data, [(p, _load(packs[p][0])) for p in listed],
                    [(p, _load(packs[p][0])) for p in sector])


def _compose(name: str, data: dict[str, Any], listed: Iterable[tuple[str, dict[str, Any]]],
             sector: Iterable[tuple[str, dict[str, Any]]]) -> Scheme:
    base = [p for _, p in listed]
    usable = []
    for pack_name, pack in sector:
        try:
            scheme_from_data(data, base + [pack], origin=name)
        except (KeyError, ValueError) as exc:
            log.warning("sector pack %s does not fit scheme %s: %s", pack_name, name, exc)
            continue
        usable.append(pack)
    return scheme_from_data(data, base + usable, origin=name)


def packs_in(scheme: Scheme) -> list[str]:
    """The rule packs a built scheme applies, in order."""
    return list(dict.fromkeys(rule.pack for rule in scheme.rules))


@cache
def _level_labels() -> dict[str, tuple[str, str]]:
    """Level id → (zh, en) over every built-in scheme (the default scheme's label wins)."""
    out: dict[str, tuple[str, str]] = {}
    for name in sorted(_files("schemes", None), key=lambda n: n != DEFAULT_SCHEME):
        for level in _load(_files("schemes", None)[name][0]).get("levels", ()):
            out.setdefault(level["id"], (level.get("zh", level["id"]), level.get("en", level["id"])))
    return out


@cache
def _rule_labels() -> dict[str, tuple[str, str]]:
    """Rule id → (zh, en) reason over every built-in rule pack."""
    out: dict[str, tuple[str, str]] = {}
    for path, _builtin in _files("rules", None).values():
        for rule in _load(path).get("rules", ()):
            zh = str(rule.get("reason") or rule["id"])
            out.setdefault(rule["id"], (zh, str(rule.get("reason_en") or zh)))
    return out


def rule_label(rule_id: str | None, locale: str = "zh-CN") -> str:
    """A rule by what it says (``pi.cn_id`` → 公民身份号码属于敏感个人信息 …); unknown ids as they
    are."""
    if not rule_id:
        return ""
    zh, en = _rule_labels().get(rule_id, (rule_id, rule_id))
    return en if locale == "en" else zh


def scheme_label(scheme_id: str | None, locale: str = "zh-CN") -> str:
    """A scheme by its name (``national`` → 国家数据分类分级（GB/T 43697-2024）)."""
    if not scheme_id:
        return ""
    files = _files("schemes", None)
    if scheme_id not in files:
        return scheme_id
    data = _load(files[scheme_id][0])
    return str(data.get("en" if locale == "en" else "zh") or scheme_id)


def pack_label(pack_id: str | None, locale: str = "zh-CN") -> str:
    """A rule pack by its name (``personal_information`` → 个人信息 …)."""
    if not pack_id:
        return ""
    files = _files("rules", None)
    if pack_id not in files:
        return pack_id
    data = _load(files[pack_id][0])
    return str(data.get("en" if locale == "en" else "zh") or pack_id)


def level_label(level_id: str | None, locale: str = "zh-CN") -> str:
    """The label of a grade for people (``general-3`` → 一般数据（3级）); unknown ids as they are."""
    if not level_id:
        return ""
    zh, en = _level_labels().get(level_id, (level_id, level_id))
    return en if locale == "en" else zh
