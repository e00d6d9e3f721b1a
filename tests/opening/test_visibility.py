"""Art. 13 / issue 9 item 9: operators and the public never see the internal catalog. An
operator's member, a member holding only the operator role and the anonymous visitor see only
the entries open to them (published, unclassified, opening type open or conditional_open, an
openable grade) in lists, search hits, counts, facets, detail, versions, exports, DCAT and the
portal; a member of a public body still sees every published unclassified entry."""

from __future__ import annotations

from typing import Any

import pytest

from gongshu.catalog import access
from gongshu.catalog import service as catalog
from gongshu.catalog.search import service as search
from gongshu.core.errors import NotFound
from support import web_login

OPEN = {"开放数据甲", "有条件开放数据乙"}
HIDDEN = {"不予开放数据丙", "三级数据丁", "未定级数据戊", "涉密数据己", "未发布数据庚"}


@pytest.fixture
def entries(publish: Any) -> dict[str, Any]:
    return {
        "开放数据甲": publish("开放数据甲", opening="open", grade="general-1"),
        "有条件开放数据乙": publish("有条件开放数据乙", opening="conditional_open", grade="general-2"),
        "不予开放数据丙": publish("不予开放数据丙", opening="not_open", grade="general-1"),
        "三级数据丁": publish("三级数据丁", opening="open", grade="general-3"),
        "未定级数据戊": publish("未定级数据戊", opening="open", grade=None),
        "涉密数据己": publish("涉密数据己", secrecy="classified", grade="general-1"),
        "未发布数据庚": publish("未发布数据庚", opening="open", grade="general-1", publish=False),
    }


@pytest.fixture
def public_actors(make_user: Any) -> dict[str, Any]:
    return {
        "operator_org": make_user("op1", "operator", "operator").actor,
        "operator_org_requester": make_user("op2", "requester", "operator").actor,
        "operator_role_only": make_user("op3", "operator", "province.hr").actor,
        "anonymous": access.ANONYMOUS,
    }


def _names(rows: Any) -> set[str]:
    return {getattr(r, "name", None) or r.published_version.name for r in rows}


def test_public_actors_see_only_open_entries_everywhere(runtime: Any, entries: dict[str, Any],
                                                        public_actors: dict[str, Any]) -> None:
    for label, actor in public_actors.items():
        with runtime.db.transaction(write=False) as db:
            assert access.is_public(actor, db), label
            rows, total = catalog.list_entries(actor, db, limit=100)
            assert _names(rows) == OPEN and total == 2, label
            for q in ("", "数据"):
                found = search.search(actor, db, q=q, limit=50)
                assert {h.name for h in found.hits} == OPEN, (label, q)
                assert found.count == 2, (label, q)
                opening = {f.value: f.count for f in found.facets["opening_type"]}
                assert opening == {"open": 1, "conditional_open": 1}, (label, opening)
                assert sum(f.count for f in found.facets["provider"]) == 2
                grades = {f.value for f in found.facets["grade"]}
                assert grades == {"general-1", "general-2"}, label
            filtered = search.search(actor, db, q="数据",
                                     filters=search.SearchFilters(opening_type="not_open"))
            assert filtered.count == 0 and not filtered.hits
            for name, entry in entries.items():
                if name in OPEN:
                    assert catalog.get_entry(actor, db, entry.id).id == entry.id
                    assert catalog.get_entry_by_code(actor, db, entry.resource_code).id == entry.id
                    assert len(catalog.list_versions(actor, db, entry.id)) == 1
                else:
                    with pytest.raises(NotFound):
                        catalog.get_entry(actor, db, entry.id)
                    with pytest.raises(NotFound):
                        catalog.get_entry_by_code(actor, db, entry.resource_code)
            for fmt in ("csv", "dcat-jsonld", "dcat-ttl"):
                body, _m, _e = catalog.export_entries(actor, db, fmt=fmt)
                text = body.decode("utf-8-sig")
                assert all(n in text for n in OPEN), (label, fmt)
                assert not any(n in text for n in HIDDEN), (label, fmt)


