"""Search never answers "nothing" when something fits (issue 12 item 6): questions with a word
no entry has (a colloquial 怎么查, a word of the user's own), government abbreviations and
compounds (人社, 医保, 公积金, 低保 …, ``catalog/data/search_abbreviations.yaml``) find the
intended demo entry among the first three; a weak result offers "did you mean" and related
entries. Runs on SQLite and, with GONGSHU_TEST_DATABASE_URL, on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from gongshu.catalog import demo
from gongshu.catalog.search import service as search
from gongshu.catalog.search import text as catalog_text
from gongshu.catalog.search.service import SearchFilters
from support import web_login

#: demo entries (catalog/data/demo_catalog.yaml) published by the test, by department match
DEPARTMENTS = {"人力资源": "province.hr", "医疗保障": "province.health",
               "市场监督": "province.health", "民政": "province.health",
               "自然资源": "province.health", "公安": "province.health",
               "住房和城乡建设": "province.health", "教育": "province.health"}


@pytest.fixture
def demo_catalog(catalog_ops: Any, people: Any, make_user: Any) -> dict[str, Any]:
    """The demo catalog's entries of eight departments, published (name → entry id)."""
    editors = {"province.hr": people.editor.actor,
               "province.health": make_user("health.editor", "catalog_editor",
                                            "province.health").actor}
    ids: dict[str, Any] = {}
    for department in demo.templates()["departments"]:
        org = DEPARTMENTS.get(department["match"])
        if org is None:
            continue
        for resource in department["resources"]:
            kind, subject = resource["kind"].split("/")
            ids[resource["name"]] = catalog_ops.publish(
                editors[org], people.reviewer.actor, org, **{
                    "name": resource["name"], "summary": resource["summary"],
                    "keywords": resource.get("keywords", []),
                    "category": {"resource_kind": kind, "subject": subject, "group": "001"},
                    "secrecy": "unclassified"})
    return ids


#: (what a person types, the entry meant)
QUESTIONS = [
    # a colloquial suffix or a word of the user's own beside the words that fit
    ("社保怎么查", "社会保险参保信息"),
    ("查一下我的社保缴费", "社会保险缴费记录"),
    ("医保报销 结算", "医保结算信息"),
    ("公积金缴存 明细查询", "住房公积金缴存信息"),
    ("低保 申请条件", "最低生活保障对象信息"),
    ("营业执照怎么办", "营业执照信息"),
    ("不动产 房本 登记", "不动产登记信息"),
    ("驾照 有效期 多久", "机动车驾驶证信息"),
    ("结婚证 补办 登记", "婚姻登记信息"),
    ("社保卡 挂失 办理", "社会保障卡发放信息"),
    ("学籍 转学 手续", "学生学籍信息"),
    ("企业 营业执照 变更 流程", "营业执照信息"),
    # abbreviations and compounds
    ("户口迁移", "户籍迁移登记信息"),
    ("人社 就业登记", "就业登记信息"),
    ("教资证书", "教师资格证书信息"),
    ("医保参保", "基本医疗保险参保信息"),
    ("市监 行政处罚", "行政处罚信息"),
    ("住建 商品房预售", "商品房预售许可信息"),
]


@pytest.mark.parametrize(("q", "meant"), QUESTIONS)
def test_the_intended_entry_is_in_the_top_three(demo_catalog: dict[str, Any], catalog_ops: Any,
                                                people: Any, q: str, meant: str) -> None:
    result = catalog_ops.read(search.search, people.outsider.actor, q=q,
                              filters=SearchFilters())
    top = [h.name for h in result.hits[:3]]
    assert meant in top, (q, top, result.terms)


@pytest.mark.parametrize(("q", "whole"), [
    ("人社局就业", "人社局"), ("医保报销", "医保"), ("公积金提取", "公积金"),
    ("低保户申请", "低保"), ("市监局处罚", "市监局"), ("教资认定", "教资"),
    ("住建局预售", "住建局"), ("不动产登记", "不动产登记"),
])
def test_abbreviations_are_not_cut_into_single_characters(q: str, whole: str) -> None:
    terms = catalog_text.query_terms(q)
    assert any(whole in t for t in terms), terms
    assert not any(len(t) == 1 for t in terms), terms


def test_question_fillers_are_left_out() -> None:
    assert catalog_text.query_terms("社保怎么查") == ["社保"]
    assert catalog_text.query_terms("请问 如何 办理 营业执照") == ["办理", "营业执照"]


def test_abbreviations_expand_to_their_full_forms() -> None:
    assert ("人力资源和社会保障",) in catalog_text.expansions("人社")
    assert ("最低生活保障",) in catalog_text.expansions("低保")
    assert ("住房公积金",) in catalog_text.expansions("公积金")


def test_entries_with_every_word_rank_above_those_with_some(
        demo_catalog: dict[str, Any], catalog_ops: Any, people: Any) -> None:
    result = catalog_ops.read(search.search, people.outsider.actor, q="社保 缴费 火星",
                              filters=SearchFilters())
    assert result.hits[0].name == "社会保险缴费记录"
    assert result.relaxed and result.count >= 1
    assert "社保 缴费" in result.suggestions  # did you mean: the known words


def test_a_weak_result_offers_related_entries(demo_catalog: dict[str, Any], catalog_ops: Any,
                                              people: Any) -> None:
    # two words that never occur together: no entry has both
    result = catalog_ops.read(search.search, people.outsider.actor, q="商品房 营业执照",
                              filters=SearchFilters())
    assert result.partial and result.weak
    assert {h.name for h in result.hits[:2]} == {"商品房预售许可信息", "营业执照信息"}
    strong = catalog_ops.read(search.search, people.outsider.actor, q="营业执照",
                              filters=SearchFilters())
    assert not strong.weak and not strong.related and not strong.suggestions


def test_mostly_unknown_words_still_find_nothing(demo_catalog: dict[str, Any],
                                                 catalog_ops: Any, people: Any) -> None:
    result = catalog_ops.read(search.search, people.outsider.actor, q="火星探测数据",
                              filters=SearchFilters())
    assert result.count == 0 and result.hits == []


def test_the_api_and_the_page_show_suggestions(demo_catalog: dict[str, Any], client: Any,
                                               people: Any, token_for: Any) -> None:
    answer = client.get("/api/v1/catalog/search", params={"q": "商品房 营业执照"},
                        headers=token_for(people.outsider)).json()
    assert answer["partial"] is True and answer["weak"] is True
    assert "suggestions" in answer and "related" in answer
    web_login(client, people.outsider.username, people.outsider.password)
    page = client.get("/catalog", params={"q": "社保 缴费 火星"})
    assert page.status_code == 200
    assert "您是不是要找" in page.text and "社保 缴费" in page.text
