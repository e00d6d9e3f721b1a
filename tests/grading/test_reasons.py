"""Reasons of a grade proposal (Art. 10) for people in their language, and for machines unchanged.

A reason carries a stable ``kind`` and its ``params``; pages render it through the
``grading_reason.<kind>`` messages (Chinese by default, English on request), with detectors by
name, levels by label, shares as percentages and the rule pack's reason in the reader's language.
Its ``text`` stays the English sentence of the ``gongshu scan --json`` contract, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gongshu.core.i18n import LOCALES, Translator, catalog
from gongshu.grading import scan as scan_module
from gongshu.grading.detectors import ColumnDetections
from gongshu.grading.proposal import (
    REASON_KINDS,
    Reason,
    load_scheme,
    propose,
    propose_column,
    scheme_from_data,
)
from gongshu.grading.schemes import build_scheme, list_packs
from gongshu.grading.service import _reason
from gongshu.grading.vocab import DETECTOR_TYPES, read_yaml
from gongshu.web.templating import templates

GOLDEN = Path(__file__).parent / "golden" / "scan_contract.json"
POPULATION = "基础信息资源/人口"


def col(name: str, nonempty: int = 100, hinted: tuple[str, ...] = (), **counts: int
        ) -> ColumnDetections:
    """What the detectors would have found: fixed counts, independent of the detectors."""
    return ColumnDetections(name, nonempty + 20, nonempty,
                            dict.fromkeys(DETECTOR_TYPES, 0) | counts, frozenset(hinted))


def render(reason: Reason | dict[str, Any], locale: str) -> str:
    """A reason through the macro the grading and library pages use."""
    template = templates().env.from_string(
        '{% from "grading/_reasons.html" import reason with context %}{{ reason(r) }}')
    return template.render(r=reason, t=Translator(locale), locale=locale)


def first(reasons: tuple[Reason, ...], kind: str) -> Reason:
    return next(r for r in reasons if r.kind == kind)


def custom_scheme() -> Any:
    """The national levels with a pack that has no English reasons (as a province may write)."""
    pack = {"pack": "local", "rules": [
        {"id": "local.phone", "when": {"column": "电话"}, "level": "general-2",
         "reason": "本地细则：联系电话"}]}
    return scheme_from_data(read_yaml("schemes/national.yaml"), [pack])


# (kind, the reason, its text today, zh-CN for people, en for people)
TABLE: list[tuple[str, Callable[[], Reason], str, str, str]] = [
    ("detected",
     lambda: propose_column(col("身份证号", cn_id=98, hinted=("cn_id",))).reasons[0],
     "cn_id: 98.0% of non-empty values (98/100), column name agrees → general-4 by rule "
     "pi.cn_id: 公民身份号码属于敏感个人信息（个人身份信息，GB/T 35273 附录B）",
     "公民身份号码：非空值中 98.0% 命中（98/100），列名相符 → 一般数据（4级），依据规则：公民身份号码属于敏感个人信息（个人身份信息，GB/T "
     "35273 附录B）",
     "Citizen ID number in 98.0% of the non-empty values (98 of 100), and the column "
     "name agrees → General data, level 4 by the rule: A citizen ID number is "
     "sensitive personal information (personal identity information, GB/T 35273 Annex "
     "B)"),
    # people never read 100 % for a share below it, and big counts have separators
    ("detected",
     lambda: propose_column(col("备注", nonempty=30000, cn_mobile=29999)).reasons[0],
     "cn_mobile: 100.0% of non-empty values (29999/30000) → general-3 by rule pi.mobile: "
     "手机号码可直接识别或联系到个人",
     "手机号码：非空值中 99.9% 命中（29,999/30,000） → 一般数据（3级），依据规则：手机号码可直接识别或联系到个人",
     "Mobile number in 99.9% of the non-empty values (29,999 of 30,000) → General "
     "data, level 3 by the rule: A mobile number identifies or reaches a person "
     "directly"),
    ("below_threshold",
     lambda: first(propose_column(col("备注", cn_id=3)).reasons, "below_threshold"),
     "cn_id: 3.0% of non-empty values (3/100), below the 5.0% needed: not counted",
     "公民身份号码：非空值中 3.0% 命中（3/100），低于计入所需的 5.0%，不计入",
     "Citizen ID number in 3.0% of the non-empty values (3 of 100), below the 5.0% "
     "needed: not counted"),
    ("below_threshold",  # a weak type needs more; 0.29 is not shown as 28.9 %
     lambda: first(propose_column(col("类别", person_name=29)).reasons, "below_threshold"),
     "person_name: 29.0% of non-empty values (29/100), below the 50.0% needed: not counted",
     "姓名：非空值中 29.0% 命中（29/100），低于计入所需的 50.0%，不计入",
     "Person name in 29.0% of the non-empty values (29 of 100), below the 50.0% "
     "needed: not counted"),
    ("column_name",
     lambda: propose_column(col("诊断结果")).reasons[0],
     "column name '诊断结果' → general-4 by rule pi.health_column: 列名表明为个人健康生理信息"
     "（敏感个人信息，GB/T 35273 附录B）",
     "列名“诊断结果” → 一般数据（4级），依据规则：列名表明为个人健康生理信息（敏感个人信息，GB/T 35273 附录B）",
     "Column name “诊断结果” → General data, level 4 by the rule: The column name shows "
     "personal health information (sensitive personal information, GB/T 35273 Annex B)"),
    ("column_name",  # a sector pack, applied by the catalog classification
     lambda: propose_column(col("月收入"),
                            scheme=build_scheme(classification=POPULATION)).reasons[0],
     "column name '月收入' → general-4 by rule ss.income_column: 列名表明为个人收入或社会保险待遇，"
     "属于个人财产信息（敏感个人信息，GB/T 35273 附录B）",
     "列名“月收入” → 一般数据（4级），依据规则：列名表明为个人收入或社会保险待遇，属于个人财产信息（敏感个人信息，GB/T 35273 附录B）",
     "Column name “月收入” → General data, level 4 by the rule: The column name shows "
     "personal income or social insurance benefits, personal property information "
     "(sensitive personal information, GB/T 35273 Annex B)"),
    ("column_name",  # a pack without English reasons: English readers see its own
     lambda: propose_column(col("联系电话"), scheme=custom_scheme()).reasons[0],
     "column name '联系电话' → general-2 by rule local.phone: 本地细则：联系电话",
     "列名“联系电话” → 一般数据（2级），依据规则：本地细则：联系电话",
     "Column name “联系电话” → General data, level 2 by the rule: 本地细则：联系电话"),
    ("default",
     lambda: propose_column(col("金额")).reasons[0],
     "no sensitive data detected → general-1 (default of scheme national)",
     "未识别到敏感数据 → 一般数据（1级），即“国家数据分类分级（GB/T 43697-2024）”方案的默认级别",
     "No sensitive data found → General data, level 1 (the default of the scheme "
     "“National data classification and grading (GB/T 43697-2024)”)"),
    ("dataset_column",
     lambda: propose([col("身份证号", cn_id=98, hinted=("cn_id",))], rows=100).reasons[0],
     "column '身份证号' → general-4 (pi.cn_id)",
     "字段“身份证号” → 一般数据（4级），依据规则：公民身份号码属于敏感个人信息（个人身份信息，GB/T 35273 附录B）",
     "Column “身份证号” → General data, level 4 (by the rules: A citizen ID number is "
     "sensitive personal information (personal identity information, GB/T 35273 Annex "
     "B))"),
    ("dataset_column",  # several rules of the column's level
     lambda: propose([col("联系人", person_name=90, cn_mobile=90)], rows=100).reasons[0],
     "column '联系人' → general-3 (pi.mobile, pi.person_name)",
     "字段“联系人” → 一般数据（3级），依据规则：手机号码可直接识别或联系到个人；姓名可识别特定自然人",
     "Column “联系人” → General data, level 3 (by the rules: A mobile number identifies "
     "or reaches a person directly; A name can identify a particular natural person)"),
    ("dataset_rule",
     lambda: first(propose([col("姓名", person_name=100), col("身份证号", cn_id=100)],
                           rows=100).reasons, "dataset_rule"),
     "dataset → general-4 by rule pi.identifiable_combination: 姓名与身份证号同时出现，可唯一识别自然人",
     "数据集整体 → 一般数据（4级），依据规则：姓名与身份证号同时出现，可唯一识别自然人",
     "The dataset as a whole → General data, level 4 by the rule: Names and citizen ID"
     " numbers together identify natural persons uniquely"),
    ("dataset_rule",
     lambda: propose([col("身份证号", cn_id=100)], rows=1_000_000).reasons[0],
     "dataset → important by rule ps.mass_personal_information: 含100万人以上个人信息的数据集通常应按"
     "重要数据识别（待主管部门确认）",
     "数据集整体 → 重要数据，依据规则：含100万人以上个人信息的数据集通常应按重要数据识别（待主管部门确认）",
     "The dataset as a whole → Important data by the rule: A dataset with personal "
     "information of 1,000,000 people or more should normally be assessed as important"
     " data (for the competent authority to confirm)"),
    ("classification",
     lambda: propose([col("金额")], rows=10, classification=POPULATION).reasons[0],
     "catalog classification '基础信息资源/人口' → general-3 by rule ps.population_base: "
     "目录分类为人口基础信息资源",
     "目录分类“基础信息资源/人口” → 一般数据（3级），依据规则：目录分类为人口基础信息资源",
     "Catalog classification “基础信息资源/人口” → General data, level 3 by the rule: The "
     "catalog classifies the dataset as a basic population resource"),
    ("dataset_default",
     lambda: propose([col("金额")], rows=10).reasons[0],
     "no column holds sensitive data → general-1 (default of scheme national)",
     "没有字段含敏感数据 → 一般数据（1级），即“国家数据分类分级（GB/T 43697-2024）”方案的默认级别",
     "No column holds sensitive data → General data, level 1 (the default of the "
     "scheme “National data classification and grading (GB/T 43697-2024)”)"),
]


@pytest.mark.parametrize(("kind", "make", "text", "zh", "en"), TABLE,
                         ids=[f"{row[0]}-{i}" for i, row in enumerate(TABLE)])
def test_reasons_in_both_languages(kind: str, make: Callable[[], Reason], text: str, zh: str,
                                   en: str) -> None:
    reason = make()
    assert reason.kind == kind
    assert reason.text == text  # the scan contract's sentence, as before
    stored = json.loads(json.dumps(_reason(reason)))  # as a stored scan holds it
    assert stored["kind"] == kind and stored["text"] == text
    for shown in (reason, stored):
        assert render(shown, "zh-CN") == zh
        assert render(shown, "en") == en


def test_every_kind_is_in_the_table_and_has_a_message() -> None:
    assert {row[0] for row in TABLE} == set(REASON_KINDS)
    for locale in LOCALES:
        for kind in REASON_KINDS:
            assert f"grading_reason.{kind}" in catalog(locale), (locale, kind)


def test_a_scan_stored_before_kinds_shows_its_text() -> None:
    old = {"level": "general-4", "text": "cn_id: 100.0% of non-empty values (2/2) → general-4",
           "rule": "pi.cn_id", "detector": "cn_id", "ratio": 1.0, "count": 2}
    for locale in LOCALES:
        assert render(old, locale) == old["text"]
    future = dict(old, kind="no_such_kind", params={"level": "general-4"})
    assert render(future, "zh-CN") == old["text"]


def test_what_people_wrote_is_escaped_once() -> None:
    reason = propose_column(col("诊断<b>&结果")).reasons[0]
    assert render(reason, "en").startswith("Column name “诊断&lt;b&gt;&amp;结果” → ")
    assert render(_reason(reason), "zh-CN").startswith("列名“诊断&lt;b&gt;&amp;结果” → ")


def test_every_built_in_rule_has_an_english_reason() -> None:
    rules = [r for pack in list_packs() for r in pack.rules]
    assert rules and all(r.get("reason_en") for r in rules)
    scheme = load_scheme()
    assert all(r.reason_en for r in scheme.rules)
    # the Chinese reason stays the one the scan contract quotes
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in r.reason) for r in scheme.rules)


def test_stored_params_are_json(tmp_path: Path) -> None:
    proposal = propose([col("身份证号", cn_id=98, hinted=("cn_id",)), col("备注", cn_id=3)],
                       rows=100, classification=POPULATION)
    for reason in [*proposal.reasons, *(r for c in proposal.columns for r in c.reasons)]:
        stored = _reason(reason)
        assert json.loads(json.dumps(stored)) == stored
        assert list(stored)[:6] == ["level", "text", "rule", "detector", "ratio", "count"]
    detected = _reason(proposal.columns[0].reasons[0])["params"]
    assert detected == {"detector": "cn_id", "ratio": 0.98, "count": 98, "nonempty": 100,
                        "hinted": True, "level": "general-4", "rule": "pi.cn_id",
                        "rule_reason": "公民身份号码属于敏感个人信息（个人身份信息，GB/T 35273 附录B）",
                        "rule_reason_en": "A citizen ID number is sensitive personal information "
                                          "(personal identity information, GB/T 35273 Annex B)"}


# ------------------------------------------------------------------ the scan contract


CONTRACT_COLUMNS = [
    col("身份证号", cn_id=98, uscc=1, hinted=("cn_id",)),
    col("备注", nonempty=30000, cn_mobile=29999, cn_id=3),
    col("类别", person_name=40),
    col("诊断结果"),
    col("月收入", nonempty=7),
    col("姓名", person_name=100, hinted=("person_name",)),
    col("金额"),
]


def test_scan_json_is_unchanged_byte_for_byte(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``scan_file(...).to_json()`` as ``gongshu scan --json`` prints it, for detections of every
    reason kind, equals the output recorded before reasons had kinds (golden/scan_contract.json).
    The detectors are replaced by fixed counts, so this checks the proposal and the contract,
    not the detectors."""
    monkeypatch.setattr(scan_module, "scan_batches",
                        lambda batches, names, **kw: (1_000_000, CONTRACT_COLUMNS))
    path = tmp_path / "p.csv"
    path.write_text(",".join(str(c.name) for c in CONTRACT_COLUMNS) + "\n"
                    + ",".join("x" for _ in CONTRACT_COLUMNS) + "\n", encoding="utf-8")
    report = scan_module.scan_file(path, scheme=build_scheme(classification=POPULATION),
                                   classification=POPULATION).to_json()
    report["file"] = "p.csv"
    printed = json.dumps(report, ensure_ascii=False) + "\n"  # as the CLI prints it
    assert printed.encode("utf-8") == GOLDEN.read_bytes()
