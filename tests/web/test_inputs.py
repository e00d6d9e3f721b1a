"""No input makes the API answer 5xx: the inputs that did, each answered 4xx problem+json
naming the field (``web/inputs.py`` for every route; ``catalog/transfer/xlsx.py`` for CSV cells;
``orgs.service.update_user`` for display names)."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest

from gongshu.web.inputs import _walk

BIG = 2**70
CTRL = "a\x00b"


@pytest.fixture
def api(client: Any, make_user: Any, token_for: Any, tree: dict[str, Any]) -> Any:
    """(call, ids): call(role, method, path, json=…) as an admin, a CDO or an auditor."""
    from catalog.conftest import VALID_ENTRY

    tokens = {"admin": token_for(make_user("in-admin", "admin", "province", subtree=True)),
              "cdo": token_for(make_user("in-cdo", "cdo", "province.hr")),
              "auditor": token_for(make_user("in-auditor", "auditor", "province", subtree=True))}
    entry = {**VALID_ENTRY, "provider": {**VALID_ENTRY["provider"],
                                         "org_id": str(tree["province.hr"].id)}}
    created = client.post("/api/v1/catalog/entries", headers=tokens["cdo"], json=entry)
    assert created.status_code == 201, created.text
    user = client.get("/api/v1/me", headers=tokens["cdo"]).json()

    def call(role: str, method: str, path: str, headers: dict[str, str] | None = None,
             **kwargs: Any) -> Any:
        return client.request(method, path, headers={**tokens[role], **(headers or {})},
                              **kwargs)

    return call, {"entry": created.json()["id"], "entry_body": entry, "user": user["user"]["id"],
                  "org": str(tree["province.hr"].id)}


def _assert_names(response: Any, status: int, field: str) -> None:
    assert response.status_code == status, (response.status_code, response.text[:400])
    assert response.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in response.json().get("errors", [])}
    assert field in fields, response.json()


OFFSETS = [
    ("cdo", "/api/v1/catalog/entries", "offset"),
    ("cdo", "/api/v1/catalog/search?q=x", "offset"),
    ("cdo", "/api/v1/catalog/data-elements", "offset"),
    ("cdo", "/api/v1/grading/entries", "offset"),
    ("cdo", "/api/v1/library/datasets", "offset"),
    ("admin", "/api/v1/users", "offset"),
    ("admin", "/api/v1/orgs", "offset"),
    ("admin", "/api/v1/jobs", "offset"),
]


@pytest.mark.parametrize(("role", "path", "field"), OFFSETS)
def test_offsets_beyond_64_bits(api: Any, role: str, path: str, field: str) -> None:
    call, _ids = api
    sep = "&" if "?" in path else "?"
    _assert_names(call(role, "GET", f"{path}{sep}{field}={BIG}"), 422, field)
    assert call(role, "GET", f"{path}{sep}{field}={2**63 - 1}").status_code == 200


def test_versions_and_sequence_numbers_beyond_64_bits(api: Any) -> None:
    call, ids = api
    entry = ids["entry"]
    _assert_names(call("cdo", "GET", f"/api/v1/catalog/entries/{entry}/versions/{BIG}"), 422,
                  "number")
    _assert_names(call("cdo", "GET", f"/api/v1/catalog/entries/{entry}/diff?to={BIG}"), 422,
                  "to")
    _assert_names(call("auditor", "GET", f"/api/v1/audit/events/{BIG}"), 422, "seq")
    _assert_names(call("cdo", "GET", f"/api/v1/library/datasets/{uuid.uuid4()}/preview"
                                     f"?version={BIG}"), 422, "version")


@pytest.mark.parametrize(("field", "value"), [
    ("items.0.length", BIG), ("items.0.length", -BIG), ("items.0.length", float("inf")),
])
def test_numbers_beyond_64_bits_in_json(api: Any, field: str, value: Any) -> None:
    import json

    call, ids = api
    body = {**ids["entry_body"], "items": [{**ids["entry_body"]["items"][0], "length": value}]}
    # json.dumps writes inf as Infinity, which Python's JSON reader takes
    response = call("cdo", "POST", "/api/v1/catalog/entries", content=json.dumps(body).encode(),
                    headers={"content-type": "application/json"})
    _assert_names(response, 422, field)


def test_a_big_number_for_a_token_lifetime(api: Any) -> None:
    call, _ids = api
    _assert_names(call("cdo", "POST", "/api/v1/tokens", json={"name": "x", "days": BIG}), 422,
                  "days")


CONTROLS = [
    ("cdo", "POST", "/api/v1/catalog/entries", lambda ids: {**ids["entry_body"], "name": CTRL},
     "name"),
    ("cdo", "POST", "/api/v1/catalog/entries",
     lambda ids: {**ids["entry_body"], "items": [{**ids["entry_body"]["items"][0],
                                                  "name": "x\x1b[31m"}]}, "items.0.name"),
    ("cdo", "PATCH", "/api/v1/catalog/entries/{entry}", lambda ids: {"summary": "x\x07"},
     "summary"),
    ("cdo", "POST", "/api/v1/tokens", lambda ids: {"name": CTRL}, "name"),
    ("admin", "POST", "/api/v1/orgs", lambda ids: {"name": CTRL, "kind": "public_body",
                                                   "parent_id": ids["org"]}, "name"),
    ("admin", "PATCH", "/api/v1/users/{user}", lambda ids: {"display_name": CTRL},
     "display_name"),
    ("cdo", "GET", "/api/v1/catalog/search?q=a%00b", None, "q"),
    ("cdo", "GET", "/api/v1/catalog/entries/by-code?code=%1f", None, "code"),
    ("auditor", "GET", "/api/v1/audit/events?action=x%00", None, "action"),
]


@pytest.mark.parametrize(("role", "method", "path", "body", "field"), CONTROLS)
def test_control_characters(api: Any, role: str, method: str, path: str, body: Any,
                            field: str) -> None:
    call, ids = api
    response = call(role, method, path.format(**ids), json=body(ids) if body else None)
    _assert_names(response, 422, field)


def test_tabs_and_line_breaks_are_text(api: Any) -> None:
    call, ids = api
    response = call("cdo", "PATCH", f"/api/v1/catalog/entries/{ids['entry']}",
                    json={"summary": "第一行\n第二行\t按月更新，覆盖全省的常住人口信息。"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_display_names(api: Any, name: str) -> None:
    call, ids = api
    for role in ("admin", "cdo"):  # an administrator, and the user themself
        _assert_names(call(role, "PATCH", f"/api/v1/users/{ids['user']}",
                           json={"display_name": name}), 422, "display_name")
    _assert_names(call("admin", "POST", "/api/v1/users", json={
        "username": "noname", "display_name": name, "org_id": ids["org"],
        "password": "pw-0123456789abcdef"}), 422, "display_name")
    me = call("cdo", "GET", "/api/v1/me").json()
    assert me["user"]["display_name"] == "in-cdo"


def test_a_csv_field_over_128_kib(api: Any) -> None:
    call, _ids = api
    exported = call("cdo", "GET", "/api/v1/catalog/export",
                    params={"format": "csv", "include_working": "true"})
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    header, row = rows[0], rows[1]
    row[header.index("信息资源摘要")] = "长" * (130 * 1024)
    out = io.StringIO()
    csv.writer(out).writerows([header, row])
    response = call("cdo", "POST", "/api/v1/catalog/import",
                    files={"file": ("big.csv", out.getvalue().encode("utf-8"), "text/csv")})
    assert response.status_code == 422, response.text[:400]
    errors = response.json()["errors"]
    assert any(e["field"] == "信息资源摘要" and e["code"] == "too_long" and e["row"] == 2
               for e in errors), errors


def test_the_walk_names_every_bad_value() -> None:
    errors: list[Any] = []
    _walk({"a": [1, 2**64, {"b": "\x00", "c\x01": True}], "d": float("nan"), "e": "ok\n"},
          "", errors)
    assert [(e.field, e.code) for e in errors] == [
        ("a.1", "number_out_of_range"), ("a.2.b", "control_character"),
        ("a.2.c\x01", "control_character"), ("d", "number_out_of_range")]


@pytest.mark.parametrize(("role", "method", "path", "body", "field"), [
    ("admin", "PATCH", "/api/v1/orgs/{org}", lambda ids: {"short_name": "短" * 65}, "short_name"),
    ("admin", "POST", "/api/v1/users",
     lambda ids: {"username": "longname", "display_name": "名" * 129, "org_id": ids["org"],
                  "password": "pw-0123456789abcdef"}, "display_name"),
    ("cdo", "PATCH", "/api/v1/users/{user}",
     lambda ids: {"email": "a" * 250 + "@x.cn"}, "email"),
])
def test_text_longer_than_its_column(api: Any, role: str, method: str, path: str, body: Any,
                                     field: str) -> None:
    """PostgreSQL refused these with a 500 (SQLite stored them): a field error on both."""
    call, ids = api
    _assert_names(call(role, method, path.format(**ids), json=body(ids)), 422, field)
