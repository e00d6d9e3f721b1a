"""The demo province's catalog: several hundred synthetic entries across the province's, the
cities' and the demo counties' bodies, taken through the real review workflow by the reviewer
of each body's same-level data bureau; a few in review, returned or still drafts; standard data
elements; and a census in progress. Templates are data (``data/demo_catalog.yaml``)."""

from __future__ import annotations

import datetime as dt
import random
from functools import cache
from importlib import resources
from typing import Any

import yaml
from sqlalchemy.orm import Session

from gongshu.catalog import flows, service
from gongshu.catalog.census import service as census
from gongshu.catalog.schemas import DataElementCreate, InfoSystemIn
from gongshu.core.permissions import Actor, Role, RoleAssignment
from gongshu.demo.builder import DemoContext
from gongshu.orgs import service as orgs
from gongshu.orgs.service import Organization, OrgKind

SEED = 20240701
METHOD_TYPE = {"database": "database", "interface": "interface"}  # else: file
SHARING = {"u": "unconditional", "c": "conditional", "n": "not_shared"}
OPENING = {"o": "open", "c": "conditional_open", "n": "not_open"}
RETURN_COMMENTS = [
    "摘要过于简略，请补充数据范围和统计口径。",
    "有条件共享须写明共享条件和依据（第十二条），请补充。",
    "信息项不完整，请对照业务系统补充字段并引用标准数据元。",
]
#: (at most this many resources for a body at this level) — the province's bodies get all
PER_LEVEL = {"province": 99, "city": 4, "county": 3}


@cache
def templates() -> dict[str, Any]:
    text = resources.files("gongshu.catalog").joinpath("data", "demo_catalog.yaml").read_text(
        encoding="utf-8")
    return yaml.safe_load(text)


def _elements(ctx: DemoContext, db: Session) -> dict[str, Any]:
    out = {}
    for identifier, name, data_type, length, standard, domain in templates()["elements"]:
        element = service.create_data_element(ctx.actor, db, DataElementCreate(
            identifier=identifier, name=name, data_type=data_type, length=length,
            standard=standard, value_domain=domain))
        out[identifier] = element.id
    return out


def _reviewers(ctx: DemoContext, db: Session) -> dict[Any, Actor]:
    """A reviewer for every data bureau: the demo logins where there is one; elsewhere a
    reviewer of that bureau without a login account (synthetic, like everything here: making
    a dozen accounts would cost seconds of password hashing and print a dozen passwords)."""
    out: dict[Any, Actor] = {}
    logins = [u for u in (orgs.find_user(db, "reviewer"), orgs.find_user(db, "ty.reviewer")) if u]
    for org in ctx.orgs.values():
        if org.kind != OrgKind.DATA_BUREAU:
            continue
        user = next((u for u in logins if any(g.org_id == org.id for g in u.grants)), None)
        out[org.id] = orgs.actor_for_user(user) if user is not None else Actor(
            username=f"rv.{org.region_code}", display_name=f"{org.name}审核员",
            org_id=org.id, org_path=org.path, via="system",
            grants=(RoleAssignment(Role.BUREAU_REVIEWER, org.id, org.path),))
    return out


def _editors(db: Session) -> dict[Any, Actor]:
    """The demo logins that compile their bodies' catalogs themselves."""
    out = {}
    for username in ("editor", "ty.editor"):
        user = orgs.find_user(db, username)
        if user is not None:
            for grant in user.grants:
                if grant.role == Role.CATALOG_EDITOR:
                    out[grant.org_id] = orgs.actor_for_user(user)
    return out


def _entry(resource: dict[str, Any], group: int, body: Organization,
           elements: dict[str, Any], publish_date: dt.date | None) -> dict[str, Any]:
    data = templates()
    kind, subject = resource["kind"].split("/")
    format_class, format_type = resource["format"].split("/")
    sharing = SHARING[resource["sharing"]]
    attribute: dict[str, Any] = {"type": sharing}
    if sharing != "unconditional":
        condition, basis = data["sharing_defaults"][resource["sharing"]]
        attribute.update(condition=resource.get("condition", condition),
                         legal_basis=resource.get("basis", basis))
    if sharing != "not_shared":
        attribute.update(method_class="platform",
                         method_type=METHOD_TYPE.get(format_class, "file"))
    opening: dict[str, Any] = {"type": OPENING[resource["opening"]]}
    if opening["type"] == "conditional_open":
        opening["condition"] = resource.get("opening_condition", "依申请开放")
    items = []
    for key in resource["items"]:
        name, code, data_type, length, element = data["items"][key]
        items.append({"name": name, "code": code, "data_type": data_type, "length": length,
                      "data_element_id": str(elements[element]) if element else None})
    return {
        "category": {"resource_kind": kind, "subject": subject, "group": f"{group:03d}"},
        "name": resource["name"], "summary": resource["summary"],
        "provider": {"org_id": str(body.id), "name": body.name, "code": body.code or "X"},
        "format": {"format_class": format_class, "format_type": format_type},
        "items": items, "sharing": attribute, "opening": opening,
        "update_cycle": resource["cycle"],
        "publish_date": publish_date.isoformat() if publish_date else None,
        "secrecy": resource.get("secrecy", "unclassified"), "data_kind": "public",
        "keywords": resource.get("keywords", []),
    }


