"""Sharing pages render for each role and drive the workflow through real forms."""

from __future__ import annotations

import re
from typing import Any

import pytest

from gongshu.catalog import service as catalog
from gongshu.sharing import flows
from library.data import SYSTEM, register_rows, write_file
from sharing.test_flows import act, ask
from support import csrf_of, web_login


def login(client: Any, member: Any) -> None:
    client.cookies.clear()
    r = web_login(client, member.username, member.password)
    assert r.status_code == 200, r.text[:300]


@pytest.fixture
def world(runtime: Any, publish: Any, cast: Any) -> Any:
    """One granted request (with its grant), one overdue-ready conditional request in review."""
    granted = act(runtime, flows.check, cast.bureau,
                  ask(runtime, cast.requester, publish("unconditional")), decision="conform")
    pending = act(runtime, flows.check, cast.bureau,
                  ask(runtime, cast.requester, publish("conditional")), decision="conform")
    return {"granted": granted, "pending": pending}


@pytest.mark.parametrize(("who", "pages"), [
    ("requester", ["/", "/sharing", "/sharing/grants", "/sharing/grants?held=1",
                   "/sharing/requests/{pending}", "/sharing/grants/{grant}"]),
    ("provider", ["/", "/sharing/inbox", "/sharing/inbox?overdue=1", "/sharing/reports",
                  "/sharing/requests/{pending}", "/sharing/grants/{grant}"]),
    ("bureau", ["/", "/sharing/queue", "/sharing/reports", "/sharing/requests/{granted}"]),
    ("reporter", ["/", "/sharing/reports", "/sharing/grants", "/sharing/grants/{grant}",
                  "/sharing/requests/{granted}"]),
    ("admin", ["/", "/sharing/calendar"]),
])
def test_pages_render_for_each_role(client: Any, cast: Any, world: Any, who: str,
                                    pages: list[str]) -> None:
    login(client, getattr(cast, who))
    ids = {"pending": world["pending"].id, "granted": world["granted"].id,
           "grant": world["granted"].grant_id}
    for page in pages:
        r = client.get(page.format(**ids))
        assert r.status_code == 200, (page, r.status_code, r.text[:500])


def test_home_shows_each_roles_work(client: Any, cast: Any, world: Any) -> None:
    login(client, cast.provider)
    home = client.get("/").text
    assert "待答复的共享申请" in home and 'href="/sharing/inbox"' in home
    login(client, cast.requester)
    home = client.get("/").text
    assert "本单位办理中的共享申请" in home and "本单位持有的有效授权" in home
    login(client, cast.bureau)
    assert "待审核或协调的共享申请" in client.get("/").text


def test_others_cannot_open_pages_or_requests(client: Any, cast: Any, world: Any,
                                              make_user: Any) -> None:
    login(client, cast.stranger)
    assert client.get(f"/sharing/requests/{world['pending'].id}").status_code == 404
    assert client.get("/sharing/inbox").status_code == 403
    assert client.get("/sharing/calendar").status_code == 403
    login(client, make_user("plain_editor", "catalog_editor", "province.hr"))
    assert client.get("/sharing/reports").status_code == 403


def test_ask_from_the_entry_page_and_answer_through_forms(client: Any, cast: Any, publish: Any,
                                                          runtime: Any) -> None:
    entry = publish("conditional")
    login(client, cast.requester)
    detail = client.get(f"/catalog/{entry.id}").text
    assert f'href="/sharing/new?entry={entry.id}"' in detail
    form = client.get(f"/sharing/new?entry={entry.id}")
    assert form.status_code == 200
    token = csrf_of(form.text)
    # missing items and scenario details: errors beside the fields, nothing written
    r = client.post("/sharing/new", data={"csrf_token": token, "entry": str(entry.id),
                                          "scenario_name": "新场景", "contact_name": "周",
                                          "contact_phone": "1"})
    assert r.status_code == 422 and 'class="error"' in r.text
    r = client.post("/sharing/new", data={
        "csrf_token": token, "entry": str(entry.id), "items": ["XM", "YSR"],
        "scenario_name": "救助资格核验", "description": "核验", "legal_basis": "《社会救助暂行办法》",
        "contact_name": "周", "contact_phone": "1"})
    assert r.status_code == 200 and "GX-" in r.text, r.text[:500]
    request_id = re.search(r'/sharing/requests/([0-9a-f-]{36})', str(r.url)).group(1)
    # the bureau checks it through the form
    login(client, cast.bureau)
    page = client.get(f"/sharing/requests/{request_id}").text
    assert 'action="/sharing/requests/' in page and "符合" in page
    r = client.post(f"/sharing/requests/{request_id}/check",
                    data={"csrf_token": csrf_of(page), "decision": "conform", "comment": ""})
    assert r.status_code == 200 and "提供方答复" in r.text
    # the provider refuses without reasons: an error; then grants with a daily limit
    login(client, cast.provider)
    page = client.get(f"/sharing/requests/{request_id}").text
    r = client.post(f"/sharing/requests/{request_id}/refuse",
                    data={"csrf_token": csrf_of(page), "comment": ""})
    assert r.status_code == 422
    r = client.post(f"/sharing/requests/{request_id}/approve",
                    data={"csrf_token": csrf_of(page), "comment": "同意",
                          "grant_items": ["XM"], "daily_row_limit": "100"})
    assert r.status_code == 200 and "已授权" in r.text
    # a second approval from a stale page: 409 shown in place
    r = client.post(f"/sharing/requests/{request_id}/approve",
                    data={"csrf_token": csrf_of(page), "comment": "again"})
    assert r.status_code == 409


