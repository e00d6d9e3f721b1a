"""A queued job re-checks its actor when a worker claims it (orgs/jobs.py resolves the actor):
a deactivated user, a revoked role or a revoked or expired token stops the work with a stable
code, and the handler never runs."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from gongshu.core import jobs
from gongshu.core.audit import AuditEvent
from gongshu.core.db import utcnow
from gongshu.core.jobs import Job, JobContext, JobStatus, Worker
from gongshu.core.permissions import Actor, Role
from gongshu.library.permissions import LIBRARY_INGEST
from gongshu.orgs import jobs as orgs_jobs
from gongshu.orgs import service as orgs
from gongshu.orgs.models import ApiToken, RoleGrant

ran: list[tuple[str, Actor]] = []


@jobs.handler("test.orgs.guarded", perm=LIBRARY_INGEST)
def _guarded(ctx: JobContext) -> dict[str, Any]:
    ran.append(("guarded", ctx.actor))
    return {"roles": sorted(ctx.actor.roles)}


@jobs.handler("test.orgs.plain")
def _plain(ctx: JobContext) -> dict[str, Any]:
    ran.append(("plain", ctx.actor))
    return {}


@pytest.fixture(autouse=True)
def _resolver() -> Iterator[None]:
    ran.clear()
    before = jobs.actor_resolver()
    jobs.set_actor_resolver(orgs_jobs.current_actor)
    yield
    jobs.set_actor_resolver(before)


@pytest.fixture
def steward(make_user: Any) -> Any:
    return make_user("steward.hr", Role.DATA_STEWARD.value, "province.hr")


def submit(runtime: Any, actor: Actor, kind: str = "test.orgs.guarded",
           org_path: str | None = None) -> uuid.UUID:
    with runtime.db.transaction() as db:
        return jobs.submit(actor, db, kind=kind, org_path=org_path).id


def load(runtime: Any, job_id: uuid.UUID) -> Job:
    with runtime.db.transaction(write=False) as db:
        job = db.get(Job, job_id)
        assert job is not None
        return job


def token_actor(runtime: Any, member: Any) -> Actor:
    with runtime.db.transaction() as db:
        _token, raw = orgs.create_token(member.actor, db, name="ingests")
        return orgs.authenticate_token(db, raw)


def test_the_resolver_is_registered_by_the_orgs_module() -> None:
    import importlib

    jobs.set_actor_resolver(None)
    importlib.reload(orgs_jobs)  # what the worker's import of every module's jobs does
    assert jobs.actor_resolver() is orgs_jobs.current_actor


def test_a_job_runs_with_its_actor_as_it_is_now(runtime: Any, steward: Any, tree: Any,
                                                system: Actor) -> None:
    actor = token_actor(runtime, steward)
    job_id = submit(runtime, actor)
    with runtime.db.transaction() as db:  # a role added after the submit counts
        orgs.grant_role(system, db, user_id=steward.user.id, role=Role.CATALOG_EDITOR.value,
                        org_id=tree["province.hr"].id)
    assert Worker(runtime).run_pending() == 1
    job = load(runtime, job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result == {"roles": ["catalog_editor", "data_steward"]}
    (_, seen), = ran
    assert (seen.username, seen.via, seen.token_id) == ("steward.hr", "job", actor.token_id)


def _deactivate(runtime: Any, member: Any, system: Actor, _token: uuid.UUID | None) -> None:
    with runtime.db.transaction() as db:
        orgs.update_user(system, db, member.user.id, is_active=False)


def _revoke_role(runtime: Any, member: Any, system: Actor, _token: uuid.UUID | None) -> None:
    with runtime.db.transaction() as db:
        grant = db.scalars(select(RoleGrant).where(RoleGrant.user_id == member.user.id)).one()
        orgs.revoke_grant(system, db, grant.id)


def _revoke_token(runtime: Any, member: Any, system: Actor, token: uuid.UUID | None) -> None:
    assert token is not None
    with runtime.db.transaction() as db:
        orgs.revoke_token(member.actor, db, token)


def _expire_token(runtime: Any, member: Any, system: Actor, token: uuid.UUID | None) -> None:
    with runtime.db.transaction() as db:
        row = db.get(ApiToken, token)
        assert row is not None
        row.expires_at = utcnow() - dt.timedelta(seconds=1)


@pytest.mark.parametrize(("change", "through_token", "kind", "reason"), [
    (_deactivate, False, "test.orgs.guarded", "user_inactive"),
    (_deactivate, True, "test.orgs.guarded", "user_inactive"),
    (_deactivate, False, "test.orgs.plain", "user_inactive"),  # no permission declared
    (_revoke_role, False, "test.orgs.guarded", "permission_lost"),
    (_revoke_token, True, "test.orgs.guarded", "token_revoked"),
    (_revoke_token, True, "test.orgs.plain", "token_revoked"),
    (_expire_token, True, "test.orgs.guarded", "token_expired"),
])
def test_a_queued_job_whose_actor_lost_the_right_fails_without_running(
        runtime: Any, steward: Any, system: Actor, change: Any, through_token: bool, kind: str,
        reason: str) -> None:
    actor = token_actor(runtime, steward) if through_token else steward.actor
    job_id = submit(runtime, actor, kind)
    change(runtime, steward, system, actor.token_id)
    assert Worker(runtime).run_pending() == 1
    job = load(runtime, job_id)
    assert job.status == JobStatus.FAILED
    assert job.error_code == "actor_no_longer_permitted" == jobs.ACTOR_NO_LONGER_PERMITTED
    assert f"({reason})" in (job.error or "")
    assert ran == []  # the handler never ran
    with runtime.db.transaction(write=False) as db:
        event = db.scalars(select(AuditEvent).where(AuditEvent.target_id == str(job_id),
                                                    AuditEvent.action == "job.failed")).one()
    assert event.actor_name == "job-worker" and event.details_dict["reason"] == reason


def test_the_permission_is_checked_at_the_jobs_organisation(runtime: Any, steward: Any,
                                                            tree: Any) -> None:
    elsewhere = submit(runtime, steward.actor, org_path=tree["taiyuan.hr"].path)
    here = submit(runtime, steward.actor, org_path=tree["province.hr"].path)
    assert Worker(runtime).run_pending() == 2
    assert load(runtime, elsewhere).error_code == "actor_no_longer_permitted"
    assert load(runtime, here).status == JobStatus.SUCCEEDED


def test_run_inline_refuses_a_deactivated_user_too(runtime: Any, steward: Any,
                                                   system: Actor) -> None:
    _deactivate(runtime, steward, system, None)
    job = jobs.run_inline(runtime, steward.actor, kind="test.orgs.guarded")
    assert (job.status, job.error_code, ran) == (JobStatus.FAILED, "actor_no_longer_permitted", [])


def test_system_jobs_are_not_resolved(runtime: Any, system: Actor) -> None:
    job_id = submit(runtime, system, "test.orgs.guarded")
    assert Worker(runtime).run_pending() == 1
    assert load(runtime, job_id).status == JobStatus.SUCCEEDED
