"""The fast path (routes, gates, deduplication, faster equivalents) never changes a result: for
every value and every type it finds exactly what the general path (``fast=False``) finds.

Values are built from pieces that exercise every detector and its look-alikes (valid and broken
identifiers, +86 and grouped numbers, decimals, IDs ending in X, cue words, honorifics, division
and street words, plates, stray spaces and control characters), glued in random order.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gongshu.grading import _text as tx
from gongshu.grading.detectors import DETECTOR_TYPES, duplicate_share, find

from . import synth

ID = synth.cn_id()
ID_X = next(i for i in synth.random_ids(200) if i.endswith("X"))
CARD = synth.luhn_complete("622202", 16)
USCC = synth.uscc()

PIECES = [
    ID, ID_X, ID_X.lower(), synth.wrong_check(ID), "110105491231002", CARD, synth.wrong_check(CARD),
    USCC, "91350100M000100Y43", "13812345678", "+86 138 1234 5678", "+86-138-1234-5678",
    "0086 13812345678", "8613812345678", "138-1234-5678", "0351-7654321", "(0351)87654321",
    "13812345678.00", "12345.67", "1,234.5", "-0.000123", "2024-01-01", "12:30:45", "0",
    "1234567", "1234567X", "123456789x", ID[:17], "13812345678", "112.548963",
    "zhang.san@example.com", "a@b", "E12345678", "EH1234567", "DD202401011234567",
    "192.168.1.10", "999.1.1.1", "v1.2.3.4", "2001:db8::1", "fe80::1ff:fe23:4567:890a",
    "37.870612,112.548963", "112.5489", "37.8706 / 112.5489",
    "晋A12345", "晋A·B1234", "晋AD12345", "晋A1234学", "A12345", "京",
    "张三", "欧阳娜娜", "司马相如", "王小明", "李", "公司", "姓名：", "联系人", "申请人", "先生", "女士",
    "山西省", "太原市", "小店区", "体育路", "123", "号", "5栋", "3单元", "东关村3组", "街道", "各市县区",
    "市民", "来电反映", "，", "。", "：", "x", "X", " ", "  ", "\t", "\x1f", "-", "+", ".", "é", "😀",
]
VALUES = st.lists(st.sampled_from(PIECES), max_size=5).map("".join)
HEADERS = st.sampled_from([None, "备注", "身份证号", "经度", "地址", "金额"])


def assert_same(values: pa.Array, header: str | None, **fast: object) -> None:
    reference = find(values, header=header, fast=False)
    quick = find(values, header=header, **fast)
    assert quick.nonempty.tolist() == reference.nonempty.tolist()
    for kind in DETECTOR_TYPES:
        assert quick.mask(kind).tolist() == reference.mask(kind).tolist(), kind
    assert quick.counts() == reference.counts()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(VALUES, st.none()), max_size=30), HEADERS, st.booleans())
def test_fast_path_finds_what_the_general_path_finds(values: list[str | None],
                                                     header: str | None, dedup: bool) -> None:
    assert_same(pa.array(values, type=pa.string()), header, dedup=dedup)


@settings(max_examples=40, deadline=None)
@given(st.lists(VALUES, min_size=2, max_size=20), st.integers(0, 5))
def test_sliced_arrays(values: list[str], start: int) -> None:
    array = pa.array(values, type=pa.large_string()).slice(min(start, len(values) - 1))
    assert_same(array, None, dedup=False)
    assert_same(array, None, dedup=True)


SHAPE_EDGES = [
    # digits around one dot: only with the dot inside are the digits no candidate number
    "13812345678.", ".13812345678", "13812345678.5", "5.13812345678", "-13812345678.50",
    "12345.67", "112.548963", "1.", ".1", "1.2.3", "12.5 ", " 12.5", "1.5X",
    # digits then X: 8-10 characters would be a passport-length word
    "X", "x", "0X", "1234567X", "12345678X", "123456789X", "1234567890X", ID_X, ID_X.lower(),
    ID[:17] + "x", "X" + ID[:17], "12 3X", ID_X + " ", USCC, "1" * 17 + "X",
]


@pytest.mark.parametrize("header", [None, "经度"])
def test_ascii_shapes_at_their_edges(header: str | None) -> None:
    for dedup in (False, True):
        assert_same(pa.array(SHAPE_EDGES * 3, type=pa.string()), header, dedup=dedup)


def test_real_shaped_column_mixes() -> None:
    ids = synth.random_ids(300)
    mixes = [
        ids + [i + "X" for i in ids[:20]] + [ID_X] * 30,  # an ID column with X and look-alikes
        ["13812345678", "+86 139 8765 4321", "无", "", None, "0351-7654321"] * 40,
        [f"{i * 37 % 100000 / 100:.2f}" for i in range(300)] + ["1.2.3.4", "37.87,112.54"],
        ["已办结", f"申请人身份证号{ID}，待审核", "市民王先生来电，联系电话13812345678"] * 50,
        ["山西省太原市小店区体育路123号5栋3单元", "太原市迎泽区柳巷街道", "张三", "司马相如"] * 50,
    ]
    for values in mixes:
        array = pa.array(values, type=pa.string())
        for header in (None, "经度"):
            for dedup in (False, True):
                assert_same(array, header, dedup=dedup)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.sampled_from(["a", "1", " ", "张", "\t", "-", "é", "😀", "X", ".", "@"]),
                        max_size=8), min_size=1, max_size=12), st.booleans())
def test_ink_runs_equal_the_reference(values: list[str], sliced: bool) -> None:
    array = pa.array(values, type=pa.large_string())
    if sliced and len(values) > 1:
        array = array.slice(1)
    strings = tx.Strings.from_arrow(array)
    fast = tx.ink_runs(strings)
    for other in (tx.ink_runs_sparse(strings), tx.runs(strings, tx.INK, join_single_space=True)):
        assert fast.rows.tolist() == other.rows.tolist()
        assert span_bytes(fast) == span_bytes(other)


def span_bytes(spans: tx.Spans) -> list[bytes]:
    s = spans.strings
    return [bytes(s.data[a:b]) for a, b in zip(s.starts, s.ends, strict=True)]


def test_matrix_gathers_spans_anywhere() -> None:
    data = np.frombuffer(b"0123456789abcdefghij", dtype=np.uint8)
    starts = np.array([3, 0, 10, 15], dtype=np.int64)
    strings = tx.Strings(data, starts, starts + 5)
    assert [bytes(r) for r in strings.matrix(5)] == [b"34567", b"01234", b"abcde", b"fghij"]


@pytest.mark.parametrize(("values", "worth"), [
    ([f"{i:018d}" for i in range(20_000)], False),  # all distinct
    (["已办结", "无"] * 5_000 + [str(i) for i in range(10_000)], True),  # boilerplate + unique
    ([f"张{chr(0x4E00 + i % 3000)}" for i in range(20_000)], True),  # each repeated a little
])
def test_duplicate_share_sees_repetition(values: list[str], worth: bool) -> None:
    assert (duplicate_share(pa.array(values)) >= 0.3) is worth


def test_dedup_counts_every_row() -> None:
    values = pa.array(["13812345678", None, "13812345678", "", "张三", "张三", "张三"])
    found = find(values, dedup=True)
    assert found.counts().counts["cn_mobile"] == 2
    assert found.counts().counts["person_name"] == 3
    assert found.counts().nonempty == 5
    assert found.mask("person_name").tolist() == [False] * 4 + [True] * 3


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=400),
       st.lists(st.tuples(st.integers(0, 399), st.integers(0, 8)), max_size=150))
def test_spans_to_arrow_and_compact(data: bytes, spans: list[tuple[int, int]]) -> None:
    ascii_bytes = np.frombuffer(bytes(b & 0x7F for b in data), dtype=np.uint8)  # valid UTF-8
    starts = np.array([min(s, len(data)) for s, _ in spans], dtype=np.int64)
    ends = np.minimum(starts + np.array([w for _, w in spans], dtype=np.int64), len(data))
    ordered = np.argsort(starts, kind="stable")
    apart = ordered[np.concatenate(([True], starts[ordered][1:] >= ends[ordered][:-1]))[
        : len(ordered)]]
    for order in (np.arange(len(starts)), ordered, apart):  # any order, sorted, sorted apart
        strings = tx.Strings(ascii_bytes, starts[order], ends[order])
        expected = [bytes(ascii_bytes[a:b]) for a, b in zip(strings.starts, strings.ends,
                                                            strict=True)]
        assert strings.to_arrow().to_pylist() == [e.decode() for e in expected]
        data_out, offsets = strings.compact()
        assert [bytes(data_out[a:b]) for a, b in zip(offsets[:-1], offsets[1:],
                                                     strict=True)] == expected


def test_many_spans_in_order_are_taken_by_arrow() -> None:
    data = np.frombuffer(("".join(f"[{i:03d}]" for i in range(200))).encode(), dtype=np.uint8)
    starts = np.arange(200, dtype=np.int64) * 5 + 1
    strings = tx.Strings(data, starts, starts + 3)
    assert strings._taken() is not None
    assert strings.to_arrow().to_pylist() == [f"{i:03d}" for i in range(200)]
    out, offsets = strings.compact()
    assert bytes(out) == "".join(f"{i:03d}" for i in range(200)).encode()
    assert offsets.tolist() == list(range(0, 601, 3))


def _address_full_form() -> str:
    """The address pattern as first written (before its shortest equivalent form)."""
    import re

    from gongshu.grading.vocab import load_vocab

    v = load_vocab()

    def alternation(words: list[str]) -> str:
        return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))

    n, division = v.max_name_chars, alternation(v.division_suffixes)
    street, number = alternation(v.street_words), alternation(v.number_words)
    return (rf"\p{{Han}}{{2,{n}}}?(?:{division})(?:\p{{Han}}{{1,{n}}}?(?:{division}))+"
            rf"|\p{{Han}}{{1,{n}}}?(?:{street})[0-9]{{1,5}}(?:-[0-9]{{1,5}})?(?:{number})")


ADDRESS_PIECES = PIECES + ["山", "西", "省", "区", "市", "路", "街", "1", "12", "-", "号", "栋",
                           "自治区", "特别行政区", "体育", "小区", "胡同", "123456"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(ADDRESS_PIECES), max_size=12).map("".join),
                min_size=1, max_size=30))
def test_address_pattern_answers_as_its_full_form(values: list[str]) -> None:
    import pyarrow.compute as pc

    from gongshu.grading.detectors import patterns
    from gongshu.grading.vocab import load_vocab

    array = pa.array(values, type=pa.large_string())
    short = pc.match_substring_regex(array, patterns(load_vocab()).address)
    full = pc.match_substring_regex(array, _address_full_form())
    assert short.to_pylist() == full.to_pylist()
