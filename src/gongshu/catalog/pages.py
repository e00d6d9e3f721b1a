"""Web pages of the catalog: browse and search with facets, entry detail with versions and diffs,
the compile/edit form with inline validation, the review queue, import with its error report,
data elements, and the census dashboard."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from gongshu.catalog import flows, rules, service
from gongshu.catalog.census import service as census
from gongshu.catalog.diff import shown
from gongshu.catalog.permissions import (
    CATALOG_EDIT,
    CATALOG_READ,
    CATALOG_REVIEW,
    CENSUS_MANAGE,
    CENSUS_RESPOND,
    DATA_ELEMENT_MANAGE,
)
from gongshu.catalog.schemas import DataElementCreate, InfoSystemIn
from gongshu.catalog.search import service as search
from gongshu.catalog.service import EDITABLE, CatalogEntry
from gongshu.catalog.transfer import xlsx
from gongshu.catalog.vocab import vocab
from gongshu.core.errors import FieldError, ValidationFailed
from gongshu.core.i18n import Translator
from gongshu.core.permissions import Actor, Perm
from gongshu.orgs import service as orgs
from gongshu.orgs.service import Organization, OrgKind
from gongshu.web.deps import Db, PageActor, locale_of, page_guard
from gongshu.web.nav import Card, NavItem
from gongshu.web.templating import render

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class AnyOfNavItem(NavItem):
    """A navigation entry for holders of any of several permissions."""

    perms: tuple[Perm, ...] = ()

    def visible_to(self, actor: Actor | None) -> bool:
        return actor is not None and any(actor.can(p) for p in self.perms)


NAV = [
    NavItem("nav.catalog", "/catalog", CATALOG_READ, 20),
    NavItem("nav.catalog_review", "/catalog/review", CATALOG_REVIEW, 21),
    AnyOfNavItem("nav.census", "/catalog/census", None, 22,
                 perms=(CENSUS_MANAGE, CENSUS_RESPOND)),
]

Reader = Annotated[Actor, page_guard(CATALOG_READ)]
Editor = Annotated[Actor, page_guard(CATALOG_EDIT)]
Reviewer = Annotated[Actor, page_guard(CATALOG_REVIEW)]

FORM_ITEM_ROWS = 3  # blank item rows offered at the end of the form
_SPLIT = re.compile(r"[;；,，、\n]+")


def _entry_items(rows: list[CatalogEntry]) -> tuple[tuple[str, str], ...]:
    out = []
    for entry in rows:
        version = entry.working_version or entry.published_version
        out.append((version.name if version else entry.resource_code, f"/catalog/{entry.id}"))
    return tuple(out)


def dashboard_cards(actor: Actor, db: Session) -> list[Card]:
    """Home-page figures of each role's own work: an editor's drafts, returned entries (with
    the first of each listed) and submissions waiting; a reviewer's queue and what is overdue
    in it; the census returns to fill in and the censuses past their due date; the published
    catalog for everyone else."""
    cards: list[Card] = []
    if not actor.can(CATALOG_READ):
        return cards
    if actor.can(CATALOG_EDIT):
        rows, returned = service.list_entries(actor, db, mine=True, status="returned", limit=5)
        cards.append(Card("catalog.card_returned", returned, "/catalog?status=returned",
                          warn=returned > 0, items=_entry_items(rows)))
        rows, drafts = service.list_entries(actor, db, mine=True, status="draft", limit=5)
        cards.append(Card("catalog.card_drafts", drafts, "/catalog?status=draft",
                          items=_entry_items(rows)))
        _rows, submitted = service.list_entries(actor, db, mine=True, status="submitted",
                                                limit=1)
        cards.append(Card("catalog.card_submitted", submitted, "/catalog?status=submitted"))
    if actor.can(CATALOG_REVIEW):
        rows, waiting = flows.review_queue(actor, db, limit=5)
        cards.append(Card("catalog.card_review", waiting, "/catalog/review",
                          items=_entry_items(rows)))
        _rows, late = flows.review_queue(actor, db, limit=1, overdue=True)
        cards.append(Card("catalog.card_review_overdue", late, "/catalog/review?overdue=true",
                          warn=late > 0))
    if actor.can(CENSUS_MANAGE) or actor.can(CENSUS_RESPOND):
        today = census.today(db)
        campaigns = census.list_censuses(actor, db)
        late = [c for c in campaigns if census.is_overdue(c, today)]
        if actor.can(CENSUS_RESPOND):
            open_returns = sum(1 for c in campaigns if c.status == "open"
                               for r in census.my_responses(actor, db, c.id)
                               if r.status != "submitted")
            cards.append(Card("catalog.card_census_open", open_returns, "/catalog/census"))
        if late:
            cards.append(Card("catalog.card_census_overdue", len(late), "/catalog/census",
                              warn=True, items=tuple((c.title, f"/catalog/census/{c.id}")
                                                     for c in late[:5])))
    notices = census.notices(actor, db)
    if notices:
        cards.append(Card("catalog.card_census_reminders", len(notices), "/catalog/census"))
    if not (actor.can(CATALOG_EDIT) or actor.can(CATALOG_REVIEW)):
        published = search.search(actor, db, filters=search.SearchFilters(), limit=1,
                                  facets=False)
        cards.append(Card("catalog.card_entries", published.count, "/catalog"))
    return cards


# -------------------------------------------------------------------------------- helpers


def _lang(request: Request) -> str:
    return locale_of(request)


def _options(list_name: str, lang: str) -> list[tuple[str, str]]:
    return [(t.code, t.label(lang)) for t in vocab().get(list_name)]


def _subject_options(kind: str | None, lang: str) -> list[tuple[str, str]]:
    lst = vocab().subjects.get(kind or "")
    return [(t.code, f"{t.code} {t.label(lang)}") for t in lst] if lst else []


def _localized(errors: list[FieldError], lang: str) -> dict[str, str]:
    """Field path → message in the reader's language, every field's first problem."""
    out: dict[str, str] = {}
    for e in errors:
        text = rules.localize(e, lang) if e.code in rules.messages() else e.message
        out.setdefault(e.field, text)
    return out


def _error_map(request: Request, exc: ValidationFailed) -> dict[str, str]:
    from gongshu.web.forms import error_map

    lang = _lang(request)
    out = {k: v for k, v in error_map(request, exc).items()}
    out.update(_localized([e for e in exc.errors if e.code in rules.messages()], lang))
    return out


def field_label(t: Any, path: str) -> str:
    """The label of a field path (``sharing.type``, ``items.3.length``, ``items.*.name``)."""
    parts = path.split(".")
    if parts[0] == "items" and len(parts) >= 3:
        label = t(f"catalog.item.{parts[2]}", default=parts[2])
        return label if parts[1] == "*" else t("catalog.item_n", n=int(parts[1]) + 1) + " · " + label
    if parts[0] in ("related_resource_codes", "keywords") and len(parts) == 2:
        path = parts[0]
    return t(f"catalog.field.{path}", default=path)


def _split(text: str) -> list[str]:
    return [p.strip() for p in _SPLIT.split(text or "") if p.strip()]


def form_data(form: Mapping[str, Any], provider: Organization | None) -> dict[str, Any]:
    """The nested entry data of the compile form (flat ``a.b`` names); blank item rows out."""
    def get(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    data: dict[str, Any] = {
        "category": {k: get(f"category.{k}") for k in ("resource_kind", "subject", "group",
                                                         "subgroup")},
        "name": get("name"), "summary": get("summary"),
        "provider": ({"org_id": str(provider.id), "name": provider.name,
                      "code": provider.code or provider.uscc or "X"} if provider else {}),
        "format": {"format_class": get("format.format_class"),
                   "format_type": get("format.format_type") or None},
        "sharing": {k: get(f"sharing.{k}") or None
                    for k in ("type", "condition", "legal_basis", "method_class", "method_type")},
        "opening": {"type": get("opening.type"), "condition": get("opening.condition") or None},
        "update_cycle": get("update_cycle"),
        "publish_date": get("publish_date") or None,
        "related_resource_codes": _split(get("related_resource_codes")),
        "secrecy": get("secrecy"), "data_kind": get("data_kind"),
        "keywords": _split(get("keywords")),
        "items": [],
    }
    indices = sorted({int(m.group(1)) for key in form
                      if (m := re.match(r"^items\.(\d+)\.", key))})
    item_fields = ("name", "code", "data_type", "length", "data_element_id", "sharing_type",
                   "sharing_condition", "legal_basis", "opening_type")
    for i in indices:
        item = {f: get(f"items.{i}.{f}") or None for f in item_fields}
        if not any(item[f] for f in ("name", "code", "length", "data_element_id",
                                     "sharing_condition", "legal_basis")):
            continue  # an unused row (its type select always has a value)
        data["items"].append(item)
    for key in ("sharing", "opening", "format", "category"):
        data[key] = {k: v for k, v in data[key].items() if v not in (None, "")} or data[key]
    return data


def _values_of(entry: Any) -> dict[str, Any]:
    """Form values (flat names) of an entry's content."""
    data = entry.model_dump(mode="json") if hasattr(entry, "model_dump") else dict(entry)
    values: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        elif isinstance(node, list) and prefix in ("related_resource_codes", "keywords"):
            values[prefix] = "；".join(node)
        elif isinstance(node, list) and prefix == "items":
            for i, item in enumerate(node):
                walk(f"items.{i}", item)
        else:
            values[prefix] = "" if node is None else node

    walk("", data)
    return values


