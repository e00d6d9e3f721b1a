"""The demo province's data sharing (Art. 12): requests in every state, some of them overdue
and escalated, grants with weeks of usage, and one entry with data in the library
(the enterprise register of the market regulator) granted to more than twenty bodies.

The demo logins have work waiting: ``requester`` (the province's health commission) has
requests in progress and grants it uses; ``steward`` (the province's HR department) has
requests to answer, one overdue; ``reviewer`` (the province's data bureau) has requests to
check, one escalated from Taiyuan's bureau; ``security`` and ``auditor`` see the reports.
Bodies without a demo login act through synthetic staff (no login account), as in the catalog
demo. Everything happens through the real workflow; only the history's dates are moved into the
past (``flows.demo_backdate``) and past usage is recorded (``service.record_demo_pulls``), both
audited as demo.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from gongshu.catalog import service as catalog
from gongshu.core.db import utcnow
from gongshu.core.permissions import Actor, Role, RoleAssignment
from gongshu.demo.builder import DemoContext
from gongshu.orgs import service as orgs
from gongshu.sharing import flows, service

SEED = 20241201
SCENARIOS = {
    "救助": service.ScenarioIn(
        name="医疗救助对象资格核验", description="核验医疗救助申请人的参保、缴费和收入情况，减少群众提交证明材料。",
        legal_basis="《社会救助暂行办法》第二十八条、第五十九条", expected_volume="每月约2万条"),
    "准入": service.ScenarioIn(
        name="市场主体资格核验", description="办理行政许可时核验申请企业的登记状态，免于提交营业执照复印件。",
        legal_basis="《优化营商环境条例》第三十五条", expected_volume="每日约500次查询"),
}
#: the entry granted to many bodies (it has data in the library)
MANY = ("province.市场监管局", "企业登记信息")
MANY_ITEMS = ["DWMC", "TYSHXYDM", "FDDBR", "CLRQ"]


def _staff(org: Any, role: Role, prefix: str) -> Actor:
    return Actor(username=f"{prefix}.{org.id.hex[:8]}", display_name=f"{org.name}工作人员",
                 org_id=org.id, org_path=org.path, via="system",
                 grants=(RoleAssignment(role, org.id, org.path),))


def _login(db: Any, username: str) -> Actor | None:
    user = orgs.find_user(db, username)
    return orgs.actor_for_user(user, via="system") if user is not None else None


def _bureau_actor(db: Any, org: Any) -> Actor:
    """A reviewer of the body's same-level data bureau: the demo login where there is one."""
    bureau = orgs.same_level_bureau(db, org)
    for name in ("reviewer", "ty.reviewer"):
        found = _login(db, name)
        if found is not None and bureau is not None and found.can(
                "sharing.coordinate", bureau.path):
            return found
    assert bureau is not None
    return _staff(bureau, Role.BUREAU_REVIEWER, "br")


def _provider_actor(db: Any, org: Any) -> Actor:
    found = _login(db, "steward")
    if found is not None and found.can("sharing.answer", org.path):
        return found
    return _staff(org, Role.DATA_STEWARD, "ds")


def _entry(db: Any, org: Any, name: str) -> Any | None:
    rows, _ = catalog.list_entries(service.LOOKUP, db, provider_org_id=org.id, limit=500)
    for entry in rows:
        version = entry.published_version
        if version is not None and version.name == name:
            return entry
    return None


def _items(entry: Any, wanted: list[str] | None = None, k: int = 3) -> list[str]:
    codes = [i.code for i in entry.published_version.items]
    if wanted:
        return [c for c in wanted if c in codes] or codes[:k]
    return codes[:k]


class Story:
    """One request told through the workflow, step by step, with days between the steps."""

    def __init__(self, ctx: DemoContext, requester: Actor, org_key: str, entry_name: str,
                 scenario: str, *, items: list[str] | None = None) -> None:
        self.ctx = ctx
        self.requester = requester
        self.ok = False
        with ctx.runtime.db.transaction() as db:
            org = ctx.orgs.get(org_key)
            entry = _entry(db, org, entry_name) if org is not None else None
            if entry is None:
                ctx.progress(f"sharing: no published entry {entry_name!r} of {org_key}; skipped")
                return
            self.provider = _provider_actor(db, org)
            self.bureau = _bureau_actor(db, orgs.get_organization(
                service.LOOKUP, db, requester.org_id))  # type: ignore[arg-type]
            req = flows.submit(requester, db, entry_id=entry.id, items=_items(entry, items),
                               scenario=SCENARIOS[scenario], contact_name=requester.display_name[:8],
                               contact_phone="0351-" + str(4000000 + hash(entry_name) % 999999))
            self.id = req.id
            self.ok = True

    def ago(self, days: float) -> Story:
        if self.ok:
            with self.ctx.runtime.db.transaction() as db:
                flows.demo_backdate(self.ctx.actor, db, self.id, days=days)
        return self

    def do(self, step: str, **kw: Any) -> Story:
        if not self.ok:
            return self
        who = {"check": self.bureau, "coordinate": self.bureau, "take_over": self.bureau,
               "answer": self.provider, "dispute": self.requester,
               "withdraw": self.requester}[step]
        with self.ctx.runtime.db.transaction() as db:
            getattr(flows, step)(who, db, self.id, **kw)
        return self

    def used(self, rng: random.Random, days: int, daily: int) -> Story:
        if not self.ok:
            return self
        with self.ctx.runtime.db.transaction() as db:
            req = service._request(db, self.id)
            if req.grant_id is not None:
                today = service.calendar(db).local_day(utcnow())
                pulls = [(today - dt.timedelta(days=d), max(1, int(daily * rng.uniform(.3, 1.6))))
                         for d in range(days, 0, -1) if rng.random() < .7]
                service.record_demo_pulls(self.ctx.actor, db, req.grant_id, pulls=pulls)
        return self


