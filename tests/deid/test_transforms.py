"""The de-identification transforms (Art. 16): tables of cases, and properties."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gongshu.core.errors import ValidationFailed
from gongshu.deid import risk, transforms
from gongshu.deid.transforms import parse_profile

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))


def run(fn: Any, values: list[str | None], **params: Any) -> list[str | None]:
    return fn(pa.array(values, pa.string()), **params).to_pylist()


@pytest.mark.parametrize(("value", "mtype", "expected"), [
    ("110105198507090028", "id_number", "110105********0028"),
    ("14010519850709002X", "id_number", "140105********002X"),
    ("张三丰", "name", "张**"),
    ("张三", "name", "张*"),
    ("欧阳娜娜", "name", "欧***"),
    ("13812345678", "mobile", "138****5678"),
    ("山西省太原市小店区体育路123号", "address", "山西省太原市小店区****"),
    ("迎泽大街1号", "address", "迎泽大****"),  # no 区/县/市: first 6 at most, half of a short one
    ("abc", "generic", "a*c"),
    ("ab", "generic", "a*"),  # too short to keep both ends: at most half, at the start
    ("a", "generic", "*"),
    ("", "generic", ""),
    (None, "id_number", None),
])
def test_mask_by_type(value: str | None, mtype: str, expected: str | None) -> None:
    first, last = transforms.MASK_TYPES[mtype]
    assert run(transforms.mask, [value], first=first, last=last, type=mtype) == [expected]


@pytest.mark.parametrize(("value", "length", "expected"), [
    ("山西省太原市小店区", 6, "山西省太原市"), ("abc", 6, "abc"), ("abc", 0, ""), (None, 3, None)])
def test_truncate(value: str | None, length: int, expected: str | None) -> None:
    assert run(transforms.truncate, [value], length=length) == [expected]


@pytest.mark.parametrize(("value", "to", "expected"), [
    ("1985-07-09", "month", "1985-07"),
    ("19850709", "month", "1985-07"),
    ("1985/7/9", "month", "1985-07"),
    ("1985年7月9日", "month", "1985-07"),
    ("1985-07-09 08:30:00", "month", "1985-07"),
    ("1985-07-09", "year", "1985"),
    ("1985-07-09", "band5", "1985-1989"),
    ("1990-01-01", "band5", "1990-1994"),
    ("1989-12-31", "band10", "1980-1989"),
    ("1985-13-01", "month", None),
    ("不详", "year", None),
    (None, "year", None),
])
def test_date_generalisation(value: str | None, to: str, expected: str | None) -> None:
    assert run(transforms.dates, [value], to=to) == [expected]


@pytest.mark.parametrize(("code", "to", "output", "expected"), [
    ("140105", "county", "code", "140105"),  # 小店区
    ("140105", "city", "code", "140100"),  # → 太原市
    ("140105", "province", "code", "140000"),  # → 山西省
    ("140105", "county", "name", "小店区"),
    ("140105", "city", "name", "太原市"),
    ("140105", "province", "name", "山西省"),
    ("140781", "city", "name", "晋中市"),  # 介休市, a county-level city of 晋中
    ("140802", "city", "name", "运城市"),  # 盐湖区
    ("140100", "city", "code", "140100"),  # already a city
    ("140100", "county", "code", "140100"),  # never made finer
    ("140000", "city", "name", "山西省"),
    ("110105", "city", "code", "110100"),  # another province: by its prefix
    ("140105001001", "city", "code", "140100"),  # a 12-digit statistical code: first 6
    ("abc", "city", "code", None),
    (None, "city", "code", None),
])
def test_region_generalisation(code: str | None, to: str, output: str,
                               expected: str | None) -> None:
    assert run(transforms.region, [code], to=to, output=output) == [expected]


@pytest.mark.parametrize(("id_number", "to", "output", "expected"), [
    ("14010519850709002X", "county", "name", "小店区"),
    ("14010519850709002X", "city", "code", "140100"),
    ("140781199001011234", "city", "name", "晋中市"),
    ("140781199001011234", "province", "name", "山西省"),
])
def test_id_number_region(id_number: str, to: str, output: str, expected: str) -> None:
    assert run(transforms.id_region, [id_number], to=to, output=output) == [expected]


def test_pseudonyms_deterministic_per_key_and_different_across_keys() -> None:
    values = ["110105198507090028", "110105198507090028", "张三", None]
    a1 = run(transforms.pseudonyms, values, key=KEY_A)
    a2 = run(transforms.pseudonyms, values, key=KEY_A)
    b = run(transforms.pseudonyms, values, key=KEY_B)
    assert a1 == a2
    assert a1[0] == a1[1] and a1[0] != a1[2] and a1[3] is None
    assert len(a1[0]) == 32 and int(a1[0], 16) >= 0
    assert all(x != y for x, y in zip(a1[:3], b[:3], strict=True))
    # the pseudonym is SM3-HMAC itself, not a hash of the value
    from cryptography.hazmat.primitives import hashes, hmac
    h = hmac.HMAC(KEY_A, hashes.SM3())
    h.update("张三".encode())
    assert a1[2] == h.finalize().hex()[:32]
    assert run(transforms.pseudonyms, ["x"], key=KEY_A, length=16, prefix="P")[0].startswith("P")
    with pytest.raises(ValueError):
        transforms.pseudonyms(pa.array(["x"]), key=b"short")


@pytest.mark.parametrize(("values", "params", "expected"), [
    (["3456.7", "12", "-1", "x", None], {"width": 1000}, ["3000-4000", "0-1000", "-1000-0", None, None]),
    (["2.5", "7.5"], {"width": 2.5}, ["2.5-5", "7.5-10"]),
    (["-5", "0", "2999.99", "3000", "8000", "12000"], {"edges": [0, 3000, 8000]},
     ["<0", "0-3000", "0-3000", "3000-8000", ">=8000", ">=8000"]),
])
def test_bucket(values: list[str | None], params: dict[str, Any],
                expected: list[str | None]) -> None:
    assert run(transforms.bucket, values, **params) == expected


def test_bucket_typed_numbers() -> None:
    assert transforms.bucket(pa.array([1, 15, None]), width=10).to_pylist() == \
        ["0-10", "10-20", None]


def test_rare_values_become_missing() -> None:
    assert run(transforms.rare, ["a", "a", "b", "c", "c", None], min_count=2) == \
        ["a", "a", None, "c", "c", None]


def test_apply_profile_columns_and_suppression() -> None:
    table = pa.table({"姓名": ["张三", "李四", "王五", "赵六"],
                      "性别": ["男", "男", "男", "女"],
                      "区县": ["140105", "140106", "140107", "140781"],
                      "备注": ["a", "b", "c", "d"]})
    profile = parse_profile({"columns": {"姓名": "pseudonym",
                                         "区县": {"transform": "region", "to": "city"}},
                             "quasi_identifiers": ["性别", "区县"], "thresholds": {"k": 2},
                             "suppress": "drop"})
    out = transforms.apply_profile(table, profile, key=KEY_A)
    assert out.column_names == ["姓名", "性别", "区县"]  # 备注 unlisted: left out
    assert out.num_rows == 3  # the woman of 晋中 alone in her class: left out
    assert set(out.column("区县").to_pylist()) == {"140100"}
    blank = transforms.apply_profile(table, parse_profile(
        {**profile.as_dict(), "suppress": "blank", "unlisted": "keep"}), key=KEY_A)
    assert blank.num_rows == 4 and blank.column_names[-1] == "备注"
    assert blank.column("性别").to_pylist()[3] is None
    with pytest.raises(ValueError):
        transforms.apply_profile(table, profile)  # pseudonyms need a key


@pytest.mark.parametrize(("spec", "fields"), [
    ({}, {"quasi_identifiers"}),
    ({"quasi_identifiers": ["a"], "columns": {"a": "drop"}}, {"columns.a"}),
    ({"quasi_identifiers": ["a"], "columns": {"b": "explode"}}, {"columns.b.transform"}),
    ({"quasi_identifiers": ["a"], "columns": {"b": {"transform": "bucket", "edges": [3, 1]}}},
     {"columns.b.edges"}),
    ({"quasi_identifiers": ["a"], "columns": {"b": {"transform": "bucket", "width": 0}}},
     {"columns.b.width"}),
    ({"quasi_identifiers": ["a"], "columns": {"b": {"transform": "date", "to": "week"}}},
     {"columns.b.to"}),
    ({"quasi_identifiers": ["a"], "thresholds": {"k": 0, "max_risk": 2}},
     {"thresholds.k", "thresholds.max_risk"}),
    ({"quasi_identifiers": ["a"], "sensitive": "a"}, {"sensitive"}),
    ({"quasi_identifiers": ["a", "zz"]}, {"columns.zz"}),  # not among the columns
    ({"quasi_identifiers": ["a"], "suppress": "maybe"}, {"suppress"}),
])
def test_profile_errors_all_at_once(spec: dict[str, Any], fields: set[str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_profile(spec, columns=["a", "b"])
    assert {e.field for e in caught.value.errors} == fields


def test_profile_round_trips() -> None:
    spec = {"columns": {"b": {"transform": "mask", "type": "mobile"}}, "quasi_identifiers": "a",
            "thresholds": {"k": "5", "l": 2, "max_risk": "0.2"}}
    profile = parse_profile(spec, columns=["a", "b"])
    assert profile.thresholds == transforms.Thresholds(5, 2, 0.2)
    assert profile.rule("b") == transforms.ColumnRule("b", "mask", {"type": "mobile", "first": 3,
                                                                    "last": 4, "char": "*"})
    assert parse_profile(profile.as_dict()) == profile


# ------------------------------------------------------------------------------ properties

text = st.one_of(st.none(), st.text(alphabet="abc12", max_size=3))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["1985-07-09", "1985-08-01", "1990-01-02",
                                           "1993-05-05", "x", None]),
                          st.sampled_from(["140105", "140106", "140781", "140802", None])),
                min_size=1, max_size=60),
       st.sampled_from(["month", "year", "band5", "band10"]),
       st.sampled_from(["county", "city", "province"]))
def test_generalising_never_increases_classes(rows: list[tuple[Any, Any]], date_to: str,
                                             region_to: str) -> None:
    table = pa.table({"d": pa.array([r[0] for r in rows], pa.string()),
                      "r": pa.array([r[1] for r in rows], pa.string())})
    before = risk.assess(table, ["d", "r"])
    # a date that is not one is missing both before (its own value) and after
    general = pa.table({"d": transforms.dates(table.column("d"), to=date_to),
                        "r": transforms.region(table.column("r"), to=region_to)})
    coarser = pa.table({"d": transforms.dates(general.column("d").fill_null("x"), to="band10"),
                        "r": transforms.region(general.column("r"), to="province")})
    after = risk.assess(general, ["d", "r"])
    assert after.classes <= before.classes and after.k >= before.k
    assert risk.assess(coarser, ["d", "r"]).classes <= after.classes


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=20), min_size=1, max_size=200, unique=True))
def test_pseudonyms_injective_on_distinct_inputs(values: list[str]) -> None:
    out = transforms.pseudonyms(pa.array(values, pa.string()), key=KEY_A).to_pylist()
    assert len(set(out)) == len(values)


@settings(max_examples=40, deadline=None)
@given(st.lists(text, min_size=1, max_size=50), st.integers(0, 5), st.integers(0, 5))
def test_mask_keeps_length_and_ends(values: list[str | None], first: int, last: int) -> None:
    out = run(transforms.mask, values, first=first, last=last)
    for v, m in zip(values, out, strict=True):
        if v is None:
            assert m is None
            continue
        assert m is not None and len(m) == len(v)
        if len(v) > first + last:
            assert m[:first] == v[:first] and (last == 0 or m[-last:] == v[-last:])
            assert m[first:len(v) - last] == "*" * (len(v) - first - last)
