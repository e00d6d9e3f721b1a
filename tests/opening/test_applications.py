"""Conditional opening (Art. 13): a developer applies with a purpose and safeguards; the
provider answers, then the entry's data bureau; both approvals give a grant of kind opening
with the agreement, and the developer reads the granted items through the API. One decision
per step, even when two people decide at once."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from gongshu.core.errors import GongshuError, InvalidState, NotFound, ValidationFailed
from gongshu.opening import flows
from gongshu.opening.models import ApplicationStep
from gongshu.sharing import service as sharing
from opening.data import income_rows
from support import csrf_of, web_login


@pytest.fixture
def conditional(publish: Any) -> Any:
    return publish("有条件开放收入", opening="conditional_open", grade="general-2",
                   rows=income_rows(8))


@pytest.fixture
def developer_key(client: Any) -> str:
    made = client.post("/api/v1/portal/developers",
                       json={"name": "开发者乙", "email": "b@example.cn"})
    return made.json()["api_key"]


def _apply(client: Any, key: str, entry: Any, **changes: Any) -> Any:
    body = {"entry_id": str(entry.id), "purpose": "研究就业与收入的关系，发布汇总统计。",
            "safeguards": "数据存放在内网服务器，仅两名研究人员可访问，不向第三方提供。",
            "items": ["SFZZ", "BGDH"], "days": 90, **changes}
    return client.post("/api/v1/portal/applications", json=body, headers={"X-API-Key": key})


def test_the_two_steps_end_in_an_opening_grant(client: Any, runtime: Any, conditional: Any,
                                               developer_key: str, people: Any,
                                               token_for: Any) -> None:
    bad = _apply(client, developer_key, conditional, purpose="短", items=["NOPE"], days=9999)
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} >= {"purpose", "items", "days"}
    made = _apply(client, developer_key, conditional)
    assert made.status_code == 201, made.text
    app_id = made.json()["id"]
    assert made.json()["status"] == "provider_review"
    again = _apply(client, developer_key, conditional)
    assert again.status_code == 409 and again.json()["code"] == "application_pending"

    steward, reviewer = token_for(people.steward), token_for(people.reviewer)
    outsider = token_for(people.other_steward)
    url = f"/api/v1/opening/applications/{app_id}/decision"
    assert client.post(url, json={"step": "provider", "approve": True},
                       headers=outsider).status_code == 404
    early = client.post(url, json={"step": "bureau", "approve": True}, headers=reviewer)
    assert early.status_code == 409 and early.json()["code"] == "application_decided"
    assert client.post(url, json={"step": "provider", "approve": True},
                       headers=reviewer).status_code == 403
    listed = client.get("/api/v1/opening/applications", headers=steward).json()
    assert [(a["id"], a["developer_name"]) for a in listed] == [(app_id, "开发者乙")]
    ok = client.post(url, json={"step": "provider", "approve": True, "comment": "同意"},
                     headers=steward)
    assert ok.status_code == 200 and ok.json()["status"] == "bureau_review"
    twice = client.post(url, json={"step": "provider", "approve": True}, headers=steward)
    assert twice.status_code == 409

    rows_url = f"/api/v1/portal/datasets/{conditional.id}/rows"
    assert client.get(rows_url, headers={"X-API-Key": developer_key}).status_code == 403
    done = client.post(url, json={"step": "bureau", "approve": True, "comment": "仅限研究使用"},
                       headers=reviewer)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "approved" and body["grant_id"]
    assert "仅限研究使用" in body["agreement"] and "研究就业与收入" in body["agreement"]
    with runtime.db.transaction(write=False) as db:
        grant = sharing.grant_row(db, __import__("uuid").UUID(body["grant_id"]))
        assert grant.kind == "opening" and grant.items == ["SFZZ", "BGDH"]
        assert str(grant.application_id) == app_id and grant.holder_user_id is not None
        assert db.query(ApplicationStep).count() == 2
    got = client.get(rows_url, headers={"X-API-Key": developer_key})
    assert got.status_code == 200, got.text
    data = got.json()
    assert [c["code"] for c in data["columns"]] == ["SFZZ", "BGDH"] and len(data["rows"]) == 8
    assert all(r["BGDH"].startswith("0351-****") for r in data["rows"])
    mine = client.get("/api/v1/portal/applications", headers={"X-API-Key": developer_key}).json()
    assert mine[0]["status"] == "approved"


def test_a_refusal_needs_a_reason_and_ends_it(client: Any, conditional: Any,
                                              developer_key: str, people: Any,
                                              token_for: Any) -> None:
    app_id = _apply(client, developer_key, conditional).json()["id"]
    url = f"/api/v1/opening/applications/{app_id}/decision"
    steward = token_for(people.steward)
    assert client.post(url, json={"step": "provider", "approve": False},
                       headers=steward).status_code == 422
    refused = client.post(url, json={"step": "provider", "approve": False,
                                     "comment": "用途与开放条件不符"}, headers=steward)
    assert refused.json()["status"] == "refused"
    assert client.post(url, json={"step": "bureau", "approve": True},
                       headers=token_for(people.reviewer)).status_code == 409
    # refused: the developer may apply again
    assert _apply(client, developer_key, conditional).status_code == 201


def test_an_open_dataset_is_not_applied_for(client: Any, publish: Any,
                                            developer_key: str) -> None:
    opened = publish("开放收入", opening="open", grade="general-1", rows=income_rows(3))
    got = _apply(client, developer_key, opened)
    assert got.status_code == 409 and got.json()["code"] == "opening_not_conditional"


def test_concurrent_decisions_of_one_step_one_wins(runtime: Any, client: Any, conditional: Any,
                                                    developer_key: str, make_user: Any) -> None:
    app_id = _apply(client, developer_key, conditional).json()["id"]
    stewards = [make_user(f"st{i}", "data_steward", "province.hr").actor for i in range(2)]
    outcomes: list[Any] = []
    barrier = threading.Barrier(2)

    def decide(actor: Any) -> None:
        barrier.wait()
        try:
            with runtime.db.transaction() as db:
                flows.decide(actor, db, __import__("uuid").UUID(app_id), step="provider",
                             approve=True)
            outcomes.append("ok")
        except GongshuError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=decide, args=(a,)) for a in stewards]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["application_decided", "ok"], outcomes
    with runtime.db.transaction(write=False) as db:
        assert db.query(ApplicationStep).count() == 1


def test_the_staff_page_decides(client: Any, conditional: Any, developer_key: str,
                                people: Any) -> None:
    app_id = _apply(client, developer_key, conditional).json()["id"]
    web_login(client, people.steward.username, people.steward.password)
    index = client.get("/opening")
    assert index.status_code == 200 and app_id in index.text
    page = client.get(f"/opening/applications/{app_id}")
    assert 'value="provider"' in page.text and "b@example.cn" in page.text
    done = client.post(f"/opening/applications/{app_id}/decide",
                       data={"csrf_token": csrf_of(page.text), "step": "provider",
                             "decision": "approve", "comment": "同意"})
    assert done.status_code == 200 and "bureau_review" not in done.text
    assert client.get(f"/opening/applications/{app_id}").status_code == 200


def test_the_service_refuses_unknown_steps(runtime: Any, client: Any, conditional: Any,
                                           developer_key: str, people: Any) -> None:
    app_id = _apply(client, developer_key, conditional).json()["id"]
    import uuid

    with runtime.db.transaction() as db, pytest.raises(ValidationFailed):
        flows.decide(people.steward.actor, db, uuid.UUID(app_id), step="mayor", approve=True)
    with runtime.db.transaction() as db, pytest.raises(NotFound):
        flows.decide(people.steward.actor, db, uuid.uuid4(), step="provider", approve=True)
    with runtime.db.transaction() as db, pytest.raises(InvalidState):
        flows.decide(people.reviewer.actor, db, uuid.UUID(app_id), step="bureau", approve=True)


def test_the_portal_form_applies_with_a_key(client: Any, conditional: Any,
                                            developer_key: str) -> None:
    form = client.get(f"/portal/datasets/{conditional.id}/apply")
    assert form.status_code == 200
    token = csrf_of(form.text)
    data = {"csrf_token": token, "api_key": developer_key,
            "purpose": "研究就业与收入的关系，发布汇总统计。",
            "safeguards": "数据存放在内网服务器，仅两名研究人员可访问。", "days": "60",
            "items": ["SFZZ"]}
    forged = client.post(f"/portal/datasets/{conditional.id}/apply",
                         data={**data, "csrf_token": "forged"})
    assert forged.status_code == 403
    short = client.post(f"/portal/datasets/{conditional.id}/apply", data={**data, "purpose": "短"})
    assert short.status_code == 422 and 'id="purpose"' in short.text
    bad_key = client.post(f"/portal/datasets/{conditional.id}/apply",
                          data={**data, "api_key": "gso_00000000_x"})
    assert bad_key.status_code == 401
    done = client.post(f"/portal/datasets/{conditional.id}/apply", data=data)
    assert done.status_code == 200 and 'id="applied"' in done.text
    mine = client.get("/api/v1/portal/applications", headers={"X-API-Key": developer_key}).json()
    assert [(a["items"], a["days"]) for a in mine] == [(["SFZZ"], 60)]


def test_the_portal_sign_up_page_shows_the_key_once(client: Any, runtime: Any) -> None:
    from gongshu.opening import service

    form = client.get("/portal/developers")
    token = csrf_of(form.text)
    done = client.post("/portal/developers", data={"csrf_token": token, "name": "王五",
                                                   "email": "wang@example.cn"})
    assert done.status_code == 200
    key = done.text.split('id="api-key">')[1].split("<")[0]
    with runtime.db.transaction() as db:
        assert service.authenticate_key(db, key)[0].email == "wang@example.cn"
    dup = client.post("/portal/developers", data={"csrf_token": token, "name": "王五",
                                                  "email": "wang@example.cn"})
    assert dup.status_code == 409 and key not in dup.text
