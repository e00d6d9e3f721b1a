"""What changed between two versions of a catalog entry, field by field (Art. 9: a reviewer sees
what a revision changes before the published version is replaced).

Pure: two entries in, a list of :class:`Change` out. Entry fields are compared by their dotted
path (``sharing.legal_basis``); data items are matched by their code (case-insensitive, as the
rules treat codes), so an item that moved is not reported and a renamed item is a change of its
``name``. Values are the stored ones (codes); :func:`shown` turns them into what a person reads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gongshu.catalog.schemas import CatalogEntryBase, DataItemIn
from gongshu.catalog.transfer.xlsx import ENTRY_COLUMNS, ITEM_COLUMNS
from gongshu.catalog.vocab import vocab

Kind = Literal["added", "removed", "changed"]

#: entry fields compared (items separately; the grade lives on the entry, not in versions)
_ENTRY_PATHS: tuple[str, ...] = tuple(
    c.path for c in ENTRY_COLUMNS
    if c.path and c.kind != "resource_code" and c.path not in ("grade", "provider.org_id")
)
_ITEM_FIELDS: tuple[str, ...] = tuple(c.path for c in ITEM_COLUMNS[1:])
_LIST_OF: Mapping[str, str] = {
    **{c.path: c.list_name for c in ENTRY_COLUMNS if c.list_name},
    **{f"items.*.{c.path}": c.list_name for c in ITEM_COLUMNS if c.list_name},
}


@dataclass(frozen=True, slots=True)
class Change:
    """One difference. ``path`` is an entry field (``sharing.type``), a data item
    (``items.GMSFHM``: added or removed) or a field of one (``items.GMSFHM.length``)."""

    path: str
    kind: Kind
    before: Any = None
    after: Any = None
    item: str | None = None  # the data item's code, for item changes

    @property
    def field(self) -> str:
        """The generic field path (``items.*.length``), for labels."""
        if self.item is None:
            return self.path
        rest = self.path.split(".", 2)[2:] if self.path.count(".") >= 2 else []
        return "items.*." + rest[0] if rest else "items"


def _get(entry: CatalogEntryBase, path: str) -> Any:
    value: Any = entry
    for part in path.split("."):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


def _norm(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return list(value) or None
    return value if value != "" else None


def _item_changes(old: list[DataItemIn], new: list[DataItemIn]) -> Iterator[Change]:
    before = {i.code.casefold(): i for i in old}
    after = {i.code.casefold(): i for i in new}
    for key, item in before.items():
        if key not in after:
            yield Change(f"items.{item.code}", "removed", before=item.name, item=item.code)
    for key, item in after.items():
        previous = before.get(key)
        if previous is None:
            yield Change(f"items.{item.code}", "added", after=item.name, item=item.code)
            continue
        for name in _ITEM_FIELDS:
            a, b = _norm(getattr(previous, name)), _norm(getattr(item, name))
            if a != b:
                yield Change(f"items.{item.code}.{name}", "changed", a, b, item=item.code)


def diff_entries(old: CatalogEntryBase | None, new: CatalogEntryBase) -> list[Change]:
    """Every difference from ``old`` to ``new`` (``old=None``: everything is added)."""
    changes: list[Change] = []
    for path in _ENTRY_PATHS:
        a = _norm(_get(old, path)) if old is not None else None
        b = _norm(_get(new, path))
        if a == b:
            continue
        kind: Kind = "added" if a is None else "removed" if b is None else "changed"
        changes.append(Change(path, kind, a, b))
    changes.extend(_item_changes(list(old.items) if old is not None else [], list(new.items)))
    return changes


def shown(field: str, value: Any, locale: str = "zh", *, resource_kind: str | None = None) -> str:
    """A stored value as a person reads it: list codes as labels, lists joined, dates ISO."""
    if value is None:
        return ""
    if field == "category.subject" and resource_kind:
        term = vocab().subject(resource_kind, str(value))
        return f"{value} {term.label(locale)}" if term else str(value)
    list_name = _LIST_OF.get(field)
    if list_name:
        return vocab().get(list_name).label(str(value), locale)
    if isinstance(value, list):
        return "；".join(str(v) for v in value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


__all__ = ["Change", "diff_entries", "shown"]
