"""Chinese text for search: which terms a text indexes, and which documents a query finds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gongshu.catalog.search.text import (
    _read_cache,
    index_terms,
    normalize,
    query_terms,
    synonym_groups,
    synonyms,
    warm_up,
)


@pytest.mark.parametrize(
    ("text", "present"),
    [
        # domain words stay whole, and the words inside them are found too
        ("统一社会信用代码", {"统一社会信用代码", "信用", "代码"}),
        ("企业营业执照信息", {"企业", "营业执照", "营业", "执照", "信息"}),
        ("不动产登记簿", {"不动产登记", "不动产", "登记", "登记簿"}),
        ("住房公积金缴存明细", {"住房公积金", "公积金", "缴存", "明细"}),
        # synonyms are stored with the term
        ("社保缴费记录", {"社保", "社会保险", "缴费", "记录"}),
        ("医保结算", {"医保", "医疗保险"}),
        ("户籍人口", {"户籍", "户口", "人口"}),
        # codes and identifiers stay whole (separators removed), with their parts
        ("资源代码 112461465423/798456", {"112461465423798456", "112461465423", "798456"}),
        ("依据 DB14/T 1932-2019", {"db14t", "19322019", "1932", "2019"}),
        ("信用代码 91140100MA0GRXXXX1", {"91140100ma0grxxxx1"}),
        # full-width letters and digits are the half-width ones
        ("ＳＨＡＮＸＩ　２０２４年", {"shanxi", "2024", "年"}),
        ("5G基站", {"5g", "基站"}),
        ("山西省太原市", {"山西省", "太原市", "山西", "太原"}),
    ],
)
def test_index_terms_hold(text: str, present: set[str]) -> None:
    terms = index_terms(text).split(" ")
    assert present <= set(terms), set(terms)
    assert len(terms) == len(set(terms))


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        ("人口的基本信息和户籍", {"的", "和"}),  # stop words
        ("姓名、性别；出生日期（年月日）", {"、", "；", "（", "）", ""}),  # punctuation
        ("The population of Shanxi", {"the", "of"}),
    ],
)
def test_index_terms_drop(text: str, absent: set[str]) -> None:
    assert not absent & set(index_terms(text).split(" "))


@pytest.mark.parametrize(
    ("query", "document"),
    [
        ("社会保险", "城乡居民社保缴费记录"),  # synonym in the document
        ("社保", "社会保险参保信息"),
        ("医疗保险", "医保定点机构"),
        ("户口", "户籍人口基本信息"),
        ("不动产", "不动产登记信息"),  # a word inside a longer domain word
        ("不动产登记", "不动产登记簿查询"),  # across the boundary precise mode drew
        ("王小明", "申请人王小明"),  # a name no dictionary knows
        ("信用代码", "法人统一社会信用代码"),
        ("养老保险参保", "城乡居民养老保险参保信息"),
        ("居民养老", "城乡居民养老保险参保信息"),
        ("营业执照", "个体工商户营业执照"),
        ("112461465423/798456", "资源代码为112461465423/798456的目录"),
        ("１１２４６１４６５４２３／７９８４５６", "112461465423/798456"),
        ("db14/t", "依据DB14/T 1932-2019编制"),
        ("太原 公积金", "太原市住房公积金缴存"),
        ("张三丰", "张三丰"),
    ],
)
def test_query_finds_document(query: str, document: str) -> None:
    terms = query_terms(query)
    assert terms
    assert set(terms) <= set(index_terms(document).split(" "))


@pytest.mark.parametrize(
    ("query", "document"),
    [
        ("医疗保险", "社会保险参保信息"),
        ("公积金", "营业执照信息"),
        ("112461465423/798457", "112461465423/798456"),
    ],
)
def test_query_does_not_find_unrelated(query: str, document: str) -> None:
    assert not set(query_terms(query)) <= set(index_terms(document).split(" "))


def test_query_terms_are_not_expanded() -> None:
    assert query_terms("社保 的 公积金") == ["社保", "公积金"]
    assert query_terms("的 和 、 ！") == []
    assert query_terms("") == []
    assert index_terms("") == ""


def test_synonyms() -> None:
    assert synonyms("社保") == {"社会保险"}
    assert synonyms("医疗保险") == {"医保", "基本医疗保险"}
    assert synonyms("天气") == frozenset()
    for group in synonym_groups():
        assert len(group) == len(set(group)) >= 2


def test_normalize() -> None:
    assert normalize("ＡＢＣ１２３，") == "abc123,"


def test_warm_up_reports_the_cache() -> None:
    info = warm_up()
    assert info["words"] > 300_000


def test_damaged_cache_files_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "prefix.bin"
    for content in (b"", b"GSJIEBA1" + b"\x05" * 30, b"not a cache"):
        path.write_bytes(content)
        assert _read_cache(path) is None
    assert _read_cache(tmp_path / "missing.bin") is None


_CHILD = """
import json, socket
def offline(*args, **kwargs):
    raise OSError("no network in this test")
socket.socket.connect = offline
socket.create_connection = offline
socket.getaddrinfo = offline
from gongshu.catalog.search import text
info = text.warm_up()
print(json.dumps({"from_cache": info["from_cache"], "path": info["cache_path"],
                  "terms": text.index_terms("统一社会信用代码与社保的不动产登记")}))
"""


def _start(cache_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "GONGSHU_CACHE_DIR": str(cache_dir)}
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(process: subprocess.Popen[str]) -> dict[str, object]:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Building prefix dict" not in err  # jieba's own start-up chatter is not used
    return json.loads(out)


def test_processes_start_together_offline_and_share_one_cache(tmp_path: Path) -> None:
    together = [_start(tmp_path) for _ in range(3)]
    results = [_result(p) for p in together]
    assert len({r["terms"] for r in results}) == 1  # type: ignore[misc]
    (cache,) = {r["path"] for r in results}
    assert Path(str(cache)).is_file() and Path(str(cache)).parent.parent == tmp_path
    assert not list(Path(str(cache)).parent.glob(".tmp-*"))  # no half-written files left
    again = _result(_start(tmp_path))
    assert again["from_cache"] is True and again["terms"] == results[0]["terms"]
    # a damaged cache is rebuilt, not trusted
    Path(str(cache)).write_bytes(b"GSJIEBA1garbage")
    rebuilt = _result(_start(tmp_path))
    assert rebuilt["from_cache"] is False and rebuilt["terms"] == results[0]["terms"]
    assert _read_cache(Path(str(cache))) is not None
