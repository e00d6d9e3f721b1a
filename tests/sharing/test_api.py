"""The sharing API through the real app: a request from submission to grant, problems with
stable codes, 409 on a stale version, scoped lists, reports and the calendar."""

from __future__ import annotations

from typing import Any

import pytest

SCENARIO = {"name": "医疗救助对象资格核验", "description": "核验救助对象的参保和收入情况",
            "legal_basis": "《社会救助暂行办法》第二十八条", "expected_volume": "每月约2万条"}


@pytest.fixture
def heads(cast: Any, token_for: Any) -> Any:
    class H:
        def __getattr__(self, name: str) -> dict[str, str]:
            return token_for(getattr(cast, name))

    return H()


def ask(client: Any, headers: dict[str, str], target: Any, **changes: Any) -> Any:
    body = {"entry": target.resource_code, "items": ["XM", "YSR"], "scenario": SCENARIO,
            "contact_name": "周申请", "contact_phone": "0351-1234567", **changes}
    return client.post("/api/v1/sharing/requests", json=body, headers=headers)


def test_a_conditional_request_from_submission_to_grant(client: Any, publish: Any,
                                                         heads: Any) -> None:
    entry = publish("conditional")
    requester, bureau, provider = heads.requester, heads.bureau, heads.provider
    r = ask(client, requester, entry)
    assert r.status_code == 201, r.text
    req = r.json()
    assert req["status"] == "bureau_check" and req["step_due_at"] and not req["overdue"]
    assert req["deadline_warning"] == [] or all(y > 2026 for y in req["deadline_warning"])
    assert [s["action"] for s in req["steps"]] == ["submit"]
    rid = req["id"]
    # the requester cannot check conformity; the provider neither
    assert client.post(f"/api/v1/sharing/requests/{rid}/check", headers=requester,
                       json={"decision": "conform"}).status_code == 403
    r = client.post(f"/api/v1/sharing/requests/{rid}/check", headers=provider,
                    json={"decision": "conform"})
    assert r.status_code == 403
    r = client.post(f"/api/v1/sharing/requests/{rid}/check", headers=bureau,
                    json={"decision": "conform", "version": req["version"]})
    assert r.status_code == 200, r.text
    req = r.json()
    assert req["status"] == "provider_review"
    # a stale version answers 409 conflict
    r = client.post(f"/api/v1/sharing/requests/{rid}/answer", headers=provider,
                    json={"approve": True, "version": req["version"] - 1})
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    # a refusal without reasons is a field error
    r = client.post(f"/api/v1/sharing/requests/{rid}/answer", headers=provider,
                    json={"approve": False})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "comment"
    r = client.post(f"/api/v1/sharing/requests/{rid}/answer", headers=provider,
                    json={"approve": True, "terms": {"daily_row_limit": 500}})
    assert r.status_code == 200, r.text
    req = r.json()
    assert req["status"] == "granted" and req["grant_id"]
    # a second answer on the same step: 409
    r = client.post(f"/api/v1/sharing/requests/{rid}/answer", headers=provider,
                    json={"approve": True})
    assert r.status_code == 409 and r.json()["code"] == "share_request_wrong_state"
    grants = client.get("/api/v1/grants?held=true", headers=requester).json()
    assert [(g["id"], g["entry"], g["status"], g["daily_row_limit"]) for g in grants] == \
        [(req["grant_id"], entry.resource_code, "active", 500)]
    assert client.get(f"/api/v1/grants/{req['grant_id']}", headers=provider).status_code == 200
    assert client.get(f"/api/v1/grants/{req['grant_id']}", headers=heads.stranger).status_code == 404
    # the holder cannot revoke; the provider can
    assert client.post(f"/api/v1/grants/{req['grant_id']}/revoke", headers=requester,
                       json={"reason": "x"}).status_code == 403
    r = client.post(f"/api/v1/grants/{req['grant_id']}/revoke", headers=provider,
                    json={"reason": "场景结束"})
    assert r.status_code == 200 and r.json()["status"] == "revoked"


def test_there_is_no_route_to_issue_a_grant_or_ask_for_another_body(client: Any, publish: Any,
                                                                    heads: Any, cast: Any) -> None:
    entry = publish("unconditional")
    assert client.post("/api/v1/grants", headers=heads.requester, json={}).status_code == 405
    r = ask(client, heads.requester, entry, requester_org_id=str(cast.stranger.actor.org_id))
    assert r.status_code == 422  # no such field: a request is always for one's own body