def _item_count(values: Mapping[str, Any]) -> int:
    found = [int(m.group(1)) for k in values if (m := re.match(r"^items\.(\d+)\.", k))]
    return max(found) + 1 if found else 0


def _provider_of(db: Session, actor: Actor, raw: str | None) -> Organization | None:
    if not raw:
        return None
    try:
        org = orgs.org_by_id(db, uuid.UUID(raw))
    except ValueError:
        return None
    return org if org is not None and actor.can(CATALOG_EDIT, org.path) else None


def _form(request: Request, actor: Actor, db: Session, *, values: dict[str, Any],
          errors: dict[str, str], entry: CatalogEntry | None = None, status: int = 200,
          extra_rows: int = FORM_ITEM_ROWS) -> Response:
    lang = _lang(request)
    rows = _item_count(values) + extra_rows
    elements = _element_choices(db, values, rows)
    providers = service.provider_choices(actor, db)
    return render(request, "catalog/form.html", {
        **_duplicate_context(request, actor, db, values, entry),
        "values": values, "errors": errors, "entry": entry, "rows": rows,
        "providers": [(str(o.id), o.name) for o in providers],
        "lists": {name: _options(name, lang) for name in (
            "resource_kinds", "format_classes", "sharing_types", "sharing_method_classes",
            "sharing_method_types", "opening_types", "update_cycles", "secrecy", "data_kinds",
            "data_item_types")},
        "format_types": [(c.label(lang), [(t.code, t.label(lang))
                                          for t in vocab().format_types.under(c.code)])
                         for c in vocab().format_classes],
        "subjects": _subject_options(values.get("category.resource_kind") or "base", lang),
        "elements": elements, "field_label": field_label,
        "review": service.review_records(actor, db, entry.id) if entry else [],
    }, status_code=status)