def test_revoke_and_calendar_forms(client: Any, cast: Any, world: Any) -> None:
    grant_id = world["granted"].grant_id
    login(client, cast.requester)
    assert 'id="revoke"' not in client.get(f"/sharing/grants/{grant_id}").text  # the holder
    login(client, cast.provider)
    page = client.get(f"/sharing/grants/{grant_id}").text
    assert 'id="revoke"' in page and 'id="grant-delivery"' in page
    r = client.post(f"/sharing/grants/{grant_id}/revoke", data={"csrf_token": csrf_of(page),
                                                                 "reason": " "})
    assert r.status_code == 422
    r = client.post(f"/sharing/grants/{grant_id}/revoke", data={"csrf_token": csrf_of(page),
                                                                 "reason": "场景结束"})
    assert r.status_code == 200 and "已撤销" in r.text
    login(client, cast.admin)
    page = client.get("/sharing/calendar").text
    assert "2026" in page and "2025" in page
    r = client.post("/sharing/calendar", data={"csrf_token": csrf_of(page), "day": "bad"})
    assert r.status_code == 422
    r = client.post("/sharing/calendar", data={"csrf_token": csrf_of(page), "day": "2027-01-01",
                                               "kind": "holiday", "note": "元旦"})
    assert r.status_code == 200 and "2027-01-01" in r.text


def test_the_holder_downloads_and_makes_a_token_bound_to_the_grant(
        client: Any, cast: Any, world: Any, runtime: Any, run_ingest: Any, tmp_path: Any) -> None:

    granted = world["granted"]
    path = tmp_path / "people.csv"
    write_file(path, register_rows(30))
    with runtime.db.transaction(write=False) as db:
        entry = catalog.get_entry(SYSTEM, db, granted.entry_id)
        db.expunge(entry)
    assert run_ingest(cast.provider.actor, entry, path).status == "succeeded"
    login(client, cast.stranger)  # not the holder: no way to the data
    assert client.get(f"/sharing/grants/{granted.grant_id}").status_code == 404
    login(client, cast.requester)
    page = client.get(f"/sharing/grants/{granted.grant_id}").text
    assert 'id="delivery-downloads"' in page and "format=csv" in page
    r = client.get(f"/api/v1/grants/{granted.grant_id}/data?format=csv&download=true")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    r = client.post(f"/sharing/grants/{granted.grant_id}/token",
                    data={"csrf_token": csrf_of(page), "name": "对接系统", "days": "7"})
    assert r.status_code == 200
    token = re.search(r'id="new-token".*?<pre class="code">(gs_[^<]+)</pre>', r.text, re.S)
    assert token is not None, r.text[:2000]
    bearer = {"Authorization": f"Bearer {token.group(1)}"}
    client.cookies.clear()
    pulled = client.get(f"/api/v1/grants/{granted.grant_id}/data?format=json", headers=bearer)
    assert pulled.status_code == 200 and pulled.json()["rows"], pulled.text[:300]
    # bound to this grant: nothing else, not even what its user may do with a session
    assert client.get("/api/v1/sharing/requests", headers=bearer).status_code in (403, 404)
    assert client.get("/api/v1/catalog/entries", headers=bearer).status_code == 403
