"""Messages in Chinese (default) and English.

Catalogs are YAML files ``src/gongshu/locales/<area>.<locale>.yaml``, one per module so modules
never edit each other's files; nested keys are joined with dots (``nav.catalog``). A test checks
that every key exists in every locale.

``t(key, **params)`` formats with ``str.format``; a missing key falls back to English, then to the
``default`` given, then to the key itself (so a gap shows, never crashes).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import yaml

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"


def _flatten(prefix: str, data: Mapping[str, Any], out: dict[str, str]) -> None:
    for key, value in data.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            _flatten(full, value, out)
        else:
            out[full] = str(value)


@cache
def catalog(locale: str) -> dict[str, str]:
    out: dict[str, str] = {}
    folder = resources.files("gongshu") / "locales"
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(f".{locale}.yaml"):
            data = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
            _flatten("", data, out)
    return out


def normalise(locale: str | None) -> str | None:
    if not locale:
        return None
    low = locale.strip().lower().replace("_", "-")
    if low.startswith("zh"):
        return "zh-CN"
    if low.startswith("en"):
        return "en"
    return None


def negotiate(*candidates: str | None, accept_language: str | None = None,
              default: str = DEFAULT_LOCALE) -> str:
    """The first supported locale among explicit choices, then Accept-Language, then default."""
    for c in candidates:
        found = normalise(c)
        if found:
            return found
    if accept_language:
        ranked = []
        for part in accept_language.split(","):
            lang, _, q = part.strip().partition(";q=")
            try:
                weight = float(q) if q else 1.0
            except ValueError:
                weight = 0.0
            ranked.append((weight, lang))
        for _, lang in sorted(ranked, key=lambda x: -x[0]):
            found = normalise(lang)
            if found:
                return found
    return normalise(default) or DEFAULT_LOCALE


class Translator:
    def __init__(self, locale: str) -> None:
        self.locale = normalise(locale) or DEFAULT_LOCALE

    def __call__(self, key: str, default: str | None = None, **params: Any) -> str:
        text = catalog(self.locale).get(key) or catalog("en").get(key) or default or key
        if params:
            try:
                return text.format(**params)
            except (KeyError, IndexError, ValueError):
                return text
        return text

    def has(self, key: str) -> bool:
        return key in catalog(self.locale)

    def label(self, group: str, value: str | None) -> str:
        """The label of an enumerated value, e.g. ``label("role", "auditor")``."""
        if value is None:
            return ""
        return self(f"{group}.{value}", default=value)


def translator(locale: str) -> Translator:
    return Translator(locale)
