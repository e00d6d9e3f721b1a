"""The OpenAPI document says how to authenticate (Authorize button), how to start, and every
stable error code; /api/docs is served from local assets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tests.web.test_api_auth import api_routes

from gongshu.core import i18n
from gongshu.web.app import API_DESCRIPTION, error_codes_markdown

CURL_LINES = (
    "gongshu token create USER --name NAME",
    'curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/api/v1/...',
)


def test_security_schemes_declared(app: Any) -> None:
    schema = app.openapi()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerToken"] == {**schemes["bearerToken"], "type": "http", "scheme": "bearer"}
    assert schemes["sessionCookie"]["type"] == "apiKey"
    assert schemes["sessionCookie"]["in"] == "cookie"
    assert schemes["sessionCookie"]["name"] == "gongshu_session"
    assert {"bearerToken": []} in schema["security"]
    # composed with the problem+json declarations (web/problems.document), not instead of them
    assert "Problem" in schema["components"]["schemas"]
    assert any("responses" in c for c in [schema["components"]])


def test_each_route_declares_its_security(app: Any) -> None:
    seen = {"guarded": 0, "public": 0}
    for method, path, op in api_routes(app):
        names = {name for requirement in op["security"] for name in requirement}
        if op.get("x-permission") == "public":
            if "x-api-key" in op:
                assert names == {"developerKey"}, (method, path)
            else:
                assert op["security"] == [], (method, path)
            seen["public"] += 1
        else:
            assert names == {"bearerToken", "sessionCookie"}, (method, path)
            seen["guarded"] += 1
    assert seen["guarded"] > 20 and seen["public"] > 0


def test_description_has_curl_lines_and_every_error_code(app: Any) -> None:
    info = app.openapi()["info"]
    description = info["description"]
    assert description.lstrip().startswith("公数")
    for line in CURL_LINES:
        assert line in description
    assert "English" in description
    zh, en = i18n.catalog("zh-CN"), i18n.catalog("en")
    codes = {k.removeprefix("errors.") for k in zh if k.startswith("errors.")}
    assert {"not_found", "unauthenticated"} <= codes
    listed = {c["code"]: c for c in info["x-error-codes"]}
    assert codes <= set(listed)
    for code in codes:
        assert f"| `{code}` |" in description
        assert listed[code]["zh-CN"] == zh[f"errors.{code}"]
        assert listed[code]["en"] == en.get(f"errors.{code}", "")


def test_docs_page_uses_local_swagger(client: Any) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert "/static/vendor/swagger-ui-bundle.js" in page.text
    assert "/static/vendor/swagger-ui.css" in page.text
    assert "/api/openapi.json" in page.text
    assert client.get("/static/vendor/swagger-ui-bundle.js").status_code == 200
    spec = client.get("/api/openapi.json")
    assert spec.status_code == 200 and "securitySchemes" in spec.json()["components"]


DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def render_doc() -> str:
    """docs/api.md: how to reach the API, and the table of error codes (generated)."""
    return f"""# API 接口说明 / The API

接口文档在运行中的平台上：`/api/docs`（Swagger UI，本地资源，可离线使用；右上角 **Authorize**
填入令牌后即可试用），机器可读的 OpenAPI 文档在 `/api/openapi.json`。

The interactive documentation is served by the platform itself at `/api/docs` (local assets,
works air-gapped); the OpenAPI document is `/api/openapi.json`. Its security schemes are
`bearerToken` (HTTP bearer, API tokens `gs_…`), `sessionCookie` (the browser session cookie
`gongshu_session`; unsafe methods also need `X-CSRF-Token`) and `developerKey` (`X-API-Key`, the
open-data portal's developer keys). Public operations declare no security.

## 简介 / Introduction

{API_DESCRIPTION.strip()}

## 错误代码 / Error codes

The stable `code` of every problem+json answer, with its messages (the same list is in the
OpenAPI document as `info.x-error-codes`). This table is generated: regenerate it with
`python tests/web/test_openapi_docs.py --write`.

{error_codes_markdown()}"""


def test_the_docs_table_is_current() -> None:
    assert DOC.read_text("utf-8") == render_doc(), (
        "docs/api.md is out of date: run `python tests/web/test_openapi_docs.py --write`")


if __name__ == "__main__" and "--write" in sys.argv:
    DOC.write_text(render_doc(), "utf-8")
