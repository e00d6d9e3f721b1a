"""Catalog test data: one valid entry, and a way to change it by dotted paths.

Tests get them as fixtures (``valid_entry``, ``patch``); a case table removes a field with the
string ``DELETE``.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from gongshu.catalog.codes import format_code
from gongshu.catalog.schemas import CatalogEntryCreate, CatalogEntryPublic
from gongshu.core.permissions import Actor

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


def _sample_entries() -> list[dict[str, Any]]:
    """Entries of every kind and sharing type, with the cells Excel likes to mangle (leading
    zeros, dates, lists, ids)."""
    conditional = patched(
        VALID_ENTRY,
        {
            "category": {
                "resource_kind": "theme",
                "subject": "03",
                "group": "003",
                "subgroup": "0201",
            },
            "name": "城乡居民养老保险参保信息",
            "provider": {
                "name": "山西省人力资源和社会保障厅",
                "code": "SXRST",
                "org_id": "0b9f7a3e-2a65-4f6e-9d7c-3f1c2b9a6d10",
            },
            "summary": "参保人员的参保状态、缴费档次和待遇领取信息。",
            "format": {"format_class": "spreadsheet", "format_type": "xlsx"},
            "sharing": {
                "type": "conditional",
                "condition": "仅向社会保障相关部门提供",
                "legal_basis": "《社会保险法》第八十一条",
                "method_class": "platform",
                "method_type": "file",
            },
            "opening": {"type": "conditional_open", "condition": "实名申请"},
            "update_cycle": "monthly",
            "publish_date": "2024-07-01",
            "related_resource_codes": ["101001/000001"],
            "keywords": ["社保", "养老保险"],
            "grade": "一般数据",
            "items": [
                {
                    "name": "公民身份号码",
                    "code": "GMSFHM",
                    "data_type": "C",
                    "length": 18,
                    "sharing_type": "not_shared",
                    "sharing_condition": "敏感个人信息",
                    "legal_basis": "《个人信息保护法》第二十八条",
                    "opening_type": "not_open",
                    "data_element_id": "5d3c1b2a-9e8f-4a7b-8c6d-1e2f3a4b5c6d",
                },
                {
                    "name": "缴费档次",
                    "code": "JFDC",
                    "data_type": "N",
                    "length": 4,
                    "sharing_type": "unconditional",
                },
                {"name": "参保日期", "code": "CBRQ", "data_type": "D"},
            ],
        },
    )
    not_shared = patched(
        VALID_ENTRY,
        {
            "category": {"resource_kind": "department", "subject": "07", "group": "120"},
            "name": "信访事项办理记录",
            "summary": "信访事项的受理、办理和答复记录。",
            "format": {"format_class": "electronic_file"},
            "sharing": {
                "type": "not_shared",
                "condition": "涉及个人隐私",
                "legal_basis": "《信访工作条例》",
            },
            "update_cycle": "on_demand",
            "secrecy": "unclassified",
            "data_kind": "public",
            "keywords": [],
            "items": [{"name": "信访人", "code": "XFR", "data_type": "C", "length": 50}],
        },
    )
    return [VALID_ENTRY, conditional, not_shared]


@pytest.fixture
def sample_entries() -> list[Any]:
    return [CatalogEntryCreate.model_validate(e) for e in _sample_entries()]


@pytest.fixture
def public_entries(sample_entries: list[Any]) -> list[Any]:
    """The samples as published entries, with resource codes."""
    now = dt.datetime(2024, 7, 1, 8, 0, tzinfo=dt.UTC)
    out = []
    for seq, entry in enumerate(sample_entries, start=1):
        data = entry.model_dump()
        data["items"] = [{**item, "id": uuid.uuid4()} for item in data["items"]]
        data.update(
            id=uuid.uuid4(),
            resource_code=format_code(entry.category.front_segment, seq),
            status="published",
            version=1,
            created_at=now,
            updated_at=now,
        )
        out.append(CatalogEntryPublic.model_validate(data))
    return out


# ------------------------------------------------------------------ people and entries (DB)


@dataclass
class People:
    """Members of the test province around the catalog (see ``tests/conftest.py`` ``tree``)."""

    editor: Any  # catalog editor of the province's HR department
    editor2: Any  # a second editor there
    steward: Any  # data steward there (confirms grades)
    reviewer: Any  # reviewer of the provincial data bureau (same level as province.hr)
    reviewer2: Any  # a second one
    city_editor: Any  # catalog editor of Taiyuan's HR bureau
    city_reviewer: Any  # reviewer of Taiyuan's data bureau
    county_editor: Any  # catalog editor of Xiaodian district's HR bureau
    county_reviewer: Any  # reviewer of Xiaodian's data bureau
    outsider: Any  # a requester at the provincial health commission


@pytest.fixture
def people(make_user: Any, monkeypatch: pytest.MonkeyPatch) -> People:
    # ten users per test: hash their passwords cheaply (the cost is read from the hash, so
    # logins still verify; production hashing is tested in tests/orgs)
    from argon2 import PasswordHasher

    quick = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr("gongshu.orgs.service.hash_password", quick.hash)
    return People(
        editor=make_user("editor", "catalog_editor", "province.hr"),
        editor2=make_user("editor2", "catalog_editor", "province.hr"),
        steward=make_user("steward", "data_steward", "province.hr"),
        reviewer=make_user("reviewer", "bureau_reviewer", "province.bureau"),
        reviewer2=make_user("reviewer2", "bureau_reviewer", "province.bureau"),
        city_editor=make_user("ty.editor", "catalog_editor", "taiyuan.hr"),
        city_reviewer=make_user("ty.reviewer", "bureau_reviewer", "taiyuan.bureau"),
        county_editor=make_user("xd.editor", "catalog_editor", "xiaodian.hr"),
        county_reviewer=make_user("xd.reviewer", "bureau_reviewer", "xiaodian.bureau"),
        outsider=make_user("outsider", "requester", "province.health"),
    )


@pytest.fixture
def add_role(runtime: Any, tree: dict[str, Any]) -> Any:
    """add_role(member, role, org_key) -> the member's new actor, holding the extra role."""
    from gongshu.orgs import service as orgs

    system = Actor.system("test", via="system")

    def add(member: Any, role: str, org_key: str) -> Actor:
        with runtime.db.transaction() as db:
            orgs.grant_role(system, db, user_id=member.user.id, role=role,
                            org_id=tree[org_key].id)
            user = orgs.find_user(db, member.username)
            db.refresh(user)
            return orgs.actor_for_user(user)

    return add


