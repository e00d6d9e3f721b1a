"""Pages every user meets: login, logout, language, home dashboard, own profile and tokens."""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated, Any
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from gongshu.core.errors import PermissionDenied, ValidationFailed
from gongshu.core.i18n import Translator, normalise
from gongshu.core.jobs import count_running, list_jobs, readiness
from gongshu.core.permissions import Perm
from gongshu.core.security import constant_time_equal
from gongshu.modules import submodules
from gongshu.orgs import service as orgs
from gongshu.web.deps import (
    CSRF_COOKIE,
    LANG_COOKIE,
    SESSION_COOKIE,
    Db,
    MaybeActor,
    PageActor,
    RuntimeDep,
    locale_of,
    login_csrf,
    public,
    write_intent,
)
from gongshu.web.forms import error_map
from gongshu.web.templating import render

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect a login to another site."""
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/login")
def login_page(request: Request, actor: MaybeActor, next: str | None = None) -> Response:
    if actor is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    token = login_csrf(request)
    response = render(request, "login.html", {"login_csrf": token, "next": _safe_next(next)})
    _set_cookie(request, response, CSRF_COOKIE, token, max_age=3600)
    return response


@router.post("/login")
def login(
    request: Request,
    db: Db,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    t = Translator(locale_of(request))
    if not cookie or not constant_time_equal(cookie, csrf_token):
        return render(request, "login.html", {"login_csrf": cookie or secrets.token_urlsafe(32),
                                              "next": _safe_next(next), "username": username,
                                              "error": t("errors.csrf_failed")}, status_code=403)
    client = request.client.host if request.client else ""
    result = orgs.login(db, username=username, password=password, ip=client,
                        user_agent=request.headers.get("user-agent", ""))
    if result.error is not None:
        # commit the failure bookkeeping (counter, lockout, audit) and show the form again
        return render(request, "login.html", {"login_csrf": cookie, "next": _safe_next(next),
                                              "username": username,
                                              "error": t(f"errors.{result.error.code}",
                                                         default=result.error.detail)},
                      status_code=result.error.status)
    response = RedirectResponse(_safe_next(next), status_code=303)
    assert result.token is not None
    _set_cookie(request, response, SESSION_COOKIE, result.token,
                max_age=request.app.state.runtime.settings.session_hours * 3600)
    response.delete_cookie(CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, db: Db, actor: PageActor) -> Response:
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        orgs.logout(db, raw)
    response = RedirectResponse("/login?flash=logged_out", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/lang/{code}", dependencies=[Depends(write_intent)])
def switch_language(request: Request, code: str, db: Db, actor: MaybeActor,
                    next: str | None = None) -> Response:
    """Choose the UI language: remembered by a cookie, and on a signed-in user's profile (so
    that another browser of the same user speaks it too)."""
    locale = normalise(code) or request.app.state.runtime.settings.default_locale
    if actor is not None and actor.user_id is not None and request.state.user_locale != locale:
        orgs.update_user(actor, db, actor.user_id, locale=locale)
    response = RedirectResponse(_safe_next(next), status_code=303)
    _set_cookie(request, response, LANG_COOKIE, locale, max_age=365 * 86400, httponly=False)
    return response


def _set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int,
                httponly: bool = True) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=httponly, samesite="lax",
                        secure=request.app.state.runtime.settings.secure_cookies, path="/")


@router.get("/")
def home(request: Request, actor: PageActor, db: Db, runtime: RuntimeDep) -> Response:
    # platform-wide figures only for those who run the platform; everyone else sees their work
    counts: dict[str, Any] = {"orgs": None, "users": None, "jobs_running": None}
    if actor.can(Perm.ORG_MANAGE) or actor.can(Perm.USER_READ):
        counts.update(orgs.counts(db))
    if actor.can(Perm.JOB_READ_ALL):
        counts["jobs_running"] = count_running(db)
    my_jobs, _ = list_jobs(actor, db, limit=5)
    cards = []
    for pages in submodules("pages"):
        fn = getattr(pages, "dashboard_cards", None)
        if fn is not None:
            cards.extend(fn(actor, db))
    user = orgs.user_by_id(db, actor.user_id) if actor.user_id else None
    return render(request, "home.html", {"counts": counts, "my_jobs": my_jobs, "cards": cards,
                                         "user": user})


@router.get("/me")
def me_page(request: Request, actor: PageActor, db: Db) -> Response:
    if actor.user_id is None:
        raise PermissionDenied("Only users have a profile.")
    user = orgs.get_user(actor, db, actor.user_id)
    tokens = orgs.list_tokens(actor, db)
    return render(request, "me.html", {"user": user, "tokens": tokens, "errors": {},
                                       "new_token": None})


@router.post("/me/password")
def me_password(
    request: Request, actor: PageActor, db: Db,
    current_password: Annotated[str, Form()], new_password: Annotated[str, Form()],
) -> Response:
    assert actor.user_id is not None
    try:
        orgs.set_password(actor, db, actor.user_id, new_password=new_password,
                          current_password=current_password)
    except ValidationFailed as exc:
        db.rollback()
        user = orgs.get_user(actor, db, actor.user_id)
        return render(request, "me.html", {"user": user, "tokens": orgs.list_tokens(actor, db),
                                           "errors": error_map(request, exc), "new_token": None},
                      status_code=422)
    response = RedirectResponse("/login?flash=password_changed", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/me/tokens")
def me_create_token(
    request: Request, actor: PageActor, db: Db,
    name: Annotated[str, Form()], days: Annotated[int | None, Form()] = None,
) -> Response:
    assert actor.user_id is not None
    errors: dict[str, str] = {}
    new_token = None
    try:
        _token, new_token = orgs.create_token(actor, db, name=name, days=days)
        db.flush()
    except ValidationFailed as exc:
        db.rollback()
        errors = error_map(request, exc)
    user = orgs.get_user(actor, db, actor.user_id)
    return render(request, "me.html", {"user": user, "tokens": orgs.list_tokens(actor, db),
                                       "errors": errors, "new_token": new_token},
                  status_code=422 if errors else 200)


@router.post("/me/tokens/{token_id}/revoke")
def me_revoke_token(request: Request, actor: PageActor, db: Db, token_id: uuid.UUID) -> Response:
    orgs.revoke_token(actor, db, token_id)
    return RedirectResponse("/me?flash=token_revoked", status_code=303)


@router.get("/healthz", include_in_schema=True, tags=["platform"],
            openapi_extra={"x-permission": "public"})
def healthz(db: Db) -> dict[str, str]:
    """Liveness and database reachability, for load balancers."""
    db.execute(select(1))
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=True, tags=["platform"], **public())
def readyz(request: Request) -> Response:
    """Readiness, for load balancers and monitoring (docs/operations.md, "Logs and health").

    503 (``not_ready``) when this process cannot serve: the database does not answer, or the
    process is shutting down. 200 otherwise, ``degraded`` when the jobs are stalled (jobs wait
    and no worker is alive, or a due job has waited longer than ``GONGSHU_READY_QUEUE_SECONDS``),
    ``ok`` else. The body says how many workers are alive and how old the oldest queued job is."""
    from fastapi.responses import JSONResponse

    runtime = request.app.state.runtime
    settings = runtime.settings
    body: dict[str, Any] = {"status": "ok", "database": {"ok": True}}
    try:
        with runtime.db.transaction(write=False) as db:
            db.execute(select(1))
            state = readiness(db, stale_seconds=settings.job_stale_seconds)
    except Exception as exc:  # unreachable, or no connection in time
        body = {"status": "not_ready", "database": {"ok": False, "error": type(exc).__name__}}
        return JSONResponse(body, status_code=503)
    stalled = state.queued > 0 and (
        state.workers == 0
        or (settings.ready_queue_seconds > 0 and state.oldest_queued_seconds is not None
            and state.oldest_queued_seconds > settings.ready_queue_seconds))
    body["workers"] = {"alive": state.workers, "draining": state.draining}
    body["jobs"] = {"status": "stalled" if stalled else "ok", "queued": state.queued,
                    "running": state.running,
                    "oldest_queued_seconds": None if state.oldest_queued_seconds is None
                    else round(state.oldest_queued_seconds, 1)}
    if getattr(request.app.state, "shutting_down", False):
        body["status"] = "not_ready"
        body["shutting_down"] = True
        return JSONResponse(body, status_code=503)
    if stalled:
        body["status"] = "degraded"
    return JSONResponse(body)
