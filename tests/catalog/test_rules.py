"""The catalog rules as tables of cases: each change to a valid entry, and exactly the errors
(field path, code) it must produce. An empty set means the change is valid."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from gongshu.catalog.rules import (
    RULES,
    check_entry,
    check_items_against_elements,
    ensure_valid,
    localize,
    messages,
    parse_entry,
    validate_entry,
)
from gongshu.catalog.schemas import CatalogEntryCreate, CatalogEntryPublic, DataElementCreate
from gongshu.core.errors import ValidationFailed
from gongshu.core.identifiers import make_uscc

D = "<DELETE>"
REASON = {
    "sharing.condition": "仅向公安、民政部门提供",
    "sharing.legal_basis": "《中华人民共和国居民身份证法》",
}
CONDITIONAL = {"sharing.type": "conditional", **REASON}
NOT_SHARED = {
    "sharing.type": "not_shared",
    "sharing.condition": "涉及个人隐私",
    "sharing.legal_basis": "《中华人民共和国个人信息保护法》",
    "sharing.method_class": D,
    "sharing.method_type": D,
}
ITEM_REASON = {
    "items.0.sharing_condition": "敏感个人信息",
    "items.0.legal_basis": "《个人信息保护法》第二十八条",
}

Case = tuple[str, dict[str, Any], set[tuple[str, str]]]

VALID_CASES: list[Case] = [
    ("the sample", {}, set()),
    ("conditional with reason and basis", CONDITIONAL, set()),
    ("not shared with reason and basis, not opened", NOT_SHARED, set()),
    (
        "conditional entry, unconditional and not-shared items",
        {
            **CONDITIONAL,
            "items.1.sharing_type": "unconditional",
            "items.0.sharing_type": "not_shared",
            **ITEM_REASON,
        },
        set(),
    ),
    (
        "conditional item of a conditional entry inherits its reason",
        {**CONDITIONAL, "items.0.sharing_type": "conditional"},
        set(),
    ),
    (
        "not-shared entry, items marked not shared",
        {**NOT_SHARED, "items.0.sharing_type": "not_shared"},
        set(),
    ),
    ("open and unconditional", {"opening.type": "open"}, set()),
    (
        "conditionally open with its condition",
        {"opening.type": "conditional_open", "opening.condition": "实名注册并签署使用协议"},
        set(),
    ),
    (
        "conditionally open conditional entry",
        {**CONDITIONAL, "opening.type": "conditional_open", "opening.condition": "申请"},
        set(),
    ),
    (
        "open entry, item kept closed",
        {"opening.type": "open", "items.0.opening_type": "not_open"},
        set(),
    ),
    (
        "other sharing method needs no type",
        {"sharing.method_class": "other", "sharing.method_type": D},
        set(),
    ),
    (
        "valid USCC as provider code",
        {"provider.code": make_uscc("11", "140000", "012345678")},
        set(),
    ),
    (
        "theme kind with its 项 and 细目",
        {
            "category": {
                "resource_kind": "theme",
                "subject": "12",
                "group": "003",
                "subgroup": "0201",
            }
        },
        set(),
    ),
    (
        "department kind",
        {"category": {"resource_kind": "department", "subject": "07", "group": "100"}},
        set(),
    ),
    ("format type optional", {"format.format_type": D}, set()),
    (
        "numeric item without length",
        {"items.2": {"name": "人数", "code": "RS", "data_type": "N"}},
        set(),
    ),
    ("related codes", {"related_resource_codes": ["101001/000002", "203001/1"]}, set()),
    ("classified, not opened, not shared", {**NOT_SHARED, "secrecy": "classified"}, set()),
    ("non-public data", {"data_kind": "non_public"}, set()),
    ("blank optional text is no text", {"sharing.condition": "  ", "grade": ""}, set()),
]

INVALID_CASES: list[Case] = [
    # Art. 12: reasons and legal basis of restricted entries
    (
        "conditional without reason or basis",
        {"sharing.type": "conditional"},
        {
            ("sharing.condition", "sharing_reason_required"),
            ("sharing.legal_basis", "legal_basis_required"),
        },
    ),
    (
        "conditional without basis",
        {**CONDITIONAL, "sharing.legal_basis": "   "},
        {("sharing.legal_basis", "legal_basis_required")},
    ),
    (
        "not shared without reason",
        {**NOT_SHARED, "sharing.condition": D},
        {("sharing.condition", "sharing_reason_required")},
    ),
    (
        "not shared without basis",
        {**NOT_SHARED, "sharing.legal_basis": ""},
        {("sharing.legal_basis", "legal_basis_required")},
    ),
    # Art. 12: data items
    (
        "not-shared item of a conditional entry without reason or basis",
        {**CONDITIONAL, "items.0.sharing_type": "not_shared"},
        {
            ("items.0.sharing_condition", "sharing_reason_required"),
            ("items.0.legal_basis", "legal_basis_required"),
        },
    ),
    (
        "restricted item in an unconditional entry",
        {"items.2.sharing_type": "conditional"},
        {("items.2.sharing_type", "item_restricted_in_unconditional_entry")},
    ),
    (
        "shared item in a not-shared entry",
        {**NOT_SHARED, "items.1.sharing_type": "conditional"},
        {("items.1.sharing_type", "item_shared_in_not_shared_entry")},
    ),
    # opening
    (
        "not-shared entry opened",
        {**NOT_SHARED, "opening.type": "open"},
        {("opening.type", "not_shared_opened")},
    ),
    (
        "not-shared entry conditionally opened",
        {**NOT_SHARED, "opening.type": "conditional_open", "opening.condition": "申请"},
        {("opening.type", "not_shared_opened")},
    ),
    (
        "conditional entry open without conditions",
        {**CONDITIONAL, "opening.type": "open"},
        {("opening.type", "opening_wider_than_sharing")},
    ),
    (
        "classified entry opened",
        {"secrecy": "classified", "opening.type": "open"},
        {("opening.type", "classified_opened")},
    ),
    (
        "conditionally open without condition",
        {"opening.type": "conditional_open"},
        {("opening.condition", "opening_condition_required")},
    ),
    (
        "item more open than its entry",
        {"items.1.opening_type": "open"},
        {("items.1.opening_type", "item_more_open")},
    ),
    (
        "not-shared item of an open... conditional entry left open",
        {
            **CONDITIONAL,
            "opening.type": "conditional_open",
            "opening.condition": "申请",
            "items.0.sharing_type": "not_shared",
            **ITEM_REASON,
        },
        {("items.0.opening_type", "not_shared_opened")},
    ),
    (
        "conditional item opened without conditions",
        {**CONDITIONAL, "items.0.sharing_type": "conditional", "items.0.opening_type": "open"},
        {
            ("items.0.opening_type", "item_more_open"),
            ("items.0.opening_type", "opening_wider_than_sharing"),
        },
    ),
    # compilation-guide completeness
    ("no data items", {"items": []}, {("items", "items_required")}),
    (
        "duplicate item code, any case",
        {"items.1.code": "gmsfhm"},
        {("items.1.code", "duplicate_item_code")},
    ),
    (
        "character item without length",
        {"items.1.length": D},
        {("items.1.length", "length_required")},
    ),
    (
        "项 of another kind",
        {"category.subject": "12"},
        {("category.subject", "subject_not_in_kind")},
    ),
    (
        "format type of another class",
        {"format.format_type": "xlsx"},
        {("format.format_type", "format_type_not_in_class")},
    ),
    (
        "invalid USCC as provider code",
        {"provider.code": "91140100MA0GRXXXX1"},
        {("provider.code", "invalid_uscc")},
    ),
    (
        "shared without method",
        {"sharing.method_class": D, "sharing.method_type": D},
        {("sharing.method_class", "sharing_method_required")},
    ),
    (
        "platform without method type",
        {"sharing.method_type": D},
        {("sharing.method_type", "sharing_method_type_required")},
    ),
    (
        "duplicate related code",
        {"related_resource_codes": ["101001/2", "101001/000002"]},
        {("related_resource_codes.1", "duplicate_related_code")},
    ),
]

FIELD_CASES: list[Case] = [
    # single fields, checked by the schemas and reported with the same paths
    ("missing name", {"name": D}, {("name", "required")}),
    ("blank summary", {"summary": "   "}, {("summary", "required")}),
    ("unknown sharing type", {"sharing.type": "sometimes"}, {("sharing.type", "not_in_list")}),
    ("unknown update cycle", {"update_cycle": "hourly"}, {("update_cycle", "not_in_list")}),
    (
        "unknown resource kind",
        {"category.resource_kind": "sector"},
        {("category.resource_kind", "not_in_list")},
    ),
    ("项 not two digits", {"category.subject": "1"}, {("category.subject", "invalid_format")}),
    ("unknown data type", {"items.2.data_type": "X"}, {("items.2.data_type", "not_in_list")}),
    ("zero length", {"items.0.length": 0}, {("items.0.length", "not_positive")}),
    ("length not a number", {"items.0.length": "long"}, {("items.0.length", "not_integer")}),
    ("bad item code", {"items.0.code": "身份号码"}, {("items.0.code", "invalid_format")}),
    (
        "bad related code",
        {"related_resource_codes": ["12/3"]},
        {("related_resource_codes.0", "invalid_resource_code")},
    ),
    ("bad publish date", {"publish_date": "2024-02-30"}, {("publish_date", "invalid_date")}),
    (
        "missing secrecy and data kind",
        {"secrecy": D, "data_kind": D},
        {("secrecy", "required"), ("data_kind", "required")},
    ),
    ("unknown field", {"colour": "red"}, {("colour", "unknown_field")}),
    ("two keywords in one", {"keywords": ["人口、户籍"]}, {("keywords.0", "invalid_format")}),
    ("name too long", {"name": "名" * 201}, {("name", "too_long")}),
]


def _found(errors: list[Any]) -> set[tuple[str, str]]:
    return {(e.field, e.code) for e in errors}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [c[1:] for c in VALID_CASES + INVALID_CASES + FIELD_CASES],
    ids=[c[0] for c in VALID_CASES + INVALID_CASES + FIELD_CASES],
)
def test_rule_cases(
    valid_entry: dict[str, Any], patch: Any, changes: dict[str, Any], expected: set[tuple[str, str]]
) -> None:
    entry, errors = check_entry(patch(valid_entry, changes))
    assert _found(errors) == expected
    assert (entry is None) == bool(expected)
    for error in errors:
        assert error.message and localize(error, "zh") and localize(error, "en")


def test_every_rule_has_an_invalid_case() -> None:
    # A rule without a failing case is a rule nobody checked.
    assert len(RULES) == 18
    codes = {code for _, _, expected in INVALID_CASES for _, code in expected}
    assert len(codes) >= len(RULES) - 1  # codes_known is exercised below, on stored entries


def test_all_problems_are_reported_at_once(valid_entry: dict[str, Any], patch: Any) -> None:
    changes = {
        "sharing.type": "not_shared",
        "opening.type": "open",
        "items.1.code": "GMSFHM",
        "items.2.length": 0,
        "category.subject": "12",
        "items.0.length": D,
        "related_resource_codes": ["bad", "101001/1"],
        "grade": "x" * 40,
    }
    _, errors = check_entry(patch(valid_entry, changes))
    assert _found(errors) == {
        # fields that do not parse …
        ("items.2.length", "not_positive"),
        ("related_resource_codes.0", "invalid_resource_code"),
        ("grade", "too_long"),
        # … and every rule the rest breaks
        ("category.subject", "subject_not_in_kind"),
        ("items.1.code", "duplicate_item_code"),
        ("items.0.length", "length_required"),
        ("sharing.condition", "sharing_reason_required"),
        ("sharing.legal_basis", "legal_basis_required"),
        ("opening.type", "not_shared_opened"),
    }


def test_rules_that_read_a_bad_field_are_skipped(valid_entry: dict[str, Any], patch: Any) -> None:
    # Without a readable sharing type there is nothing to hold Art. 12 against; the rules
    # that do not read it still run.
    changes = {"sharing.type": "maybe", "items.1.code": "GMSFHM", "opening.type": "open"}
    _, errors = check_entry(patch(valid_entry, changes))
    assert _found(errors) == {
        ("sharing.type", "not_in_list"),
        ("items.1.code", "duplicate_item_code"),
    }


def test_a_bad_item_field_hides_nothing_about_other_items(
    valid_entry: dict[str, Any], patch: Any
) -> None:
    changes = {"items.0.name": D, "items.0.length": D, "items.1.length": D, "items.2.code": "XM"}
    _, errors = check_entry(patch(valid_entry, changes))
    assert _found(errors) == {
        ("items.0.name", "required"),
        ("items.0.length", "length_required"),
        ("items.1.length", "length_required"),
        ("items.2.code", "duplicate_item_code"),
    }
    _, errors = check_entry(patch(valid_entry, {"items.0.code": "坏", "items.2.code": "XM"}))
    assert _found(errors) == {
        ("items.0.code", "invalid_format"),
        ("items.2.code", "duplicate_item_code"),
    }


def test_stored_entries_are_checked_against_the_current_lists(valid_entry: dict[str, Any]) -> None:
    # A code retired from a list after the entry was saved: model_construct skips validation
    # the way loading from the database does.
    entry = CatalogEntryCreate.model_validate(valid_entry)
    stale = entry.model_copy(update={"update_cycle": "fortnightly"})
    assert _found(validate_entry(stale)) == {("update_cycle", "not_in_list")}


def test_public_entry_cannot_relate_to_itself(valid_entry: dict[str, Any]) -> None:
    now = "2024-07-01T00:00:00Z"
    entry = CatalogEntryPublic.model_validate(
        {
            **valid_entry,
            "id": uuid.uuid4(),
            "resource_code": "101001/000007",
            "status": "draft",
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "items": [{**i, "id": uuid.uuid4()} for i in valid_entry["items"]],
            "related_resource_codes": ["101001/7"],
        }
    )
    assert _found(validate_entry(entry)) == {("related_resource_codes.0", "related_to_itself")}


def test_parse_entry_raises_with_every_error(valid_entry: dict[str, Any], patch: Any) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_entry(patch(valid_entry, {"sharing.type": "conditional"}))
    assert info.value.status == 422
    assert [e["field"] for e in info.value.extra()["errors"]] == [
        "sharing.condition",
        "sharing.legal_basis",
    ]
    assert parse_entry(valid_entry).name == "常住人口基本信息"
    ensure_valid(CatalogEntryCreate.model_validate(valid_entry))


def test_messages_are_localised(valid_entry: dict[str, Any], patch: Any) -> None:
    _, errors = check_entry(patch(valid_entry, {"sharing.type": "conditional"}))
    assert (
        localize(errors[0], "zh-CN")
        == "第十二条：列为有条件共享的，须说明理由（共享条件或不予共享理由）。"
    )
    assert "conditional sharing" in localize(errors[0], "en").lower()
    assert errors[0].message == localize(errors[0], "en")


def test_every_message_has_both_languages() -> None:
    for code, texts in messages().items():
        assert texts.get("en") and texts.get("zh"), code


def test_data_elements(valid_entry: dict[str, Any], patch: Any) -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    elements = {
        ids[0]: DataElementCreate(
            name="公民身份号码", identifier="DE00001", data_type="C", length=18
        ),
        ids[1]: DataElementCreate(name="姓名", identifier="DE00002", data_type="C", length=30),
    }
    entry = CatalogEntryCreate.model_validate(
        patch(
            valid_entry,
            {
                "items.0.data_element_id": str(ids[0]),
                "items.1.data_element_id": str(ids[1]),
                "items.2.data_element_id": str(ids[2]),
            },
        )
    )
    assert _found(check_items_against_elements(entry, elements)) == {
        ("items.1.length", "element_length_exceeded"),  # 50 > 30
        ("items.2.data_element_id", "unknown_data_element"),
    }
    elements[ids[2]] = DataElementCreate(name="出生日期", identifier="DE00003", data_type="T")
    assert ("items.2.data_type", "element_type_mismatch") in _found(
        check_items_against_elements(entry, elements)
    )
