"""The vectorised checks agree with the scalar reference (gongshu.core.identifiers) and with
python-stdnum, on generated numbers (hypothesis)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import luhn as stdnum_luhn
from stdnum.cn import ric, uscc

from gongshu.core import identifiers as ids
from gongshu.grading.detectors import match_mask

from . import synth

HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
regions = st.sampled_from(synth.REGIONS)
births = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date.today())
valid_ids = st.builds(synth.cn_id, regions, births, st.integers(0, 999))


def mutate(value: str, data: st.DataObject, alphabet: str) -> str:
    i = data.draw(st.integers(0, len(value) - 1))
    return value[:i] + data.draw(st.sampled_from(alphabet)) + value[i + 1:]


@settings(max_examples=60, deadline=None)
@given(st.lists(valid_ids, min_size=1, max_size=40), st.data())
def test_cn_id_agrees_with_scalar_and_stdnum(values: list[str], data: st.DataObject) -> None:
    broken = [mutate(v, data, "0123456789X") for v in values]
    batch = values + broken
    vectorised = match_mask(batch, "cn_id").tolist()
    assert vectorised == [ids.is_valid_cn_id(v) for v in batch]
    for value, ours in zip(batch, vectorised, strict=True):
        # stdnum also checks that the county existed in the birth year; we deliberately don't
        # (an ID's region is where it was issued). So stdnum-valid implies valid here.
        if ric.is_valid(value):
            assert ours


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text("0123456789X", min_size=18, max_size=18), min_size=1, max_size=40))
def test_cn_id_random_strings(values: list[str]) -> None:
    assert match_mask(values, "cn_id").tolist() == [ids.is_valid_cn_id(v) for v in values]


ALPHABET = ids.USCC_ALPHABET


@st.composite
def valid_usccs(draw: st.DrawFn) -> str:
    dept = draw(st.sampled_from(sorted(ids.USCC_CATEGORIES)))
    category = draw(st.sampled_from(ids.USCC_CATEGORIES[dept]))
    region = draw(st.text("0123456789", min_size=6, max_size=6))
    body = draw(st.text(ALPHABET, min_size=9, max_size=9))
    return ids.make_uscc(dept + category, region, body)


@settings(max_examples=60, deadline=None)
@given(st.lists(valid_usccs(), min_size=1, max_size=40), st.data())
def test_uscc_agrees_with_scalar_and_stdnum(values: list[str], data: st.DataObject) -> None:
    batch = values + [mutate(v, data, ALPHABET) for v in values]
    vectorised = match_mask(batch, "uscc").tolist()
    for value, ours in zip(batch, vectorised, strict=True):
        scalar = ids.is_valid_uscc(value)
        # An all-digit code that is also a valid ID number is taken as an ID (one type each).
        if ours != scalar:
            assert scalar and ids.is_valid_cn_id(value)
        # stdnum wants eight leading digits and doesn't know the department/category pairs.
        if ours and value[:8].isdigit():
            assert uscc.is_valid(value)
        if uscc.is_valid(value) and value[1] in ids.USCC_CATEGORIES.get(value[0], ""):
            assert scalar


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text("0123456789", min_size=16, max_size=19), min_size=1, max_size=40))
def test_luhn_agrees_with_scalar_and_stdnum(values: list[str]) -> None:
    cards = [("6" + v[1:]) for v in values]  # a plausible issuer, so only Luhn decides
    vectorised = match_mask(cards, "bank_card").tolist()
    expected = [ids.luhn_ok(c) and stdnum_luhn.is_valid(c) and not ids.is_valid_cn_id(c)
                and not ids.is_valid_uscc(c) and not _id_shaped(c) for c in cards]
    assert vectorised == expected


def _id_shaped(value: str) -> bool:
    return len(value) == 18 and ids.is_valid_cn_id(value[:17] + ids.cn_id_check_char(value[:17]))


@settings(max_examples=60, deadline=None)
@given(valid_ids, st.text(HAN, max_size=12), st.text(HAN, max_size=12))
def test_ids_inside_sentences(value: str, before: str, after: str) -> None:
    assert match_mask([before + value + after], "cn_id").tolist() == [True]


prefixes = st.sampled_from(["138", "139", "150", "186", "199", "192", "1340", "1749", "170"])


@settings(max_examples=60, deadline=None)
@given(prefixes, st.text("0123456789", min_size=11, max_size=11),
       st.sampled_from(["", "+86", "+86 ", "0086", "86"]), st.sampled_from(["", " ", "-"]))
def test_mobile_formats(prefix: str, rest: str, country: str, sep: str) -> None:
    number = (prefix + rest)[:11]
    written = country + number[:3] + sep + number[3:7] + sep + number[7:]
    expected = not number.startswith("1749")  # 174 is assigned only as 17400-17405
    assert match_mask([written], "cn_mobile").tolist() == [expected]
