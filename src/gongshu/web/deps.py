"""Dependencies that make routes read like prose.

``Db`` is the request's unit of work: a write session (``BEGIN IMMEDIATE`` on SQLite) for unsafe
methods, a read session otherwise; it commits when the route returns and rolls back if it
raises, before the response is sent (``scope="function"``), so a client never sees success for
a change that did not commit.

``ApiActor`` authenticates a machine (``Authorization: Bearer gs_…``) or a browser session
(cookie + ``X-CSRF-Token`` on unsafe methods). ``PageActor`` authenticates a browser session and
sends anyone else to the login page.

Every API route declares its permission with ``**guard(Perm.X)`` (or ``guard()`` for "any
signed-in user", ``public()`` for none). The declaration refuses a caller who holds the
permission nowhere before any lookup, and shows in the OpenAPI document as ``x-permission``;
the service still checks the scope of the specific object.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from gongshu.core.errors import PermissionDenied, Unauthenticated
from gongshu.core.i18n import Translator, negotiate
from gongshu.core.permissions import Actor, Perm
from gongshu.core.runtime import Runtime
from gongshu.core.security import constant_time_equal
from gongshu.orgs import service as orgs

log = logging.getLogger("gongshu.web")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_COOKIE = "gongshu_session"
CSRF_COOKIE = "gongshu_csrf"
LANG_COOKIE = "gongshu_lang"


class LoginRequired(Exception):
    """A page needs a signed-in user; the handler redirects to /login."""


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_db(request: Request) -> Iterator[Session]:
    runtime: Runtime = request.app.state.runtime
    write = request.method not in SAFE_METHODS or getattr(request.state, "write_intent", False)
    with runtime.db.transaction(write=write) as session:
        yield session


Db = Annotated[Session, Depends(get_db, scope="function")]


def write_intent(request: Request) -> None:
    """Mark a safe-method route that writes (e.g. an audited download) as a writer."""
    request.state.write_intent = True


def _session_actor(request: Request, db: Session) -> Actor | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    found = orgs.authenticate_session(db, raw)
    if found is None:
        return None
    actor, web_session = found
    request.state.csrf_token = web_session.csrf_token
    request.state.user_locale = web_session.user.locale
    return actor


def _check_csrf(request: Request, expected: str, form_value: str | None = None) -> None:
    sent = request.headers.get("x-csrf-token") or form_value or ""
    if not sent or not constant_time_equal(sent, expected):
        raise PermissionDenied("The form has expired or did not come from this site; reload and try again.",
                               code="csrf_failed")


#: token id -> monotonic time this process last wrote its use (so that 200 reads with one
#: token in the same minute open one write transaction, not 200)
_touched: dict[uuid.UUID, float] = {}
_touched_lock = threading.Lock()


def touch_token_later(runtime: Runtime, token_id: uuid.UUID) -> None:
    """Write a token's last use in a short transaction of its own (the app calls it once the
    request's unit of work has ended, whether it committed or not)."""
    try:
        with runtime.db.transaction() as db:
            orgs.touch_token(db, token_id)
    except Exception:  # noting a use must never fail the request it was for
        log.warning("could not note the use of token %s", token_id, exc_info=True)
        with _touched_lock:
            _touched.pop(token_id, None)


def _note_token_use(request: Request, db: Session, token_id: uuid.UUID) -> None:
    """Keep the token's last use (``orgs.touch_token``, at most once a minute). Not in the
    request's session: a read session cannot write, and a request that fails rolls back, yet
    the token was used all the same; ``request.state.touch_token`` asks the app to write it
    after the request (``touch_token_later``)."""
    if not orgs.token_touch_due(db, token_id):
        return
    now = time.monotonic()
    with _touched_lock:
        if now - _touched.get(token_id, -1e9) < orgs.TOKEN_TOUCH_EVERY.total_seconds():
            return
        if len(_touched) > 10_000:
            _touched.clear()
        _touched[token_id] = now
    request.state.touch_token = token_id


def get_api_actor(request: Request, db: Db) -> Actor:
    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, raw = auth.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise Unauthenticated("Use 'Authorization: Bearer <token>'.", code="token_invalid")
        actor = orgs.authenticate_token(db, raw.strip())
        request.state.token_id = actor.token_id
        if actor.token_id is not None:
            _note_token_use(request, db, actor.token_id)
    else:
        found = _session_actor(request, db)
        if found is None:
            raise Unauthenticated("Sign in or send an API token.", code="unauthenticated")
        if request.method not in SAFE_METHODS:
            _check_csrf(request, request.state.csrf_token)
        actor = found
    request.state.actor = actor
    return actor


ApiActor = Annotated[Actor, Depends(get_api_actor)]


async def get_page_actor(request: Request, db: Db) -> Actor:
    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    actor = _session_actor(request, db)
    if actor is None:
        raise LoginRequired()
    if request.method not in SAFE_METHODS:
        form_value = None
        if request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            form = await request.form()
            value = form.get("csrf_token")
            form_value = value if isinstance(value, str) else None
        _check_csrf(request, request.state.csrf_token, form_value)
    request.state.actor = actor
    return actor


PageActor = Annotated[Actor, Depends(get_page_actor)]


def optional_page_actor(request: Request, db: Db) -> Actor | None:
    try:
        return _session_actor(request, db)
    except Exception:
        return None


MaybeActor = Annotated[Actor | None, Depends(optional_page_actor)]


class _Needs:
    def __init__(self, perm: Perm | str | None) -> None:
        self.perm = perm

    def __call__(self, actor: ApiActor) -> None:
        if self.perm is not None and not actor.can(self.perm):
            raise PermissionDenied(f"You do not have the permission {self.perm}.",
                                   permission=str(self.perm))


def guard(perm: Perm | str | None = None) -> dict[str, Any]:
    """Route options: authenticate, refuse callers without ``perm`` anywhere, document it."""
    return {
        "dependencies": [Depends(_Needs(perm))],
        "openapi_extra": {"x-permission": str(perm) if perm else "authenticated"},
    }


def public() -> dict[str, Any]:
    return {"openapi_extra": {"x-permission": "public"}}


def page_guard(perm: Perm | str) -> Any:
    """Dependency for pages: a signed-in user holding ``perm`` somewhere."""

    def check(actor: PageActor) -> Actor:
        if not actor.can(perm):
            raise PermissionDenied(f"You do not have the permission {perm}.",
                                   permission=str(perm))
        return actor

    return Depends(check)


def locale_of(request: Request) -> str:
    """The reader's language. Pages speak the platform's language (``default_locale``, zh-CN)
    to every visitor whatever the browser's Accept-Language says, until the visitor chooses
    another (``/lang/<code>``: a cookie, and the signed-in user's profile). The API is for
    machines: it follows ``lang``, the user's profile and Accept-Language, English by default."""
    actor = getattr(request.state, "actor", None)
    runtime: Runtime = request.app.state.runtime
    user_locale = getattr(request.state, "user_locale", None)
    if request.url.path.startswith("/api/"):
        return negotiate(
            request.query_params.get("lang"),
            request.cookies.get(LANG_COOKIE) if actor is None else None,
            user_locale,
            accept_language=request.headers.get("accept-language"),
            default="en",
        )
    return negotiate(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        user_locale,
        default=runtime.settings.default_locale,
    )


def get_translator(request: Request) -> Translator:
    return Translator(locale_of(request))


T = Annotated[Translator, Depends(get_translator)]


def login_csrf(request: Request) -> str:
    """A token for the login form (double-submit cookie: there is no session yet)."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
