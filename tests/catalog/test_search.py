"""Search in Chinese with facets and filters, on both backends, respecting visibility."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from gongshu.catalog import flows, service
from gongshu.catalog.search import service as search
from gongshu.catalog.search.service import SearchFilters

CONDITIONAL = {"type": "conditional", "condition": "仅用于社会保障业务", "legal_basis": "《社会保险法》",
               "method_class": "platform", "method_type": "interface"}


@pytest.fixture
def catalog(catalog_ops: Any, people: Any) -> dict[str, Any]:
    """A few published entries of two bodies, one draft, one revision in review."""
    ops, p = catalog_ops, people
    ids = {
        "social": ops.publish(p.editor.actor, p.reviewer.actor, **{
            "name": "社保缴费记录", "summary": "参保人员的社会保险缴费明细。",
            "category": {"resource_kind": "theme", "subject": "03", "group": "001"},
            "sharing": CONDITIONAL, "update_cycle": "monthly", "keywords": ["养老保险"]}),
        "population": ops.publish(p.editor.actor, p.reviewer.actor, **{
            "name": "常住人口基本信息", "keywords": ["户籍"]}),
        "licence": ops.publish(p.city_editor.actor, p.city_reviewer.actor, "taiyuan.hr", **{
            "name": "企业营业执照信息", "summary": "市场主体登记的营业执照信息。",
            "category": {"resource_kind": "base", "subject": "02", "group": "003"},
            "format": {"format_class": "spreadsheet", "format_type": "xlsx"},
            "update_cycle": "daily", "keywords": ["市场主体"]}),
        "fund": ops.publish(p.city_editor.actor, p.city_reviewer.actor, "taiyuan.hr", **{
            "name": "住房公积金缴存明细", "summary": "职工住房公积金的缴存记录。",
            "category": {"resource_kind": "theme", "subject": "01", "group": "002"},
            "sharing": CONDITIONAL, "update_cycle": "monthly", "keywords": []}),
    }
    ids["draft"] = ops.create(p.editor.actor, name="低保对象名册",
                              summary="最低生活保障对象的名册。", keywords=["救助"],
                              category={"resource_kind": "theme", "subject": "10", "group": "001"})
    ops.run(flows.revise, p.editor.actor, ids["population"])
    ops.run(service.update_entry, p.editor.actor, ids["population"], {
        **_entry_data(ops, p.editor.actor, ids["population"]), "name": "常住人口和流动人口信息"})
    ops.run(flows.submit, p.editor.actor, ids["population"])
    return ids


def _entry_data(ops: Any, actor: Any, entry_id: Any) -> dict[str, Any]:
    with ops.runtime.db.transaction(write=False) as db:
        entry = service.get_entry(actor, db, entry_id)
        return service.version_entry(service.shown_version(actor, entry)).model_dump(mode="json")


def _search(ops: Any, actor: Any, q: str = "", **filters: Any) -> Any:
    return ops.read(search.search, actor, q=q, filters=SearchFilters(**filters))


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("社保", ["social"]),
        ("社会保险", ["social"]),  # a synonym of 社保, in the summary too
        ("养老保险", ["social"]),  # a keyword
        ("营业执照", ["licence"]),
        ("工商执照", ["licence"]),  # synonym
        ("公积金", ["fund"]),
        ("住房公积金 缴存", ["fund"]),
        ("太原 公积金", ["fund"]),  # the provider's name
        ("缴费", ["social"]),
        ("人口", ["population"]),
        ("GMSFHM", ["social", "population", "licence", "fund"]),  # a data item's code
        ("火星探测数据", []),  # two of three words are unknown: no guessing from "数据" alone
    ],
)
def test_chinese_queries_find_their_entries(catalog: dict[str, Any], catalog_ops: Any,
                                            people: Any, q: str, expected: list[str]) -> None:
    result = _search(catalog_ops, people.outsider.actor, q)
    by_id = {v: k for k, v in catalog.items()}
    # the entries with every term come first; entries with most terms may follow (partial)
    first = result.hits[:len(expected)]
    assert sorted(by_id[h.entry_id] for h in first) == sorted(expected)
    if not result.partial:
        assert result.count == len(expected) == len(result.hits)


def test_the_name_ranks_above_the_summary(catalog: dict[str, Any], catalog_ops: Any,
                                          people: Any) -> None:
    result = _search(catalog_ops, people.outsider.actor, "缴存")
    assert result.hits[0].entry_id == catalog["fund"]
    assert result.hits[0].score is not None and result.hits[0].score > 0


def test_a_resource_code_finds_its_entry(catalog: dict[str, Any], catalog_ops: Any,
                                         people: Any) -> None:
    code = catalog_ops.read(service.get_entry, people.outsider.actor, catalog["fund"]).resource_code
    result = _search(catalog_ops, people.outsider.actor, code)
    assert [h.entry_id for h in result.hits] == [catalog["fund"]]


def test_a_question_with_an_unknown_word_still_finds_the_rest(
    catalog: dict[str, Any], catalog_ops: Any, people: Any
) -> None:
    result = _search(catalog_ops, people.outsider.actor, "营业执照 火星")
    assert result.relaxed and [h.entry_id for h in result.hits] == [catalog["licence"]]


def test_facets_count_what_the_searcher_sees(catalog: dict[str, Any], catalog_ops: Any,
                                             people: Any, tree: dict[str, Any]) -> None:
    result = _search(catalog_ops, people.outsider.actor)
    assert result.count == 4 and result.terms == []
    facets = {name: {(f.value, f.count) for f in values} for name, values in result.facets.items()}
    assert facets["sharing_type"] == {("conditional", 2), ("unconditional", 2)}
    assert facets["resource_kind"] == {("theme", 2), ("base", 2)}
    assert facets["region"] == {("140000", 2), ("140100", 2)}
    assert facets["update_cycle"] == {("monthly", 2), ("daily", 2)}
    assert facets["format_class"] == {("database", 3), ("spreadsheet", 1)}
    assert facets["provider"] == {(str(tree["province.hr"].id), 2), (str(tree["taiyuan.hr"].id), 2)}
    labels = {f.value: f.label for f in result.facets["provider"]}
    assert labels[str(tree["taiyuan.hr"].id)] == "太原市人力资源和社会保障局"
    assert {f.label for f in result.facets["sharing_type"]} == {"有条件共享", "无条件共享"}


def test_filters_narrow_hits_and_facets(catalog: dict[str, Any], catalog_ops: Any, people: Any,
                                        tree: dict[str, Any]) -> None:
    result = _search(catalog_ops, people.outsider.actor, "", sharing_type="conditional",
                     region="140100")
    assert [h.entry_id for h in result.hits] == [catalog["fund"]]
    assert [(f.value, f.count) for f in result.facets["update_cycle"]] == [("monthly", 1)]
    result = _search(catalog_ops, people.outsider.actor, "执照", provider=tree["taiyuan.hr"].id)
    assert [h.entry_id for h in result.hits] == [catalog["licence"]]
    result = _search(catalog_ops, people.outsider.actor, "缴", resource_kind="base")
    assert result.count == 0


def test_visibility_of_drafts_and_revisions(catalog: dict[str, Any], catalog_ops: Any,
                                            people: Any) -> None:
    ops, p = catalog_ops, people
    outsider = _search(ops, p.outsider.actor, "人口")
    assert [(h.name, h.scope) for h in outsider.hits] == [("常住人口基本信息", "published")]
    editor = _search(ops, p.editor.actor, "人口")
    assert [(h.name, h.scope, h.status) for h in editor.hits] == [
        ("常住人口和流动人口信息", "working", "submitted")]
    assert _search(ops, p.reviewer.actor, "流动人口").count == 1
    assert _search(ops, p.city_reviewer.actor, "流动人口").count == 0
    assert _search(ops, p.outsider.actor, "低保").count == 0
    assert _search(ops, p.editor.actor, "最低生活保障").count == 1
    assert _search(ops, p.editor.actor, "", status="draft").count == 1
    # every searcher sees each entry once
    assert _search(ops, p.editor.actor).count == 5 and _search(ops, p.outsider.actor).count == 4


def test_reindex_rebuilds_the_same_index(catalog: dict[str, Any], catalog_ops: Any,
                                         people: Any) -> None:
    before = _search(catalog_ops, people.editor.actor, "社保")
    with catalog_ops.runtime.db.transaction() as db:
        assert search.reindex(db) == 5
    after = _search(catalog_ops, people.editor.actor, "社保")
    assert [h.entry_id for h in after.hits] == [h.entry_id for h in before.hits]


def test_the_sqlite_index_file_is_rebuilt_when_lost(catalog: dict[str, Any], catalog_ops: Any,
                                                    people: Any, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("the FTS5 file is SQLite's")
    from gongshu.catalog.models import SEARCH_FILE
    from gongshu.core.runtime import Runtime

    runtime = catalog_ops.runtime
    settings = runtime.settings
    runtime.close()
    for suffix in ("", "-wal", "-shm"):
        (settings.resolved_data_dir / f"{SEARCH_FILE}{suffix}").unlink(missing_ok=True)
    fresh = Runtime(settings)
    try:
        with fresh.db.transaction(write=False) as db:
            found = search.search(people.outsider.actor, db, q="公积金")
        assert [h.entry_id for h in found.hits] == [catalog["fund"]]
    finally:
        fresh.close()


def test_other_sqlite_databases_are_left_alone(tmp_path: Any) -> None:
    """Only the metadata store gets the search index attached: an organisation's own SQLite
    file (read by the library) gets no file written beside it."""
    import sqlite3

    from sqlalchemy import create_engine, text

    from gongshu.catalog.models import SEARCH_FILE

    path = tmp_path / "theirs.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE people (name TEXT)")
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert [r[1] for r in conn.execute(text("PRAGMA database_list"))] == ["main"]
    engine.dispose()
    assert not (tmp_path / SEARCH_FILE).exists()


# ------------------------------------------------------------------ classified (涉密) entries


@pytest.fixture
def classified(catalog: dict[str, Any], catalog_ops: Any, people: Any) -> Any:
    """A published classified entry of the province's HR department."""
    return catalog_ops.publish(people.editor.actor, people.reviewer.actor, **{
        "name": "干部人事档案目录", "summary": "涉密的干部人事档案索引。", "secrecy": "classified",
        "keywords": ["人事档案"]})


