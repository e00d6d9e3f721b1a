"""Detector tables: real-shaped values (valid and broken checks, +86 and spaces, values inside
sentences) and look-alikes that must not match (order numbers, amounts, dates, serials)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from gongshu.grading.detectors import (
    DETECTOR_TYPES,
    ColumnScanner,
    detect_values,
    hinted_types,
    match_mask,
)

from . import synth

ID = synth.cn_id()  # 140105198507091237-like, valid
ID_X = next(i for i in synth.random_ids(200) if i.endswith("X"))
CARD16 = synth.luhn_complete("622202", 16)
CARD19 = synth.luhn_complete("6222021234", 19)
USCC = synth.uscc()


def found(value: str | None, header: str | None = None) -> set[str]:
    return {d.type for d in detect_values([value], header=header).detections}


CASES: list[tuple[str, set[str]]] = [
    # citizen ID (GB 11643)
    (ID, {"cn_id"}),
    (ID_X, {"cn_id"}),
    (ID_X.lower(), {"cn_id"}),
    ("11010519491231002X", {"cn_id"}),
    (" 11010519491231002X ", {"cn_id"}),
    ("110105491231002", {"cn_id"}),  # 15-digit, issued before 1999
    (f"申请人身份证号码{ID}，请核对", {"cn_id"}),
    (f"ID:{ID_X}", {"cn_id"}),
    # mobile
    ("13812345678", {"cn_mobile"}),
    ("+86 138 1234 5678", {"cn_mobile"}),
    ("+86-138-1234-5678", {"cn_mobile"}),
    ("0086 13812345678", {"cn_mobile"}),
    ("8613812345678", {"cn_mobile"}),
    ("138-1234-5678", {"cn_mobile"}),
    ("19212345678", {"cn_mobile"}),  # 广电 192
    ("联系电话：13987654321，工作日可拨打", {"cn_mobile"}),
    ("tel: +86 139 8765 4321", {"cn_mobile"}),
    ("手机 13812345678 13987654321", {"cn_mobile"}),
    # landline
    ("0351-7654321", {"cn_landline"}),
    ("(0351)87654321", {"cn_landline"}),
    ("010-87654321", {"cn_landline"}),
    ("03517654321", {"cn_landline"}),
    ("办公电话0351-2345678转", {"cn_landline"}),
    # bank card (Luhn)
    (CARD16, {"bank_card"}),
    (CARD19, {"bank_card"}),
    (" ".join(CARD19[i:i + 4] for i in range(0, 19, 4)), {"bank_card"}),
    (f"工资卡号{CARD19}已登记", {"bank_card"}),
    # unified social credit code (GB 32100)
    (USCC, {"uscc"}),
    ("91350100M000100Y43", {"uscc"}),
    (f"统一社会信用代码：{USCC}", {"uscc"}),
    # email, passport, plate, ip, geo
    ("zhang.san@example.com", {"email"}),
    ("请发送至 li_si+gov@mail.sx.gov.cn 谢谢", {"email"}),
    ("E12345678", {"passport"}),
    ("EH1234567", {"passport"}),
    ("G12345678", {"passport"}),
    ("护照号E87654321", {"passport"}),
    ("晋A12345", {"license_plate"}),
    ("晋A·B1234", {"license_plate"}),
    ("晋AD12345", {"license_plate"}),  # new energy, small car
    ("晋A12345D", {"license_plate"}),  # new energy, large car
    ("晋A1234学", {"license_plate"}),
    ("车辆晋K88888于路口违停", {"license_plate"}),
    ("192.168.1.10", {"ip"}),
    ("访问来源IP:10.0.0.255", {"ip"}),
    ("2001:db8::1", {"ip"}),
    ("fe80::1ff:fe23:4567:890a", {"ip"}),
    ("37.870612,112.548963", {"geo"}),
    ("112.548963, 37.870612", {"geo"}),
    ("定位 37.8706,112.5489 附近", {"geo"}),
    # names and addresses
    ("张三", {"person_name"}),
    ("欧阳娜娜", {"person_name"}),
    ("司马相如", {"person_name"}),
    ("王小明", {"person_name"}),
    ("姓名：李四，年龄40", {"person_name"}),
    ("市民张先生来电反映", {"person_name"}),
    ("山西省太原市小店区体育路123号", {"address"}),
    ("太原市迎泽区柳巷街道", {"address"}),
    ("平遥县古陶镇", {"address"}),
    ("东关村3组", {"address"}),
    ("家住山西省太原市，电话13812345678", {"address", "cn_mobile"}),
    # several in one sentence
    (f"当事人王芳，身份证{ID}，手机13812345678，住太原市小店区体育路5号",
     {"person_name", "cn_id", "cn_mobile", "address"}),
]


@pytest.mark.parametrize(("value", "expected"), CASES)
def test_real_shaped_values(value: str, expected: set[str]) -> None:
    assert found(value) == expected


LOOK_ALIKES: list[str] = [
    synth.wrong_check(ID),  # 18-digit serial with a wrong check character
    synth.wrong_check(ID_X),
    "110105194902301234",  # 30 February
    "990105198507091234",  # region that never existed
    "20240101123456789012",  # order number (20 digits)
    "DD202401011234567",  # order number with letters
    "202401011234567890",  # 18-digit order number starting with a date
    "12345.67",
    "13812345678.00",  # amount with 11 integer digits
    "¥1,234,567.89",
    "-0.000123",
    "2024-01-01",
    "20240101",
    "2024/01/01 12:30:45",
    "2024-01-01T12:30:45+08:00",
    "1700000000",  # unix time
    "1700000000123",  # unix time in ms
    "12345678901",  # 11 digits, unassigned prefix 123
    "10086",
    "0351-1234567",  # subscriber numbers don't start with 1
    synth.wrong_check(CARD16),  # fails Luhn
    "1234567890123456",  # Luhn but no card issuer starts with 1
    synth.wrong_check(USCC),
    "v1.2.3.4.5",
    "999.1.1.1",
    "12:30:45",
    "00:1A:2B:3C:4D:5E",  # MAC address
    "3.1415926",  # a lone decimal is no coordinate
    "A12345",  # plate without province
    "公司",
    "市场监管局发布通知",
    "反映小区道路问题",
    "各市县区",
    "",
    " ",
]


@pytest.mark.parametrize("value", LOOK_ALIKES)
def test_look_alikes_are_not_detected(value: str) -> None:
    assert found(value) == set()


def test_ratio_counts_values_containing_a_match_over_non_empty_values() -> None:
    values = [f"身份证{ID}，电话13812345678", ID, "无", "", None, "  ", "13812345678 13987654321"]
    result = detect_values(values)
    assert result.rows == 7
    assert result.nonempty == 4
    counts = {d.type: (d.count, d.ratio) for d in result.detections}
    assert counts["cn_id"] == (2, 0.5)
    assert counts["cn_mobile"] == (2, 0.5)
    assert [d.type for d in result.detections] == ["cn_id", "cn_mobile"]  # ties: by count, name


def test_detections_sorted_by_ratio() -> None:
    values = ["13812345678", "13812345679", "张三", ID]
    ratios = [d.ratio for d in detect_values(values).detections]
    assert ratios == sorted(ratios, reverse=True)


def test_batches_add_up_to_the_whole_column() -> None:
    values = ([ID, "13812345678", "张三", "山西省太原市小店区体育路1号", "12.5", None] * 50
              + synth.random_ids(100))
    whole = detect_values(values)
    scanner = ColumnScanner("x")
    for start in range(0, len(values), 37):
        scanner.add(pa.array(values[start:start + 37], type=pa.large_string()))
    assert scanner.result().counts == whole.counts
    assert scanner.result().nonempty == whole.nonempty


def test_sliced_and_chunked_arrays() -> None:
    values = pa.chunked_array([["x", ID], ["13812345678", None, "张三"]])
    assert {d.type for d in detect_values(values).detections} == {"cn_id", "cn_mobile",
                                                                  "person_name"}
    sliced = pa.array(["pad", ID, "13812345678", "pad"]).slice(1, 2)
    assert {d.type for d in detect_values(sliced).detections} == {"cn_id", "cn_mobile"}


def test_numeric_columns_are_read_as_their_digits() -> None:
    assert {d.type for d in detect_values(pa.array([13812345678, 13987654321])).detections} == {
        "cn_mobile"}
    assert detect_values(pa.array([dt.date(2024, 1, 1)])).detections == []


def test_adjacent_values_never_merge() -> None:
    # Two ASCII values end to end in the Arrow buffer must not read as one 22-digit number.
    assert detect_values(["13812345678", "13987654321"]).counts["cn_mobile"] == 2
    assert detect_values(["张", "三"]).counts["person_name"] == 0


def test_single_coordinates_need_a_geo_header() -> None:
    values = ["112.548963", "112.551234", "37.870612"]
    assert found_types(values, "经度") == {"geo"}
    assert found_types(values, "lng") == {"geo"}
    assert found_types(values, "单价") == set()


def found_types(values: list[str], header: str) -> set[str]:
    return {d.type for d in detect_values(values, header=header).detections}


@pytest.mark.parametrize(("header", "expected"), [
    ("身份证号", {"cn_id"}),
    ("公民身份号码", {"cn_id"}),
    ("联系电话", {"cn_mobile", "cn_landline"}),
    ("手机号码", {"cn_mobile"}),
    ("姓名", {"person_name"}),
    ("家庭住址", {"address"}),
    ("IP地址", {"ip"}),
    ("client_ip", {"ip"}),
    ("description", set()),  # "ip" inside a word is no hint
    ("金额", set()),
    (None, set()),
])
def test_header_hints(header: str | None, expected: set[str]) -> None:
    assert hinted_types(header) == expected


def test_header_hint_alone_never_detects() -> None:
    assert detect_values(["无", "不详", "-"], header="身份证号").detections == []


def test_match_mask_marks_rows() -> None:
    mask = match_mask(["a", f"x{ID}y", None, ID], "cn_id")
    assert mask.tolist() == [False, True, False, True]
    with pytest.raises(ValueError):
        match_mask(["a"], "ssn")


def test_every_type_has_a_case() -> None:
    covered = set().union(*(expected for _, expected in CASES))
    assert covered == set(DETECTOR_TYPES)
