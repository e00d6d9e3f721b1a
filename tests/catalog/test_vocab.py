"""Every value list loads, and every value has both labels and a cited source."""

from __future__ import annotations

import pytest

from gongshu.catalog.vocab import LIST_NAMES, ValueList, vocab

ALL_LISTS = sorted(vocab().lists())


@pytest.mark.parametrize("name", ALL_LISTS)
def test_every_value_has_labels_and_a_source(name: str) -> None:
    lst = vocab().get(name)
    assert isinstance(lst, ValueList) and len(lst) > 0
    assert lst.zh and lst.en
    for term in lst:
        assert term.code.strip() == term.code and term.code
        assert term.zh.strip() and term.en.strip(), term
        assert term.source.document and term.source.marker in ("V", "GK"), term
        assert term.label("zh-CN") == term.zh and term.label("en") == term.en


def test_the_file_lists_are_the_declared_ones() -> None:
    assert set(LIST_NAMES) <= set(ALL_LISTS)
    assert {"subjects.base", "subjects.theme", "subjects.department"} <= set(ALL_LISTS)


@pytest.mark.parametrize(
    ("name", "codes"),
    [
        ("resource_kinds", ("base", "theme", "department")),
        ("library_kinds", ("base", "sector", "topic")),
        ("sharing_types", ("unconditional", "conditional", "not_shared")),
        ("opening_types", ("open", "conditional_open", "not_open")),
        ("secrecy", ("classified", "unclassified")),
        ("data_kinds", ("public", "non_public")),
        ("sharing_method_classes", ("platform", "other")),
        ("sharing_method_types", ("database", "interface", "file")),
        ("data_item_types", tuple("CNYDTLMGBIF")),
    ],
)
def test_glossary_and_guide_codes(name: str, codes: tuple[str, ...]) -> None:
    assert vocab().get(name).codes == codes


def test_guide_numbers_and_labels() -> None:
    v = vocab()
    assert [t.guide_code for t in v.resource_kinds] == ["1", "2", "3"]
    assert [t.guide_code for t in v.sharing_types] == ["1", "2", "3"]
    assert [t.zh for t in v.sharing_types] == ["无条件共享", "有条件共享", "不予共享"]
    assert [t.zh for t in v.subjects["base"]] == [
        "人口",
        "法人单位",
        "自然资源和空间地理",
        "社会信用",
        "电子证照",
    ]
    assert len(v.subjects["theme"]) == 12 and len(v.subjects["department"]) == 8
    for cycle in ("实时", "每日", "每周", "每月", "每季度", "每半年", "每年", "按需"):
        assert v.update_cycles.by_zh(cycle) is not None, cycle


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("conditional", "conditional"),
        ("2", "conditional"),
        ("有条件共享", "conditional"),
        ("  Conditional   SHARING ", "conditional"),
        ("不予共享", "not_shared"),
        ("nonsense", None),
        ("", None),
        (None, None),
    ],
)
def test_resolve_accepts_code_guide_code_and_labels(text: str | None, code: str | None) -> None:
    term = vocab().sharing_types.resolve(text)
    assert (term.code if term else None) == code


def test_ambiguous_guide_code_does_not_resolve() -> None:
    # 是 is the guide's "opened" for both open and conditional_open.
    assert vocab().opening_types.resolve("是") is None
    assert vocab().opening_types.resolve("否").code == "not_open"  # type: ignore[union-attr]


def test_label_lookup() -> None:
    v = vocab()
    assert v.sharing_types.label("not_shared") == "不予共享"
    assert v.sharing_types.label("not_shared", "en") == "Not shared"
    assert v.label("update_cycles", "daily", "en-GB") == "Daily"
    assert v.sharing_types.label("retired_code") == "retired_code"
    assert v.sharing_types.label(None) == ""
    with pytest.raises(KeyError):
        v.get("no_such_list")


def test_labels_that_people_pick_from_are_unique_across_groups() -> None:
    # The spreadsheet offers one dropdown for all 项 and one for all format types.
    subject_labels = [t.zh for lst in vocab().subjects.values() for t in lst]
    assert len(subject_labels) == len(set(subject_labels))
    assert vocab().subject("theme", "03").zh == "社会保障"  # type: ignore[union-attr]
    assert vocab().subject("nope", "03") is None


def test_format_types_belong_to_known_classes() -> None:
    v = vocab()
    for t in v.format_types:
        assert t.parent in v.format_classes
    assert {t.code for t in v.format_types.under("spreadsheet")} >= {"xls", "xlsx", "et"}


def test_eu_mappings_are_codes_of_the_eu_tables() -> None:
    for t in vocab().update_cycles:
        freq = t.attrs.get("eu_frequency")
        assert freq is None or freq.replace("_", "").isalnum()
    for lst in vocab().subjects.values():
        for t in lst:
            assert t.attrs["eu_theme"] in {
                "AGRI",
                "ECON",
                "EDUC",
                "ENER",
                "ENVI",
                "GOVE",
                "HEAL",
                "INTR",
                "JUST",
                "REGI",
                "SOCI",
                "TECH",
                "TRAN",
            }


def test_vocab_is_loaded_once() -> None:
    assert vocab() is vocab()
