"""Sandbox pages render for each role and drive the workflow through real forms: the bureau
authorises (with the agreement file) and edits release levels, the operator queries and sees a
refusal's reason, marks a result for export, the bureau releases it, the operator downloads."""

from __future__ import annotations

import re
import uuid
from typing import Any

from support import csrf_of, web_login

SQL = "SELECT county, COUNT(*) AS n, AVG(annual_income) AS avg_income FROM population " \
      "GROUP BY county"


def login(client: Any, member: Any) -> None:
    client.cookies.clear()
    r = web_login(client, member.username, member.password)
    assert r.status_code == 200, r.text[:300]


def test_the_journey_through_the_forms(client: Any, world: Any) -> None:
    login(client, world.bureau)
    page = client.get("/sandbox/authorisations/new")
    assert page.status_code == 200
    form = {"csrf_token": csrf_of(page.text), "operator_org_id": str(world.tree["operator"].id),
            "purpose": "区县人口收入统计", "scenarios": "人口分布\n收入分布",
            "starts_on": "2026-01-01", "ends_on": "2035-01-01", "k": "10",
            "categories": ["public_interest"], "entry": [str(world.population.id), ""],
            "table_name": ["population", ""], "epsilon": ["1", ""]}
    r = client.post("/sandbox/authorisations/new", data=form)
    assert r.status_code == 422 and "5" in r.text  # term too long, shown beside the field
    form["ends_on"] = "2028-12-31"
    r = client.post("/sandbox/authorisations/new", data=form,
                    files={"agreement": ("协议.pdf", b"%PDF-1.4", "application/pdf")})
    assert r.status_code == 200 and "协议.pdf" in r.text, r.text[:2000]
    policy = client.get(f"/sandbox/policies/{world.population.id}")
    assert policy.status_code == 200 and "annual_income" in policy.text
    levels = dict(re.findall(r'name="level\.([a-z_]+)".*?<option value="([a-z_]+)" selected',
                             policy.text, re.S))
    assert levels["id_no"] == "join" and levels["name"] == "hidden"
    r = client.post(f"/sandbox/policies/{world.population.id}", data={
        "csrf_token": csrf_of(policy.text), "column": list(levels),
        **{f"level.{c}": lv for c, lv in levels.items()}, "level.county": "group_by",
        "lo.annual_income": "0", "hi.annual_income": "500000", "contributor": "id_no"})
    assert r.status_code == 200 and "500000" in r.text
    login(client, world.operator)
    home = client.get("/")
    assert "本单位有效的运营授权" in home.text
    ws = client.get("/sandbox")
    assert ws.status_code == 200 and "population" in ws.text and "仅关联" in ws.text
    r = client.post("/sandbox/query", data={"csrf_token": csrf_of(ws.text),
                                            "sql": "SELECT name FROM population"})
    assert r.status_code == 200 and "COLUMN_NOT_RELEASABLE" in r.text
    r = client.post("/sandbox/query", data={"csrf_token": csrf_of(ws.text), "sql": SQL})
    assert r.status_code == 200 and "小店区" in r.text and "尖草坪区" not in r.text
    qid = re.search(r'href="/sandbox/queries/([0-9a-f-]{36})"', r.text).group(1)
    detail = client.get(f"/sandbox/queries/{qid}")
    r = client.post(f"/sandbox/queries/{qid}/export", data={"csrf_token": csrf_of(detail.text)})
    assert r.status_code == 200 and "待审核" in r.text
    login(client, world.bureau)
    home = client.get("/").text
    assert "待审核的沙箱结果" in home and 'href="/sandbox/reviews"' in home
    queue = client.get("/sandbox/reviews")
    assert qid in queue.text and "相似查询" in queue.text
    r = client.post(f"/sandbox/reviews/{qid}", data={"csrf_token": csrf_of(queue.text),
                                                    "decision": "release", "reason": ""})
    assert r.status_code == 200 and "已审核" in r.text
    login(client, world.operator)
    r = client.get(f"/sandbox/queries/{qid}/download?format=csv")
    assert r.status_code == 200 and "avg_income" in r.content.decode("utf-8-sig")


def test_pages_are_for_their_roles(client: Any, world: Any) -> None:
    login(client, world.operator)
    assert client.get("/sandbox/reviews").status_code == 403
    assert client.get("/sandbox/authorisations/new").status_code == 403
    login(client, world.bureau)
    assert client.get("/sandbox").status_code == 403
    for page in ("/", "/sandbox/authorisations", "/sandbox/reviews",
                 "/sandbox/reviews?status=released"):
        assert client.get(page).status_code == 200, page


def test_the_bureau_attaches_the_agreement_and_changes_the_status(client: Any,
                                                                  world: Any) -> None:
    auth = world.authorise()
    login(client, world.bureau)
    csrf = csrf_of(client.get(f"/sandbox/authorisations/{auth.id}").text)
    r = client.post(f"/sandbox/authorisations/{auth.id}/agreement", data={"csrf_token": csrf})
    assert r.status_code == 422  # no file chosen: the page again, the field's error
    r = client.post(f"/sandbox/authorisations/{auth.id}/agreement", data={"csrf_token": csrf},
                    files={"agreement": ("补充协议.pdf", b"%PDF-1.4 x", "application/pdf")})
    assert r.status_code == 200 and "补充协议.pdf" in r.text
    r = client.post(f"/sandbox/authorisations/{auth.id}/status",
                    data={"csrf_token": csrf, "status": "no_such_status"})
    assert r.status_code == 422
    r = client.post(f"/sandbox/authorisations/{auth.id}/status",
                    data={"csrf_token": csrf, "status": "suspended", "reason": "核查期间暂停"})
    assert r.status_code == 200 and "暂停" in r.text
    r = client.post(f"/sandbox/authorisations/{uuid.uuid4()}/status",
                    data={"csrf_token": csrf, "status": "suspended", "reason": "核查"})
    assert r.status_code == 404


def test_the_bureau_changes_the_terms_on_the_page(client: Any, world: Any) -> None:
    auth = world.authorise()
    login(client, world.bureau)
    page = client.get(f"/sandbox/authorisations/{auth.id}")
    form = {"csrf_token": csrf_of(page.text), "purpose": "新的用途", "scenarios": "场景一",
            "ends_on": auth.ends_on.isoformat(), "categories": ["industry"],
            "fee_cap": "20000", "k": "15", "review_all": "1"}
    r = client.post(f"/sandbox/authorisations/{auth.id}/terms", data={**form, "k": "1"})
    assert r.status_code == 422
    r = client.post(f"/sandbox/authorisations/{auth.id}/terms", data=form)
    assert r.status_code == 200 and "新的用途" in r.text and "20000" in r.text
    assert "产业与行业发展类" in r.text and "全部结果须审核" in r.text