def _element_choices(db: Session, values: Mapping[str, Any], rows: int) -> list[list[Any]]:
    """Per item row: the data elements to offer (suggested by its name, and the chosen one)."""
    out: list[list[Any]] = []
    for i in range(rows):
        chosen = str(values.get(f"items.{i}.data_element_id") or "")
        found = service.suggest_data_elements(db, str(values.get(f"items.{i}.name") or ""))
        if chosen and all(str(e.id) != chosen for e in found):
            element = service.data_elements_by_id(db, [chosen]).get(chosen)
            found = ([element] if element else []) + found
        out.append(found)
    return out


# ----------------------------------------------------------------------- browse and search


_FILTERS = ("provider", "region", "resource_kind", "sharing_type", "opening_type", "grade",
            "update_cycle", "format_class", "status")


@router.get("/catalog")
def catalog_index(request: Request, actor: Reader, db: Db, q: str = "", offset: int = 0) -> Response:
    lang = _lang(request)
    chosen = {k: request.query_params.get(k) or None for k in _FILTERS}
    try:
        provider = uuid.UUID(chosen["provider"]) if chosen["provider"] else None
    except ValueError:
        provider = None
    filters = search.SearchFilters(**{**chosen, "provider": provider})
    limit = request.app.state.runtime.settings.page_size
    result = search.search(actor, db, q=q[:200], filters=filters, limit=limit, offset=offset,
                           locale=lang)
    base = {"q": q, **{k: v for k, v in chosen.items() if v}}

    def link(**change: Any) -> str:
        params = {**base, **change}
        return "/catalog?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})

    region_names = {r.code: r.name for r in _regions(request)}
    return render(request, "catalog/index.html", {
        "q": q, "result": result, "chosen": {k: v for k, v in chosen.items() if v},
        "link": link, "offset": offset, "limit": limit, "query": urlencode(base),
        "region_names": region_names, "lang": lang,
        "can_edit": actor.can(CATALOG_EDIT), "formats": list(service.EXPORT_FORMATS),
        "status_label": lambda s: vocab().entry_statuses.label(s, lang),
        "label": lambda lst, code: vocab().get(lst).label(code, lang),
    })


def _regions(request: Request) -> list[Any]:
    from gongshu.orgs.regions import regions

    return list(regions(request.app.state.runtime.settings.province_code))


# ------------------------------------------------------------------------ compile and edit


@router.get("/catalog/new")
def entry_new(request: Request, actor: Editor, db: Db) -> Response:
    providers = service.provider_choices(actor, db)
    values: dict[str, Any] = {
        "provider.org_id": str(actor.org_id) if any(o.id == actor.org_id for o in providers)
        else (str(providers[0].id) if providers else ""),
        "category.resource_kind": "department", "category.subject": "07",
        "secrecy": "unclassified", "data_kind": "public", "sharing.type": "unconditional",
        "sharing.method_class": "platform", "opening.type": "not_open",
        "update_cycle": "monthly", "format.format_class": "database",
    }
    return _form(request, actor, db, values=values, errors={})


