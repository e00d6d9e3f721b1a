"""Duplicate collection (Art. 12): the pure name keys and matching (``catalog/duplicates.py``)."""

from __future__ import annotations

import unicodedata
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gongshu.catalog import duplicates
from gongshu.catalog.duplicates import PlannedItem, PublishedItem, match, name_key

# ------------------------------------------------------------------------------ name keys

SAME = [
    ("身份证号", "公民身份号码"),
    ("身份证号", "身份证号码"),
    ("身份证号", "居民身份证号码"),
    ("身份证号", "本人身份证号"),
    ("手机号", "手机号码"),
    ("手机号", "手机"),
    ("企业名称", "企业名"),
    ("出生日期", "出生时间"),
    ("统一社会信用代码", "信用代码"),
    ("行政区划代码", "所属行政区划编码"),
    ("姓名", " 姓 名 "),
    ("姓名", "姓名："),
    ("ABC-12", "ａｂｃ１２"),  # full width, case, punctuation
    ("家庭住址", "家庭地址"),
    ("登记编号", "登记号码"),
]

DIFFERENT = [
    ("手机号", "联系电话"),  # a landline is a contact number too: not a strong synonym
    ("姓名", "名称"),
    ("出生日期", "出生地"),
    ("号码", "编号"),  # an ending alone is not rewritten
    ("身份证号", "护照号"),
    ("工作日", "工作日期"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_names_of_one_item_have_one_key(a: str, b: str) -> None:
    assert name_key(a) == name_key(b) != ""


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_names_of_different_items_keep_different_keys(a: str, b: str) -> None:
    assert name_key(a) != name_key(b)


@pytest.mark.parametrize("name", ["", "   ", "——", "!!!", None])
def test_a_name_without_letters_has_no_key(name: str | None) -> None:
    assert name_key(name) == ""


@given(st.text(max_size=40))
def test_the_key_is_its_own_key(text: str) -> None:
    key = name_key(text)
    assert name_key(key) == key


@given(st.text(max_size=40))
def test_the_key_is_stable_under_nfkc(text: str) -> None:
    assert name_key(unicodedata.normalize("NFKC", text)) == name_key(text)
    assert unicodedata.normalize("NFKC", name_key(text)) == name_key(text)


@given(st.lists(st.sampled_from(["身份", "证", "号码", "编号", "代码", "名称", "时间", "本人",
                                 "所属", "手机", " ", "、", "Ａ", "a"]), max_size=8))
def test_keys_of_rule_words_are_their_own_keys(parts: list[str]) -> None:
    key = name_key("".join(parts))
    assert name_key(key) == key
    assert len(key) <= duplicates.KEY_MAX


def test_no_name_is_in_two_synonym_groups() -> None:
    duplicates.rules.cache_clear()
    rules = duplicates.rules()  # raises if the data file puts one name in two groups
    assert rules.synonyms and 0 < rules.share <= 1 and rules.min_items >= 1 and rules.rationale


@pytest.mark.parametrize(("a", "b", "ok"), [
    ("C", "C", True), ("C", "M", True), ("N", "I", True), ("D", "T", True),
    ("C", "N", False), ("D", "C", False), ("L", "N", False), (None, "N", True),
    ("X", "X", True), ("X", "C", False),
])
def test_types_compatible(a: str | None, b: str, ok: bool) -> None:
    assert duplicates.types_compatible(a, b) is ok


# ------------------------------------------------------------------------------- matching

E1, E2, E3 = (uuid.UUID(int=n) for n in (1, 2, 3))
ELEMENT = uuid.UUID(int=99)


def published(entry: uuid.UUID, name: str, data_type: str = "C", *,
              element: uuid.UUID | None = None, sharing: str = "unconditional") -> PublishedItem:
    return PublishedItem(entry_id=entry, name=name, name_key=name_key(name), data_type=data_type,
                         data_element_id=element, sharing_type=sharing)


DRAFT = [PlannedItem("身份证号码", "C"), PlannedItem("姓名", "C"), PlannedItem("出生日期", "D"),
         PlannedItem("婚姻状况", "C")]

MATCH_CASES = [
    # (found items, expected: entry → (covered, strong))
    ("two of four by name", [published(E1, "公民身份号码"), published(E1, "姓名")],
     {E1: (2, True)}),
    ("one of four is weak", [published(E1, "姓名")], {E1: (1, False)}),
    ("not shared items do not count",
     [published(E1, "公民身份号码", sharing="not_shared"), published(E1, "姓名")],
     {E1: (1, False)}),
    ("incompatible type is no match", [published(E1, "出生日期", "N"), published(E1, "姓名")],
     {E1: (1, False)}),
    ("date and time are compatible", [published(E1, "出生时间", "T"), published(E1, "姓名")],
     {E1: (2, True)}),
    ("entries scored apart", [published(E1, "姓名"), published(E2, "姓名"),
                              published(E2, "身份证号"), published(E2, "婚姻状况")],
     {E1: (1, False), E2: (3, True)}),
    ("no match at all", [published(E3, "车牌号")], {}),
]


@pytest.mark.parametrize(("found", "expected"), [c[1:] for c in MATCH_CASES],
                         ids=[c[0] for c in MATCH_CASES])
def test_match(found: list[PublishedItem], expected: dict[uuid.UUID, tuple[int, bool]]) -> None:
    result = {c.entry_id: (c.covered, c.strong) for c in match(DRAFT, found)}
    assert result == expected


def test_strong_ones_come_first_then_more_covered() -> None:
    found = [published(E1, "姓名"), published(E2, "姓名"), published(E2, "身份证号"),
             published(E3, "姓名"), published(E3, "身份证号"), published(E3, "出生日期", "D")]
    assert [c.entry_id for c in match(DRAFT, found)] == [E3, E2, E1]


def test_a_data_element_matches_whatever_the_names() -> None:
    draft = [PlannedItem("证件号", "C", data_element_id=ELEMENT)]
    [candidate] = match(draft, [published(E1, "完全不同的名字", "N", element=ELEMENT)])
    assert candidate.strong and candidate.matches[0].via == "element"
    assert candidate.matches[0].matched_name == "完全不同的名字"


def test_an_item_named_twice_counts_once() -> None:
    draft = [PlannedItem("姓名"), PlannedItem("姓 名"), PlannedItem("身份证号"),
             PlannedItem("手机号")]
    [candidate] = match(draft, [published(E1, "姓名"), published(E1, "身份证号")])
    assert candidate.covered == 2 and candidate.share == pytest.approx(2 / 3)


@pytest.mark.parametrize(("total", "need"), [(0, 0), (1, 1), (2, 2), (3, 2), (4, 2), (5, 3),
                                             (10, 5), (11, 6)])
def test_needed(total: int, need: int) -> None:
    assert duplicates.needed(total) == need


def test_coerce_items_takes_mappings_and_objects() -> None:
    items = duplicates.coerce_items([
        {"name": "姓名", "data_type": "c"}, {"name": "  "}, {"name": "x", "data_element_id": "bad"},
        PlannedItem("手机号", "C"), {"name": "", "data_element_id": str(ELEMENT)}])
    assert [(i.name, i.data_type, i.data_element_id) for i in items] == [
        ("姓名", "C", None), ("x", None, None), ("手机号", "C", None), ("", None, ELEMENT)]
