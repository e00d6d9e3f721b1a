"""Web pages of de-identification (Art. 16).

``/deid``: the datasets in the reader's scope and the releases (with why a blocked one is
blocked). ``/deid/datasets/{entry}``: a dataset's columns, its profiles, an assessment form and
its releases. ``/deid/datasets/{entry}/profiles/new`` and ``/deid/profiles/{id}``: the profile
editor (per column a transform and its parameters, the quasi-identifiers, the sensitive column,
the thresholds). An assessment shows k, l, the risks and the class-size distribution.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gongshu.core.errors import ValidationFailed
from gongshu.core.permissions import Actor
from gongshu.deid import service
from gongshu.deid.permissions import DEID_ASSESS, DEID_MANAGE
from gongshu.deid.risk import binned
from gongshu.deid.transforms import DATE_LEVELS, MASK_TYPES, REGION_LEVELS, TRANSFORMS
from gongshu.library import service as library
from gongshu.web.deps import Db, page_guard
from gongshu.web.forms import error_map
from gongshu.web.nav import NavItem
from gongshu.web.templating import render

router = APIRouter(include_in_schema=False)
NAV = [NavItem("deid.nav", "/deid", DEID_ASSESS, 48)]
Assessor = Annotated[Actor, page_guard(DEID_ASSESS)]
Manager = Annotated[Actor, page_guard(DEID_MANAGE)]


def _parse_params(text: str) -> dict[str, Any]:
    """``to=city, output=name`` → {"to": "city", "output": "name"}; ``edges=0;3000;8000`` →
    a list."""
    out: dict[str, Any] = {}
    for part in text.replace("，", ",").split(","):
        if "=" not in part:
            continue
        key, _, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not key:
            continue
        out[key] = [v.strip() for v in value.split(";") if v.strip()] if key == "edges" else value
    return out


def params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={';'.join(str(x) for x in v) if isinstance(v, list) else v}"
                     for k, v in params.items() if k != "transform")


def spec_from_form(form: Mapping[str, Any], qi: Sequence[str],
                   columns: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The profile's shape from the editor's fields (``t_<i>``, ``p_<i>`` per column)."""
    rules: dict[str, Any] = {}
    for i, c in enumerate(columns):
        kind = str(form.get(f"t_{i}") or "")
        if kind:
            rules[str(c["code"])] = {"transform": kind,
                                     **_parse_params(str(form.get(f"p_{i}") or ""))}
    return {
        "columns": rules, "quasi_identifiers": list(qi),
        "sensitive": str(form.get("sensitive") or "") or None,
        "thresholds": {"k": str(form.get("k") or "10"), "l": str(form.get("l") or "") or None,
                       "max_risk": str(form.get("max_risk") or "") or None},
        "suppress": str(form.get("suppress") or "none"),
        "unlisted": str(form.get("unlisted") or "drop"),
        "key_scope": str(form.get("key_scope") or "release"),
    }


def _choices() -> dict[str, Any]:
    return {"transforms": TRANSFORMS, "mask_types": list(MASK_TYPES), "date_levels": DATE_LEVELS,
            "region_levels": REGION_LEVELS}


@router.get("/deid")
def index(request: Request, db: Db, actor: Assessor, q: str = "") -> Response:
    datasets, total = library.list_datasets(actor, db, q=q[:100] or None, limit=100)
    releases, count = service.list_releases(actor, db, limit=50)
    return render(request, "deid/index.html", {"datasets": datasets, "total": total, "q": q,
                                                "releases": releases, "release_count": count})


def _dataset_page(request: Request, db: Db, actor: Any, entry_id: uuid.UUID, *,
                  assessment: Any = None, reasons: Sequence[Any] = (),
                  errors: Mapping[str, str] | None = None, form: Mapping[str, Any] | None = None,
                  status_code: int = 200) -> Response:
    dataset = service.dataset_info(actor, db, entry_id)
    columns = service.dataset_columns(actor, db, entry_id) if dataset.current_version else []
    profiles = service.list_profiles(actor, db, entry_id)
    releases, _n = service.list_releases(actor, db, entry_id=entry_id, limit=50)
    return render(request, "deid/dataset.html", {
        "dataset": dataset, "entry_id": entry_id, "columns": columns, "profiles": profiles,
        "releases": releases, "assessment": assessment,
        "reasons": [r if isinstance(r, Mapping) else r.as_dict() for r in reasons],
        "bins": binned(assessment.class_sizes) if assessment else [],
        "errors": errors or {}, "form": form or {},
        "may_manage": actor.is_system or actor.can(DEID_MANAGE, dataset.provider_path)
        or bool(dataset.bureau_path) and actor.can(DEID_MANAGE, dataset.bureau_path)},
        status_code=status_code)


@router.get("/deid/datasets/{entry_id}")
def dataset_page(request: Request, db: Db, actor: Assessor, entry_id: uuid.UUID) -> Response:
    return _dataset_page(request, db, actor, entry_id)


@router.post("/deid/datasets/{entry_id}/assess")
async def assess(request: Request, db: Db, actor: Assessor, entry_id: uuid.UUID) -> Response:
    form = await request.form()
    qi = [str(v) for v in form.getlist("qi")]
    profile = str(form.get("profile_id") or "")
    k_text = str(form.get("k") or "10")
    values: dict[str, Any] = {"qi": qi, "k": k_text,
              "sensitive": str(form.get("sensitive") or ""), "profile_id": profile}
    try:
        k = int(k_text) if k_text.isdigit() else 0
        if not profile and k < 1:
            raise ValidationFailed.single("k", "deid_number", "k is at least 1.", lo=1,
                                          hi=10**9)
        found, reasons = service.assess_dataset(
            actor, db, entry_id=entry_id, qi=qi, k=k or 10,
            sensitive=str(values["sensitive"]) or None,
            profile_id=uuid.UUID(profile) if profile else None)
    except ValidationFailed as exc:
        return _dataset_page(request, db, actor, entry_id, errors=error_map(request, exc),
                             form=values, status_code=422)
    return _dataset_page(request, db, actor, entry_id, assessment=found, reasons=reasons,
                         form=values)


