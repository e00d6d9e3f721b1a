"""Every API route refuses the unauthenticated (401) and the unauthorised (403) with problem+json.

The routes are enumerated from the live app, so a route added later is covered without editing
this file; a route that forgets to declare its permission fails ``test_every_route_declares``.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest
from sqlalchemy import update

from gongshu.orgs.models import ApiToken


def api_routes(app: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) for every /api/v1 operation in the OpenAPI document."""
    out = []
    for path, item in app.openapi()["paths"].items():
        if path.startswith("/api/v1"):
            for method, op in item.items():
                if method in ("get", "post", "put", "patch", "delete"):
                    out.append((method.upper(), path, op))
    return out


def concrete(path: str, op: dict[str, Any]) -> str:
    """The path with every parameter filled with a well-formed value of its type."""
    schemas = {p["name"]: p.get("schema", {}) for p in op.get("parameters", []) if p["in"] == "path"}

    def fill(match: re.Match[str]) -> str:
        schema = schemas.get(match.group(1), {})
        if schema.get("type") == "integer":
            return "1"
        if schema.get("format") == "uuid":
            return str(uuid.UUID(int=1))
        return "x"

    return re.sub(r"\{([^}]+)\}", fill, path)


def permission_of(op: dict[str, Any]) -> str | None:
    return op.get("x-permission")


def call(client: Any, method: str, path: str, headers: dict[str, str] | None = None) -> Any:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return client.request(method, path, headers=headers or {}, json=body)


def assert_problem(response: Any, status: int) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["code"] and body["title"] and body["detail"]


def test_every_route_declares_its_permission(app: Any) -> None:
    missing = [f"{m} {p}" for m, p, r in api_routes(app) if permission_of(r) is None]
    assert not missing, f"routes without x-permission: {missing}"
    assert len(api_routes(app)) >= 20


def test_unauthenticated_requests_are_refused(app: Any, client: Any) -> None:
    checked = 0
    for method, path, route in api_routes(app):
        if permission_of(route) == "public":
            continue
        assert_problem(call(client, method, concrete(path, route)), 401)
        checked += 1
    assert checked >= 20


@pytest.mark.parametrize("header", ["Bearer gs_deadbeef_nope", "Bearer nonsense", "Basic dXNlcjpwdw==",
                                    "Bearer "])
def test_malformed_or_unknown_tokens_are_refused(client: Any, header: str) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": header})
    assert_problem(response, 401)
    assert response.json()["code"] == "token_invalid"


def test_expired_and_revoked_tokens_are_refused_on_every_route(
    app: Any, client: Any, runtime: Any, make_user: Any, token_for: Any
) -> None:
    member = make_user("expiring", "admin", "province", subtree=True)
    expired = token_for(member)
    revoked = token_for(member)
    assert client.get("/api/v1/me", headers=expired).status_code == 200
    prefix_expired = expired["Authorization"].split("_")[1]
    prefix_revoked = revoked["Authorization"].split("_")[1]
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with runtime.db.transaction() as db:
        db.execute(update(ApiToken).where(ApiToken.prefix == prefix_expired).values(expires_at=past))
        db.execute(update(ApiToken).where(ApiToken.prefix == prefix_revoked).values(revoked_at=past))
    for method, path, route in api_routes(app):
        if permission_of(route) == "public":
            continue
        url = concrete(path, route)
        r1 = call(client, method, url, expired)
        assert_problem(r1, 401)
        assert r1.json()["code"] == "token_expired"
        r2 = call(client, method, url, revoked)
        assert_problem(r2, 401)
        assert r2.json()["code"] == "token_revoked"


def test_callers_without_the_permission_are_forbidden(
    app: Any, client: Any, make_user: Any, token_for: Any
) -> None:
    """A user with no role holds no permission: every route that names one answers 403."""
    nobody = token_for(make_user("nobody", None))
    checked = 0
    for method, path, route in api_routes(app):
        perm = permission_of(route)
        if perm in ("public", "authenticated"):
            continue
        assert_problem(call(client, method, concrete(path, route), nobody), 403)
        checked += 1
    assert checked >= 10


def test_a_role_without_the_permission_is_forbidden(client: Any, make_user: Any, token_for: Any) -> None:
    editor = token_for(make_user("ed", "catalog_editor", "province.hr"))
    assert_problem(client.get("/api/v1/audit/events", headers=editor), 403)
    assert_problem(client.post("/api/v1/orgs", headers=editor, json={}), 403)
    admin = token_for(make_user("adm", "admin", "province", subtree=True))
    # administrators manage but do not read the audit log (separation of duties)
    assert_problem(client.get("/api/v1/audit/events", headers=admin), 403)
    auditor = token_for(make_user("aud", "auditor", "province", subtree=True))
    assert client.get("/api/v1/audit/events", headers=auditor).status_code == 200


def test_session_cookie_on_the_api_needs_the_csrf_header_for_changes(
    client: Any, make_user: Any
) -> None:
    from support import web_login

    member = make_user("cookie", "catalog_editor", "province.hr")
    web_login(client, member.username, member.password)
    assert client.get("/api/v1/me").status_code == 200
    response = client.post("/api/v1/tokens", json={"name": "x"})
    assert_problem(response, 403)
    assert response.json()["code"] == "csrf_failed"


def test_a_token_keeps_the_time_it_was_last_used(
    client: Any, runtime: Any, make_user: Any, token_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads note it after the response (their session cannot write), writes too even when they
    fail; at most once a minute."""
    from gongshu.web import deps

    monkeypatch.setattr(deps, "_touched", {})
    member = make_user("user-of-token", "catalog_editor", "province.hr")
    headers = token_for(member)
    prefix = headers["Authorization"].split("_")[1]

    def last_used() -> dt.datetime | None:
        with runtime.db.transaction(write=False) as db:
            return db.query(ApiToken).filter(ApiToken.prefix == prefix).one().last_used_at

    assert last_used() is None
    before = dt.datetime.now(dt.UTC)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    first = last_used()
    assert first is not None and first >= before - dt.timedelta(seconds=1)
    # within the minute: not written again
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert last_used() == first
    # a minute later, a write that fails (invalid body) still notes the use
    monkeypatch.setattr(deps, "_touched", {})
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    with runtime.db.transaction() as db:
        db.execute(update(ApiToken).where(ApiToken.prefix == prefix).values(last_used_at=past))
    assert client.post("/api/v1/tokens", headers=headers, json={"name": ""}).status_code == 422
    later = last_used()
    assert later is not None and later > past + dt.timedelta(minutes=4)
    listed = client.get("/api/v1/tokens", headers=headers).json()
    assert any(t["last_used_at"] for t in listed)
