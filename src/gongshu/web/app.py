"""The application factory: one FastAPI app serving the JSON API and the web pages."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from gongshu import __version__
from gongshu.core import i18n, migrations
from gongshu.core.jobs import Worker
from gongshu.core.runtime import Runtime
from gongshu.modules import import_job_handlers, import_models, start_hooks, submodules
from gongshu.web import admission, core_pages, deps, inputs, problems
from gongshu.web.deps import SESSION_COOKIE
from gongshu.web.templating import STATIC_DIR

log = logging.getLogger("gongshu.web")

API_DESCRIPTION = """
公数（gongshu）是落实《山西省数据工作管理办法》（2024）的省级公共数据平台。本接口供各部门的系统
对接使用：数据目录、数据资源、共享申请与授权、开放门户和审计日志。

**认证**：每个请求在 `Authorization: Bearer <令牌>` 头中携带 API 令牌（`gs_…`）。令牌在网页
“个人中心”创建，或由管理员在命令行创建；令牌只显示一次。浏览器中已登录的会话（Cookie
`gongshu_session`，写操作另需 `X-CSRF-Token` 头）同样有效。每个操作以 `x-permission` 注明所需的
权限，且只在您的角色所授的组织范围内有效。点击右上角 **Authorize** 填入令牌即可在本页试用。

对接只需两步：

```
gongshu token create USER --name NAME
curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/api/v1/...
```

**错误**以 RFC 9457 `application/problem+json` 返回，带稳定的 `code`；校验错误在 `errors` 中逐项
列出（`field`、`code`、`message`，导入时还有 `row`）。`message` 随 `Accept-Language`
（zh-CN 或 en）变化，请按 `code` 判断。全部错误代码及其中英文说明见文末，也以 `x-error-codes`
扩展列在本文档中。

**English.** The API of gongshu, the provincial public data platform of the Shanxi Data Work
Management Measures (2024). Authenticate with `Authorization: Bearer <token>`: create a token on
the profile page (个人中心) or with `gongshu token create USER --name NAME`, then call
`curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/api/v1/...`. Errors are
`application/problem+json` documents with a stable `code` (listed below and in `x-error-codes`).
"""

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
}


#: the security schemes of the API (Authorize button of /api/docs)
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearerToken": {"type": "http", "scheme": "bearer", "bearerFormat": "gs_…",
                    "description": "API 令牌 / API token: `gongshu token create` or 个人中心."},
    "sessionCookie": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                      "description": "浏览器会话 / browser session (unsafe methods also need the "
                                     "X-CSRF-Token header)."},
    "developerKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                     "description": "开放门户开发者密钥 / open-data portal developer key (gso_…)."},
}
SIGNED_IN: list[dict[str, list[str]]] = [{"bearerToken": []}, {"sessionCookie": []}]


def error_codes() -> list[dict[str, str]]:
    """Every stable problem ``code`` the locales translate, with its zh-CN and English text."""
    zh, en = i18n.catalog("zh-CN"), i18n.catalog("en")
    codes = sorted({k.removeprefix("errors.") for k in zh if k.startswith("errors.")}
                   | {k.removeprefix("errors.") for k in en if k.startswith("errors.")})
    return [{"code": c, "zh-CN": zh.get(f"errors.{c}", ""), "en": en.get(f"errors.{c}", "")}
            for c in codes]


def error_codes_markdown() -> str:
    """The error codes as a Markdown table (the OpenAPI description and docs/api.md)."""
    rows = "\n".join(f"| `{c['code']}` | {c['zh-CN']} | {c['en']} |".replace("\n", " ")
                     for c in error_codes())
    return "| code | 中文 | English |\n|---|---|---|\n" + rows + "\n"


def _document_security(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare the schemes, and on every operation the ones it accepts (public: none)."""
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    schema["security"] = SIGNED_IN
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if "x-api-key" in operation:
                operation["security"] = [{"developerKey": []}]
            elif operation.get("x-permission") == "public":
                operation["security"] = []
            else:
                operation["security"] = SIGNED_IN
    schema["info"]["x-error-codes"] = error_codes()
    schema["info"]["description"] += "\n**错误代码 / Error codes**\n\n" + error_codes_markdown()
    return schema


def _run_hook(hook: Any, runtime: Runtime) -> None:
    try:
        hook(runtime)
    except Exception:  # a warm-up that fails must not stop the server; the work happens later
        log.exception("start-up hook %s failed", getattr(hook, "__module__", hook))


def create_app(runtime: Runtime | None = None, *, start_worker: bool = True) -> FastAPI:
    runtime = runtime or Runtime()
    import_models()
    import_job_handlers()

    settings = runtime.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        admission.size_thread_pool(settings.web_threads)
        if not migrations.is_current(runtime.db):
            before, after = migrations.upgrade(runtime.db)
            log.warning("upgraded the metadata store from %s to %s", before, after)
        for hook in start_hooks():
            threading.Thread(target=_run_hook, args=(hook, runtime), daemon=True,
                             name="gongshu-start").start()
        worker = None
        if start_worker and runtime.settings.job_threads > 0:
            worker = Worker(runtime, threads=runtime.settings.job_threads)
            worker.start()
        app.state.worker = worker
        app.state.shutting_down = False
        try:
            yield
        finally:
            app.state.shutting_down = True  # /readyz answers 503 from now on
            if worker is not None:
                worker.drain()

    app = FastAPI(
        title="gongshu 公数",
        version=__version__,
        description=API_DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
        dependencies=[Depends(inputs.check)],
    )
    app.state.runtime = runtime
    problems.install(app)
    problems.document(app)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        token_id = getattr(request.state, "touch_token", None)
        if token_id is not None:  # the request's unit of work has ended, committed or not
            await run_in_threadpool(deps.touch_token_later, runtime, token_id)
        return response

    @app.get("/api/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        # Served from our own static files: government networks are often air-gapped.
        page = get_swagger_ui_html(
            openapi_url="/api/openapi.json",
            title="gongshu API",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )
        # Swagger UI starts itself with an inline script.
        page.headers["Content-Security-Policy"] = SECURITY_HEADERS["Content-Security-Policy"].replace(
            "script-src 'self'", "script-src 'self' 'unsafe-inline'"
        )
        return page

    app.include_router(core_pages.router)
    for api in submodules("api"):
        app.include_router(api.router)
    for pages in submodules("pages"):
        app.include_router(pages.router)
    admission.install(app, slots=settings.web_threads,
                      queue_seconds=settings.request_queue_seconds,
                      headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})

    documented = app.openapi  # problems.document's: the problem+json answers

    def openapi() -> dict[str, Any]:
        schema = documented()
        if "securitySchemes" not in schema.get("components", {}):
            _document_security(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