def _editor(request: Request, db: Db, actor: Any, entry_id: uuid.UUID, *,
            profile: Any = None, spec: Mapping[str, Any] | None = None, name: str = "",
            errors: Mapping[str, str] | None = None, status_code: int = 200) -> Response:
    dataset = service.dataset_info(actor, db, entry_id)
    columns = service.dataset_columns(actor, db, entry_id)
    spec = dict(spec or (profile.spec if profile is not None else {}))
    rules = spec.get("columns") or {}
    rows = [{"i": i, "code": c["code"], "name": c.get("name", ""),
             "transform": (rules.get(c["code"]) or {}).get("transform", ""),
             "params": params_text(rules.get(c["code"]) or {})} for i, c in enumerate(columns)]
    return render(request, "deid/profile.html", {
        "dataset": dataset, "entry_id": entry_id, "profile": profile, "rows": rows,
        "spec": spec, "thresholds": spec.get("thresholds") or {"k": 10},
        "name": name or (profile.name if profile is not None else ""),
        "errors": errors or {}, **_choices()}, status_code=status_code)


@router.get("/deid/datasets/{entry_id}/profiles/new")
def new_profile(request: Request, db: Db, actor: Manager, entry_id: uuid.UUID) -> Response:
    return _editor(request, db, actor, entry_id)


@router.post("/deid/datasets/{entry_id}/profiles")
async def create_profile(request: Request, db: Db, actor: Manager, entry_id: uuid.UUID) -> Response:
    form = await request.form()
    columns = service.dataset_columns(actor, db, entry_id)
    spec = spec_from_form(form, [str(v) for v in form.getlist("qi")], columns)
    name = str(form.get("name") or "")
    try:
        made = service.create_profile(actor, db, entry_id=entry_id, name=name, spec=spec)
    except ValidationFailed as exc:
        return _editor(request, db, actor, entry_id, spec=spec, name=name,
                       errors=error_map(request, exc), status_code=422)
    return RedirectResponse(f"/deid/profiles/{made.id}?flash=deid_profile_saved",
                            status_code=303)


@router.get("/deid/profiles/{profile_id}")
def profile_page(request: Request, db: Db, actor: Assessor, profile_id: uuid.UUID) -> Response:
    found = service.get_profile(actor, db, profile_id)
    return _editor(request, db, actor, found.entry_id, profile=found)


@router.post("/deid/profiles/{profile_id}")
async def update_profile(request: Request, db: Db, actor: Manager, profile_id: uuid.UUID) -> Response:
    form = await request.form()
    found = service.get_profile(actor, db, profile_id)
    columns = service.dataset_columns(actor, db, found.entry_id)
    spec = spec_from_form(form, [str(v) for v in form.getlist("qi")], columns)
    name = str(form.get("name") or "")
    version = str(form.get("version") or "0")
    try:
        service.update_profile(actor, db, profile_id, name=name, spec=spec,
                               version=int(version) if version.isdigit() else 0)
    except ValidationFailed as exc:
        return _editor(request, db, actor, found.entry_id, profile=found, spec=spec, name=name,
                       errors=error_map(request, exc), status_code=422)
    return RedirectResponse(f"/deid/profiles/{profile_id}?flash=deid_profile_saved",
                            status_code=303)


@router.post("/deid/profiles/{profile_id}/delete")
def delete_profile(db: Db, actor: Manager, profile_id: uuid.UUID) -> Response:
    found = service.get_profile(actor, db, profile_id)
    entry_id = found.entry_id
    service.delete_profile(actor, db, profile_id)
    return RedirectResponse(f"/deid/datasets/{entry_id}?flash=deid_profile_deleted",
                            status_code=303)


@router.post("/deid/datasets/{entry_id}/releases")
async def create_release(request: Request, db: Db, actor: Manager, entry_id: uuid.UUID) -> Response:
    form = await request.form()
    try:
        profile_id = uuid.UUID(str(form.get("profile_id") or ""))
    except ValueError:
        return _dataset_page(request, db, actor, entry_id, status_code=422, errors={
            "profile_id": error_map(request, ValidationFailed.single(
                "profile_id", "deid_profile_not_found", "Choose a profile."))["profile_id"]})
    made = service.create_release(actor, db, entry_id=entry_id, profile_id=profile_id)
    return RedirectResponse(f"/deid/releases/{made.id}", status_code=303)


@router.get("/deid/releases/{release_id}")
def release_page(request: Request, db: Db, actor: Assessor, release_id: uuid.UUID) -> Response:
    found = service.get_release(actor, db, release_id)
    assessment = service.Assessment.from_dict(found.assessment)
    return render(request, "deid/release.html", {
        "r": found, "assessment": assessment, "bins": binned(assessment.class_sizes),
        "reasons": found.reasons, "thresholds": found.spec.get("thresholds") or {},
        "may_manage": actor.is_system or actor.can(DEID_MANAGE, found.provider_path)
        or bool(found.bureau_path) and actor.can(DEID_MANAGE, found.bureau_path)})


@router.post("/deid/releases/{release_id}/release")
def do_release(db: Db, actor: Manager, release_id: uuid.UUID) -> Response:
    service.release(actor, db, release_id)
    return RedirectResponse(f"/deid/releases/{release_id}?flash=deid_released", status_code=303)
