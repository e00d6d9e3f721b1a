"""Fixtures of the sharing tests (the library's: entries, people, ingests) and the people and
published entries of a share request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gongshu.catalog import flows as catalog_flows
from library.data import SYSTEM
from library.fixtures import entry, make_entry, people, run_ingest  # noqa: F401

SHARING = {
    "unconditional": {"type": "unconditional", "method_class": "platform",
                      "method_type": "interface"},
    "conditional": {"type": "conditional", "condition": "仅用于社保待遇资格核验",
                    "legal_basis": "《社会保险法》第七十五条", "method_class": "platform",
                    "method_type": "interface"},
    "not_shared": {"type": "not_shared", "condition": "涉及个人隐私",
                   "legal_basis": "《个人信息保护法》第十三条",
                   "method_class": "platform", "method_type": "interface"},
}


@pytest.fixture
def publish(runtime: Any, make_entry: Callable[..., Any]) -> Callable[..., Any]:  # noqa: F811
    """publish(share_type, org="province.hr") -> a published entry of that sharing type."""

    def make(share_type: str = "conditional", org: str = "province.hr", **changes: Any) -> Any:
        made = make_entry(sharing=SHARING[share_type], org=org, **changes)
        with runtime.db.transaction() as db:
            catalog_flows.submit(SYSTEM, db, made.id)
            published = catalog_flows.approve(SYSTEM, db, made.id)
            db.flush()
            db.expunge(published)
        return published

    return make


class Cast:
    """Who acts around a request: the requester (province health commission), its bureau
    (province), the provider's steward (province HR), a requester of another body, and a
    requester in Taiyuan whose bureau is the city's (escalates to the province's)."""

    SPEC = {
        "requester": ("requester", "province.health"),
        "bureau": ("bureau_reviewer", "province.bureau"),
        "provider": ("data_steward", "province.hr"),
        "stranger": ("requester", "taiyuan.hr"),
        "ty_bureau": ("bureau_reviewer", "taiyuan.bureau"),
        "reporter": ("security_officer", "province"),
        "admin": ("admin", "province"),
    }

    def __init__(self, make_user: Any) -> None:
        self._make = make_user
        self._made: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self.SPEC:
            raise AttributeError(name)
        if name not in self._made:
            role, org = self.SPEC[name]
            subtree = name in ("reporter", "admin")
            self._made[name] = self._make("c_" + name, role, org, subtree=subtree)
        return self._made[name]


@pytest.fixture
def cast(make_user: Any) -> Cast:
    return Cast(make_user)
