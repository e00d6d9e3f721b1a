"""Web pages of opening (Art. 13).

The portal (``/portal``) needs no login: the open datasets with search and facets, a dataset's
page (description, columns and how they are masked, a preview, downloads, usage per day), the
DCAT feed of the open entries, developer sign-up (an API key shown once) and the application
for a conditionally open dataset. Its forms use a double-submit cookie (there is no session).
Signed-in staff get ``/opening``: applications to decide, usage of their body's open datasets.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from gongshu.catalog import service as catalog
from gongshu.catalog.vocab import vocab
from gongshu.core.errors import GongshuError, NotFound, ValidationFailed
from gongshu.core.i18n import Translator
from gongshu.core.permissions import Actor
from gongshu.core.security import constant_time_equal
from gongshu.opening import flows, service
from gongshu.opening.flows import Step
from gongshu.opening.permissions import OPENING_ANSWER, OPENING_COORDINATE, OPENING_REPORT
from gongshu.web.deps import CSRF_COOKIE, Db, MaybeActor, PageActor, locale_of, write_intent
from gongshu.web.forms import error_map
from gongshu.web.nav import NavItem
from gongshu.web.templating import render

router = APIRouter(include_in_schema=False)


class _Staff(NavItem):
    def visible_to(self, actor: Actor | None) -> bool:
        return actor is not None and any(actor.can(p) for p in (OPENING_ANSWER, OPENING_COORDINATE,
                                                                OPENING_REPORT))


NAV = [_Staff("opening.nav", "/opening", None, 45)]
PAGE = 20


def _lang(request: Request) -> str:
    return "en" if locale_of(request) == "en" else "zh"


def _csrf(request: Request) -> str:
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)


def _with_csrf(request: Request, response: Response, token: str) -> Response:
    response.set_cookie(CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        secure=request.app.state.runtime.settings.secure_cookies)
    return response


def _check_csrf(request: Request, sent: str) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie) and constant_time_equal(cookie, sent)


# ------------------------------------------------------------------------------- the portal


#: the facets a visitor narrows the portal's list by (search filters of the catalog)
PORTAL_FACETS = ("opening_type", "provider", "resource_kind", "update_cycle")


@router.get("/portal")
def portal_index(request: Request, db: Db, actor: MaybeActor, q: str = "",
                 opening_type: str = "", provider: str = "", resource_kind: str = "",
                 update_cycle: str = "", offset: int = 0) -> Response:
    try:
        provider_id = uuid.UUID(provider) if provider else None
    except ValueError:
        provider_id = None
    filters = catalog.SearchFilters(
        opening_type=opening_type[:32] or None, provider=provider_id, resource_kind=resource_kind[:16] or None,
        update_cycle=update_cycle[:16] or None)
    offset = max(0, min(offset, 100_000))
    result = service.search(db, q=q, filters=filters, limit=PAGE, offset=offset,
                            locale=_lang(request))
    chosen = {k: v for k, v in filters.active().items() if k in PORTAL_FACETS}
    params = {"q": q, **chosen}

    def link(**change: Any) -> str:
        merged = {**params, **{k: str(v) if v is not None else "" for k, v in change.items()}}
        return "/portal?" + urlencode({k: v for k, v in merged.items() if v})

    return render(request, "opening/portal.html", {
        "result": result, "q": q, "filters": filters, "offset": offset, "limit": PAGE,
        "link": link, "chosen": chosen, "facet_names": PORTAL_FACETS,
        "query": urlencode({k: v for k, v in params.items() if v})})


@router.get("/portal/code/{code:path}")
def portal_by_code(db: Db, code: str) -> Response:
    dataset = service.get_dataset(db, code)
    return RedirectResponse(f"/portal/datasets/{dataset.entry.id}", status_code=303)


@router.get("/portal/datasets/{entry_id}", dependencies=[Depends(write_intent)])
def portal_dataset(request: Request, db: Db, actor: MaybeActor, entry_id: uuid.UUID) -> Response:
    dataset = service.get_dataset(db, entry_id)
    try:
        preview = service.preview(db, dataset)
    except NotFound:
        preview = None
    lang = _lang(request)
    return render(request, "opening/dataset.html", {
        "label": lambda lst, code: vocab().get(lst).label(code, lang),
        "d": dataset, "entry": service.entry_public(dataset), "preview": preview,
        "usage": service.usage(db, dataset.entry.id), "formats": list(service.FORMATS),
        "max_rows": request.app.state.runtime.settings.opening_download_max_rows})


@router.get("/portal/datasets/{entry_id}/download.{fmt}", dependencies=[Depends(write_intent)])
def portal_download(db: Db, entry_id: uuid.UUID, fmt: str) -> Response:
    return _file(db, entry_id, fmt)


def _file(db: Db, entry_id: uuid.UUID, fmt: str) -> Response:
    body, media_type, ext, dataset, more = service.download(db, entry_id, fmt=fmt)
    name = dataset.entry.resource_code.replace("/", "-")
    return Response(body, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{name}.{ext}"',
        # the file holds the first opening_download_max_rows rows; the API pages through all
        "X-Gongshu-Truncated": "true" if more else "false"})


@router.get("/portal/dcat.jsonld")
def portal_dcat_jsonld(db: Db) -> Response:
    body, media_type, _ext = service.dcat_feed(db, fmt="dcat-jsonld")
    return Response(body, media_type=media_type)


@router.get("/portal/dcat.ttl")
def portal_dcat_ttl(db: Db) -> Response:
    body, media_type, _ext = service.dcat_feed(db, fmt="dcat-ttl")
    return Response(body, media_type=media_type)


@router.get("/portal/developers")
def developer_form(request: Request, actor: MaybeActor) -> Response:
    token = _csrf(request)
    return _with_csrf(request, render(request, "opening/developer.html",
                                      {"form_csrf": token, "values": {}, "errors": {}}), token)


@router.post("/portal/developers")
def developer_register(request: Request, db: Db, actor: MaybeActor,
                       csrf_token: Annotated[str, Form()] = "",
                       name: Annotated[str, Form()] = "", email: Annotated[str, Form()] = "",
                       organisation: Annotated[str, Form()] = "") -> Response:
    values = {"name": name, "email": email, "organisation": organisation}
    token = _csrf(request)
    t = Translator(locale_of(request))
    if not _check_csrf(request, csrf_token):
        return _with_csrf(request, render(request, "opening/developer.html", {
            "form_csrf": token, "values": values, "errors": {},
            "error": t("errors.csrf_failed")}, status_code=403), token)
    try:
        developer, raw = service.register_developer(db, name=name, email=email,
                                                    organisation=organisation)
    except ValidationFailed as exc:
        db.rollback()
        return render(request, "opening/developer.html", {
            "form_csrf": token, "values": values, "errors": error_map(request, exc)},
            status_code=422)
    except GongshuError as exc:
        db.rollback()
        return render(request, "opening/developer.html", {
            "form_csrf": token, "values": values, "errors": {},
            "error": t(f"errors.{exc.code}", default=exc.detail)}, status_code=exc.status)
    return render(request, "opening/developer_key.html", {"developer": developer, "key": raw})


@router.get("/portal/datasets/{entry_id}/apply")
def apply_form(request: Request, db: Db, actor: MaybeActor, entry_id: uuid.UUID) -> Response:
    dataset = service.get_dataset(db, entry_id)
    token = _csrf(request)
    return _with_csrf(request, render(request, "opening/apply.html", {
        "d": dataset, "form_csrf": token, "values": {"days": 365}, "errors": {}}), token)


@router.post("/portal/datasets/{entry_id}/apply")
def apply_submit(request: Request, db: Db, actor: MaybeActor, entry_id: uuid.UUID,
                 csrf_token: Annotated[str, Form()] = "", api_key: Annotated[str, Form()] = "",
                 purpose: Annotated[str, Form()] = "", safeguards: Annotated[str, Form()] = "",
                 days: Annotated[int, Form()] = 365,
                 items: Annotated[list[str] | None, Form()] = None) -> Response:
    dataset = service.get_dataset(db, entry_id)
    values = {"purpose": purpose, "safeguards": safeguards, "days": days, "items": items or []}
    token = _csrf(request)
    t = Translator(locale_of(request))
    context = {"d": dataset, "form_csrf": token, "values": values, "errors": {}}
    if not _check_csrf(request, csrf_token):
        return render(request, "opening/apply.html",
                      {**context, "error": t("errors.csrf_failed")}, status_code=403)
    try:
        developer, key = service.authenticate_key(db, api_key)
        service.check_rate(db, key)
        application = flows.apply(db, developer=developer, ref=entry_id, purpose=purpose,
                                  safeguards=safeguards, items=items or [], days=days)
    except ValidationFailed as exc:
        db.rollback()
        return render(request, "opening/apply.html",
                      {**context, "errors": error_map(request, exc)}, status_code=422)
    except GongshuError as exc:
        db.rollback()
        return render(request, "opening/apply.html",
                      {**context, "error": t(f"errors.{exc.code}", default=exc.detail)},
                      status_code=exc.status)
    return render(request, "opening/applied.html", {"d": dataset, "application": application})


# ------------------------------------------------------------------------- staff (/opening)


@router.get("/opening")
def staff_index(request: Request, actor: PageActor, db: Db, status: str = "") -> Response:
    applications = flows.list_applications(actor, db, status=status or None)
    usage = service.provider_usage(actor, db) if actor.can(OPENING_REPORT) else []
    return render(request, "opening/staff.html", {
        "applications": applications, "status": status, "usage": usage,
        "decidable": {a.id: [s.value for s in Step if flows.may_decide(actor, a, s)
                             and a.status == flows.WAITING[s].value] for a in applications}})


@router.get("/opening/applications/{application_id}")
def application_page(request: Request, actor: PageActor, db: Db,
                     application_id: uuid.UUID) -> Response:
    application = flows.get_application(actor, db, application_id)
    return render(request, "opening/application.html", {
        "a": application, "steps": flows.steps(actor, db, application_id),
        "decidable": [s.value for s in Step if flows.may_decide(actor, application, s)
                      and application.status == flows.WAITING[s].value]})


@router.post("/opening/applications/{application_id}/decide")
def application_decide(request: Request, actor: PageActor, db: Db, application_id: uuid.UUID,
                       step: Annotated[str, Form()], decision: Annotated[str, Form()],
                       comment: Annotated[str, Form()] = "") -> Response:
    flows.decide(actor, db, application_id, step=step, approve=decision == "approve",
                 comment=comment)
    return RedirectResponse(f"/opening/applications/{application_id}?flash=opening_decided",
                            status_code=303)
