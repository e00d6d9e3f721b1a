"""Grade proposals (Art. 10): rules from the packs, thresholds from the scheme, reasons."""

from __future__ import annotations

import pytest

from gongshu.grading.detectors import ColumnDetections
from gongshu.grading.proposal import load_scheme, propose, propose_column, scheme_from_data
from gongshu.grading.vocab import DETECTOR_TYPES, read_yaml


def column(name: str, nonempty: int = 100, hinted: frozenset[str] | None = None,
           **counts: int) -> ColumnDetections:
    from gongshu.grading.vocab import load_vocab

    full = dict.fromkeys(DETECTOR_TYPES, 0) | counts
    hints = load_vocab().hinted_types(name) if hinted is None else hinted
    return ColumnDetections(name, nonempty, nonempty, full, hints)


@pytest.mark.parametrize(("col", "level", "rule"), [
    (column("身份证号", cn_id=98), "general-4", "pi.cn_id"),
    (column("备注", cn_id=10), "general-4", "pi.cn_id"),  # 10% >= 5%
    (column("备注", cn_id=3), "general-1", None),  # 3% < 5% without a hint
    (column("身份证号", cn_id=3), "general-4", "pi.cn_id"),  # with a hint 1% is enough
    (column("联系电话", cn_mobile=60, cn_landline=30), "general-3", "pi.mobile"),
    (column("卡号", bank_card=100), "general-4", "pi.bank_card"),
    (column("类别", person_name=40), "general-1", None),  # weak type, no hint: needs 50%
    (column("类别", person_name=80), "general-3", "pi.person_name"),
    (column("姓名", person_name=40), "general-3", "pi.person_name"),
    (column("单位代码", uscc=100), "general-2", "pi.uscc"),
    (column("诊断结果"), "general-4", "pi.health_column"),
    (column("金额"), "general-1", None),
])
def test_column_levels(col: ColumnDetections, level: str, rule: str | None) -> None:
    proposal = propose_column(col)
    assert proposal.level.id == level
    rules = [r.rule for r in proposal.reasons if r.rule]
    if rule:
        assert rules[0] == rule
    else:
        assert rules == []
    assert proposal.reasons, "every proposal says why"


def test_reasons_name_detector_share_and_rule() -> None:
    proposal = propose_column(column("身份证号", cn_id=98))
    text = proposal.reason_texts[0]
    assert "cn_id" in text and "98.0%" in text and "(98/100)" in text and "pi.cn_id" in text
    assert "column name agrees" in text


def test_uncounted_detections_are_explained() -> None:
    texts = propose_column(column("备注", cn_id=3)).reason_texts
    assert any("not counted" in t and "cn_id" in t for t in texts)


def test_dataset_takes_the_highest_column_and_dataset_rules() -> None:
    cols = [column("姓名", person_name=100), column("身份证号", cn_id=100), column("金额")]
    proposal = propose(cols, rows=100)
    assert proposal.level.id == "general-4"
    assert [c.level.id for c in proposal.columns] == ["general-3", "general-4", "general-1"]
    assert any(r.rule == "pi.identifiable_combination" for r in proposal.reasons)
    big = propose(cols, rows=1_000_000)
    assert big.level.id == "important"
    assert big.reasons[0].rule == "ps.mass_personal_information"


def test_classification_rules() -> None:
    proposal = propose([column("金额")], rows=10, classification="基础信息/人口")
    assert proposal.level.id == "general-3"
    assert proposal.reasons[0].rule == "ps.population_base"
    assert propose([column("金额")], rows=10).level.id == "general-1"


def test_thresholds_are_settings_of_the_scheme() -> None:
    data = read_yaml("schemes/national.yaml")
    data["settings"] = dict(data["settings"], min_ratio=0.5)
    strict = scheme_from_data(data, [read_yaml("rules/personal_information.yaml")])
    assert propose_column(column("备注", cn_id=10), scheme=strict).level.id == "general-1"
    assert propose_column(column("备注", cn_id=10)).level.id == "general-4"


def test_another_scheme_replaces_the_national_one() -> None:
    three = {
        "id": "three-levels", "default_level": "low",
        "levels": [{"id": "low", "rank": 1}, {"id": "mid", "rank": 2}, {"id": "high", "rank": 3}],
        "settings": {"min_ratio": 0.1},
    }
    pack = {"pack": "sector", "rules": [
        {"id": "s.id", "when": {"detector": "cn_id"}, "level": "high", "reason": "ID numbers"},
        {"id": "s.phone", "when": {"column": "电话"}, "level": "mid", "reason": "phones"},
    ]}
    scheme = scheme_from_data(three, [pack])
    assert propose_column(column("x", cn_id=50), scheme=scheme).level.id == "high"
    assert propose_column(column("联系电话"), scheme=scheme).level.id == "mid"
    assert propose_column(column("x"), scheme=scheme).level.id == "low"


def test_rule_packs_are_checked() -> None:
    base = {"id": "s", "levels": [{"id": "low", "rank": 1}]}
    with pytest.raises(ValueError, match="unknown detector"):
        scheme_from_data(base, [{"rules": [{"id": "r", "when": {"detector": "ssn"},
                                            "level": "low", "reason": "?"}]}])
    with pytest.raises(KeyError):
        scheme_from_data(base, [{"rules": [{"id": "r", "when": {"detector": "cn_id"},
                                            "level": "secret", "reason": "?"}]}])


def test_national_scheme_levels_and_sources() -> None:
    scheme = load_scheme()
    assert [lv.id for lv in scheme.levels] == ["general-1", "general-2", "general-3", "general-4",
                                              "important", "core"]
    assert all(lv.source for lv in scheme.levels)
    assert all("[GK]" in lv.source or "[V]" in lv.source for lv in scheme.levels)
    ids = [r.id for r in scheme.rules]
    assert len(ids) == len(set(ids)), "rule ids are unique"
    assert all(r.reason for r in scheme.rules)
