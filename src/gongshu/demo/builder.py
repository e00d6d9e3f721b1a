"""A synthetic province for `gongshu demo`: organisations, users for every role, module data.

Everything is generated: organisation names are those of real offices (public knowledge), but
credit codes, people, and all data are synthetic. Modules add their own demo data through a
``demo.py`` with ``populate(ctx: DemoContext)``, called in module order.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gongshu.core.identifiers import USCC_ALPHABET, make_uscc, org_code_check_char
from gongshu.core.permissions import Actor, Role
from gongshu.core.runtime import Runtime
from gongshu.modules import submodules
from gongshu.orgs import service as orgs
from gongshu.orgs.regions import Level, Region, regions
from gongshu.orgs.service import Organization, OrgKind

LOGINS_FILE = "demo-logins.txt"

PROVINCE_BODIES = [
    ("山西省公安厅", "公安厅"),
    ("山西省人力资源和社会保障厅", "人社厅"),
    ("山西省卫生健康委员会", "卫健委"),
    ("山西省市场监督管理局", "市场监管局"),
    ("山西省自然资源厅", "自然资源厅"),
    ("山西省民政厅", "民政厅"),
    ("山西省教育厅", "教育厅"),
    ("山西省交通运输厅", "交通运输厅"),
    ("山西省生态环境厅", "生态环境厅"),
    ("山西省住房和城乡建设厅", "住建厅"),
    ("山西省财政厅", "财政厅"),
    ("山西省统计局", "统计局"),
    ("山西省医疗保障局", "医保局"),
    ("山西省农业农村厅", "农业农村厅"),
]
CITY_BODIES = ["公安局", "人力资源和社会保障局", "卫生健康委员会", "市场监督管理局", "民政局",
               "自然资源和规划局", "住房和城乡建设局"]
COUNTY_BODIES = ["公安分局", "人力资源和社会保障局", "市场监督管理局"]
#: counties that get a full set of offices (the rest get their government only)
DEMO_COUNTIES = {"140105", "140106", "140121", "140702", "140802"}

MEMBERS = [  # fictional non-governmental members (Arts. 14, 17, 20)
    ("晋数智算运营有限公司（示例）", OrgKind.OPERATOR),
    ("太行数据科技有限公司（示例）", OrgKind.ENTERPRISE),
    ("汾河数商服务有限公司（示例）", OrgKind.DATA_MERCHANT),
    ("山西省数字经济研究院数据资源中心（示例）", OrgKind.RESOURCE_CENTRE),
]


def synthetic_uscc(name: str, region: str, dept_category: str) -> str:
    """A well-formed credit code derived from the name (stable across runs, never a real one)."""
    digest = hashlib.sha256(name.encode()).digest()
    body8 = "".join(USCC_ALPHABET[b % 31] for b in digest[:8])
    return make_uscc(dept_category, region, body8 + org_code_check_char(body8))


@dataclass
class DemoContext:
    runtime: Runtime
    actor: Actor
    orgs: dict[str, Organization] = field(default_factory=dict)  # by short key
    logins: list[tuple[str, str, str, str]] = field(default_factory=list)  # user, password, role, org
    progress: Callable[[str], None] = print


def _org(ctx: DemoContext, db: Session, key: str, *, name: str, kind: OrgKind,
         parent: Organization | None, level: Level | None, region: str,
         dept: str = "11") -> Organization:
    org = orgs.create_organization(
        ctx.actor, db, name=name, kind=kind, parent_id=parent.id if parent else None,
        level=level, region_code=region, uscc=synthetic_uscc(name, region, dept))
    ctx.orgs[key] = org
    return org


def build_organisations(ctx: DemoContext) -> None:
    province_code = ctx.runtime.settings.province_code
    all_regions = regions(province_code)
    province = next(r for r in all_regions if r.level == Level.PROVINCE)
    cities = [r for r in all_regions if r.level == Level.CITY]
    with ctx.runtime.db.transaction() as db:
        gov = _org(ctx, db, "province", name=f"{province.name}人民政府", kind=OrgKind.GOVERNMENT,
                   parent=None, level=Level.PROVINCE, region=province.code)
        _org(ctx, db, "province.bureau", name=f"{province.name}数据局", kind=OrgKind.DATA_BUREAU,
             parent=gov, level=Level.PROVINCE, region=province.code)
        _org(ctx, db, "province.egov", name=f"{province.name}政务信息管理局", kind=OrgKind.EGOV_OFFICE,
             parent=gov, level=Level.PROVINCE, region=province.code)
        for name, short in PROVINCE_BODIES:
            _org(ctx, db, f"province.{short}", name=name, kind=OrgKind.PUBLIC_BODY, parent=gov,
                 level=Level.PROVINCE, region=province.code)
        for name, kind in MEMBERS:
            _org(ctx, db, f"member.{kind.value}", name=name, kind=kind, parent=gov, level=None,
                 region="140100", dept="91")
        for city in cities:
            _build_city(ctx, db, gov, city, all_regions)
    ctx.progress(f"organisations: {len(ctx.orgs)} with a full government tree")


def _build_city(ctx: DemoContext, db: Session, province_gov: Organization, city: Region,
                all_regions: tuple[Region, ...]) -> None:
    key = f"city.{city.code}"
    gov = _org(ctx, db, key, name=f"{city.name}人民政府", kind=OrgKind.GOVERNMENT,
               parent=province_gov, level=Level.CITY, region=city.code)
    _org(ctx, db, f"{key}.bureau", name=f"{city.name}数据局", kind=OrgKind.DATA_BUREAU, parent=gov,
         level=Level.CITY, region=city.code)
    for body in CITY_BODIES:
        _org(ctx, db, f"{key}.{body}", name=f"{city.name}{body}", kind=OrgKind.PUBLIC_BODY,
             parent=gov, level=Level.CITY, region=city.code)
    for county in (r for r in all_regions if r.parent_code == city.code):
        ckey = f"county.{county.code}"
        cgov = _org(ctx, db, ckey, name=f"{city.name}{county.name}人民政府", kind=OrgKind.GOVERNMENT,
                    parent=gov, level=Level.COUNTY, region=county.code)
        if county.code in DEMO_COUNTIES:
            _org(ctx, db, f"{ckey}.bureau", name=f"{city.name}{county.name}数据局",
                 kind=OrgKind.DATA_BUREAU, parent=cgov, level=Level.COUNTY, region=county.code)
            for body in COUNTY_BODIES:
                _org(ctx, db, f"{ckey}.{body}", name=f"{city.name}{county.name}{body}",
                     kind=OrgKind.PUBLIC_BODY, parent=cgov, level=Level.COUNTY, region=county.code)


#: (username, display name, role, org key, subtree)
DEMO_USERS = [
    ("admin", "平台管理员", Role.ADMIN, "province", True),
    ("reviewer", "王审核（省数据局）", Role.BUREAU_REVIEWER, "province.bureau", False),
    ("ty.reviewer", "李审核（太原市数据局）", Role.BUREAU_REVIEWER, "city.140100.bureau", False),
    ("editor", "赵编目（省人社厅）", Role.CATALOG_EDITOR, "province.人社厅", False),
    ("ty.editor", "钱编目（太原市人社局）", Role.CATALOG_EDITOR, "city.140100.人力资源和社会保障局", False),
    ("steward", "孙数管（省人社厅）", Role.DATA_STEWARD, "province.人社厅", False),
    ("requester", "周申请（省卫健委）", Role.REQUESTER, "province.卫健委", False),
    ("operator", "吴运营（晋数智算）", Role.OPERATOR, "member.operator", False),
    ("security", "郑安全（省数据局）", Role.SECURITY_OFFICER, "province", True),
    ("auditor", "冯审计", Role.AUDITOR, "province", True),
    ("cdo", "陈首席（省人社厅）", Role.CDO, "province.人社厅", False),
]


def build_users(ctx: DemoContext) -> None:
    with ctx.runtime.db.transaction() as db:
        for username, name, role, org_key, subtree in DEMO_USERS:
            org = ctx.orgs[org_key]
            home = ctx.orgs["province.bureau"] if org_key == "province" else org
            password = secrets.token_urlsafe(9)
            user = orgs.create_user(ctx.actor, db, username=username, display_name=name,
                                    org_id=home.id, password=password)
            orgs.grant_role(ctx.actor, db, user_id=user.id, role=role, org_id=org.id, subtree=subtree)
            ctx.logins.append((username, password, role.value, org.name))
        # the catalog editor of the province's human resources department also steers its data
        editor = orgs.find_user(db, "editor")
        assert editor is not None
        orgs.grant_role(ctx.actor, db, user_id=editor.id, role=Role.DATA_STEWARD,
                        org_id=ctx.orgs["province.人社厅"].id)
    ctx.progress(f"users: {len(ctx.logins)}, one or more for every role")


def is_built(runtime: Runtime) -> bool:
    with runtime.db.transaction(write=False) as db:
        return (db.scalar(select(func.count()).select_from(Organization)) or 0) > 0


def write_logins(runtime: Runtime, logins: list[tuple[str, str, str, str]]) -> Path:
    path = runtime.settings.resolved_data_dir / LOGINS_FILE
    lines = ["# gongshu demo logins: username  password  role  organisation"]
    lines += ["  ".join(row) for row in logins]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def read_logins(runtime: Runtime) -> list[tuple[str, ...]]:
    path = runtime.settings.resolved_data_dir / LOGINS_FILE
    if not path.exists():
        return []
    return [tuple(line.split("  ")) for line in path.read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#")]


def build_demo(runtime: Runtime, *, progress: Callable[[str], None] = print) -> DemoContext:
    """Fill an empty platform with the demo province. Module data follows the organisations."""
    ctx = DemoContext(runtime=runtime, actor=Actor.system("demo", via="system"), progress=progress)
    build_organisations(ctx)
    build_users(ctx)
    for module in submodules("demo"):
        populate = getattr(module, "populate", None)
        if populate is not None:
            populate(ctx)
    write_logins(runtime, ctx.logins)
    return ctx
