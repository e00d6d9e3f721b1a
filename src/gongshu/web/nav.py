"""What modules add to the page shell: navigation entries (each module's ``pages.NAV``, shown
to those who may use them) and home-page cards (``pages.dashboard_cards``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gongshu.core.permissions import Actor, Perm


@dataclass(frozen=True)
class NavItem:
    key: str  # i18n key of the label
    href: str
    perm: Perm | str | None = None  # None: every signed-in user
    order: int = 50

    def visible_to(self, actor: Actor | None) -> bool:
        return actor is not None and (self.perm is None or actor.can(self.perm))


@dataclass(frozen=True)
class Card:
    """A figure on the home page: an i18n key for its label, the value, where it leads."""

    label: str
    value: Any
    href: str | None = None
    #: something needs attention (overdue, returned): the figure is shown as a warning
    warn: bool = False
    #: the first few things the figure counts: (label, link)
    items: tuple[tuple[str, str], ...] = ()


def nav_items() -> list[NavItem]:
    from gongshu.modules import submodules

    items = [NavItem("nav.home", "/", None, 0)]
    for pages in submodules("pages"):
        items.extend(getattr(pages, "NAV", []))
    return sorted(items, key=lambda i: i.order)
