"""Fixtures of the opening tests: published entries of every opening type and grade, with
data, and the people around them (the library's fixtures)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gongshu.catalog import flows
from gongshu.catalog import service as catalog
from library.data import ENTRY, SYSTEM, write_file
from library.fixtures import entry, make_entry, people, run_ingest  # noqa: F401

#: a dataset without personal information (only the columns of the register that are not)
OPEN_ITEMS = [
    {"name": "月收入", "code": "YSR", "data_type": "Y"},
    {"name": "是否在职", "code": "SFZZ", "data_type": "L"},
    {"name": "联系电话", "code": "LXDH", "data_type": "C", "length": 20},
    {"name": "备注", "code": "BZ", "data_type": "C", "length": 200},
    {"name": "办公电话", "code": "BGDH", "data_type": "C", "length": 20},
]


@pytest.fixture
def publish(runtime: Any, tree: dict[str, Any], people: Any, run_ingest: Any,  # noqa: F811
            tmp_path: Path) -> Callable[..., Any]:
    """publish(name, opening=…, grade=…, secrecy=…, rows=…) -> a published entry (with data
    when ``rows`` are given: lists of YSR, SFZZ, LXDH, BZ, BGDH)."""
    counter = iter(range(1000))

    def make(name: str, *, opening: str = "open", grade: str | None = "general-1",
             secrecy: str = "unclassified", rows: list[list[str]] | None = None,
             items: list[dict[str, Any]] | None = None, publish: bool = True) -> Any:
        data = copy.deepcopy(ENTRY)
        data.update(name=name, items=items or OPEN_ITEMS, secrecy=secrecy,
                    opening={"type": opening, **({"condition": "经申请审核后使用"}
                                                 if opening == "conditional_open" else {})})
        data["sharing"] = {"type": "unconditional", "method_class": "platform",
                           "method_type": "interface"}
        if secrecy == "classified":
            data["opening"] = {"type": "not_open"}
        editor, reviewer = people.editor.actor, people.reviewer.actor  # made outside transactions
        steward = people.steward.actor
        with runtime.db.transaction() as db:
            entry = catalog.create_entry(editor, db, data,
                                         provider_org_id=tree["province.hr"].id)
            entry_id = entry.id
        if rows is not None:
            path = tmp_path / f"data{next(counter)}.csv"
            header = [i["name"] for i in (items or OPEN_ITEMS)]
            write_file(path, rows, header=header)
            done = run_ingest(steward, _Ref(entry_id), path)
            assert done.status == "succeeded", done
        with runtime.db.transaction() as db:
            if publish:
                flows.submit(editor, db, entry_id)
                flows.approve(reviewer, db, entry_id)
            if grade:
                catalog.set_grade(SYSTEM, db, entry_id, grade=grade, reasons=["测试"])
            found = db.get(type(entry), entry_id)
            db.expunge(found)
        return found

    return make


class _Ref:
    def __init__(self, entry_id: Any) -> None:
        self.id = entry_id
