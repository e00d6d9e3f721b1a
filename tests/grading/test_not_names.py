"""Closed vocabularies that look like names are not names (issue 12 item 7): ethnicities,
political status, education, marital status, relations, place words (grading/data/not_names.yaml),
while real names, including ones that share characters with those words, still are."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gongshu.grading.detectors import ColumnScanner, detect_values
from gongshu.grading.vocab import load_vocab, read_yaml

NOT_NAMES = [
    # ethnicities that start with a surname character (满, 白, 黎, 苗, 水 …)
    "回族", "满族", "汉族", "白族", "黎族", "苗族", "水族", "高山族", "哈尼族", "景颇族", "毛南族",
    "蒙古族", " 满族 ",
    # political status, education, marital status, relations, occupations, places
    "党员", "群众", "高中", "文盲", "离异", "丧偶", "母亲", "岳父", "岳母", "祖父", "祖母", "孙女",
    "养子", "公公", "农民", "居委会", "东城", "常住", "家庭户", "通过",
]
STILL_NAMES = [
    "张三", "王小明", "欧阳娜娜", "司马相如", "满小红", "白雪", "黎明", "苗苗", "高山青",
    "苗建国", "毛南平", "党爱国", "姓名：满族平",
]


@pytest.mark.parametrize("value", NOT_NAMES)
def test_closed_vocabulary_words_are_not_names(value: str) -> None:
    assert detect_values([value]).counts["person_name"] == 0


@pytest.mark.parametrize("value", STILL_NAMES)
def test_names_still_are(value: str) -> None:
    assert detect_values([value]).counts["person_name"] == 1


def test_all_56_ethnicities_are_listed_and_none_is_a_name() -> None:
    ethnicities = [w for w in read_yaml("not_names.yaml")["lists"]["ethnicities"]
                   if w.endswith("族") and not w.endswith("民族")]
    assert len(ethnicities) == 56
    assert detect_values(ethnicities).counts["person_name"] == 0


def test_a_column_of_ethnicities_gives_no_person_name() -> None:
    """Detection ratios of a 民族 column, as a scan sees it (many repeated values, batches)."""
    values = ["汉族"] * 900 + ["回族"] * 50 + ["满族"] * 30 + ["蒙古族"] * 15 + ["白族"] * 5
    scanner = ColumnScanner("民族")
    for start in range(0, len(values), 256):
        scanner.add(pa.array(values[start:start + 256]))
    result = scanner.result()
    assert "person_name" not in {d.type for d in result.detections}


def test_a_mixed_column_counts_only_the_names() -> None:
    counts = detect_values(["张三", "回族", "李四", "高中", None, "满族"]).counts
    assert counts["person_name"] == 2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(sorted(load_vocab().not_names)), min_size=1, max_size=40),
       st.lists(st.sampled_from(STILL_NAMES[:9]), max_size=10))
def test_listed_words_never_count_and_names_always_do(words: list[str], names: list[str]) -> None:
    mixed = words + names
    assert detect_values(mixed).counts["person_name"] == len(names)