def test_a_classified_entry_is_hidden_from_others_everywhere(
    classified: Any, catalog_ops: Any, people: Any, make_user: Any
) -> None:
    from gongshu.core.errors import NotFound

    ops, p = catalog_ops, people
    for outsider in (p.outsider.actor, p.city_editor.actor, p.city_reviewer.actor,
                     make_user("health.admin", "admin", "province.health").actor):
        assert _search(ops, outsider, "人事档案").count == 0
        assert _search(ops, outsider).count == 4  # the facet total leaves it out too
        with pytest.raises(NotFound):
            ops.read(service.get_entry, outsider, classified)
        rows, total = ops.read(service.list_entries, outsider)
        assert classified not in [r.id for r in rows] and total == 4
        assert classified not in [e.id for e in ops.read(service.exportable, outsider)]
    # its body, its reviewers, and administrators covering the provider see it
    for insider in (p.editor.actor, p.steward.actor, p.reviewer.actor,
                    make_user("prov.admin", "admin", "province", subtree=True).actor):
        assert [h.entry_id for h in _search(ops, insider, "人事档案").hits] == [classified]
        assert ops.read(service.get_entry, insider, classified).id == classified
    # and the local operator (CLI)
    from gongshu.core.permissions import Actor

    system = Actor.system("test", via="system")
    assert _search(ops, system, "人事档案").count == 1