def populate(ctx: DemoContext) -> None:
    rng = random.Random(SEED)
    with ctx.runtime.db.transaction() as db:
        requester = _login(db, "requester")
    if requester is None or requester.org_id is None:
        ctx.progress("sharing: no demo requester; skipped")
        return
    hr = "province.人社厅"
    # the demo requester's own work: every state, one overdue at the provider
    Story(ctx, requester, hr, "社会保险缴费记录", "救助", items=["GMSFHM", "XM", "JFJS", "JFYS"]) \
        .ago(9).do("check", decision="conform").ago(4) \
        .do("answer", approve=True, comment="同意按月核验，限定字段").ago(45).used(rng, 44, 1800)
    Story(ctx, requester, hr, "就业登记信息", "救助").ago(3) \
        .do("check", decision="conform").ago(9)  # the provider's 5 working days are over
    Story(ctx, requester, hr, "社会保险参保信息", "救助")  # just submitted
    Story(ctx, requester, hr, "养老保险待遇发放信息", "救助").ago(6) \
        .do("check", decision="conform").ago(3) \
        .do("answer", approve=False, comment="待遇发放信息仅限社保经办使用，申请用途不在共享条件内。").ago(2)
    Story(ctx, requester, hr, "社会保障卡发放信息", "救助").ago(8) \
        .do("check", decision="conform").ago(4) \
        .do("answer", approve=False, comment="社保卡信息含银行账号，不宜共享。").ago(2) \
        .do("dispute", reason="医疗救助资金须直接发放至社保卡，属法定职责所需，仅需卡号和发放状态。").ago(1)
    Story(ctx, requester, "province.民政厅", "信访事项办理记录", "救助").ago(5) \
        .do("check", decision="conform").ago(4)  # not shared: refused with the entry's basis
    Story(ctx, requester, hr, "职业资格证书信息", "救助").ago(2).do("withdraw", comment="已通过其他渠道获取")
    Story(ctx, requester, "province.市场监管局", "企业年度报告信息", "准入").ago(1) \
        .do("check", decision="nonconform",
            comment="应用场景与本单位职责关联不明确，请补充说明后重新申请。")

    # other bodies' requests: the steward's inbox and the bureaus' queues, some overdue
    with ctx.runtime.db.transaction() as db:
        staff = {key: _staff(ctx.orgs[key], Role.REQUESTER, "rq")
                 for key in ctx.orgs if key.startswith(("province.", "city."))
                 and ctx.orgs[key].kind == "public_body"}
    ty_hr, ty_civil = "city.140100.人力资源和社会保障局", "city.140100.民政局"
    if ty_hr in staff:
        Story(ctx, staff[ty_hr], hr, "社会保险缴费记录", "救助").ago(2) \
            .do("check", decision="conform").ago(1)
    if ty_civil in staff:  # Taiyuan's bureau has not checked it: escalated to the province
        Story(ctx, staff[ty_civil], "province.公安厅", "常住人口基本信息", "救助").ago(7)
    if "province.医保局" in staff:
        Story(ctx, staff["province.医保局"], hr, "社会保险参保信息", "救助").ago(7)  # overdue check
    if "province.教育厅" in staff:
        Story(ctx, staff["province.教育厅"], hr, "就业登记信息", "救助").ago(1)

    # one entry with data, granted to more than twenty bodies, most of them using it
    holders = [requester] + [a for k, a in sorted(staff.items())
                             if k != MANY[0] and a.org_id != requester.org_id][:23]
    granted = 0
    for n, actor in enumerate(holders):
        story = Story(ctx, actor, MANY[0], MANY[1], "准入", items=MANY_ITEMS)
        if not story.ok:
            break
        story.ago(rng.uniform(.2, 2.5)).do("check", decision="conform").ago(rng.randint(30, 75))
        if n % 7 != 6:  # a few are granted and never used
            story.used(rng, 30, rng.choice([40, 120, 300, 800]))
        granted += 1
    with ctx.runtime.db.transaction() as db:
        swept = flows.sweep(ctx.actor, db)
    with ctx.runtime.db.transaction(write=False) as db:
        _, total = service.list_requests(ctx.actor, db, limit=1)
    ctx.progress(f"sharing: {total} requests in every state ({swept['escalated']} overdue "
                 f"escalated), {granted} grants on {MANY[1]}")
