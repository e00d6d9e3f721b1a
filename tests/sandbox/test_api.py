"""The sandbox's API through the real app: the bureau authorises and sets release levels, the
operator queries (a refusal is 200 with status rejected, its code and a message in the
caller's language), exports, the bureau reviews, the operator downloads; others get 404."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gongshu.sandbox import service

SQL = "SELECT county, COUNT(*) AS n FROM population GROUP BY county"


def _authorise(client: Any, world: Any, headers: dict[str, str], **changes: Any) -> Any:
    start = service.today()
    body = {"operator_org_id": str(world.tree["operator"].id), "purpose": "人口统计",
            "starts_on": start.isoformat(), "ends_on": (start + dt.timedelta(days=90)).isoformat(),
            "tables": [{"entry": world.population.resource_code, "table_name": "population"}],
            **changes}
    return client.post("/api/v1/sandbox/authorisations", json=body, headers=headers)


def test_the_whole_path(client: Any, world: Any, token_for: Any) -> None:
    bureau, operator = token_for(world.bureau), token_for(world.operator)
    rival = token_for(world.rival)
    r = _authorise(client, world, operator)
    assert r.status_code == 403
    r = _authorise(client, world, bureau,
                   ends_on=(service.today() + dt.timedelta(days=6 * 366)).isoformat())
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "term_too_long"
    r = _authorise(client, world, bureau)
    assert r.status_code == 201, r.text
    auth = r.json()
    assert auth["status"] == "active" and auth["tables"][0]["table_name"] == "population"
    r = client.put(f"/api/v1/sandbox/authorisations/{auth['id']}/agreement", headers=bureau,
                   files={"file": ("协议.pdf", b"%PDF-1.4 demo", "application/pdf")})
    assert r.status_code == 200 and r.json()["agreement_name"] == "协议.pdf"
    r = client.get(f"/api/v1/sandbox/authorisations/{auth['id']}/agreement", headers=operator)
    assert r.status_code == 200 and r.content == b"%PDF-1.4 demo"
    assert client.get(f"/api/v1/sandbox/authorisations/{auth['id']}",
                      headers=rival).status_code == 404
    r = client.put(f"/api/v1/sandbox/policies/{world.population.resource_code}", headers=bureau,
                   json={"rules": [{"column": "annual_income", "level": "aggregate",
                                    "lo": 0, "hi": 500000},
                                   {"column": "county", "level": "group_by"}]})
    assert r.status_code == 200, r.text
    assert {p["column"]: p["level"] for p in r.json()}["annual_income"] == "aggregate"
    r = client.get("/api/v1/sandbox/tables", headers=operator)
    assert [t["table_name"] for t in r.json()] == ["population"]
    levels = {c["code"]: c["level"] for c in r.json()[0]["columns"]}
    assert levels["id_no"] == "join" and levels["name"] == "hidden"
    # a refusal in the caller's language
    r = client.post("/api/v1/sandbox/queries", headers={**operator, "Accept-Language": "zh-CN"},
                    json={"sql": "SELECT name FROM population"})
    assert r.status_code == 201 and r.json()["status"] == "rejected"
    assert r.json()["code"] == "COLUMN_NOT_RELEASABLE" and "字段" in r.json()["message"]
    r = client.post("/api/v1/sandbox/queries", headers=operator, json={"sql": SQL})
    assert r.status_code == 201 and r.json()["status"] == "ok", r.text
    qid = r.json()["id"]
    assert client.get(f"/api/v1/sandbox/queries/{qid}", headers=rival).status_code == 404
    assert client.get(f"/api/v1/sandbox/queries/{qid}/download",
                      headers=operator).status_code == 409
    r = client.post(f"/api/v1/sandbox/queries/{qid}/export", headers=operator)
    assert r.status_code == 200 and r.json()["status"] == "pending_review"
    r = client.get("/api/v1/sandbox/reviews", headers=bureau)
    assert [x["query"]["id"] for x in r.json()] == [qid]
    r = client.post(f"/api/v1/sandbox/reviews/{qid}", headers=bureau, json={"release": True})
    assert r.status_code == 200 and r.json()["status"] == "released"
    r = client.post(f"/api/v1/sandbox/reviews/{qid}", headers=bureau, json={"release": True})
    assert r.status_code == 409 and r.headers["content-type"].startswith(
        "application/problem+json")
    r = client.get(f"/api/v1/sandbox/queries/{qid}/download?format=csv", headers=operator)
    assert r.status_code == 200 and "county" in r.content.decode("utf-8-sig")
    r = client.get("/api/v1/sandbox/queries", headers=operator)
    assert r.json()["total"] == 2
    assert client.get("/api/v1/sandbox/queries", headers=rival).json()["total"] == 0
    r = client.get("/api/v1/sandbox/budget", headers=operator)
    assert r.json()[0]["table_name"] == "population"
    r = client.post(f"/api/v1/sandbox/authorisations/{auth['id']}/status", headers=bureau,
                    json={"status": "revoked", "reason": "违约"})
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    r = client.post(f"/api/v1/sandbox/authorisations/{auth['id']}/status", headers=bureau,
                    json={"status": "active", "reason": "再试"})
    assert r.status_code == 409
    r = client.post("/api/v1/sandbox/queries", headers=operator, json={"sql": SQL})
    assert r.json()["code"] == "NOT_AUTHORISED"
