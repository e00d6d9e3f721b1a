"""Resource codes 前段码/后段码: shape, validation and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gongshu.catalog.codes import (
    SEQ_MAX,
    InvalidResourceCode,
    ResourceCode,
    format_code,
    front_segment,
    is_resource_code,
    normalize_code,
    parse_code,
    split_front,
)


def test_the_guides_example_parses() -> None:
    code = parse_code("112461465423/798456")
    assert code == ResourceCode("1", "12", "461", "465423", 798456)
    assert code.resource_kind == "base"
    assert code.front == "112461465423"
    assert str(code) == "112461465423/798456"


@pytest.mark.parametrize(
    ("args", "front"),
    [
        (("base", "01", "001"), "101001"),
        (("1", "01", "001", None), "101001"),
        (("theme", "03", "120", "07"), "203120" + "07"),
        (("department", "07", "014", "000123"), "307014000123"),
    ],
)
def test_front_segment(args: tuple[str, ...], front: str) -> None:
    assert front_segment(*args) == front


@pytest.mark.parametrize(
    "args",
    [
        ("sector", "01", "001"),  # not a resource kind
        ("4", "01", "001"),  # not a 类
        ("base", "1", "001"),  # 项 too short
        ("base", "001", "01"),  # widths swapped
        ("base", "0a", "001"),
        ("base", "01", "0001"),
        ("base", "01", "001", "1234567"),  # 细目 too long
        ("base", "01", "001", "12x"),
        ("base", "٠١", "001"),  # Arabic-Indic digits are not ASCII digits
    ],
)
def test_front_segment_rejects(args: tuple[str, ...]) -> None:
    with pytest.raises(InvalidResourceCode):
        front_segment(*args)


@pytest.mark.parametrize(
    ("front", "seq", "code"),
    [
        ("101001", 1, "101001/000001"),
        ("203120", 798456, "203120/798456"),
        ("203120", 1234567, "203120/1234567"),
        ("307014000123", 42, "307014000123/000042"),
    ],
)
def test_format_code(front: str, seq: int, code: str) -> None:
    assert format_code(front, seq) == code


@pytest.mark.parametrize(
    ("front", "seq"),
    [
        ("101001", 0),
        ("101001", -1),
        ("101001", SEQ_MAX + 1),
        ("101001", True),
        ("10100", 1),
        ("401001", 1),
        ("101001", 1.0),
    ],
)
def test_format_code_rejects(front: str, seq: int) -> None:
    with pytest.raises(InvalidResourceCode):
        format_code(front, seq)


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("101001/1", "101001/000001"),
        ("101001 ／ 000001", "101001/000001"),
        (" 203120/798456 ", "203120/798456"),
    ],
)
def test_normalize_code(typed: str, canonical: str) -> None:
    assert normalize_code(typed) == canonical


@pytest.mark.parametrize(
    "text",
    [
        "",
        "101001",
        "101001/",
        "/000001",
        "101001/000000",
        "10100/000001",
        "401001/000001",
        "1010011234567/000001",
        "101001/0000000000001",
        "101001-000001",
        "101001\n/000001",
        "abc/def",
        None,
    ],
)
def test_parse_rejects(text: str) -> None:
    assert not is_resource_code(text)
    with pytest.raises(InvalidResourceCode):
        parse_code(text)


def test_split_front() -> None:
    assert split_front("203120") == ("2", "03", "120", "")
    with pytest.raises(InvalidResourceCode):
        split_front("903120")


fronts = st.builds(
    front_segment,
    st.sampled_from(["base", "theme", "department", "1", "2", "3"]),
    st.from_regex(r"\A[0-9]{2}\Z"),
    st.from_regex(r"\A[0-9]{3}\Z"),
    st.one_of(st.none(), st.from_regex(r"\A[0-9]{0,6}\Z")),
)


@given(fronts, st.integers(min_value=1, max_value=SEQ_MAX))
def test_round_trip_front_and_sequence(front: str, seq: int) -> None:
    code = format_code(front, seq)
    parsed = parse_code(code)
    assert (parsed.front, parsed.seq) == (front, seq)
    assert str(parsed) == code == normalize_code(code)
    assert split_front(front) == (parsed.class_code, parsed.subject, parsed.group, parsed.subgroup)


@given(st.text(max_size=30))
def test_parse_never_fails_unexpectedly(text: str) -> None:
    try:
        parsed = parse_code(text)
    except InvalidResourceCode:
        return
    assert normalize_code(str(parsed)) == str(parsed)