async def _posted(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.post("/catalog/new")
async def entry_create(request: Request, actor: Editor, db: Db) -> Response:
    values = await _posted(request)
    if values.get("action") == "add_rows":
        return _form(request, actor, db, values=values, errors={},
                     extra_rows=FORM_ITEM_ROWS + 3)
    provider = _provider_of(db, actor, values.get("provider.org_id"))
    try:
        if provider is None:
            raise ValidationFailed.single("provider.org_id", "required", "Choose the provider.")
        entry = service.create_entry(actor, db, form_data(values, provider),
                                     provider_org_id=provider.id,
                                     change_note=values.get("change_note", ""))
        if values.get("action") == "submit":
            flows.submit(actor, db, entry.id)
    except ValidationFailed as exc:
        db.rollback()
        return _form(request, actor, db, values=values, errors=_error_map(request, exc),
                     status=422)
    flash = "catalog_submitted" if values.get("action") == "submit" else "catalog_saved"
    return RedirectResponse(f"/catalog/{entry.id}?flash={flash}", status_code=303)


@router.post("/catalog/validate")
async def entry_validate(request: Request, actor: Editor, db: Db) -> Response:
    """Inline validation (htmx): every problem of the form as it is now, nothing saved."""
    values = await _posted(request)
    provider = _provider_of(db, actor, values.get("provider.org_id"))
    entry_id = values.get("entry_id")
    code = None
    if entry_id:
        try:
            code = service.get_entry(actor, db, uuid.UUID(entry_id)).resource_code
        except ValueError:
            code = None
    _entry, errors = service.check(db, form_data(values, provider), resource_code=code)
    if provider is None:
        errors = [FieldError("provider.org_id", "required", "Choose the provider."), *errors]
    lang = _lang(request)
    return render(request, "catalog/_validation.html", {
        "problems": [(e.field, rules.localize(e, lang) if e.code in rules.messages()
                      else Translator(lang)(f"errors.{e.code}", default=e.message))
                     for e in errors],
        "field_label": field_label,
    })


def _duplicate_context(request: Request, actor: Actor, db: Session, values: Mapping[str, Any],
                       entry: CatalogEntry | None) -> dict[str, Any]:
    """The duplicate-collection panel of the form (Art. 12): other bodies' published entries
    that could provide the items as they are now."""
    lang = _lang(request)
    context: dict[str, Any] = {
        "dupes": [], "dupes_reviewer": False,
        "sharing_label": lambda code: vocab().get("sharing_types").label(code, lang)}
    if not actor.can(CATALOG_READ):
        return context
    provider = (db.get(Organization, entry.provider_org_id) if entry is not None
                else _provider_of(db, actor, values.get("provider.org_id")))
    items = form_data(values, provider)["items"]
    if not items:
        return context
    report = service.duplicate_candidates(
        actor, db, items=items, exclude_provider_path=provider.path if provider else actor.org_path,
        exclude_entry_id=entry.id if entry is not None else None)
    context["dupes"] = service.duplicate_public(report, request_page=_has_request_page(request))
    return context


def _has_request_page(request: Request) -> bool:
    """Whether the sharing module's request page is installed (its link is then offered)."""
    return any(getattr(r, "path", None) == service.SHARING_REQUEST_PAGE
               for r in request.app.routes)


@router.post("/catalog/form/duplicates")
async def form_duplicates(request: Request, actor: Editor, db: Db) -> Response:
    """Duplicate collection as you type (htmx, Art. 12): other bodies' published entries that
    could provide the form's items through sharing, nothing saved."""
    values = await _posted(request)
    entry = None
    if values.get("entry_id"):
        try:
            entry = service.get_entry(actor, db, uuid.UUID(values["entry_id"]))
        except ValueError:
            entry = None
    return render(request, "catalog/_duplicates.html",
                  _duplicate_context(request, actor, db, values, entry))


@router.get("/catalog/form/subjects")
def form_subjects(request: Request, actor: Editor,
                  kind: Annotated[str, Query(alias="category.resource_kind")] = "") -> Response:
    """The 项 choices of a resource kind (htmx, when the kind changes)."""
    return render(request, "catalog/_subjects.html", {
        "subjects": _subject_options(kind, _lang(request)), "selected": "", "errors": {}})


@router.get("/catalog/form/elements")
def form_elements(request: Request, actor: Editor, db: Db, index: int = 0) -> Response:
    """The data elements to offer an item row, from its name (htmx, Art. 47)."""
    name = request.query_params.get(f"items.{index}.name", "")
    return render(request, "catalog/_element_options.html", {
        "i": index, "found": service.suggest_data_elements(db, name), "chosen": ""})


@router.get("/catalog/review")
def review_queue(request: Request, actor: Reviewer, db: Db, offset: int = 0,
                 overdue: bool = False) -> Response:
    limit = request.app.state.runtime.settings.page_size
    rows, total = flows.review_queue(actor, db, limit=limit, offset=offset, overdue=overdue)
    return render(request, "catalog/review.html", {
        "rows": [(e, e.working_version) for e in rows], "total": total, "offset": offset,
        "limit": limit, "lang": _lang(request), "overdue_only": overdue,
        "overdue_since": flows.review_overdue_since(db),
        "review_days": request.app.state.runtime.settings.catalog_review_days,
        "label": lambda lst, code: vocab().get(lst).label(code, _lang(request)),
    })


# ----------------------------------------------------------------------- import and export


@router.get("/catalog/import")
def import_page(request: Request, actor: Editor) -> Response:
    return render(request, "catalog/import.html", {"errors": [], "done": None})


@router.post("/catalog/import")
async def import_upload(request: Request, actor: Editor, db: Db) -> Response:
    form = await request.form()
    upload = form.get("file")
    submit = form.get("submit") == "on"
    limit = service.import_max_bytes(db) + 1  # one byte more tells "too large"
    data = await upload.read(limit) if isinstance(upload, UploadFile) else b""
    lang = _lang(request)
    if not data:
        return render(request, "catalog/import.html", {
            "errors": [{"sheet": "", "row": None, "column": "",
                        "message": Translator(lang)("catalog.import_no_file")}],
            "done": None}, status_code=422)
    try:
        filename = upload.filename if isinstance(upload, UploadFile) else ""
        outcome = service.import_entries(actor, db, data, filename=filename or "",
                                         submit=submit, locale=lang)
    except ValidationFailed as exc:
        db.rollback()
        errors = [{"sheet": e.params.get("sheet", ""), "row": e.row, "column": e.field,
                   "message": e.message} for e in exc.errors]
        return render(request, "catalog/import.html", {"errors": errors, "done": None},
                      status_code=422)
    return render(request, "catalog/import.html", {"errors": [], "done": outcome})


@router.get("/catalog/export")
def export(actor: Reader, db: Db, format: str = "xlsx", mine: bool = False) -> Response:
    body, media_type, ext = service.export_entries(actor, db, fmt=format, include_working=mine)
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="catalog.{ext}"'})


@router.get("/catalog/template")
def template(actor: Reader) -> Response:
    return Response(xlsx.build_template(), media_type=xlsx.XLSX_MEDIA_TYPE,
                    headers={"Content-Disposition": 'attachment; filename="catalog-template.xlsx"'})


# ------------------------------------------------------------------------- data elements


@router.get("/catalog/elements")
def elements_page(request: Request, actor: Reader, db: Db, q: str = "", offset: int = 0) -> Response:
    return _elements(request, actor, db, q=q, offset=offset, values={}, errors={})


def _elements(request: Request, actor: Actor, db: Session, *, q: str, offset: int,
              values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Response:
    limit = request.app.state.runtime.settings.page_size
    rows, total = service.list_data_elements(actor, db, q=q, limit=limit, offset=offset)
    lang = _lang(request)
    return render(request, "catalog/elements.html", {
        "rows": rows, "total": total, "q": q, "offset": offset, "limit": limit,
        "values": values, "errors": errors, "types": _options("data_item_types", lang),
        "can_manage": actor.can(DATA_ELEMENT_MANAGE),
        "type_label": lambda code: vocab().data_item_types.label(code, lang),
    }, status_code=status)


@router.post("/catalog/elements")
async def elements_create(request: Request,
                          actor: Annotated[Actor, page_guard(DATA_ELEMENT_MANAGE)],
                          db: Db) -> Response:
    values = await _posted(request)
    raw = {k: values.get(k) or None for k in ("name", "identifier", "data_type", "length",
                                              "value_domain", "definition", "standard")}
    try:
        from pydantic import ValidationError

        try:
            data = DataElementCreate.model_validate(raw)
        except ValidationError as exc:
            raise ValidationFailed(errors=rules.errors_from_pydantic(exc)) from None
        service.create_data_element(actor, db, data)
    except ValidationFailed as exc:
        db.rollback()
        return _elements(request, actor, db, q="", offset=0, values=values,
                         errors=_error_map(request, exc), status=422)
    return RedirectResponse("/catalog/elements?flash=saved", status_code=303)


# ---------------------------------------------------------------------------------- census


@router.get("/catalog/census")
def census_index(request: Request, actor: PageActor, db: Db) -> Response:
    campaigns = census.list_censuses(actor, db)
    bureaus = [o for o in orgs.list_organizations(actor, db, kind=OrgKind.DATA_BUREAU,
                                                  limit=10_000)[0]
               if actor.can(CENSUS_MANAGE, o.path)]
    mine = {c.id: census.my_responses(actor, db, c.id) for c in campaigns}
    today = census.today(db)
    overdue = {c.id for c in campaigns if census.is_overdue(c, today)}
    return render(request, "catalog/census_index.html", {
        "campaigns": campaigns, "bureaus": [(str(b.id), b.name) for b in bureaus],
        "mine": mine, "notices": census.notices(actor, db), "values": {}, "errors": {},
        "overdue": overdue,
        "manages": {c.id: actor.can(CENSUS_MANAGE, c.bureau_path) for c in campaigns},
    })


@router.post("/catalog/census")
async def census_open(request: Request,
                      actor: Annotated[Actor, page_guard(CENSUS_MANAGE)], db: Db) -> Response:
    values = await _posted(request)
    try:
        errors: dict[str, str] = {}
        dates = {}
        for key in ("period_start", "period_end", "due_date"):
            try:
                dates[key] = dt.date.fromisoformat(values.get(key, ""))
            except ValueError:
                errors[key] = Translator(_lang(request))("errors.invalid_date")
        if errors:
            raise ValidationFailed(errors=[FieldError(k, "invalid_date", v) for k, v in errors.items()])
        created = census.open_census(actor, db, bureau_org_id=uuid.UUID(values["bureau_org_id"]),
                                     title=values.get("title", ""),
                                     description=values.get("description", ""), **dates)
    except ValidationFailed as exc:
        db.rollback()
        campaigns = census.list_censuses(actor, db)
        bureaus = [o for o in orgs.list_organizations(actor, db, kind=OrgKind.DATA_BUREAU,
                                                      limit=10_000)[0]
                   if actor.can(CENSUS_MANAGE, o.path)]
        return render(request, "catalog/census_index.html", {
            "campaigns": campaigns, "bureaus": [(str(b.id), b.name) for b in bureaus],
            "mine": {}, "notices": [], "values": values, "errors": _error_map(request, exc),
            "manages": {c.id: True for c in campaigns}}, status_code=422)
    return RedirectResponse(f"/catalog/census/{created.id}?flash=census_opened", status_code=303)


@router.get("/catalog/census/{census_id}")
def census_detail(request: Request, actor: PageActor, db: Db, census_id: uuid.UUID) -> Response:
    campaign = census.get_census(actor, db, census_id)
    manages = actor.is_system or actor.can(CENSUS_MANAGE, campaign.bureau_path)
    return render(request, "catalog/census_detail.html", {
        "census": campaign, "manages": manages,
        "overdue": census.is_overdue(campaign, census.today(db)),
        "report": census.progress(actor, db, census_id) if manages else None,
        "summary": census.summary(actor, db, census_id) if manages else None,
        "mine": census.my_responses(actor, db, census_id),
    })


@router.post("/catalog/census/{census_id}/remind")
def census_remind(request: Request, actor: Annotated[Actor, page_guard(CENSUS_MANAGE)],
                  db: Db, census_id: uuid.UUID, org_id: Annotated[str, Form()] = "") -> Response:
    count = census.remind(actor, db, census_id,
                          org_ids=[uuid.UUID(org_id)] if org_id else None)
    flash = "census_reminded" if count else "census_nobody_to_remind"
    return RedirectResponse(f"/catalog/census/{census_id}?flash={flash}", status_code=303)


@router.post("/catalog/census/{census_id}/close")
def census_close(request: Request, actor: Annotated[Actor, page_guard(CENSUS_MANAGE)],
                 db: Db, census_id: uuid.UUID) -> Response:
    census.close_census(actor, db, census_id)
    return RedirectResponse(f"/catalog/census/{census_id}?flash=census_closed", status_code=303)


def _respond_page(request: Request, actor: Actor, db: Session, census_id: uuid.UUID,
                  org_id: uuid.UUID, *, errors: dict[str, str] | None = None,
                  systems: list[dict[str, Any]] | None = None, status: int = 200) -> Response:
    response = census.get_response(actor, db, census_id, org_id)
    entries, _ = service.list_entries(actor, db, provider_org_id=org_id, limit=500)
    if systems is None:
        systems = [{"name": s.name, "purpose": s.purpose, "cloud": s.on_government_cloud,
                    "classified": s.classified, "entry_ids": [str(e) for e in s.entry_ids]}
                   for s in response.systems]
    systems = systems + [{"name": "", "purpose": "", "cloud": False, "classified": False,
                          "entry_ids": []} for _ in range(2)]
    return render(request, "catalog/census_respond.html", {
        "census": response.census, "response": response, "systems": systems,
        "entries": [(str(e.id), e.resource_code, (e.current_version.name if e.current_version
                                                 else "")) for e in entries],
        "errors": errors or {}, "can_answer": actor.can(CENSUS_RESPOND, response.org_path),
    }, status_code=status)


@router.get("/catalog/census/{census_id}/respond/{org_id}")
def census_respond(request: Request, actor: PageActor, db: Db, census_id: uuid.UUID,
                   org_id: uuid.UUID) -> Response:
    return _respond_page(request, actor, db, census_id, org_id)


@router.post("/catalog/census/{census_id}/respond/{org_id}")
async def census_save(request: Request,
                      actor: Annotated[Actor, page_guard(CENSUS_RESPOND)], db: Db,
                      census_id: uuid.UUID, org_id: uuid.UUID) -> Response:
    form = await request.form()
    indices = sorted({int(m.group(1)) for key in form
                      if (m := re.match(r"^systems\.(\d+)\.", key))})
    raw_systems = []
    for i in indices:
        name = str(form.get(f"systems.{i}.name") or "").strip()
        if not name:
            continue
        raw_systems.append({
            "name": name, "purpose": str(form.get(f"systems.{i}.purpose") or ""),
            "cloud": form.get(f"systems.{i}.cloud") == "on",
            "classified": form.get(f"systems.{i}.classified") == "on",
            "entry_ids": [str(v) for v in form.getlist(f"systems.{i}.entry_ids") if v]})
    try:
        systems = [InfoSystemIn(name=s["name"], purpose=s["purpose"][:2000],
                                on_government_cloud=s["cloud"], classified=s["classified"],
                                entry_ids=[uuid.UUID(e) for e in s["entry_ids"]])
                   for s in raw_systems]
        census.save_response(actor, db, census_id, org_id, systems=systems,
                             catalog_confirmed=form.get("catalog_confirmed") == "on",
                             note=str(form.get("note") or ""))
        if form.get("action") == "submit":
            census.submit_response(actor, db, census_id, org_id)
    except ValidationFailed as exc:
        db.rollback()
        return _respond_page(request, actor, db, census_id, org_id,
                             errors=_error_map(request, exc), systems=raw_systems, status=422)
    flash = "census_submitted" if form.get("action") == "submit" else "saved"
    return RedirectResponse(f"/catalog/census/{census_id}/respond/{org_id}?flash={flash}",
                            status_code=303)


# ----------------------------------------------------------------------------- one entry


@router.get("/catalog/code/{code:path}")
def entry_by_code(actor: Reader, db: Db, code: str) -> Response:
    """The page of a resource code (DCAT landing pages link here)."""
    entry = service.get_entry_by_code(actor, db, code)
    return RedirectResponse(f"/catalog/{entry.id}", status_code=303)


def _detail(request: Request, actor: Actor, db: Session, entry: CatalogEntry, *,
            number: int | None = None, errors: dict[str, str] | None = None,
            status: int = 200) -> Response:
    lang = _lang(request)
    version = (service.get_version(actor, db, entry.id, number) if number is not None
               else service.shown_version(actor, entry))
    content = service.version_entry(version)
    working = entry.working_version if service.may_see_working(actor, entry) else None
    own = actor.user_id is not None and working is not None and actor.user_id in {
        working.created_by_id, working.updated_by_id, working.submitted_by_id}
    return render(request, "catalog/detail.html", {
        "entry": entry, "current": version, "content": content, "lang": lang,
        "versions": service.list_versions(actor, db, entry.id),
        "trail": service.review_records(actor, db, entry.id),
        "working": working, "published": entry.published_version,
        "can_edit": service.may_edit(actor, entry),
        "can_review": service.may_review(actor, entry) and not own,
        "own_submission": own and service.may_review(actor, entry),
        "editable": working is not None and working.status in EDITABLE,
        "provider": orgs.org_by_id(db, entry.provider_org_id),
        "errors": errors or {}, "shown": lambda field, value: shown(
            field, value, lang, resource_kind=content.category.resource_kind),
        "label": lambda lst, code: vocab().get(lst).label(code, lang),
        "elements": _element_names(db, content),
        "dupes": (service.duplicate_public(report, request_page=_has_request_page(request))
                  if number is None and (report := service.entry_duplicates(actor, db, entry.id))
                  else []),
        "sharing_label": lambda code: vocab().get("sharing_types").label(code, lang),
    }, status_code=status)


def _element_names(db: Session, content: Any) -> dict[str, str]:
    ids = [i.data_element_id for i in content.items if i.data_element_id]
    return {key: f"{e.name}（{e.identifier}）"
            for key, e in service.data_elements_by_id(db, ids).items()}


@router.get("/catalog/{entry_id}")
def entry_detail(request: Request, actor: Reader, db: Db, entry_id: uuid.UUID) -> Response:
    return _detail(request, actor, db, service.get_entry(actor, db, entry_id))


@router.get("/catalog/{entry_id}/versions/{number}")
def entry_version(request: Request, actor: Reader, db: Db, entry_id: uuid.UUID,
                  number: int) -> Response:
    return _detail(request, actor, db, service.get_entry(actor, db, entry_id), number=number)


@router.get("/catalog/{entry_id}/diff")
def entry_diff(request: Request, actor: Reader, db: Db, entry_id: uuid.UUID,
               to: int, from_: Annotated[int | None, Query(alias="from")] = None) -> Response:
    entry = service.get_entry(actor, db, entry_id)
    changes = service.version_diff(actor, db, entry_id, from_number=from_, to_number=to)
    lang = _lang(request)
    kind = service.version_entry(service.get_version(actor, db, entry_id, to)).category.resource_kind
    return render(request, "catalog/diff.html", {
        "entry": entry, "changes": changes, "from_": from_, "to": to,
        "field_label": field_label, "lang": lang,
        "shown": lambda field, value: shown(field, value, lang, resource_kind=kind),
    })


@router.get("/catalog/{entry_id}/edit")
def entry_edit(request: Request, actor: Editor, db: Db, entry_id: uuid.UUID) -> Response:
    entry = service.get_entry(actor, db, entry_id)
    working = entry.working_version
    if working is None or working.status not in EDITABLE or not service.may_edit(actor, entry):
        return RedirectResponse(f"/catalog/{entry_id}", status_code=303)
    values = _values_of(service.version_entry(working))
    values["provider.org_id"] = str(entry.provider_org_id)
    values["change_note"] = working.change_note
    return _form(request, actor, db, values=values, errors={}, entry=entry)


@router.post("/catalog/{entry_id}/edit")
async def entry_update(request: Request, actor: Editor, db: Db, entry_id: uuid.UUID) -> Response:
    entry = service.get_entry(actor, db, entry_id)
    values = await _posted(request)
    values["provider.org_id"] = str(entry.provider_org_id)
    if values.get("action") == "add_rows":
        return _form(request, actor, db, values=values, errors={}, entry=entry,
                     extra_rows=FORM_ITEM_ROWS + 3)
    provider = orgs.org_by_id(db, entry.provider_org_id)
    try:
        service.update_entry(actor, db, entry_id, form_data(values, provider),
                             change_note=values.get("change_note", ""))
        if values.get("action") == "submit":
            flows.submit(actor, db, entry_id)
    except ValidationFailed as exc:
        db.rollback()
        entry = service.get_entry(actor, db, entry_id)
        return _form(request, actor, db, values=values, errors=_error_map(request, exc),
                     entry=entry, status=422)
    flash = "catalog_submitted" if values.get("action") == "submit" else "catalog_saved"
    return RedirectResponse(f"/catalog/{entry_id}?flash={flash}", status_code=303)


def _step(request: Request, actor: Actor, db: Session, entry_id: uuid.UUID, step: Any,
          flash: str, **kwargs: Any) -> Response:
    try:
        result = step(actor, db, entry_id, **kwargs)
    except ValidationFailed as exc:
        db.rollback()
        return _detail(request, actor, db, service.get_entry(actor, db, entry_id),
                       errors=_error_map(request, exc), status=422)
    if result is None:
        return RedirectResponse(f"/catalog?flash={flash}", status_code=303)
    return RedirectResponse(f"/catalog/{entry_id}?flash={flash}", status_code=303)


@router.post("/catalog/{entry_id}/submit")
def entry_submit(request: Request, actor: Editor, db: Db, entry_id: uuid.UUID) -> Response:
    return _step(request, actor, db, entry_id, flows.submit, "catalog_submitted")


@router.post("/catalog/{entry_id}/recall")
def entry_recall(request: Request, actor: Editor, db: Db, entry_id: uuid.UUID) -> Response:
    return _step(request, actor, db, entry_id, flows.recall, "catalog_recalled")


@router.post("/catalog/{entry_id}/discard")
def entry_discard(request: Request, actor: Editor, db: Db, entry_id: uuid.UUID) -> Response:
    return _step(request, actor, db, entry_id, service.discard_working, "catalog_discarded")


@router.post("/catalog/{entry_id}/revise")
def entry_revise(request: Request, actor: Editor, db: Db, entry_id: uuid.UUID) -> Response:
    try:
        flows.revise(actor, db, entry_id)
    except ValidationFailed as exc:  # pragma: no cover - revising has no input to get wrong
        db.rollback()
        return _detail(request, actor, db, service.get_entry(actor, db, entry_id),
                       errors=_error_map(request, exc), status=422)
    return RedirectResponse(f"/catalog/{entry_id}/edit", status_code=303)


@router.post("/catalog/{entry_id}/return")
def entry_return(request: Request, actor: Reviewer, db: Db, entry_id: uuid.UUID,
                 comment: Annotated[str, Form()] = "") -> Response:
    return _step(request, actor, db, entry_id, flows.return_entry, "catalog_returned",
                 comment=comment)


@router.post("/catalog/{entry_id}/approve")
def entry_approve(request: Request, actor: Reviewer, db: Db, entry_id: uuid.UUID,
                  comment: Annotated[str, Form()] = "",
                  publish: Annotated[bool, Form()] = False) -> Response:
    return _step(request, actor, db, entry_id, flows.approve,
                 "catalog_published" if publish else "catalog_approved", comment=comment,
                 publish=publish)


@router.post("/catalog/{entry_id}/publish")
def entry_publish(request: Request, actor: Reviewer, db: Db, entry_id: uuid.UUID) -> Response:
    return _step(request, actor, db, entry_id, flows.publish_entry, "catalog_published")


@router.post("/catalog/{entry_id}/withdraw")
def entry_withdraw(request: Request, actor: Reader, db: Db, entry_id: uuid.UUID,
                   reason: Annotated[str, Form()] = "") -> Response:
    return _step(request, actor, db, entry_id, flows.withdraw, "catalog_withdrawn", reason=reason)