def test_an_entry_becomes_classified_only_when_that_version_is_published(
    catalog: dict[str, Any], catalog_ops: Any, people: Any
) -> None:
    ops, p = catalog_ops, people
    fund = catalog["fund"]
    ops.run(flows.revise, p.city_editor.actor, fund)
    ops.run(service.update_entry, p.city_editor.actor, fund, {
        **_entry_data(ops, p.city_editor.actor, fund), "secrecy": "classified",
        "opening": {"type": "not_open"}})
    ops.run(flows.submit, p.city_editor.actor, fund)
    # the published, unclassified version is still what everyone finds
    assert [h.entry_id for h in _search(ops, p.outsider.actor, "公积金").hits] == [fund]
    ops.run(flows.approve, p.city_reviewer.actor, fund)
    assert _search(ops, p.outsider.actor, "公积金").count == 0
    assert _search(ops, p.city_editor.actor, "公积金").count == 1


# ------------------------------------------------------------------------ broad queries


def test_a_broad_query_is_estimated_and_listed_newest_first(
    catalog: dict[str, Any], catalog_ops: Any, people: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops, outsider = catalog_ops, people.outsider.actor
    _analyze(ops)
    exact = _search(ops, outsider, "GMSFHM")
    assert exact.count == 4 and exact.ranked and not exact.estimated
    monkeypatch.setattr(ops.runtime.settings, "search_exact_limit", 2)
    monkeypatch.setattr(search, "SAMPLE_SIZE", 1_000)  # every match is in the sample
    broad = _search(ops, outsider, "GMSFHM")
    assert broad.estimated and not broad.ranked
    assert broad.count == 4  # a full sample: the estimate is the count
    assert {h.entry_id for h in broad.hits} == {h.entry_id for h in exact.hits}
    assert all(h.score is None for h in broad.hits)
    assert sum(f.count for f in broad.facets["sharing_type"]) == 4
    # newest first: the entries published last come first
    order = [h.entry_id for h in broad.hits]
    assert order.index(catalog["fund"]) < order.index(catalog["social"])
    # the CLI's exact search still ranks everything
    forced = ops.read(search.search, outsider, q="GMSFHM", exact=True)
    assert forced.ranked and not forced.estimated and forced.count == 4
    # filters that leave few matches bring the exact, ranked search back
    narrow = _search(ops, outsider, "GMSFHM", region="140100")
    assert narrow.count == 2 and narrow.ranked and not narrow.estimated


def _analyze(ops: Any) -> None:
    """PostgreSQL counts a query's matches from the planner's statistics: gather them."""
    with ops.runtime.db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("ANALYZE catalog_search_doc"))
            conn.commit()


