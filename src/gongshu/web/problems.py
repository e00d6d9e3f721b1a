"""Errors as RFC 9457 problem documents (API) or error pages (web).

Every problem has a stable ``code``; ``title`` and ``detail`` are in the caller's language.
Field-level problems are listed in ``errors`` (``field``, ``code``, ``message``, and ``row`` for
imports), all of them at once.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from gongshu.core.errors import FieldError, GongshuError, Unavailable, ValidationFailed
from gongshu.core.i18n import Translator
from gongshu.web.deps import LoginRequired, locale_of

log = logging.getLogger("gongshu.web")

PROBLEM_JSON = "application/problem+json"
_HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "permission_denied",
               404: "not_found", 405: "method_not_allowed", 409: "conflict",
               413: "payload_too_large", 422: "validation_failed", 429: "too_many_requests",
               500: "internal_error", 503: "overloaded"}


def wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and request.url.path not in ("/healthz",)


def problem_body(request: Request, *, status: int, code: str, detail: str,
                 params: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    t = Translator(locale_of(request))
    body: dict[str, Any] = {
        "type": f"urn:gongshu:problem:{code}",
        "title": t(f"problem.{status}", default=t("problem.generic")),
        "status": status,
        "detail": t(f"errors.{code}", default=detail, **(params or {})),
        "code": code,
        "instance": request.url.path,
    }
    if extra:
        body.update(extra)
    return body


def _localised_errors(request: Request, errors: list[FieldError]) -> list[dict[str, Any]]:
    t = Translator(locale_of(request))
    out = []
    for e in errors:
        item = e.as_dict()
        item["message"] = t(f"errors.{e.code}", default=e.message, **dict(e.params))
        out.append(item)
    return out


def _render_error_page(request: Request, status: int, title: str, detail: str,
                       errors: list[dict[str, Any]] | None = None) -> Response:
    from gongshu.web.templating import render

    if request.headers.get("hx-request"):
        response = render(request, "_flash.html",
                          {"level": "error", "message": detail, "errors": errors or []},
                          status_code=200)
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return render(request, "error.html", {"status": status, "title": title, "detail": detail,
                                          "errors": errors or []}, status_code=status)


def _respond(request: Request, status: int, code: str, detail: str,
             params: dict[str, Any] | None = None, extra: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> Response:
    body = problem_body(request, status=status, code=code, detail=detail, params=params, extra=extra)
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="gongshu"'
    if status == 429 and params and params.get("retry_after") is not None:
        # RFC 9110 §10.2.3: when to try again (a rate limit names its window's end)
        headers["Retry-After"] = str(int(params["retry_after"]))
    if wants_html(request):
        response = _render_error_page(request, status, body["title"], body["detail"],
                                      (extra or {}).get("errors"))
        response.headers.update(headers)
        return response
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def overloaded(request: Request, exc: Unavailable) -> Response:
    """503 with Retry-After: the answer to a request the platform cannot serve in time."""
    return _respond(request, exc.status, exc.code, exc.detail, exc.params,
                    headers={"Retry-After": str(exc.retry_after)})


def _database_busy(exc: BaseException) -> bool:
    """A connection not checked out in time (pool timeout), or SQLite's lock not obtained
    within its busy timeout: the database is busy, not broken."""
    if isinstance(exc, sa_exc.TimeoutError):
        return True
    return (isinstance(exc, sa_exc.OperationalError)
            and "database is locked" in str(getattr(exc, "orig", exc)))


def install(app: FastAPI) -> None:
    @app.exception_handler(GongshuError)
    async def _gongshu_error(request: Request, exc: GongshuError) -> Response:
        if isinstance(exc, Unavailable):
            return overloaded(request, exc)
        extra = exc.extra()
        if isinstance(exc, ValidationFailed):
            extra["errors"] = _localised_errors(request, exc.errors)
        return _respond(request, exc.status, exc.code, exc.detail, exc.params, extra)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": f"/login?next={quote(target)}"})
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form")]
            errors.append(FieldError(".".join(loc) or "request", err.get("type", "invalid"),
                                     err.get("msg", "invalid")))
        return _respond(request, 422, "validation_failed", "The input is not valid.",
                        extra={"errors": [e.as_dict() for e in errors]})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else code
        return _respond(request, exc.status_code, code, detail)

    @app.exception_handler(sa_exc.TimeoutError)
    @app.exception_handler(sa_exc.OperationalError)
    async def _database_error(request: Request, exc: Exception) -> Response:
        if _database_busy(exc):
            log.warning("database busy on %s %s: %s", request.method, request.url.path, exc)
            return overloaded(request, Unavailable())
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _respond(request, 500, "internal_error",
                        "Something went wrong on our side; it has been logged.")


# ------------------------------------------------------------------------------ OpenAPI

#: the problems any API operation may answer, declared on every operation of the document
DOCUMENTED_PROBLEMS = {
    400: "Bad request: the request cannot be read.",
    401: "Not signed in: no, an expired or a revoked token.",
    403: "Forbidden: the permission is missing (`x-permission`) or the scope does not cover it.",
    404: "Not found, or not visible to the caller (both are answered alike).",
    405: "Method not allowed.",
    409: "Conflict with the current state (`code` says which).",
    413: "Payload too large.",
    415: "Unsupported media type.",
    422: "Invalid input: `errors` lists every field problem (`field`, `code`, `message`).",
    429: "Too many requests.",
    503: "Overloaded: retry after `Retry-After` seconds.",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem document with a stable `code`.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["field", "code", "message"],
            "properties": {"field": {"type": "string"}, "code": {"type": "string"},
                           "message": {"type": "string"}, "row": {"type": "integer"}}}},
    },
    "additionalProperties": True,
}


def document(app: FastAPI) -> None:
    """Declare the problem+json answers on every operation of the OpenAPI document (instead of
    FastAPI's ``application/json`` 422), so that every status and content type the API answers
    is documented."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes)
        components = schema.setdefault("components", {})
        components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        components.setdefault("responses", {}).update({
            f"Problem{status}": {
                "description": text,
                "headers": {"Retry-After": {"schema": {"type": "integer"},
                                            "description": "Seconds to wait."}}
                if status == 503 else {},
                "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            } for status, text in DOCUMENTED_PROBLEMS.items()})
        for item in schema.get("paths", {}).values():
            for method, operation in item.items():
                if method not in ("get", "put", "post", "patch", "delete"):
                    continue
                responses = operation.setdefault("responses", {})
                for status in DOCUMENTED_PROBLEMS:
                    responses[str(status)] = {"$ref": f"#/components/responses/Problem{status}"}
        for name in ("HTTPValidationError", "ValidationError"):
            components.get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