@pytest.fixture
def catalog_ops(runtime: Any, tree: dict[str, Any]) -> Any:
    """Shortcuts that run one service call in its own unit of work, as a request would."""
    return CatalogOps(runtime, tree)


class CatalogOps:
    def __init__(self, runtime: Any, tree: dict[str, Any]) -> None:
        self.runtime = runtime
        self.tree = tree

    def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with self.runtime.db.transaction() as db:
            result = fn(*args[:1], db, *args[1:], **kwargs)
            if hasattr(result, "id"):
                return result.id
            return result

    def create(self, actor: Any, org_key: str = "province.hr", **changes: Any) -> uuid.UUID:
        from gongshu.catalog import service

        data = patched(VALID_ENTRY, changes)
        return self.run(service.create_entry, actor, data, provider_org_id=self.tree[org_key].id)

    def read(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with self.runtime.db.transaction(write=False) as db:
            return fn(*args[:1], db, *args[1:], **kwargs)

    def publish(self, editor: Any, reviewer: Any, org_key: str = "province.hr",
                **changes: Any) -> uuid.UUID:
        """An entry taken through the whole review to publication."""
        from gongshu.catalog import flows

        entry_id = self.create(editor, org_key, **changes)
        self.run(flows.submit, editor, entry_id)
        self.run(flows.approve, reviewer, entry_id)
        return entry_id


@pytest.fixture
def import_workbook(sample_entries: list[Any], tree: dict[str, Any]) -> Any:
    """The sample entries as an import workbook of the province's HR department (no element
    references): (the workbook, the headers of its entry sheet, the entries); tests break
    cells of it."""
    return _import_workbook(sample_entries, tree["province.hr"])


def _import_workbook(sample_entries: list[Any], org: Any) -> tuple[Any, list[str], list[Any]]:
    import io

    from openpyxl import load_workbook

    from gongshu.catalog.transfer import xlsx

    entries = [e.model_copy(update={
        "provider": e.provider.model_copy(update={"name": org.name, "code": org.uscc,
                                                  "org_id": None}),
        "items": [i.model_copy(update={"data_element_id": None}) for i in e.items]})
        for e in sample_entries]
    book = load_workbook(io.BytesIO(xlsx.export_xlsx(entries)))
    headers = [str(c.value).rstrip("*") for c in book["信息资源"][1]]
    return book, headers, entries