def test_the_api_says_when_a_count_is_estimated(
    catalog: dict[str, Any], catalog_ops: Any, client: Any, people: Any, token_for: Any,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    _analyze(catalog_ops)
    monkeypatch.setattr(catalog_ops.runtime.settings, "search_exact_limit", 2)
    monkeypatch.setattr(search, "SAMPLE_SIZE", 1_000)
    headers = token_for(people.outsider)
    body = client.get("/api/v1/catalog/search", params={"q": "GMSFHM"}, headers=headers).json()
    assert body["estimated"] is True and body["ranked"] is False and body["count"] == 4
    body = client.get("/api/v1/catalog/search", params={"q": "GMSFHM", "exact": "true"},
                      headers=headers).json()
    assert body["estimated"] is False and body["ranked"] is True and body["count"] == 4


def test_a_search_file_of_an_older_layout_is_rebuilt(
    catalog: dict[str, Any], catalog_ops: Any, people: Any, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("the search file is SQLite's")
    import sqlite3

    from gongshu.catalog.models import SEARCH_FILE
    from gongshu.core.runtime import Runtime

    runtime = catalog_ops.runtime
    settings = runtime.settings
    runtime.close()
    path = settings.resolved_data_dir / SEARCH_FILE
    with sqlite3.connect(path) as conn:  # an older layout, with its narrow rows lost
        conn.execute("DELETE FROM doc")
        conn.execute("PRAGMA user_version = 1")
    fresh = Runtime(settings)
    try:
        with fresh.db.transaction(write=False) as db:
            found = search.search(people.outsider.actor, db, q="公积金")
        assert [h.entry_id for h in found.hits] == [catalog["fund"]]
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] >= 2
    finally:
        fresh.close()


@pytest.mark.parametrize("candidates", [0, 1, 3])
def test_the_page_is_the_same_whether_found_among_the_best_or_by_ranking_all(
    catalog: dict[str, Any], catalog_ops: Any, people: Any, monkeypatch: pytest.MonkeyPatch,
    candidates: int
) -> None:
    """SQLite looks for the page among the best few matches first (``TOP_CANDIDATES``) and
    ranks every match when the page is not all there; either way the page is the same."""
    ops, p = catalog_ops, people
    cases = [(actor, q, filters, limit, offset)
             for actor in (p.outsider.actor, p.editor.actor, p.city_reviewer.actor)
             for q, filters in (("GMSFHM", {}), ("人口", {}), ("缴", {}),
                                ("GMSFHM", {"region": "140100"}),
                                ("GMSFHM", {"sharing_type": "conditional"}))
             for limit, offset in ((1, 0), (2, 0), (1, 1), (2, 2), (20, 0))]

    def pages() -> list[list[Any]]:
        return [[h.entry_id for h in ops.read(search.search, actor, q=q, limit=limit,
                                              offset=offset, filters=SearchFilters(**f)).hits]
                for actor, q, f, limit, offset in cases]

    monkeypatch.setattr(search, "TOP_CANDIDATES", 10**6)  # every match is a candidate
    everything = pages()
    monkeypatch.setattr(search, "TOP_CANDIDATES", candidates)
    assert pages() == everything
    assert any(everything)


def test_pages_follow_on_from_one_another(catalog: dict[str, Any], catalog_ops: Any,
                                         people: Any) -> None:
    """The page at any offset is that slice of one ranking (relevance, then row id), for
    every kind of searcher and with filters."""
    ops, p = catalog_ops, people
    longest = 0
    for actor in (p.outsider.actor, p.editor.actor, p.city_reviewer.actor):
        for q, f in (("GMSFHM", {}), ("人口", {}), ("缴", {}), ("GMSFHM", {"region": "140100"}),
                     ("GMSFHM", {"sharing_type": "conditional"})):
            def page(limit: int, offset: int, q: str = q, f: dict = f,
                     actor: Any = actor) -> list[Any]:
                return [h.entry_id for h in ops.read(search.search, actor, q=q, limit=limit,
                                                     offset=offset,
                                                     filters=SearchFilters(**f)).hits]

            whole = page(20, 0)
            longest = max(longest, len(whole))
            assert len(set(whole)) == len(whole)
            assert [e for i in range(0, len(whole), 2) for e in page(2, i)] == whole
            assert page(1, 1) == whole[1:2]
    assert longest >= 3  # the catalog gives pages worth comparing
