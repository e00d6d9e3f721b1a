"""Share requests by sharing type (Art. 12; STANDARDS.md §3): who decides each step, the
deadlines in working days, refusals with reasons, disputes, escalation, and the grant."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gongshu.core.db import utcnow
from gongshu.core.errors import (
    Conflict,
    InvalidState,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from gongshu.sharing import flows, service
from gongshu.sharing.models import ShareGrant, ShareRequest, ShareRequestStep
from library.data import SYSTEM, register_rows, write_file

SCENARIO = service.ScenarioIn(name="医疗救助对象资格核验", description="核验救助对象的参保和收入情况",
                              legal_basis="《社会救助暂行办法》第二十八条", expected_volume="每月约2万条")


def ask(runtime: Any, member: Any, entry: Any, items: tuple[str, ...] = ("XM", "YSR"),
        **changes: Any) -> ShareRequest:
    with runtime.db.transaction() as db:
        req = flows.submit(member.actor, db, entry_id=entry.id, items=list(items),
                           scenario=changes.pop("scenario", SCENARIO),
                           contact_name="周申请", contact_phone="0351-1234567", **changes)
        db.flush()
        db.expunge(req)
    return req


def act(runtime: Any, fn: Any, member: Any, req: Any, **kw: Any) -> ShareRequest:
    with runtime.db.transaction() as db:
        out = fn(member.actor, db, req.id, **kw)
        db.flush()
        db.expunge(out)
    return out


def load(runtime: Any, req: Any) -> ShareRequest:
    with runtime.db.transaction(write=False) as db:
        found = db.get(ShareRequest, req.id)
        db.expunge(found)
        return found


def steps(runtime: Any, req: Any) -> list[str]:
    with runtime.db.transaction(write=False) as db:
        return list(db.scalars(sa.select(ShareRequestStep.action).where(
            ShareRequestStep.request_id == req.id).order_by(ShareRequestStep.seq)))


# --------------------------------------------------------------------------- flows by type


@pytest.mark.parametrize(("share_type", "decisions", "status", "trail", "granted"), [
    ("unconditional", [("bureau", "check", {"decision": "conform"})], "granted",
     ["submit", "conform"], True),
    ("conditional", [("bureau", "check", {"decision": "conform"}),
                     ("provider", "answer", {"approve": True})], "granted",
     ["submit", "conform", "approve"], True),
    ("conditional", [("bureau", "check", {"decision": "conform"}),
                     ("provider", "answer", {"approve": False, "comment": "超出共享条件"})],
     "refused", ["submit", "conform", "refuse"], False),
    ("conditional", [("bureau", "check", {"decision": "nonconform", "comment": "场景与职责不符"})],
     "refused", ["submit", "nonconform"], False),
    ("not_shared", [("bureau", "check", {"decision": "conform"})], "refused",
     ["submit", "conform"], False),
    ("not_shared", [("bureau", "check", {"decision": "coordinate"}),
                    ("bureau", "coordinate", {"approve": True, "comment": "经协调同意"})],
     "granted", ["submit", "coordinate", "coordinate_grant"], True),
    ("conditional", [("bureau", "check", {"decision": "conform"}),
                     ("provider", "answer", {"approve": False, "comment": "不符合条件"}),
                     ("requester", "dispute", {"reason": "属法定职责"}),
                     ("bureau", "coordinate", {"approve": True, "comment": "协调后同意"})],
     "granted", ["submit", "conform", "refuse", "dispute", "coordinate_grant"], True),
    ("conditional", [("bureau", "check", {"decision": "conform"}),
                     ("requester", "withdraw", {})], "withdrawn",
     ["submit", "conform", "withdraw"], False),
])
def test_flows_by_sharing_type(runtime: Any, publish: Any, cast: Any, share_type: str,
                               decisions: list, status: str, trail: list[str],
                               granted: bool) -> None:
    entry = publish(share_type)
    req = ask(runtime, cast.requester, entry)
    assert req.status == "bureau_check" and req.number.startswith("GX-")
    for who, step, kw in decisions:
        req = act(runtime, getattr(flows, step), getattr(cast, who), req, **kw)
    assert req.status == status
    assert steps(runtime, req) == trail
    assert (req.grant_id is not None) is granted
    if status in ("refused", "granted", "withdrawn"):
        assert req.step_due_at is None and req.decided_at is not None
    if granted:
        with runtime.db.transaction(write=False) as db:
            grant = db.get(ShareGrant, req.grant_id)
            assert grant.holder_org_id == cast.requester.actor.org_id
            assert grant.items == ["XM", "YSR"] and grant.status == "active"
    if share_type == "not_shared" and status == "refused":
        assert "个人信息保护法" in req.refusal_reason  # the entry's stated basis


def test_deadlines_follow_the_periods_and_the_platform(runtime: Any, publish: Any, cast: Any,
                                                       run_ingest: Any, people: Any,
                                                       tmp_path: Path) -> None:
    cal = service.calendar
    entry = publish("conditional")
    req = ask(runtime, cast.requester, entry)
    with runtime.db.transaction(write=False) as db:
        c = cal(db)
        assert c.working_days_between(c.local_day(req.step_started_at),
                                      c.local_day(req.step_due_at)) == 2
    req = act(runtime, flows.check, cast.bureau, req, decision="conform")
    with runtime.db.transaction(write=False) as db:
        c = cal(db)
        assert c.working_days_between(c.local_day(req.step_started_at),
                                      c.local_day(req.step_due_at)) == 10  # not on the platform
    other = publish("conditional")
    path = tmp_path / "p.csv"
    write_file(path, register_rows(10))
    assert run_ingest(people.steward.actor, other, path).status == "succeeded"
    req2 = act(runtime, flows.check, cast.bureau, ask(runtime, cast.requester, other),
               decision="conform")
    with runtime.db.transaction(write=False) as db:
        c = cal(db)
        assert c.working_days_between(c.local_day(req2.step_started_at),
                                      c.local_day(req2.step_due_at)) == 5  # data on the platform


# ---------------------------------------------------------------------------- permissions


@pytest.mark.parametrize(("who", "step", "kw", "error"), [
    ("requester", "check", {"decision": "conform"}, PermissionDenied),
    ("provider", "check", {"decision": "conform"}, PermissionDenied),
    ("stranger", "check", {"decision": "conform"}, PermissionDenied),
    ("ty_bureau", "check", {"decision": "conform"}, NotFound),  # not its request
    ("stranger", "withdraw", {}, NotFound),
    ("provider", "withdraw", {}, PermissionDenied),
    ("bureau", "answer", {"approve": True}, PermissionDenied),
])
def test_who_may_decide_the_first_step(runtime: Any, publish: Any, cast: Any, who: str,
                                       step: str, kw: dict, error: type) -> None:
    req = ask(runtime, cast.requester, publish("conditional"))
    with pytest.raises(error):
        act(runtime, getattr(flows, step), getattr(cast, who), req, **kw)
    assert load(runtime, req).status == "bureau_check"


def test_requester_cannot_answer_and_provider_not_coordinate(runtime: Any, publish: Any,
                                                             cast: Any) -> None:
    req = ask(runtime, cast.requester, publish("conditional"))
    req = act(runtime, flows.check, cast.bureau, req, decision="conform")
    for who, step, kw in [("requester", "answer", {"approve": True}),
                          ("stranger", "answer", {"approve": True}),
                          ("provider", "coordinate", {"approve": True, "comment": "x"})]:
        with pytest.raises((PermissionDenied, NotFound)):
            act(runtime, getattr(flows, step), getattr(cast, who), req, **kw)
    assert load(runtime, req).status == "provider_review"


def test_other_bodies_cannot_see_a_request(runtime: Any, publish: Any, cast: Any) -> None:
    req = ask(runtime, cast.requester, publish("conditional"))
    with runtime.db.transaction(write=False) as db:
        with pytest.raises(NotFound):
            service.get_request(cast.stranger.actor, db, req.id)
        assert service.list_requests(cast.stranger.actor, db)[1] == 0
        assert service.list_requests(cast.requester.actor, db, box="mine")[1] == 1
        assert service.list_requests(cast.provider.actor, db, box="inbox")[1] == 1
        assert service.list_requests(cast.bureau.actor, db, box="queue")[1] == 1
        assert service.list_requests(cast.ty_bureau.actor, db, box="queue")[1] == 0
        assert service.get_request(cast.reporter.actor, db, req.id).id == req.id


def test_a_holder_cannot_give_on_what_it_holds(runtime: Any, publish: Any, cast: Any) -> None:
    """Art. 12: there is no path for a holder to issue a grant or ask on behalf of others."""
    entry = publish("unconditional")
    req = act(runtime, flows.check, cast.bureau, ask(runtime, cast.requester, entry),
              decision="conform")
    assert req.status == "granted"
    # asking always asks for the actor's own body; the signature has no other requester
    import inspect

    assert "requester_org_id" not in inspect.signature(flows.submit).parameters
    # the stranger's request on the same entry cannot be approved by the holder
    other = ask(runtime, cast.stranger, entry)
    for step, kw in [("check", {"decision": "conform"}), ("answer", {"approve": True}),
                     ("coordinate", {"approve": True, "comment": "x"})]:
        with pytest.raises((PermissionDenied, NotFound)):
            act(runtime, getattr(flows, step), cast.requester, other, **kw)
    # nor revoke the grant it holds
    with runtime.db.transaction() as db, pytest.raises(PermissionDenied):
        service.revoke_grant(cast.requester.actor, db, req.grant_id, reason="x")


# ------------------------------------------------------------------------------- inputs


@pytest.mark.parametrize(("changes", "fields"), [
    ({"items": ()}, {"items"}),
    ({"items": ("XM", "NOPE")}, {"items"}),
    ({"contact_name": "", "contact_phone": ""}, {"contact_name", "contact_phone"}),
    ({"scenario": service.ScenarioIn(name="新场景")}, {"scenario.description",
                                                       "scenario.legal_basis"}),
])
def test_bad_requests_list_every_problem_and_write_nothing(runtime: Any, publish: Any,
                                                           cast: Any, changes: dict,
                                                           fields: set[str]) -> None:
    entry = publish("conditional")
    changes = dict(changes)  # the table is shared by the backends' runs
    items = changes.pop("items", ("XM",))
    kw = {"contact_name": "周", "contact_phone": "123", **changes}
    with runtime.db.transaction() as db, pytest.raises(ValidationFailed) as caught:
        flows.submit(cast.requester.actor, db, entry_id=entry.id, items=list(items),
                     scenario=kw.pop("scenario", SCENARIO), **kw)
    assert {e.field for e in caught.value.errors} == fields
    with runtime.db.transaction(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(ShareRequest)) == 0


def test_a_scenario_is_reused_by_later_requests(runtime: Any, publish: Any, cast: Any) -> None:
    a = ask(runtime, cast.requester, publish("conditional"))
    b = ask(runtime, cast.requester, publish("conditional"),
            scenario=service.ScenarioIn(name=SCENARIO.name))
    assert a.scenario_id == b.scenario_id
    with runtime.db.transaction(write=False) as db:
        assert [s.name for s in service.list_scenarios(cast.requester.actor, db)] == [SCENARIO.name]


@pytest.mark.parametrize(("step", "kw"), [
    ("answer", {"approve": False}),
    ("answer", {"approve": False, "comment": "  "}),
])
def test_a_refusal_gives_reasons(runtime: Any, publish: Any, cast: Any, step: str, kw: dict) -> None:
    req = act(runtime, flows.check, cast.bureau, ask(runtime, cast.requester, publish("conditional")),
              decision="conform")
    with pytest.raises(ValidationFailed):
        act(runtime, getattr(flows, step), cast.provider, req, **kw)


def test_a_refusal_is_disputed_once(runtime: Any, publish: Any, cast: Any) -> None:
    req = ask(runtime, cast.requester, publish("conditional"))
    req = act(runtime, flows.check, cast.bureau, req, decision="nonconform", comment="不符")
    req = act(runtime, flows.dispute, cast.requester, req, reason="属法定职责")
    req = act(runtime, flows.coordinate, cast.bureau, req, approve=False, comment="维持")
    with pytest.raises(InvalidState):
        act(runtime, flows.dispute, cast.requester, req, reason="再议")


def test_stale_version_is_a_conflict(runtime: Any, publish: Any, cast: Any) -> None:
    req = ask(runtime, cast.requester, publish("conditional"))
    with pytest.raises(Conflict):
        act(runtime, flows.check, cast.bureau, req, decision="conform",
            expected_version=req.version + 5)
    assert act(runtime, flows.check, cast.bureau, req, decision="conform",
               expected_version=req.version).status == "provider_review"


def test_own_and_unpublished_entries_cannot_be_asked_for(runtime: Any, publish: Any, entry: Any,
                                                         cast: Any, make_user: Any) -> None:
    with pytest.raises(NotFound):  # a draft is invisible to other bodies
        ask(runtime, cast.requester, entry)
    own = make_user("own_req", "requester", "province.hr")
    with pytest.raises(InvalidState):
        ask(runtime, own, publish("conditional"))


# ------------------------------------------------------------------------------ escalation


def test_overdue_steps_escalate_up_the_tree(runtime: Any, publish: Any, cast: Any) -> None:
    entry = publish("conditional")
    req = ask(runtime, cast.stranger, entry)  # Taiyuan: checked by the city's bureau
    with runtime.db.transaction(write=False) as db:
        assert service.list_requests(cast.ty_bureau.actor, db, box="queue")[1] == 1
        assert service.list_requests(cast.bureau.actor, db, box="queue")[1] == 0
    later = req.step_due_at + dt.timedelta(hours=1)
    with runtime.db.transaction() as db:
        assert [r.id for r in flows.escalate_overdue(SYSTEM, db, now=later)] == [req.id]
        # a second sweep right after does not escalate again
        assert flows.escalate_overdue(SYSTEM, db, now=later) == []
    got = load(runtime, req)
    assert got.escalation_level == 1 and got.escalated_to_path.endswith(
        cast.bureau.actor.org_path.strip("/").rsplit("/", 1)[-1] + "/")
    with runtime.db.transaction(write=False) as db:
        rows, _ = service.list_requests(cast.bureau.actor, db, box="queue")
        assert [r.id for r in rows] == [req.id]
    # the province's bureau may now decide it
    assert act(runtime, flows.check, cast.bureau, req, decision="conform").status == \
        "provider_review"
    assert steps(runtime, req) == ["submit", "escalate", "conform"]


def test_sweep_expires_grants(runtime: Any, publish: Any, cast: Any) -> None:
    req = act(runtime, flows.check, cast.bureau,
              ask(runtime, cast.requester, publish("unconditional")), decision="conform")
    with runtime.db.transaction() as db:
        out = flows.sweep(SYSTEM, db, now=utcnow() + dt.timedelta(days=400))
    assert out["expired"] == 1
    with runtime.db.transaction(write=False) as db:
        assert db.get(ShareGrant, req.grant_id).status == "expired"


def test_grant_terms_narrow_the_request(runtime: Any, publish: Any, cast: Any) -> None:
    req = act(runtime, flows.check, cast.bureau, ask(runtime, cast.requester, publish("conditional")),
              decision="conform")
    with pytest.raises(ValidationFailed):
        act(runtime, flows.answer, cast.provider, req, approve=True,
            terms=flows.GrantTerms(items=["GMSFHM"]))
    done = act(runtime, flows.answer, cast.provider, req, approve=True,
               terms=flows.GrantTerms(items=["XM"], daily_row_limit=1000,
                                      row_filter=[{"item": "YSR", "op": ">", "value": 0}],
                                      expires_on=dt.date.today() + dt.timedelta(days=90)))
    with runtime.db.transaction(write=False) as db:
        grant = db.get(ShareGrant, done.grant_id)
        assert grant.items == ["XM"] and grant.daily_row_limit == 1000
        assert grant.row_filter == [{"item": "YSR", "op": ">", "value": 0}]
    assert uuid.UUID(str(done.grant_id))


def test_the_sweep_job_runs(runtime: Any, publish: Any, cast: Any) -> None:
    from gongshu.core.jobs import run_inline
    from gongshu.sharing import jobs  # noqa: F401 - registers the handler

    ask(runtime, cast.requester, publish("conditional"))
    job = run_inline(runtime, SYSTEM, kind="sharing.sweep")
    assert job.status == "succeeded", job.error
    assert job.result == {"escalated": 0, "expired": 0}


def test_demo_backdating_makes_a_step_overdue(runtime: Any, publish: Any, cast: Any) -> None:
    req = ask(runtime, cast.requester, publish("conditional"))
    with runtime.db.transaction() as db, pytest.raises(PermissionDenied):
        flows.demo_backdate(cast.bureau.actor, db, req.id, days=10)
    with runtime.db.transaction() as db:
        flows.demo_backdate(SYSTEM, db, req.id, days=10)
    got = load(runtime, req)
    assert service.is_overdue(got)
    with runtime.db.transaction(write=False) as db:
        c = service.calendar(db)
        assert c.working_days_between(c.local_day(got.step_started_at),
                                      c.local_day(got.step_due_at)) == 2


def test_an_overdue_provider_step_escalates_and_the_bureau_takes_it_over(
        runtime: Any, publish: Any, cast: Any) -> None:
    req = act(runtime, flows.check, cast.ty_bureau,
              ask(runtime, cast.stranger, publish("conditional")), decision="conform")
    assert req.status == "provider_review"
    with pytest.raises(InvalidState):  # not overdue yet
        act(runtime, flows.take_over, cast.ty_bureau, req, comment="催办")
    with runtime.db.transaction() as db:
        flows.demo_backdate(SYSTEM, db, req.id, days=20)
    with runtime.db.transaction() as db:
        assert [r.id for r in flows.escalate_overdue(SYSTEM, db)] == [req.id]
    got = load(runtime, req)
    # first to the requester's bureau (Taiyuan), which sees it flagged in its queue
    assert got.escalation_level == 1 and got.escalated_to_path == got.bureau_path
    with runtime.db.transaction(write=False) as db:
        rows, _ = service.list_requests(cast.ty_bureau.actor, db, box="queue", overdue=True)
        assert [r.id for r in rows] == [req.id]
    with pytest.raises(ValidationFailed):  # taking over says why
        act(runtime, flows.take_over, cast.ty_bureau, req, comment="")
    got = act(runtime, flows.take_over, cast.ty_bureau, req, comment="提供方超期未答复")
    assert got.status == "coordination" and got.escalation_level == 0
    got = act(runtime, flows.coordinate, cast.ty_bureau, got, approve=True, comment="协调同意")
    assert got.status == "granted"
    assert steps(runtime, req) == ["submit", "conform", "escalate", "take_over",
                                   "coordinate_grant"]


def test_the_sweep_is_scheduled_once_per_period(runtime: Any, publish: Any, cast: Any) -> None:
    """Workers submit ``sharing.sweep`` from its schedule: once per period, not once per look."""
    import datetime as dt

    from gongshu.core.jobs import Job, Worker
    from gongshu.sharing import jobs  # noqa: F401 - registers the handler and its schedule

    worker = Worker(runtime)
    worker.sync_schedules()

    def sweeps(**when: Any) -> int:
        ids = worker.run_schedules(**when)
        worker.run_pending()
        with runtime.db.transaction(write=False) as db:
            return sum(db.get(Job, i).kind == "sharing.sweep" for i in ids)

    assert sweeps() == 1
    assert sweeps() == 0  # the same period
    assert sweeps(now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)) == 1
