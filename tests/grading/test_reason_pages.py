"""The grading and library pages show a stored scan's reasons in the reader's language; a scan
stored before reasons had a kind shows its (English) text."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import flag_modified

from gongshu.grading.models import GradingScan, GradingScanColumn
from library.data import register_rows, write_file
from support import csrf_of, web_login

ROWS = register_rows(30)


def text_of(page: str, element_id: str) -> str:
    """The text inside the element with this id (tags dropped, entities decoded)."""
    tag = re.search(rf'<(\w+)[^>]*id="{element_id}"', page)
    assert tag, element_id
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</{tag.group(1)}>', page, re.S)
    assert found, element_id
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1)))


def test_reasons_on_the_pages_in_both_languages(runtime: Any, client: Any, entry: Any,
                                                people: Any, run_ingest: Any,
                                                tmp_path: Path) -> None:
    done = run_ingest(people.steward.actor, entry, write_file(tmp_path / "people.csv", ROWS))
    assert done.status == "succeeded", done.error
    web_login(client, people.steward.username, people.steward.password)

    zh = client.get(f"/grading/entries/{entry.id}").text
    columns = text_of(zh, "scan-columns")
    assert "公民身份号码：非空值中 100.0% 命中（30/30），列名相符 → 一般数据（4级），依据规则：" \
        "公民身份号码属于敏感个人信息" in columns
    assert "列名“月收入” → 一般数据（4级），依据规则：列名表明为个人收入" in columns
    assert "of non-empty values" not in columns  # no English in the Chinese page
    proposal = text_of(zh, "proposal-reasons")
    assert "字段“公民身份号码” → 一般数据（4级），依据规则：公民身份号码属于敏感个人信息" in proposal
    assert "目录分类“基础信息资源/人口” → 一般数据（3级），依据规则：目录分类为人口基础信息资源" \
        in proposal

    # confirmed, the reasons go onto the catalog entry, and its page says them too
    assert client.post(f"/grading/entries/{entry.id}/decide", data={
        "grade": "general-4", "reason": "与方案一致", "csrf_token": csrf_of(zh)},
        follow_redirects=False).status_code in (303, 302)
    catalog_page = client.get(f"/catalog/{entry.id}").text
    assert "字段“公民身份号码” → 一般数据（4级），依据规则：公民身份号码属于敏感个人信息" in catalog_page
    assert "数据管理员确认 一般数据（4级）：与方案一致" in catalog_page
    assert "by rule" not in catalog_page

    dataset_url = re.search(r'href="(/library/datasets/[0-9a-f-]+)"', zh).group(1)  # type: ignore[union-attr]
    library_zh = text_of(client.get(dataset_url).text, "proposal-reasons")
    assert "数据集整体 → 一般数据（4级），依据规则：姓名与身份证号同时出现" in library_zh
    panel = text_of(client.get(f"/library/entries/{entry.id}/panel").text, "proposal-reasons")
    assert "字段“公民身份号码” → 一般数据（4级），依据规则：公民身份号码属于敏感个人信息" in panel

    client.get("/lang/en?next=/")
    en = client.get(f"/grading/entries/{entry.id}").text
    columns = text_of(en, "scan-columns")
    assert "Citizen ID number in 100.0% of the non-empty values (30 of 30), and the column " \
        "name agrees → General data, level 4 by the rule: A citizen ID number is " \
        "sensitive personal information" in columns
    assert "Column name “月收入” → General data, level 4 by the rule: The column " \
        "name shows personal income" in columns
    assert "公民身份号码属于" not in columns  # the packs' English reasons
    assert "The dataset as a whole → General data, level 4 by the rule: " \
        "Names and citizen ID numbers together" in text_of(client.get(dataset_url).text, "proposal-reasons")
    catalog_en = client.get(f"/catalog/{entry.id}").text
    assert "Column “公民身份号码” → General data, level 4 (by the rules: A citizen ID" in catalog_en
    assert "Confirmed as General data, level 4 by the data steward: 与方案一致" in catalog_en
    scheme = client.get("/grading/scheme").text
    assert "A citizen ID number is sensitive personal information" in scheme

    # a scan stored before reasons had a kind: its text, as it was
    with runtime.db.transaction() as db:
        scan = db.scalars(sa.select(GradingScan).where(GradingScan.entry_id == entry.id)).one()
        for row in [scan, *scan.columns]:
            row.reasons = [{k: v for k, v in r.items() if k not in ("kind", "params")}
                           for r in row.reasons]
            flag_modified(row, "reasons")
        texts = [r["text"] for r in scan.reasons]
        column_text = db.scalars(sa.select(GradingScanColumn).where(
            GradingScanColumn.scan_id == scan.id, GradingScanColumn.code == "GMSFHM")
        ).one().reasons[0]["text"]
    assert column_text.startswith("cn_id: 100.0% of non-empty values (30/30)")
    for lang in ("en", "zh-CN"):
        client.get(f"/lang/{lang}?next=/")
        page = client.get(f"/grading/entries/{entry.id}").text
        proposal = text_of(page, "proposal-reasons")
        assert all(t in proposal for t in texts)
        assert column_text in text_of(page, "scan-columns")
