"""Check characters of credit codes and ID numbers, held to python-stdnum."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from gongshu.core.identifiers import (
    USCC_ALPHABET,
    cn_id_check_char,
    is_valid_cn_id,
    is_valid_uscc,
    luhn_ok,
    make_uscc,
    uscc_check_char,
)


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("91110000600037341L", True),
        ("91110000600037341l", True),  # case-insensitive
        ("91110000600037341K", False),  # wrong check character
        ("9111000060003734", False),  # too short
        ("9I110000600037341L", False),  # I is not in the alphabet
        ("Z1110000600037341L", False),  # no registration department Z
        ("98110000600037341L", False),  # 9 (business) has no category 8
    ],
)
def test_uscc_table(code: str, valid: bool) -> None:
    assert is_valid_uscc(code) is valid


@given(st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17))
def test_uscc_check_char_agrees_with_stdnum(first17: str) -> None:
    assert uscc.calc_check_digit(first17) == uscc_check_char(first17)


def test_make_uscc_makes_valid_codes() -> None:
    code = make_uscc("11", "140000", "00000000X")
    assert is_valid_uscc(code) and uscc.is_valid(code)


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("11010519491231002X", True),
        ("110105194912310021", False),  # wrong check character
        ("11010519491331002X", False),  # month 13
        ("99010519491231002X", False),  # no region 990105
        ("110105491231002", True),  # legacy 15 digits
        ("11010549123100", False),
    ],
)
def test_cn_id_table(number: str, valid: bool) -> None:
    assert is_valid_cn_id(number) is valid


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_cn_id_check_char_agrees_with_stdnum(first17: str) -> None:
    # stdnum takes the whole 18-character number and ignores its last character
    assert cn_id_check_char(first17) == ric.calc_check_digit(first17 + "0")


def test_region_code_years_are_not_held_against_the_birth_year() -> None:
    """140110 (晋源区) exists since 1997; a person born in 1950 may hold an ID issued there.
    python-stdnum rejects that; we accept it (DESIGN.md, identifiers)."""
    first17 = "14011019500101000"
    number = first17 + cn_id_check_char(first17)
    assert is_valid_cn_id(number)


@pytest.mark.parametrize(("digits", "ok"), [("4111111111111111", True), ("4111111111111112", False),
                                             ("79927398710", False), ("79927398713", True)])
def test_luhn(digits: str, ok: bool) -> None:
    assert luhn_ok(digits) is ok
