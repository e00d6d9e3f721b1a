"""Column release levels per operator through the real app, the CLI and the pages: the bureau
sets and clears one authorisation's own level of a column; the operator's workspace and
queries follow it; others get 403/404; bad input is 422."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from gongshu.sandbox import service
from support import csrf_of, web_login

BY_COUNTY = "SELECT county, COUNT(*) AS n FROM population GROUP BY county"


@pytest.fixture
def both(world: Any) -> tuple[Any, Any]:
    a = world.authorise()
    b = world.authorise(operator="operator.other")
    world.set_population_policy()
    return a, b


def _url(auth: Any, table: str = "population", column: str = "county") -> str:
    return f"/api/v1/sandbox/authorisations/{auth.id}/levels/{table}/{column}"


def test_the_api_sets_shows_and_clears_an_operators_level(client: Any, world: Any, both: Any,
                                                          token_for: Any) -> None:
    a, b = both
    bureau, operator, rival = token_for(world.bureau), token_for(world.operator), \
        token_for(world.rival)
    r = client.put(_url(a), headers=bureau, json={"level": "hidden"})
    assert r.status_code == 200, r.text
    county = next(c for c in r.json()["columns"] if c["column"] == "county")
    assert county == {"column": "county", "name": "所在区县", "default": "group_by",
                      "override": "hidden", "level": "hidden"}
    # the authorisation shows it, to its operator too
    r = client.get(f"/api/v1/sandbox/authorisations/{a.id}", headers=operator)
    assert r.json()["tables"][0]["overrides"] == {"county": "hidden"}
    r = client.get(f"/api/v1/sandbox/authorisations/{a.id}/levels", headers=operator)
    assert r.status_code == 200
    assert {c["column"]: c["level"] for c in r.json()[0]["columns"]}["county"] == "hidden"
    # the operator's workspace and queries follow it; B's do not
    r = client.get("/api/v1/sandbox/tables", headers=operator)
    col = next(c for c in r.json()[0]["columns"] if c["code"] == "county")
    assert (col["level"], col["default_level"]) == ("hidden", "group_by")
    r = client.get("/api/v1/sandbox/tables", headers=rival)
    assert next(c for c in r.json()[0]["columns"] if c["code"] == "county")["level"] == \
        "group_by"
    r = client.post("/api/v1/sandbox/queries", headers=operator, json={"sql": BY_COUNTY})
    assert r.json()["code"] == "COLUMN_NOT_RELEASABLE"
    r = client.post("/api/v1/sandbox/queries", headers=rival, json={"sql": BY_COUNTY})
    assert r.json()["status"] == "ok"
    r = client.get(f"/api/v1/sandbox/authorisations/{b.id}", headers=rival)
    assert r.json()["tables"][0]["overrides"] == {}
    # cleared: back to the default
    r = client.delete(_url(a), headers=bureau)
    assert r.status_code == 200
    assert next(c for c in r.json()["columns"] if c["column"] == "county")["override"] is None
    r = client.post("/api/v1/sandbox/queries", headers=operator, json={"sql": BY_COUNTY})
    assert r.json()["status"] == "ok"


@pytest.mark.parametrize(("who", "method", "status"), [
    ("operator", "put", 403),  # no sandbox.authorise at all
    ("operator", "delete", 403),
    ("rival", "put", 403),
    ("city_bureau", "put", 404),  # authorises, but not for this authorisation's bureau
    ("city_bureau", "delete", 404),
])
def test_the_api_refuses_others(client: Any, world: Any, both: Any, token_for: Any, who: str,
                                method: str, status: int) -> None:
    a, _ = both
    headers = token_for(getattr(world, who))
    kw: dict[str, Any] = {"json": {"level": "hidden"}} if method == "put" else {}
    r = getattr(client, method)(_url(a), headers=headers, **kw)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_the_api_levels_answer_404_to_another_operator(client: Any, world: Any, both: Any,
                                                       token_for: Any) -> None:
    a, _ = both
    r = client.get(f"/api/v1/sandbox/authorisations/{a.id}/levels",
                   headers=token_for(world.rival))
    assert r.status_code == 404
    assert r.json()["code"] == "sandbox_authorization_not_found"


@pytest.mark.parametrize(("table", "column", "body", "field"), [
    ("population", "county", {"level": "secret"}, "level"),  # refused by the schema
    ("population", "county", {"level": "plain", "extra": 1}, "extra"),
    ("population", "nope", {"level": "plain"}, "column"),
    ("insurance", "amount", {"level": "plain"}, "table"),
])
def test_the_api_answers_422_for_bad_input(client: Any, world: Any, both: Any, token_for: Any,
                                           table: str, column: str, body: dict[str, Any],
                                           field: str) -> None:
    a, _ = both
    r = client.put(_url(a, table, column), headers=token_for(world.bureau), json=body)
    assert r.status_code == 422, r.text
    assert any(field in e["field"] for e in r.json()["errors"]), r.json()


def test_the_api_answers_409_once_revoked(client: Any, world: Any, both: Any,
                                          token_for: Any) -> None:
    a, _ = both
    bureau = token_for(world.bureau)
    r = client.post(f"/api/v1/sandbox/authorisations/{a.id}/status", headers=bureau,
                    json={"status": "revoked", "reason": "违约"})
    assert r.status_code == 200
    r = client.put(_url(a), headers=bureau, json={"level": "hidden"})
    assert r.status_code == 409 and r.json()["code"] == "sandbox_authorization_ended"


# ------------------------------------------------------------------------------------ CLI


def test_the_cli_sets_shows_and_clears(gongshu: Any, world: Any, both: Any) -> None:
    a, _ = both
    base = ["--authorization", a.number, "--table", "population", "--column", "county"]
    r = gongshu("sandbox", "override", "set", *base, "--level", "compare",
                "--as", world.bureau.username, "--json")
    assert r.exit_code == 0, r.output
    county = next(c for c in json.loads(r.output)[0]["columns"] if c["column"] == "county")
    assert (county["override"], county["level"]) == ("compare", "compare")
    r = gongshu("sandbox", "authorisations", "--as", world.operator.username, "--json")
    assert json.loads(r.output)[0]["tables"][0]["overrides"] == {"county": "compare"}
    r = gongshu("sandbox", "override", "show", "--authorization", a.number,
                "--as", world.operator.username)
    assert r.exit_code == 0 and "compare" in r.output
    r = gongshu("sandbox", "override", "set", *base, "--level", "secret",
                "--as", world.bureau.username)
    assert r.exit_code != 0
    r = gongshu("sandbox", "override", "set", *base, "--level", "hidden",
                "--as", world.operator.username)
    assert r.exit_code != 0
    r = gongshu("sandbox", "override", "clear", *base, "--as", world.bureau.username, "--json")
    assert r.exit_code == 0, r.output
    county = next(c for c in json.loads(r.output)[0]["columns"] if c["column"] == "county")
    assert county["override"] is None and county["level"] == "group_by"


# ---------------------------------------------------------------------------------- pages


def login(client: Any, member: Any) -> None:
    client.cookies.clear()
    r = web_login(client, member.username, member.password)
    assert r.status_code == 200, r.text[:300]


def test_the_bureau_sets_levels_on_the_authorisation_page(client: Any, world: Any,
                                                          both: Any) -> None:
    a, _ = both
    login(client, world.bureau)
    page = client.get(f"/sandbox/authorisations/{a.id}")
    assert page.status_code == 200
    assert 'name="level.county"' in page.text and "默认（分组键）" in page.text
    columns = re.findall(r'name="column" value="([a-z_]+)"', page.text)
    assert "county" in columns and "annual_income" in columns
    form: dict[str, Any] = {"csrf_token": csrf_of(page.text), "table": "population",
                            "column": ["county", "gender"], "level.county": "hidden",
                            "level.gender": ""}
    r = client.post(f"/sandbox/authorisations/{a.id}/levels", data=form)
    assert r.status_code == 200, r.text[:2000]
    assert "该运营单位的字段发布级别已保存" in r.text
    assert re.search(r'name="level\.county".*?<option value="hidden" selected', r.text, re.S)
    form["level.county"] = "secret"
    r = client.post(f"/sandbox/authorisations/{a.id}/levels", data=form)
    assert r.status_code == 422
    # the operator sees its own level on its workspace, read-only on the authorisation
    login(client, world.operator)
    page = client.get("/sandbox")
    assert "数据集默认为 分组键" in page.text
    page = client.get(f"/sandbox/authorisations/{a.id}")
    assert page.status_code == 200 and 'name="level.county"' not in page.text
    assert "数据集默认为 分组键" in page.text
    r = client.post(f"/sandbox/authorisations/{a.id}/levels",
                    data={**form, "csrf_token": csrf_of(page.text), "level.county": "plain"})
    assert r.status_code == 403
    # another operator sees nothing of it
    login(client, world.rival)
    assert "数据集默认为" not in client.get("/sandbox").text
    assert client.get(f"/sandbox/authorisations/{a.id}").status_code == 404


def test_the_review_page_shows_the_operators_own_levels(client: Any, world: Any,
                                                        both: Any) -> None:
    a, _ = both
    with world.runtime.db.transaction() as db:
        service.set_column_override(world.bureau.actor, db, a.id, table="population",
                                    column="annual_income", level="plain")
    found = world.query(sql="SELECT county, MAX(annual_income) AS m FROM population "
                            "GROUP BY county", export=True)
    assert found.status == "pending_review"
    login(client, world.bureau)
    page = client.get("/sandbox/reviews")
    assert page.status_code == 200
    own = re.search(rf'id="review-{found.id}".*?<p class="small own-levels">(.*?)</p>',
                    page.text, re.S)
    assert own is not None and a.number in own.group(1)
    assert "population.annual_income" in own.group(1) and "原样" in own.group(1)
