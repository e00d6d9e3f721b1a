"""The catalog's value lists, loaded from ``catalog/data/*.yaml``.

Why data and not code: most values come from documents we could only partly check (the 2017
compilation guide, implementations of it, local practice; see ``shared/domain/STANDARDS.md`` §1).
Each value carries its source and a [V]/[GK] marker so a bureau can correct a code or label
by editing a file, and so a reviewer can see at once which values are verified.

Codes are the stable identifiers stored in the database and used by the API. Where the GLOSSARY
names a value (``unconditional``, ``not_open`` …) the code is that name; the guide's own
number, where it has one, is ``guide_code``. People (forms, spreadsheets) see the labels;
:meth:`ValueList.resolve` turns any of code, guide code, Chinese or English label back into a
value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

import yaml

Marker = Literal["V", "GK"]

#: The list files under ``data/``; each becomes an attribute of :class:`Vocab`.
LIST_NAMES: tuple[str, ...] = (
    "resource_kinds",
    "library_kinds",
    "sharing_types",
    "sharing_method_classes",
    "sharing_method_types",
    "opening_types",
    "update_cycles",
    "format_classes",
    "format_types",
    "data_item_types",
    "secrecy",
    "data_kinds",
    "entry_statuses",
)

_TERM_KEYS = frozenset({"code", "guide_code", "zh", "en", "source", "parent", "subjects"})


def _lang(locale: str) -> Literal["zh", "en"]:
    """Map a locale (``zh-CN``, ``en``, ``en-GB`` …) to the label language we hold."""
    return "en" if locale.lower().startswith("en") else "zh"


def _key(text: str) -> str:
    """Normalise free text for lookups: case, surrounding and repeated spaces."""
    return " ".join(str(text).split()).casefold()


@dataclass(frozen=True, slots=True)
class Source:
    """A document a value comes from, with the STANDARDS.md marker (V checked, GK not)."""

    id: str
    document: str
    marker: Marker
    note: str = ""

    def cite(self) -> str:
        return f"{self.document} [{self.marker}]"


@dataclass(frozen=True, slots=True)
class Term:
    """One value of a list. ``attrs`` holds list-specific extras (``eu_frequency`` …)."""

    code: str
    zh: str
    en: str
    source: Source
    guide_code: str | None = None
    parent: str | None = None
    attrs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def label(self, locale: str = "zh") -> str:
        return self.en if _lang(locale) == "en" else self.zh


class ValueList:
    """An ordered, immutable list of :class:`Term` with lookups by code and by label."""

    def __init__(
        self, name: str, zh: str, en: str, terms: tuple[Term, ...], article: str = ""
    ) -> None:
        self.name = name
        self.zh = zh
        self.en = en
        self.article = article
        self.terms = terms
        self._by_code = {t.code: t for t in terms}
        self._by_zh = {t.zh: t for t in terms}
        if len(self._by_code) != len(terms):
            raise ValueError(f"{name}: duplicate codes")
        if len(self._by_zh) != len(terms):
            raise ValueError(f"{name}: duplicate Chinese labels")
        # resolve() accepts anything a person may type; codes win over labels on a clash.
        # A guide code shared by several values (是 for both opening types that open) is not
        # a lookup key: it cannot say which value was meant.
        guide_counts: dict[str, int] = {}
        for t in terms:
            if t.guide_code:
                guide_counts[t.guide_code] = guide_counts.get(t.guide_code, 0) + 1
        lookup: dict[str, Term] = {}
        for attr in ("en", "zh", "guide_code", "code"):
            for t in terms:
                value = getattr(t, attr)
                if value and (attr != "guide_code" or guide_counts[value] == 1):
                    lookup[_key(value)] = t
        self._lookup = lookup

    def __repr__(self) -> str:
        return f"ValueList({self.name!r}, {list(self._by_code)})"

    def __iter__(self) -> Iterator[Term]:
        return iter(self.terms)

    def __len__(self) -> int:
        return len(self.terms)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __getitem__(self, code: str) -> Term:
        return self._by_code[code]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self._by_code)

    def title(self, locale: str = "zh") -> str:
        return self.en if _lang(locale) == "en" else self.zh

    def get(self, code: str | None) -> Term | None:
        """The value with this code, or None."""
        return self._by_code.get(code) if code is not None else None

    def by_zh(self, label: str) -> Term | None:
        """The value with this exact Chinese label, or None."""
        return self._by_zh.get(label.strip())

    def resolve(self, text: str | None) -> Term | None:
        """The value whose code, guide code, Chinese or English label is ``text``, or None."""
        if text is None:
            return None
        return self._lookup.get(_key(text))

    def label(self, code: str | None, locale: str = "zh") -> str:
        """The label to show for ``code``.

        An unknown code is shown as itself rather than raising: stored entries may carry a code
        that a later edit of the list retired, and a page must still render them.
        """
        if code is None:
            return ""
        term = self._by_code.get(code)
        return term.label(locale) if term else code

    def under(self, parent: str) -> tuple[Term, ...]:
        """The values whose ``parent`` is ``parent`` (format types of a format class …)."""
        return tuple(t for t in self.terms if t.parent == parent)


@dataclass(frozen=True)
class Vocab:
    """Every catalog value list. Get the shared instance with :func:`vocab`."""

    resource_kinds: ValueList
    library_kinds: ValueList
    sharing_types: ValueList
    sharing_method_classes: ValueList
    sharing_method_types: ValueList
    opening_types: ValueList
    update_cycles: ValueList
    format_classes: ValueList
    format_types: ValueList
    data_item_types: ValueList
    secrecy: ValueList
    data_kinds: ValueList
    entry_statuses: ValueList
    #: 项 of each resource kind, keyed by the kind's code (``base`` …).
    subjects: Mapping[str, ValueList]
    sources: Mapping[str, Source]

    def lists(self) -> dict[str, ValueList]:
        """Every flat list by name (the subject lists are under ``subjects.<kind>``)."""
        out = {name: getattr(self, name) for name in LIST_NAMES}
        out.update({f"subjects.{kind}": lst for kind, lst in self.subjects.items()})
        return out

    def get(self, name: str) -> ValueList:
        """The list called ``name`` (``sharing_types``, ``subjects.base`` …)."""
        try:
            return self.lists()[name]
        except KeyError:
            raise KeyError(f"no value list {name!r}") from None

    def label(self, list_name: str, code: str | None, locale: str = "zh") -> str:
        return self.get(list_name).label(code, locale)

    def subject(self, resource_kind: str, code: str) -> Term | None:
        """The 项 ``code`` of ``resource_kind``, or None."""
        lst = self.subjects.get(resource_kind)
        return lst.get(code) if lst else None


def _read_yaml(name: str) -> Any:
    text = resources.files("gongshu.catalog").joinpath("data", name).read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader


def _term(raw: Mapping[str, Any], sources: Mapping[str, Source], where: str) -> Term:
    for required in ("code", "zh", "en", "source"):
        if not raw.get(required):
            raise ValueError(f"{where}: a value lacks {required!r}: {dict(raw)}")
    source_id = str(raw["source"])
    if source_id not in sources:
        raise ValueError(f"{where}: unknown source {source_id!r}")
    attrs = {k: v for k, v in raw.items() if k not in _TERM_KEYS}
    guide_code = raw.get("guide_code")
    return Term(
        code=str(raw["code"]),
        zh=str(raw["zh"]),
        en=str(raw["en"]),
        source=sources[source_id],
        guide_code=None if guide_code is None else str(guide_code),
        parent=None if raw.get("parent") is None else str(raw["parent"]),
        attrs=MappingProxyType(attrs),
    )


def _value_list(raw: Mapping[str, Any], sources: Mapping[str, Source]) -> ValueList:
    name = str(raw["name"])
    terms = tuple(_term(v, sources, name) for v in raw["values"])
    return ValueList(name, str(raw["zh"]), str(raw["en"]), terms, str(raw.get("article", "")))


def load_sources() -> dict[str, Source]:
    raw = _read_yaml("sources.yaml")
    return {
        sid: Source(sid, str(v["document"]), v["marker"], str(v.get("note", "")))
        for sid, v in raw.items()
    }


@cache
def vocab() -> Vocab:
    """Load every list once per process (the files ship with the package and never change)."""
    sources = load_sources()
    lists: dict[str, ValueList] = {}
    subjects: dict[str, ValueList] = {}
    for name in LIST_NAMES:
        raw = _read_yaml(f"{name}.yaml")
        if raw.get("name") != name:
            raise ValueError(f"{name}.yaml declares name {raw.get('name')!r}")
        lists[name] = _value_list(raw, sources)
        for kind in raw["values"]:
            if "subjects" in kind:
                sub = {
                    "name": f"subjects.{kind['code']}",
                    "zh": f"{kind['zh']} · 项",
                    "en": f"{kind['en']}: subjects",
                    "values": kind["subjects"],
                }
                subjects[str(kind["code"])] = _value_list(sub, sources)
    for t in lists["format_types"]:
        if t.parent not in lists["format_classes"]:
            raise ValueError(f"format type {t.code!r} has unknown class {t.parent!r}")
    return Vocab(**lists, subjects=MappingProxyType(subjects), sources=MappingProxyType(sources))


__all__ = ["LIST_NAMES", "Marker", "Source", "Term", "ValueList", "Vocab", "load_sources", "vocab"]
