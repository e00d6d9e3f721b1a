"""The API shapes: GLOSSARY names equal the value lists, updates, OpenAPI enums."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from gongshu.catalog import schemas
from gongshu.catalog.schemas import (
    CatalogEntriesPublic,
    CatalogEntryCreate,
    CatalogEntryPublic,
    CatalogEntryUpdate,
    DataElementCreate,
    DataElementPublic,
    apply_update,
)
from gongshu.catalog.vocab import vocab


@pytest.mark.parametrize(
    ("literal", "list_name"),
    [
        (schemas.ShareType, "sharing_types"),
        (schemas.OpenType, "opening_types"),
        (schemas.DataKind, "data_kinds"),
        (schemas.Secrecy, "secrecy"),
        (schemas.EntryStatus, "entry_statuses"),
    ],
)
def test_glossary_literals_are_the_value_lists(literal: Any, list_name: str) -> None:
    assert get_args(literal) == vocab().get(list_name).codes


def test_values_are_normalised(valid_entry: dict[str, Any]) -> None:
    valid_entry["provider"]["code"] = " sxgat001 "
    valid_entry["keywords"] = ["人口", "人口", "户籍"]
    valid_entry["related_resource_codes"] = ["101001／2"]
    entry = CatalogEntryCreate.model_validate(valid_entry)
    assert entry.provider.code == "SXGAT001"
    assert entry.keywords == ["人口", "户籍"]
    assert entry.related_resource_codes == ["101001/000002"]
    assert entry.category.front_segment == "101001"


def test_openapi_lists_codes(valid_entry: dict[str, Any]) -> None:
    spec = CatalogEntryCreate.model_json_schema()
    defs = spec["$defs"]
    assert defs["SharingAttribute"]["properties"]["type"]["enum"] == list(
        vocab().sharing_types.codes
    )
    assert spec["properties"]["update_cycle"]["enum"] == list(vocab().update_cycles.codes)
    assert "共享条件" in defs["SharingAttribute"]["properties"]["condition"]["description"]


def test_update_replaces_only_what_was_sent(valid_entry: dict[str, Any]) -> None:
    entry = CatalogEntryCreate.model_validate({**valid_entry, "grade": "一般数据"})
    update = CatalogEntryUpdate.model_validate(
        {"name": "人口信息", "sharing": {"type": "not_shared"}}
    )
    after = apply_update(entry, update)
    assert after.name == "人口信息"
    assert after.sharing.type == "not_shared" and after.sharing.method_class is None
    assert after.grade == "一般数据" and after.items == entry.items
    cleared = apply_update(entry, CatalogEntryUpdate.model_validate({"grade": None}))
    assert cleared.grade is None
    with pytest.raises(ValidationError):
        apply_update(entry, CatalogEntryUpdate.model_validate({"name": None}))
    with pytest.raises(ValidationError):
        CatalogEntryUpdate.model_validate({"resource_code": "101001/000001"})


def _public(valid_entry: dict[str, Any]) -> dict[str, Any]:
    now = dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
    return {
        **valid_entry,
        "id": uuid.uuid4(),
        "resource_code": "101001/000001",
        "status": "published",
        "version": 2,
        "created_at": now,
        "updated_at": now,
        "items": [{**item, "id": uuid.uuid4()} for item in valid_entry["items"]],
    }


def test_public_entry_and_page(valid_entry: dict[str, Any]) -> None:
    entry = CatalogEntryPublic.model_validate(_public(valid_entry))
    page = CatalogEntriesPublic(data=[entry], count=41)
    assert page.model_dump()["data"][0]["resource_code"] == "101001/000001"
    # an update built from a public entry keeps its items
    after = apply_update(entry, CatalogEntryUpdate())
    assert [i.code for i in after.items] == ["GMSFHM", "XM", "CSRQ"]


def test_public_entry_reads_attributes(valid_entry: dict[str, Any]) -> None:
    # The service may hand ORM rows (objects with attributes) straight to the schema.
    def obj(value: Any) -> Any:
        if isinstance(value, dict):
            return SimpleNamespace(**{k: obj(v) for k, v in value.items()})
        if isinstance(value, list):
            return [obj(v) for v in value]
        return value

    full = CatalogEntryPublic.model_validate(_public(valid_entry)).model_dump()
    entry = CatalogEntryPublic.model_validate(obj(full), from_attributes=True)
    assert entry.items[0].code == "GMSFHM" and entry.sharing.type == "unconditional"


def test_data_element() -> None:
    element = DataElementCreate(
        name="公民身份号码",
        identifier="DE00001",
        data_type="C",
        length=18,
        value_domain="GB 11643",
        standard="GB/T 19488.2-2008",
    )
    public = DataElementPublic(**element.model_dump(), id=uuid.uuid4())
    assert public.length == 18
    with pytest.raises(ValidationError):
        DataElementCreate(name="x", identifier="带空格 id", data_type="Q")
