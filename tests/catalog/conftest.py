"""Catalog test data: one valid entry, and a way to change it by dotted paths.

Tests get them as fixtures (``valid_entry``, ``patch``); a case table removes a field with the
string ``DELETE``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

DELETE = "<DELETE>"

VALID_ENTRY: dict[str, Any] = {
    "category": {"resource_kind": "base", "subject": "01", "group": "001"},
    "name": "常住人口基本信息",
    "provider": {"name": "山西省公安厅", "code": "SXGAT001"},
    "summary": "全省常住人口的身份号码、姓名、出生日期等基本信息。",
    "format": {"format_class": "database", "format_type": "dameng"},
    "items": [
        {"name": "公民身份号码", "code": "GMSFHM", "data_type": "C", "length": 18},
        {"name": "姓名", "code": "XM", "data_type": "C", "length": 50},
        {"name": "出生日期", "code": "CSRQ", "data_type": "D"},
    ],
    "sharing": {"type": "unconditional", "method_class": "platform", "method_type": "interface"},
    "opening": {"type": "not_open"},
    "update_cycle": "daily",
    "secrecy": "unclassified",
    "data_kind": "public",
    "keywords": ["人口", "户籍"],
}


def patched(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``base`` with each dotted path set (or removed with DELETE)."""
    out = copy.deepcopy(base)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node: Any = out
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if isinstance(node, list):
            if value == DELETE:
                del node[int(last)]
            else:
                node[int(last)] = value
        elif value == DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return out


@pytest.fixture
def valid_entry() -> dict[str, Any]:
    return copy.deepcopy(VALID_ENTRY)


@pytest.fixture
def patch() -> Any:
    return patched
