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
from gongshu.core import migrations
from gongshu.core.jobs import Worker
from gongshu.core.runtime import Runtime
from gongshu.modules import import_job_handlers, import_models, start_hooks, submodules
from gongshu.web import admission, core_pages, deps, inputs, problems
from gongshu.web.templating import STATIC_DIR

log = logging.getLogger("gongshu.web")

API_DESCRIPTION = """
The API of gongshu (公数), the provincial public data platform of the Shanxi Data Work
Management Measures (山西省数据工作管理办法, 2024).

**Authentication**: `Authorization: Bearer gs_…` with a token from `POST /api/v1/tokens`, the web
profile page or `gongshu token create`. Each operation lists the permission it needs as
`x-permission`; the organisation scope of your role grants applies on top.

**Errors** are RFC 9457 `application/problem+json` documents with a stable `code`; validation
errors list every problem in `errors` (`field`, `code`, `message`, and `row` for imports).
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
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()

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
    return app