def _department(body: Organization) -> tuple[int, dict[str, Any]] | None:
    for index, department in enumerate(templates()["departments"], start=1):
        if department["match"] in body.name:
            return index, department
    return None


def populate(ctx: DemoContext) -> None:
    rng = random.Random(SEED)
    start = dt.date(2024, 7, 1)
    counts = {"published": 0, "submitted": 0, "returned": 0, "draft": 0, "revision": 0}
    with ctx.runtime.db.transaction() as db:
        elements = _elements(ctx, db)
        reviewers = _reviewers(ctx, db)
        editors = _editors(db)
    bodies = [org for org in ctx.orgs.values() if org.kind == OrgKind.PUBLIC_BODY]
    entries_of: dict[Any, list[Any]] = {}
    for body in bodies:
        found = _department(body)
        if found is None:
            continue
        group, department = found
        resources_ = department["resources"]
        chosen = resources_ if body.level == "province" else rng.sample(
            resources_, min(len(resources_), PER_LEVEL[body.level or "county"]))
        with ctx.runtime.db.transaction() as db:
            bureau = orgs.same_level_bureau(db, body)
            reviewer = reviewers[bureau.id] if bureau else ctx.actor
            editor = editors.get(body.id, ctx.actor)
            for resource in chosen:
                fate = rng.random()
                published = fate < 0.86
                date = start + dt.timedelta(days=rng.randrange(0, 480)) if published else None
                entry = service.create_entry(editor, db, _entry(resource, group, body, elements,
                                                                date), provider_org_id=body.id)
                entries_of.setdefault(body.id, []).append(entry.id)
                if fate < 0.80:
                    flows.submit(editor, db, entry.id)
                    flows.approve(reviewer, db, entry.id, comment="符合编制指南要求。")
                    counts["published"] += 1
                    if rng.random() < 0.3:
                        # level ids of the grading scheme (grading/data/schemes/national.yaml)
                        grade = "important" if "sfzh" in resource["items"] and rng.random() < 0.3 \
                            else "general-2"
                        service.set_grade(ctx.actor, db, entry.id, grade=grade,
                                          reasons=["含个人信息" if "sfzh" in resource["items"]
                                                   else "公开的业务数据"])
                elif fate < 0.86:  # published, and a revision now in review
                    flows.submit(editor, db, entry.id)
                    flows.approve(reviewer, db, entry.id)
                    flows.revise(editor, db, entry.id, change_note="补充信息项")
                    content = service.version_entry(entry.working_version).model_dump(mode="json")
                    content["items"].append({"name": "数据更新时间", "code": "GXSJ",
                                             "data_type": "T"})
                    service.update_entry(editor, db, entry.id, content)
                    flows.submit(editor, db, entry.id, comment="新增数据更新时间字段")
                    counts["revision"] += 1
                elif fate < 0.92:
                    flows.submit(editor, db, entry.id)
                    counts["submitted"] += 1
                elif fate < 0.96:
                    flows.submit(editor, db, entry.id)
                    flows.return_entry(reviewer, db, entry.id, comment=rng.choice(RETURN_COMMENTS))
                    counts["returned"] += 1
                else:
                    counts["draft"] += 1
    total = sum(counts.values())
    ctx.progress(f"catalog: {total} entries ({counts['published']} published, "
                 f"{counts['revision']} with a revision in review, {counts['submitted']} in "
                 f"review, {counts['returned']} returned, {counts['draft']} drafts), "
                 f"{len(elements)} data elements")
    _census(ctx, rng, entries_of)


SYSTEMS = ["业务管理系统", "政务服务系统", "数据共享交换前置系统", "档案管理系统", "视频会议系统"]


def _census(ctx: DemoContext, rng: random.Random, entries_of: dict[Any, list[Any]]) -> None:
    """The provincial census of 2025, under way: about half the bodies have answered."""
    bureau = ctx.orgs["province.bureau"]
    with ctx.runtime.db.transaction() as db:
        campaign = census.open_census(ctx.actor, db, bureau_org_id=bureau.id,
                                      title="2025年度全省信息系统和公共数据普查",
                                      period_start=dt.date(2025, 1, 1),
                                      period_end=dt.date(2025, 12, 31),
                                      due_date=dt.date(2025, 12, 31),
                                      description="依据《山西省数据工作管理办法》第九条，普查信息系统和公共数据，确认目录。")
        responses = [(r.org_id, r.org_name) for r in campaign.responses]
        answered = 0
        for org_id, org_name in responses:
            if rng.random() > 0.55:
                continue
            short = org_name.removeprefix("山西省")
            own = entries_of.get(org_id, [])
            systems = [InfoSystemIn(
                name=f"{short}{name}", purpose="支撑本单位业务办理和数据汇聚",
                on_government_cloud=rng.random() < 0.7, classified=("公安" in org_name
                                                                      and i == 1),
                entry_ids=rng.sample(own, min(len(own), 2)))
                for i, name in enumerate(rng.sample(SYSTEMS, rng.randint(1, 3)))]
            census.save_response(ctx.actor, db, campaign.id, org_id, systems=systems,
                                 catalog_confirmed=True)
            census.submit_response(ctx.actor, db, campaign.id, org_id)
            answered += 1
        census.remind(ctx.actor, db, campaign.id)
    ctx.progress(f"census: {answered} of {len(responses)} bodies answered, the rest reminded")