def test_members_of_public_administration_see_the_internal_catalog(
        runtime: Any, entries: dict[str, Any], make_user: Any) -> None:
    member = make_user("hlth", "requester", "province.health").actor
    with runtime.db.transaction(write=False) as db:
        assert not access.is_public(member, db)
        rows, total = catalog.list_entries(member, db, limit=100)
        seen = _names(rows)
        assert OPEN | {"不予开放数据丙", "三级数据丁", "未定级数据戊"} == seen and total == 5
        assert search.search(member, db, q="数据").count == 5


def test_the_scheme_decides_which_grades_open(runtime: Any) -> None:
    from gongshu.grading import service as grading

    with runtime.db.transaction(write=False) as db:
        assert grading.openable_levels(db) == {"general-1": "clear", "general-2": "masked"}
        assert access.open_grades(db) == {"general-1", "general-2"}


def test_the_api_and_pages_of_the_catalog_for_an_operator(
        client: Any, entries: dict[str, Any], make_user: Any, token_for: Any) -> None:
    headers = token_for(make_user("opapi", "operator", "operator"))
    listed = client.get("/api/v1/catalog/entries?limit=100", headers=headers).json()
    assert {e["name"] for e in listed["data"]} == OPEN and listed["count"] == 2
    found = client.get("/api/v1/catalog/search?q=数据", headers=headers).json()
    assert {h["name"] for h in found["data"]} == OPEN and found["count"] == 2
    assert sum(f["count"] for f in found["facets"]["opening_type"]) == 2

    for name, entry in entries.items():
        status = client.get(f"/api/v1/catalog/entries/{entry.id}", headers=headers).status_code
        assert status == (200 if name in OPEN else 404), name
    member = make_user("oppage", "operator", "operator")
    web_login(client, member.username, member.password)
    page = client.get("/catalog", params={"q": "数据"}).text
    assert all(n in page for n in OPEN) and not any(n in page for n in HIDDEN)
    for name, entry in entries.items():
        assert client.get(f"/catalog/{entry.id}").status_code == (
            200 if name in OPEN else 404), name
    client.cookies.clear()
    export = client.get("/api/v1/catalog/export?format=csv", headers=headers)
    assert export.status_code == 200
    assert not any(n in export.content.decode("utf-8-sig") for n in HIDDEN)


def test_the_portal_and_its_feed_list_only_open_entries(client: Any,
                                                        entries: dict[str, Any]) -> None:
    page = client.get("/portal").text
    assert all(n in page for n in OPEN) and not any(n in page for n in HIDDEN)
    searched = client.get("/portal", params={"q": "数据"}).text
    assert all(n in searched for n in OPEN) and not any(n in searched for n in HIDDEN)
    only_open = client.get("/portal", params={"q": "数据", "opening_type": "open"}).text
    assert "开放数据甲" in only_open and "有条件开放数据乙" not in only_open
    assert 'id="clear-filters"' in only_open
    hidden = client.get("/portal", params={"opening_type": "not_open"})
    assert hidden.status_code == 200 and not any(n in hidden.text for n in OPEN | HIDDEN)
    api = client.get("/api/v1/portal/datasets", params={"q": "数据"}).json()
    assert {i["name"] for i in api["items"]} == OPEN and api["total"] == 2
    for path in ("/portal/dcat.jsonld", "/portal/dcat.ttl"):
        feed = client.get(path)
        assert feed.status_code == 200
        assert all(n in feed.text for n in OPEN) and not any(n in feed.text for n in HIDDEN)
        assert "/portal/datasets/" in feed.text
    for name, entry in entries.items():
        assert client.get(f"/portal/datasets/{entry.id}").status_code == (
            200 if name in OPEN else 404), name
        assert client.get(f"/api/v1/portal/datasets/{entry.id}").status_code == (
            200 if name in OPEN else 404), name
