"""Details as an auditor reads them: labelled fields, lists joined, times in Asia/Shanghai,
nested dicts flattened (pure)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gongshu.audit import present
from gongshu.core.i18n import translator

ZH = translator("zh-CN")
EN = translator("en")
TZ = "Asia/Shanghai"


@pytest.mark.parametrize(("value", "t", "shown"), [
    (["a", "b"], ZH, "a、b"),
    (["a", "b"], EN, "a, b"),
    ("2026-03-01T16:30:00+00:00", ZH, "2026-03-02 00:30:00"),
    ("2026-03-01T16:30:00Z", ZH, "2026-03-02 00:30:00"),
    (dt.datetime(2026, 3, 1, 1, 0, tzinfo=dt.UTC), ZH, "2026-03-01 09:00:00"),
    (True, ZH, "是"),
    (False, EN, "no"),
    (None, ZH, "—"),
    (3, ZH, "3"),
    ("2026-13-45T99:99", ZH, "2026-13-45T99:99"),
    ("plain text", ZH, "plain text"),
])
def test_values(value: Any, t: Any, shown: str) -> None:
    assert present.format_value(value, t, TZ) == shown


def test_fields_are_labelled_and_flattened() -> None:
    fields = present.detail_fields(
        {"resource_code": "140000-X", "filters": {"action": "catalog.", "org_path": "/1/"},
         "columns": ["姓名", "身份证号"], "weird_key": 1}, ZH, TZ)
    assert fields == [("资源代码", "140000-X"), ("筛选条件 · 操作", "catalog."),
                      ("筛选条件 · 组织", "/1/"), ("字段", "姓名、身份证号"), ("weird key", "1")]
    assert dict(present.detail_fields({"resource_code": "x"}, EN, TZ)) == {"Resource code": "x"}


def test_a_list_of_changes_is_a_field_each_with_its_column_as_code() -> None:
    fields = present.detail_fields(
        {"changes": [{"column": "annual_income", "before": ["aggregate", 0, 500000, False],
                      "after": ["hidden", None, None, False]},
                     {"column": "county", "before": ["hidden"], "after": ["group_by"]}]},
        ZH, TZ)
    labels = [label for label, _v in fields]
    assert len(fields) == 6 and len(set(labels)) == 6
    columns = [v for _label, v in fields if getattr(v, "is_code", False)]
    assert columns == ["annual_income", "county"]
    assert all("annual_income" not in label for label in labels)
    assert sorted({label.split(" · ")[1] for label in labels}) == ["1", "2"]
    # a list of plain values stays one field
    assert present.detail_fields({"columns": ["a", "b"]}, ZH, TZ) == [("字段", "a、b")]


def test_a_grades_reasons_read_in_the_readers_language() -> None:
    """As ``catalog.set_grade`` records them: the grading module's reasons (kind, params, the
    English text of the scan contract), and a reason a person wrote as a string."""
    details = {"grade": "general-1", "reasons": [
        {"level": "general-1", "kind": "dataset_default", "text": "no column holds sensitive "
         "data → general-1 (default of scheme national)",
         "params": {"level": "general-1", "scheme": "national"}},
        {"level": "general-1", "kind": "confirmed", "text": "confirmed: 核对无误",
         "params": {"level": "general-1", "note": "核对无误"}}]}
    zh = dict(present.detail_fields(details, ZH, TZ))
    assert zh["原因 · 1"].startswith("没有字段含敏感数据 → 一般数据（1级）")
    assert zh["原因 · 2"] == "数据管理员确认 一般数据（1级）：核对无误"
    en = present.details_text(details, EN, TZ)
    assert "No column holds sensitive data" in en and "general-1 (default" not in en
    # written before reasons had a kind: the text as it was recorded
    old = {"reasons": ["no sensitive data detected → general-1"]}
    assert present.detail_fields(old, ZH, TZ) == [("原因", "no sensitive data detected → "
                                                   "general-1")]


def test_details_text_has_no_json() -> None:
    text = present.details_text({"a": {"b": [1, 2]}, "ok": True}, ZH, TZ)
    assert "{" not in text and "[" not in text
    assert "结果正常: 是" in text


@pytest.mark.parametrize(("details", "t", "shown"), [
    ({"reason": "wrong password"}, ZH, [("原因", "密码错误")]),
    ({"reason": "account locked"}, EN, [("Reason", "account locked")]),
    ({"error": "token_revoked"}, ZH, [("错误", "API 令牌已吊销")]),
    ({"reason": "a reason typed by a person"}, ZH, [("原因", "a reason typed by a person")]),
])
def test_recorded_reason_phrases_read_in_the_readers_language(details: Any, t: Any,
                                                              shown: list[tuple[str, str]]) -> None:
    assert present.detail_fields(details, t, TZ) == shown


@pytest.mark.parametrize(("key", "value", "code"), [
    ("sql", "SELECT 1", True),
    ("column", "insurance_type", True),  # a column's or table's name is code, not a word
    ("table", "insurance", True),
    ("before", "compare", False),  # a release level is a word, labelled
    ("target_id", "5b1c7a0e-1b2c-4d3e-8f90-123456789abc", True),
])
def test_code_values_are_shown_as_code(key: str, value: str, code: bool) -> None:
    shown = present.field_value(key, value, ZH, TZ)
    assert getattr(shown, "is_code", False) is code
    assert shown == value if code else shown != value