def test_lists_are_scoped_to_the_body(client: Any, publish: Any, heads: Any) -> None:
    entry = publish("conditional")
    rid = ask(client, heads.requester, entry).json()["id"]
    assert client.get("/api/v1/sharing/requests?box=mine", headers=heads.requester).json()[
        "total"] == 1
    assert client.get("/api/v1/sharing/requests?box=inbox", headers=heads.provider).json()[
        "total"] == 1
    assert client.get("/api/v1/sharing/requests?box=queue", headers=heads.bureau).json()[
        "total"] == 1
    assert client.get("/api/v1/sharing/requests", headers=heads.stranger).json()["total"] == 0
    assert client.get(f"/api/v1/sharing/requests/{rid}", headers=heads.stranger).status_code == 404
    r = client.get(f"/api/v1/sharing/requests/{rid}", headers=heads.requester)
    assert r.status_code == 200 and r.json()["scenario"]["name"] == SCENARIO["name"]
    assert [s["name"] for s in client.get("/api/v1/sharing/scenarios",
                                          headers=heads.requester).json()] == [SCENARIO["name"]]


def test_bad_request_lists_every_problem(client: Any, publish: Any, heads: Any) -> None:
    entry = publish("conditional")
    r = ask(client, heads.requester, entry, items=["NOPE"], contact_name="",
            scenario={"name": "新场景"})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"items", "contact_name", "scenario.description", "scenario.legal_basis"}
    assert ask(client, heads.requester, entry, entry="no-such-code").status_code == 404


def test_dispute_and_coordination(client: Any, publish: Any, heads: Any) -> None:
    entry = publish("not_shared")
    rid = ask(client, heads.requester, entry).json()["id"]
    r = client.post(f"/api/v1/sharing/requests/{rid}/check", headers=heads.bureau,
                    json={"decision": "conform"})
    assert r.json()["status"] == "refused" and "个人信息保护法" in r.json()["refusal_reason"]
    r = client.post(f"/api/v1/sharing/requests/{rid}/dispute", headers=heads.requester,
                    json={"reason": "法定职责需要"})
    assert r.json()["status"] == "coordination"
    r = client.post(f"/api/v1/sharing/requests/{rid}/coordinate", headers=heads.bureau,
                    json={"approve": True, "comment": "协调同意，限定字段"})
    assert r.json()["status"] == "granted"
    assert [s["action"] for s in r.json()["steps"]] == ["submit", "conform", "dispute",
                                                        "coordinate_grant"]


def test_reports_and_calendar(client: Any, publish: Any, heads: Any) -> None:
    entry = publish("unconditional")
    rid = ask(client, heads.requester, entry).json()["id"]
    client.post(f"/api/v1/sharing/requests/{rid}/check", headers=heads.bureau,
                json={"decision": "conform"})
    bodies = client.get("/api/v1/sharing/reports/bodies", headers=heads.reporter).json()
    assert [(b["grants"], b["unused"]) for b in bodies] == [(1, 1)]
    assert client.get("/api/v1/sharing/reports/bodies", headers=heads.requester).status_code == 403
    entries = client.get("/api/v1/sharing/reports/entries", headers=heads.bureau).json()
    assert entries[0]["holders"] == 1
    report = client.get("/api/v1/sharing/reports/requests", headers=heads.bureau).json()
    assert report["by_status"] == {"granted": 1} and report["answered"] == 1
    assert len(client.get("/api/v1/sharing/reports/daily?days=7", headers=heads.bureau).json()) == 7
    # the calendar: a deadline over the 2026 Spring Festival, and one into a year without data
    r = client.get("/api/v1/sharing/calendar/deadline?days=2&start=2026-02-13T02:00:00Z",
                   headers=heads.requester)
    assert r.json()["due_day"] == "2026-02-24" and r.json()["missing_years"] == []
    r = client.get("/api/v1/sharing/calendar/deadline?days=2&start=2026-12-30T02:00:00Z",
                   headers=heads.requester)
    assert r.json()["missing_years"] == [2027]
    assert client.put("/api/v1/sharing/calendar/2027-01-01", headers=heads.requester,
                      json={"is_working": False}).status_code == 403
    r = client.put("/api/v1/sharing/calendar/2027-01-01", headers=heads.admin,
                   json={"is_working": False, "note": "元旦"})
    assert r.status_code == 200
    r = client.get("/api/v1/sharing/calendar/deadline?days=2&start=2026-12-30T02:00:00Z",
                   headers=heads.requester)
    assert r.json()["due_day"] == "2027-01-04" and r.json()["missing_years"] == []
    assert client.put("/api/v1/sharing/calendar/not-a-day", headers=heads.admin,
                      json={"is_working": False}).status_code == 422
    assert client.delete("/api/v1/sharing/calendar/2027-01-01", headers=heads.admin).status_code == 204
