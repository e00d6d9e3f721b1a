"""The navigation bar: each module's ``pages.NAV`` entries, shown to those who may use them."""

from __future__ import annotations

from dataclasses import dataclass

from gongshu.core.permissions import Actor, Perm


@dataclass(frozen=True)
class NavItem:
    key: str  # i18n key of the label
    href: str
    perm: Perm | None = None  # None: every signed-in user
    order: int = 50

    def visible_to(self, actor: Actor | None) -> bool:
        return actor is not None and (self.perm is None or actor.can(self.perm))


def nav_items() -> list[NavItem]:
    from gongshu.modules import submodules

    items = [NavItem("nav.home", "/", None, 0)]
    for pages in submodules("pages"):
        items.extend(getattr(pages, "NAV", []))
    return sorted(items, key=lambda i: i.order)
