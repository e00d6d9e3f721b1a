"""Jobs: long work runs as a job with progress; failures and crashes are recorded, never lost."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, update

from gongshu.core import jobs
from gongshu.core.audit import AuditEvent
from gongshu.core.db import utcnow
from gongshu.core.errors import InvalidState, NotFound, PermissionDenied, ValidationFailed
from gongshu.core.jobs import Job, JobContext, JobStatus, Worker
from gongshu.core.permissions import Actor, Role, RoleAssignment
from gongshu.core.runtime import Runtime

# An organisation tree drawn by paths only (jobs never look organisations up):
PROVINCE = "/" + "a" * 32 + "/"
TAIYUAN = PROVINCE + "b" * 32 + "/"
DATONG = PROVINCE + "c" * 32 + "/"
BUREAU = TAIYUAN + "d" * 32 + "/"


def person(name: str, org_path: str, *grants: tuple[Role, str, bool]) -> Actor:
    return Actor(
        username=name,
        user_id=uuid.uuid5(uuid.NAMESPACE_DNS, name),
        org_id=uuid.uuid5(uuid.NAMESPACE_URL, org_path),
        org_path=org_path,
        grants=tuple(RoleAssignment(r, uuid.uuid5(uuid.NAMESPACE_URL, p), p, s) for r, p, s in grants),
        via="api",
    )


STEWARD = person("steward", BUREAU, (Role.DATA_STEWARD, BUREAU, False))
COLLEAGUE = person("colleague", BUREAU, (Role.DATA_STEWARD, BUREAU, False))
TAIYUAN_AUDITOR = person("ty.auditor", TAIYUAN, (Role.AUDITOR, TAIYUAN, True))
DATONG_AUDITOR = person("dt.auditor", DATONG, (Role.AUDITOR, DATONG, True))
BUREAU_ONLY_AUDITOR = person("bureau.auditor", BUREAU, (Role.AUDITOR, BUREAU, False))
PROVINCE_AUDITOR = person("prov.auditor", PROVINCE, (Role.AUDITOR, PROVINCE, True))
TAIYUAN_ADMIN = person("ty.admin", TAIYUAN, (Role.ADMIN, TAIYUAN, True))
SYSTEM = Actor.system("cli")

# ------------------------------------------------------------------------------ test handlers

calls: list[tuple[str, uuid.UUID]] = []
calls_lock = threading.Lock()
hooks: dict[str, Any] = {}


@jobs.handler("test.count")
def _count(ctx: JobContext) -> dict[str, Any]:
    n = int(ctx.params.get("n", 3))
    for i in range(1, n + 1):
        ctx.progress(i, n, f"step {i}")
        if i == 1 and "after_first" in hooks:
            hooks["after_first"](ctx)
    with calls_lock:
        calls.append(("test.count", ctx.job_id))
    return {"n": n, "actor": ctx.actor.username, "via": ctx.actor.via}


@jobs.handler("test.refuse")
def _refuse(ctx: JobContext) -> None:
    raise ValidationFailed.single("n", "too_big", "n must be at most 10.")


@jobs.handler("test.crash")
def _crash(ctx: JobContext) -> None:
    _ = 1 / 0


@jobs.handler("test.hook")
def _hook(ctx: JobContext) -> dict[str, Any] | None:
    return hooks["run"](ctx)


@pytest.fixture(autouse=True)
def _clean_handlers_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    calls.clear()
    hooks.clear()
    # these actors are drawn by paths only: no user rows to resolve them against (the actor
    # re-check against the database is tested in tests/orgs/test_jobs.py)
    monkeypatch.setattr(jobs, "_actor_resolver", None)
    yield
    hooks.clear()


def submit(
    runtime: Runtime, actor: Actor = STEWARD, kind: str = "test.count", **params: Any
) -> uuid.UUID:
    with runtime.db.transaction() as db:
        return jobs.submit(
            actor, db, kind=kind, params=params, title=f"{kind} for {actor.username}"
        ).id


def load(runtime: Runtime, job_id: uuid.UUID) -> Job:
    with runtime.db.transaction(write=False) as db:
        job = db.get(Job, job_id)
        assert job is not None
        return job


def actions_for(runtime: Runtime, job_id: uuid.UUID) -> list[str]:
    with runtime.db.transaction(write=False) as db:
        return list(
            db.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.target_type == "job", AuditEvent.target_id == str(job_id))
                .order_by(AuditEvent.seq)
            )
        )


# ----------------------------------------------------------------------------------- running


def test_a_job_runs_to_success_with_its_result_and_progress(runtime: Runtime) -> None:
    job_id = submit(runtime, n=4)
    assert load(runtime, job_id).status == JobStatus.QUEUED
    assert Worker(runtime, name="w1").run_pending() == 1
    job = load(runtime, job_id)
    assert job.status == JobStatus.SUCCEEDED
    assert job.result == {"n": 4, "actor": "steward", "via": "job"}
    assert (job.progress_done, job.progress_total, job.fraction) == (4, 4, 1.0)
    assert job.message == "step 4"
    assert job.worker == "w1" and job.error is None
    assert job.started_at is not None and job.finished_at is not None
    assert job.finished_at >= job.started_at
    assert actions_for(runtime, job_id) == ["job.submit", "job.succeeded"]


def test_progress_is_visible_while_the_job_runs(runtime: Runtime) -> None:
    seen: list[tuple[str, int, int | None, str]] = []
    hooks["after_first"] = lambda ctx: seen.append(
        (lambda j: (j.status, j.progress_done, j.progress_total, j.message))(
            load(runtime, ctx.job_id)
        )
    )
    submit(runtime, n=5)
    Worker(runtime).run_pending()
    assert seen == [(JobStatus.RUNNING, 1, 5, "step 1")]


def test_the_job_acts_as_its_submitter(runtime: Runtime) -> None:
    got: list[Actor] = []
    hooks["run"] = lambda ctx: got.append(ctx.actor)
    submit(runtime, TAIYUAN_ADMIN, kind="test.hook")
    Worker(runtime).run_pending()
    (actor,) = got
    assert (actor.username, actor.user_id, actor.org_path) == (
        "ty.admin",
        TAIYUAN_ADMIN.user_id,
        TAIYUAN,
    )
    assert actor.grants == TAIYUAN_ADMIN.grants and actor.via == "job"


def test_a_refusing_handler_fails_the_job_with_its_message(runtime: Runtime) -> None:
    job_id = submit(runtime, kind="test.refuse")
    Worker(runtime).run_pending()
    job = load(runtime, job_id)
    assert job.status == JobStatus.FAILED
    assert job.error == "n must be at most 10."
    assert job.error_code == "validation_failed"  # a stable code, for pages to translate
    assert job.result is None
    assert actions_for(runtime, job_id) == ["job.submit", "job.failed"]


def test_a_crashing_handler_fails_the_job_as_an_internal_error(runtime: Runtime) -> None:
    job_id = submit(runtime, kind="test.crash")
    assert Worker(runtime).run_pending() == 1
    job = load(runtime, job_id)
    assert job.status == JobStatus.FAILED
    assert job.error is not None
    assert job.error.startswith("internal error")
    assert "ZeroDivisionError" in job.error
    assert job.error_code == "internal_error"


def test_an_unknown_kind_is_refused_at_submit(runtime: Runtime) -> None:
    with pytest.raises(NotFound) as err, runtime.db.transaction() as db:
        jobs.submit(STEWARD, db, kind="test.nothing")
    assert err.value.code == "job_kind_unknown"


def test_jobs_run_oldest_first(runtime: Runtime) -> None:
    ids = [submit(runtime, n=1) for _ in range(3)]
    Worker(runtime).run_pending()
    assert [job_id for _, job_id in calls] == ids


def test_run_inline_reports_every_step_to_the_observer(runtime: Runtime) -> None:
    observed: list[tuple[int, int | None, str]] = []
    job = jobs.run_inline(
        runtime,
        STEWARD,
        kind="test.count",
        params={"n": 6},
        on_progress=lambda *a: observed.append(a),
    )
    assert job.status == JobStatus.SUCCEEDED and job.result is not None
    assert observed == [(i, 6, f"step {i}") for i in range(1, 7)]
    assert job.worker.startswith("inline:")
    # nothing is left queued for a worker to run a second time
    assert Worker(runtime).run_pending() == 0
    assert len(calls) == 1


def test_run_inline_records_a_failure(runtime: Runtime) -> None:
    job = jobs.run_inline(runtime, STEWARD, kind="test.refuse")
    assert job.status == JobStatus.FAILED and job.error == "n must be at most 10."


def test_in_process_worker_threads_pick_up_a_submitted_job(runtime: Runtime) -> None:
    worker = Worker(runtime, threads=2)
    worker.start()
    try:
        job_id = submit(runtime, n=2)
        deadline = time.monotonic() + 10
        while load(runtime, job_id).status != JobStatus.SUCCEEDED:
            assert time.monotonic() < deadline, "the worker did not run the job"
            time.sleep(0.02)
    finally:
        worker.stop()


# ------------------------------------------------------------------------------ cancelling


def test_cancelling_a_queued_job_means_it_never_runs(runtime: Runtime) -> None:
    job_id = submit(runtime)
    with runtime.db.transaction() as db:
        assert jobs.cancel(STEWARD, db, job_id).status == JobStatus.CANCELLED
    assert Worker(runtime).run_pending() == 0
    assert calls == []
    job = load(runtime, job_id)
    assert job.status == JobStatus.CANCELLED and job.finished_at is not None
    with pytest.raises(InvalidState), runtime.db.transaction() as db:
        jobs.cancel(STEWARD, db, job_id)
    assert actions_for(runtime, job_id) == ["job.submit", "job.cancel"]


def test_cancelling_a_running_job_stops_it_at_its_next_report(runtime: Runtime) -> None:
    def cancel_from_elsewhere(ctx: JobContext) -> None:
        with runtime.db.transaction() as db:
            job = jobs.cancel(STEWARD, db, ctx.job_id)
            assert job.status == JobStatus.RUNNING and job.cancel_requested

    hooks["after_first"] = cancel_from_elsewhere
    job_id = submit(runtime, n=3)  # step 2 is throttled away; the final step 3 sees the request
    Worker(runtime).run_pending()
    job = load(runtime, job_id)
    assert job.status == JobStatus.CANCELLED
    assert job.error == "cancelled on request" and job.error_code == "cancelled"
    assert calls == []  # the handler did not get to its end
    assert actions_for(runtime, job_id) == ["job.submit", "job.cancel", "job.cancelled"]


@pytest.mark.parametrize(
    ("actor", "outcome"),
    [
        (STEWARD, "ok"),  # the submitter
        (TAIYUAN_ADMIN, "ok"),  # an administrator whose scope covers the job
        (TAIYUAN_AUDITOR, PermissionDenied),  # may see it, may not cancel it
        (COLLEAGUE, NotFound),  # same organisation, not theirs: does not see it at all
        (DATONG_AUDITOR, NotFound),
    ],
    ids=lambda v: getattr(v, "username", getattr(v, "__name__", str(v))),
)
def test_who_may_cancel(runtime: Runtime, actor: Actor, outcome: Any) -> None:
    job_id = submit(runtime, STEWARD)
    if outcome == "ok":
        with runtime.db.transaction() as db:
            jobs.cancel(actor, db, job_id)
        assert load(runtime, job_id).status == JobStatus.CANCELLED
    else:
        with pytest.raises(outcome), runtime.db.transaction() as db:
            jobs.cancel(actor, db, job_id)
        assert load(runtime, job_id).status == JobStatus.QUEUED


# ------------------------------------------------------------------------------ lost workers


def _claim_as(runtime: Runtime, worker: str) -> uuid.UUID:
    with runtime.db.transaction() as db:
        job = jobs._claim(db, worker)
        assert job is not None
        return job.id


def _age_heartbeat(runtime: Runtime, job_id: uuid.UUID, seconds: float) -> None:
    with runtime.db.transaction() as db:
        db.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(heartbeat_at=utcnow() - dt.timedelta(seconds=seconds))
        )


def test_the_reaper_fails_a_job_whose_worker_went_silent(runtime: Runtime) -> None:
    stale_after = runtime.settings.job_stale_seconds
    lost = (submit(runtime), _claim_as(runtime, "crashed-host:123"))[1]
    alive = (submit(runtime), _claim_as(runtime, "busy-host:456"))[1]
    _age_heartbeat(runtime, lost, stale_after + 5)
    _age_heartbeat(runtime, alive, stale_after - 5)
    assert Worker(runtime).reap_stale() == 1
    job = load(runtime, lost)
    assert job.status == JobStatus.FAILED and job.finished_at is not None
    assert job.error is not None and "crashed-host:123" in job.error
    assert job.error_code == "worker_lost"
    assert load(runtime, alive).status == JobStatus.RUNNING
    assert actions_for(runtime, lost) == ["job.submit", "job.failed"]
    assert Worker(runtime).reap_stale() == 0  # once only
    assert Worker(runtime).run_pending() == 0  # and never re-run


def test_a_reaped_job_stays_failed_when_its_worker_comes_back(runtime: Runtime) -> None:
    def get_reaped(ctx: JobContext) -> dict[str, Any]:
        _age_heartbeat(runtime, ctx.job_id, runtime.settings.job_stale_seconds + 1)
        assert Worker(runtime, name="other").reap_stale() == 1
        return {"late": True}

    hooks["run"] = get_reaped
    job_id = submit(runtime, kind="test.hook")
    Worker(runtime).run_pending()
    job = load(runtime, job_id)
    assert job.status == JobStatus.FAILED and job.result is None
    assert actions_for(runtime, job_id) == ["job.submit", "job.failed"]


def test_a_live_job_keeps_beating_and_is_not_reaped(settings: Any) -> None:
    rt = Runtime(settings.model_copy(update={"job_stale_seconds": 1}))
    try:
        reaped: list[int] = []

        def long_and_quiet(ctx: JobContext) -> None:
            time.sleep(1.3)  # longer than job_stale_seconds, without a progress report
            reaped.append(Worker(rt, name="other").reap_stale())

        hooks["run"] = long_and_quiet
        job_id = submit(rt, kind="test.hook")
        Worker(rt).run_pending()
        assert reaped == [0]
        assert load(rt, job_id).status == JobStatus.SUCCEEDED
    finally:
        rt.close()


# ----------------------------------------------------------------------------- who sees what


@pytest.mark.parametrize(
    ("viewer", "sees_stewards_job", "sees_system_job"),
    [
        (STEWARD, True, False),
        (COLLEAGUE, False, False),
        (BUREAU_ONLY_AUDITOR, True, False),
        (TAIYUAN_AUDITOR, True, False),
        (DATONG_AUDITOR, False, False),
        (PROVINCE_AUDITOR, True, True),
        (SYSTEM, True, True),
    ],
    ids=lambda v: getattr(v, "username", str(v)),
)
def test_visibility_of_jobs_in_get_and_list(
    runtime: Runtime, viewer: Actor, sees_stewards_job: bool, sees_system_job: bool
) -> None:
    stewards = submit(runtime, STEWARD)
    system = submit(runtime, SYSTEM)
    expected = {stewards: sees_stewards_job, system: sees_system_job}
    with runtime.db.transaction(write=False) as db:
        rows, total = jobs.list_jobs(viewer, db)
        assert {j.id for j in rows} == {k for k, v in expected.items() if v}
        assert total == sum(expected.values())
        for job_id, visible in expected.items():
            if visible:
                assert jobs.get_job(viewer, db, job_id).id == job_id
            else:
                with pytest.raises(NotFound):
                    jobs.get_job(viewer, db, job_id)


def test_list_jobs_filters_and_pages_newest_first(runtime: Runtime) -> None:
    ids = [submit(runtime, n=1) for _ in range(3)] + [submit(runtime, kind="test.refuse")]
    Worker(runtime).run_pending()
    with runtime.db.transaction(write=False) as db:
        failed, n_failed = jobs.list_jobs(STEWARD, db, status=JobStatus.FAILED)
        counts, n_counts = jobs.list_jobs(STEWARD, db, kind="test.count", limit=2)
        rest, _ = jobs.list_jobs(STEWARD, db, kind="test.count", limit=2, offset=2)
    assert [j.id for j in failed] == [ids[3]] and n_failed == 1
    assert n_counts == 3
    assert [j.id for j in counts + rest] == ids[2::-1]


# ------------------------------------------------------------------------------- concurrency


def test_concurrent_workers_never_run_a_job_twice(runtime: Runtime) -> None:
    """On PostgreSQL claims use FOR UPDATE SKIP LOCKED; on SQLite BEGIN IMMEDIATE serialises."""
    n_jobs, n_workers = 24, 4
    ids = {submit(runtime, n=1) for _ in range(n_jobs)}
    start = threading.Barrier(n_workers)
    ran: list[int] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            start.wait()
            ran.append(Worker(runtime, name=f"w{i}").run_pending())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_workers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    executed = [job_id for _, job_id in calls]
    assert sorted(executed) == sorted(ids)  # each exactly once
    assert sum(ran) == n_jobs
    with runtime.db.transaction(write=False) as db:
        statuses = set(db.scalars(select(Job.status)))
        workers = set(db.scalars(select(Job.worker)))
    assert statuses == {JobStatus.SUCCEEDED}
    assert workers <= {f"w{i}" for i in range(n_workers)}


# ------------------------------------------------------------------ queues, priorities, delays

release = threading.Event()
started: list[uuid.UUID] = []


@jobs.handler("test.long", queue="bulk")
def _long(ctx: JobContext) -> dict[str, Any]:
    with calls_lock:
        started.append(ctx.job_id)
    assert release.wait(20), "the test never released the long job"
    with calls_lock:
        calls.append(("test.long", ctx.job_id))
    return {}


@jobs.handler("test.urgent", priority=5)
def _urgent(ctx: JobContext) -> dict[str, Any]:
    with calls_lock:
        calls.append(("test.urgent", ctx.job_id))
    return {}


@pytest.fixture
def bulk_limit(runtime: Runtime) -> Iterator[None]:
    release.clear()
    started.clear()
    runtime.settings.job_queue_limits = {"bulk": 1}
    yield
    release.set()


def test_handlers_place_their_jobs_in_their_queue_with_their_priority(runtime: Runtime) -> None:
    job = load(runtime, submit(runtime, kind="test.urgent"))
    assert (job.queue, job.priority) == ("default", 5)
    job = load(runtime, submit(runtime, kind="test.long"))
    assert (job.queue, job.priority) == ("bulk", 0)
    assert (load(runtime, submit(runtime)).queue, jobs.spec_of("library.nothing").queue) == (
        "default", "default")


def test_higher_priority_runs_first_then_oldest_and_delayed_jobs_wait(runtime: Runtime) -> None:
    low = submit(runtime, n=1)
    urgent = submit(runtime, kind="test.urgent")
    with runtime.db.transaction() as db:
        higher = jobs.submit(STEWARD, db, kind="test.count", params={"n": 1}, priority=9).id
        later = jobs.submit(STEWARD, db, kind="test.urgent", priority=99,
                            run_after=utcnow() + dt.timedelta(hours=1)).id
    low2 = submit(runtime, n=1)
    assert Worker(runtime).run_pending() == 4
    assert [job_id for _, job_id in calls] == [higher, urgent, low, low2]
    assert load(runtime, later).status == JobStatus.QUEUED  # not before its time
    with runtime.db.transaction() as db:
        db.execute(update(Job).where(Job.id == later).values(run_after=utcnow()))
    assert Worker(runtime).run_pending() == 1
    assert calls[-1] == ("test.urgent", later)


def test_a_queue_at_its_limit_does_not_hold_up_other_queues(runtime: Runtime,
                                                            bulk_limit: None) -> None:
    """Two long jobs of a queue limited to one, then a short one: with two worker threads the
    short job runs while one long job runs, and the other long one waits. (Which long job goes
    first is not fixed: on PostgreSQL a worker skips a row another worker has locked.)"""
    first, second = submit(runtime, kind="test.long"), submit(runtime, kind="test.long")
    short = submit(runtime, n=1)
    worker = Worker(runtime, threads=2)
    worker.start()
    try:
        deadline = time.monotonic() + 15
        while load(runtime, short).status != JobStatus.SUCCEEDED:
            assert time.monotonic() < deadline, "the short job waited behind the long ones"
            time.sleep(0.02)
        assert len(started) == 1 and started[0] in (first, second)
        other = second if started[0] == first else first
        assert load(runtime, other).status == JobStatus.QUEUED  # the queue's limit holds
        release.set()
        while load(runtime, other).status != JobStatus.SUCCEEDED:
            assert time.monotonic() < deadline, "the second long job never ran"
            time.sleep(0.02)
        assert sorted(started) == sorted([first, second])
    finally:
        release.set()
        worker.stop()


def test_the_queue_limit_holds_across_concurrent_workers(runtime: Runtime,
                                                         bulk_limit: None) -> None:
    """Three workers claim at once from a queue limited to one: one job runs, two wait (on
    PostgreSQL the count and the claim are serialised per queue)."""
    ids = [submit(runtime, kind="test.long") for _ in range(3)]
    barrier = threading.Barrier(3)
    claimed: list[uuid.UUID | None] = []

    def work(i: int) -> None:
        barrier.wait()
        claimed.append(Worker(runtime, name=f"w{i}").run_one())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 10
    while sum(1 for c in claimed if c is None) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    with runtime.db.transaction(write=False) as db:
        running = db.scalar(select(func.count()).select_from(Job)
                            .where(Job.status == JobStatus.RUNNING))
    release.set()
    for th in threads:
        th.join()
    assert running == 1
    assert len(started) == 1 and started[0] in ids
    assert sorted(c for c in claimed if c is not None) == started


def test_a_limit_of_zero_pauses_a_queue(runtime: Runtime, bulk_limit: None) -> None:
    runtime.settings.job_queue_limits = {"bulk": 0}
    paused = submit(runtime, kind="test.long")
    other = submit(runtime, n=1)
    assert Worker(runtime).run_pending() == 1
    assert load(runtime, other).status == JobStatus.SUCCEEDED
    assert load(runtime, paused).status == JobStatus.QUEUED
    with runtime.db.transaction(write=False) as db:
        states = {s.queue: s for s in jobs.queue_states(SYSTEM, db, limits={"bulk": 0})}
        with pytest.raises(PermissionDenied):
            jobs.queue_states(STEWARD, db, limits={})
    assert (states["bulk"].limit, states["bulk"].queued, states["bulk"].running) == (0, 1, 0)
    assert states["default"].limit is None


# ------------------------------------------------------------------------------- schedules


@pytest.fixture
def tick_schedule(monkeypatch: pytest.MonkeyPatch) -> jobs.Schedule:
    """The only declared schedule during the test (the modules' own are set aside)."""
    monkeypatch.setattr(jobs, "SCHEDULES", {})
    return jobs.schedule("test.count", every=dt.timedelta(minutes=15), params={"n": 1},
                         name="test.tick")


def _scheduled_jobs(runtime: Runtime) -> list[Job]:
    with runtime.db.transaction(write=False) as db:
        return list(db.scalars(select(Job).where(Job.title == "test.tick")
                               .order_by(Job.created_at)))


@pytest.mark.parametrize(("minutes_late", "next_in"), [(0, 15), (1, 14), (15, 15), (44, 1),
                                                       (45, 15)])
def test_a_missed_period_runs_once_and_keeps_the_grid(minutes_late: int, next_in: int) -> None:
    due = dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.UTC)
    now = due + dt.timedelta(minutes=minutes_late)
    assert jobs._next_after(due, 15 * 60, now) == now + dt.timedelta(minutes=next_in)


def test_a_schedule_runs_once_per_period_with_three_concurrent_workers(
        settings: Any, tick_schedule: jobs.Schedule) -> None:
    """Three workers (each with its own runtime and connections, as separate processes) start
    together and look for due schedules together, period after period: one job per period."""
    runtimes = [Runtime(settings) for _ in range(3)]
    try:
        barrier = threading.Barrier(3)
        errors: list[BaseException] = []
        t0 = utcnow()
        periods = [t0, t0 + dt.timedelta(minutes=5), t0 + dt.timedelta(minutes=15),
                   t0 + dt.timedelta(minutes=16), t0 + dt.timedelta(minutes=31)]

        def work(rt: Runtime, i: int) -> None:
            try:
                worker = Worker(rt, name=f"w{i}")
                barrier.wait()
                worker.sync_schedules(now=t0)
                for now in periods:
                    barrier.wait()
                    worker.run_schedules(now=now)
                    barrier.wait()
                    if i == 0:  # the period's job runs before the next period
                        worker.run_pending()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(rt, i)) for i, rt in enumerate(runtimes)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        made = _scheduled_jobs(runtimes[0])
        # t0 (new: due at once), t0+15 min and t0+31 min (the grid: t0+30); not 5 or 16 min
        assert len(made) == 3
        assert {j.actor["username"] for j in made} == {"scheduler"} and made[0].org_path == ""
        with runtimes[0].db.transaction(write=False) as db:
            row = db.get(jobs.JobSchedule, "test.tick")
            assert row is not None
            assert row.next_run_at == t0 + dt.timedelta(minutes=45)
            assert row.last_job_id == made[-1].id and row.period_seconds == 900
        assert all(load(runtimes[0], j.id).status == JobStatus.SUCCEEDED for j in made)
    finally:
        for rt in runtimes:
            rt.close()


def test_a_changed_declaration_updates_its_schedule(runtime: Runtime,
                                                    tick_schedule: jobs.Schedule) -> None:
    t0 = utcnow()
    with runtime.db.transaction() as db:
        assert jobs.sync_schedules(db, now=t0) >= 1
    assert len(Worker(runtime).run_schedules(now=t0)) == 1
    assert Worker(runtime).run_pending() == 1
    with runtime.db.transaction() as db:
        assert jobs.sync_schedules(db, now=t0) == 0  # nothing changed
    jobs.schedule("test.count", every=dt.timedelta(minutes=5), params={"n": 2}, name="test.tick")
    with runtime.db.transaction() as db:
        assert jobs.sync_schedules(db, now=t0) == 1
        row = db.get(jobs.JobSchedule, "test.tick")
        assert row is not None and row.params == {"n": 2}
        assert row.next_run_at == t0 + dt.timedelta(minutes=5)  # brought forward
    assert Worker(runtime).run_schedules(now=t0 + dt.timedelta(minutes=4)) == []
    assert len(Worker(runtime).run_schedules(now=t0 + dt.timedelta(minutes=5))) == 1


def test_the_library_sweeps_kept_uploads_on_a_schedule() -> None:
    import gongshu.library.jobs  # noqa: F401  (declares it)

    sched = jobs.SCHEDULES["library.sweep_uploads"]
    assert sched.kind in jobs.HANDLERS and sched.every <= dt.timedelta(hours=1)


def test_a_period_whose_previous_job_still_waits_submits_none(runtime: Runtime,
                                                              tick_schedule: jobs.Schedule) -> None:
    t0 = utcnow()
    worker = Worker(runtime)
    worker.sync_schedules(now=t0)
    first = worker.run_schedules(now=t0)
    assert len(first) == 1
    assert worker.run_schedules(now=t0 + dt.timedelta(minutes=15)) == []  # first still queued
    assert worker.run_pending() == 1
    assert len(worker.run_schedules(now=t0 + dt.timedelta(minutes=30))) == 1
    assert len(_scheduled_jobs(runtime)) == 2


def test_a_crashing_actor_resolver_fails_the_job_instead_of_sticking_it(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(db: Any, actor: Actor) -> Actor:
        raise RuntimeError("resolver bug")

    monkeypatch.setattr(jobs, "_actor_resolver", broken)
    stuck, other = submit(runtime, n=1), submit(runtime, SYSTEM, n=1)
    assert Worker(runtime).run_pending() == 2
    assert (load(runtime, stuck).status, load(runtime, stuck).error_code) == (
        JobStatus.FAILED, "internal_error")
    assert load(runtime, other).status == JobStatus.SUCCEEDED  # the system is not resolved
    assert [job_id for _, job_id in calls] == [other]


def test_a_worker_that_read_a_schedule_before_another_took_it_submits_nothing(
        runtime: Runtime, tick_schedule: jobs.Schedule) -> None:
    """The compare-and-set: B read the period as due, A took it and its job already ran; B's
    late claim with what it read must not run the period again."""
    t0 = utcnow()
    a, b = Worker(runtime, name="a"), Worker(runtime, name="b")
    a.sync_schedules(now=t0)
    with runtime.db.transaction(write=False) as db:
        row = db.get(jobs.JobSchedule, "test.tick")
        assert row is not None
        stale = (row.name, row.next_run_at, row.period_seconds)
    assert len(a.run_schedules(now=t0)) == 1 and a.run_pending() == 1
    assert b._take_period(*stale, now=t0) is None
    assert len(_scheduled_jobs(runtime)) == 1


# ------------------------------------------------------ lost jobs settle; draining; readiness

settled: list[tuple[uuid.UUID, str]] = []


def _settle(db: Any, job: Job, reason: str) -> None:
    if job.params.get("settle_fails"):
        raise RuntimeError("the record is gone")
    settled.append((job.id, reason))


@jobs.handler("test.settled", on_lost=_settle)
def _settled(ctx: JobContext) -> dict[str, Any] | None:
    return hooks["run"](ctx) if "run" in hooks else None


@pytest.fixture
def settled_jobs() -> Iterator[list[tuple[uuid.UUID, str]]]:
    settled.clear()
    yield settled
    settled.clear()


def test_a_reaped_job_settles_its_record(runtime: Runtime, settled_jobs: Any) -> None:
    job_id = submit(runtime, kind="test.settled")
    _claim_as(runtime, "crashed-host:1")
    _age_heartbeat(runtime, job_id, runtime.settings.job_stale_seconds + 5)
    assert Worker(runtime).reap_stale() == 1
    assert len(settled_jobs) == 1 and settled_jobs[0][0] == job_id
    assert "crashed-host:1 stopped responding" in settled_jobs[0][1]


def test_a_job_cancelled_while_queued_settles_its_record(runtime: Runtime,
                                                         settled_jobs: Any) -> None:
    job_id = submit(runtime, kind="test.settled")
    with runtime.db.transaction() as db:
        jobs.cancel(STEWARD, db, job_id)
    assert settled_jobs == [(job_id, "cancelled before it started")]


def test_a_refused_job_settles_its_record(runtime: Runtime, settled_jobs: Any,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def gone(db: Any, actor: Actor) -> Actor:
        raise jobs.ActorGone("user_inactive", "steward was deactivated")

    monkeypatch.setattr(jobs, "_actor_resolver", gone)
    job_id = submit(runtime, kind="test.settled")
    Worker(runtime).run_pending()
    assert load(runtime, job_id).error_code == jobs.ACTOR_NO_LONGER_PERMITTED
    assert len(settled_jobs) == 1 and "steward was deactivated" in settled_jobs[0][1]


def test_a_job_failing_in_its_handler_settles_nothing(runtime: Runtime,
                                                      settled_jobs: Any) -> None:
    """Its handler settles its own record; the hook is for ends outside the handler."""
    hooks["run"] = lambda ctx: 1 / 0
    job_id = submit(runtime, kind="test.settled")
    Worker(runtime).run_pending()
    assert load(runtime, job_id).status == JobStatus.FAILED
    assert settled_jobs == []


def test_a_failing_settle_does_not_keep_the_reaper_from_failing_the_job(
        runtime: Runtime, settled_jobs: Any) -> None:
    job_id = submit(runtime, kind="test.settled", settle_fails=True)
    _claim_as(runtime, "crashed-host:2")
    _age_heartbeat(runtime, job_id, runtime.settings.job_stale_seconds + 5)
    assert Worker(runtime).reap_stale() == 1
    job = load(runtime, job_id)
    assert (job.status, job.error_code) == (JobStatus.FAILED, "worker_lost")
    assert actions_for(runtime, job_id) == ["job.submit", "job.failed"]


def _started(runtime: Runtime, threads: int = 1) -> Worker:
    worker = Worker(runtime, threads=threads)
    worker.start()
    return worker


def _wait(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_draining_lets_a_running_job_finish_within_the_grace(runtime: Runtime) -> None:
    running = threading.Event()

    def run(ctx: JobContext) -> dict[str, Any]:
        running.set()
        time.sleep(0.5)
        ctx.progress(1, 1)
        return {"done": True}

    hooks["run"] = run
    job_id = submit(runtime, kind="test.hook")
    worker = _started(runtime)
    assert running.wait(10)
    later = submit(runtime, kind="test.hook")
    drained = worker.drain(10)
    assert drained == jobs.Drained(finished=1, handed_back=0, requeued=0)
    assert load(runtime, job_id).status == JobStatus.SUCCEEDED
    assert load(runtime, later).status == JobStatus.QUEUED  # claimed by nobody while draining


def test_draining_hands_back_a_job_at_its_next_progress_report(runtime: Runtime) -> None:
    running = threading.Event()

    def run(ctx: JobContext) -> dict[str, Any]:
        for i in range(100):
            running.set()
            time.sleep(0.05)
            ctx.progress(i, 100)
        return {"done": True}

    hooks["run"] = run
    job_id = submit(runtime, kind="test.hook")
    worker = _started(runtime)
    assert running.wait(10)
    drained = worker.drain(0.1)
    assert drained == jobs.Drained(finished=0, handed_back=1, requeued=0)
    job = load(runtime, job_id)
    assert (job.status, job.worker, job.started_at, job.progress_done) == (
        JobStatus.QUEUED, "", None, 0)
    assert actions_for(runtime, job_id) == ["job.submit", "job.requeued"]
    hooks["run"] = lambda ctx: {"again": True}
    Worker(runtime).run_pending()
    assert load(runtime, job_id).result == {"again": True}


def test_a_job_that_never_reports_is_queued_again_by_the_draining_worker(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "HAND_BACK_SECONDS", 0.2)
    release = threading.Event()
    running = threading.Event()

    def run(ctx: JobContext) -> dict[str, Any]:
        running.set()
        release.wait(10)
        return {"late": True}

    hooks["run"] = run
    job_id = submit(runtime, kind="test.hook")
    worker = _started(runtime)
    assert running.wait(10)
    drained = worker.drain(0.1)
    assert drained == jobs.Drained(finished=0, handed_back=0, requeued=1)
    assert load(runtime, job_id).status == JobStatus.QUEUED
    release.set()  # the abandoned thread finishes late: the queued job is not overwritten
    time.sleep(0.5)
    assert load(runtime, job_id).status == JobStatus.QUEUED


def test_workers_are_counted_while_alive_and_draining(runtime: Runtime) -> None:
    def state() -> jobs.Readiness:
        with runtime.db.transaction(write=False) as db:
            return jobs.readiness(db, stale_seconds=runtime.settings.job_stale_seconds)

    assert (state().workers, state().draining) == (0, 0)
    worker = _started(runtime, threads=2)
    try:
        assert (state().workers, state().draining) == (1, 0)
        # a worker not seen for longer than the lease counts as dead
        with runtime.db.transaction(write=False) as db:
            later = utcnow() + dt.timedelta(seconds=runtime.settings.job_stale_seconds + 5)
            assert jobs.readiness(db, stale_seconds=runtime.settings.job_stale_seconds,
                                  now=later).workers == 0
    finally:
        worker.drain(1)
    assert (state().workers, state().draining) == (0, 0)


def test_readiness_reports_the_oldest_due_job(runtime: Runtime) -> None:
    old = submit(runtime)
    submit(runtime)
    with runtime.db.transaction() as db:
        db.execute(update(Job).where(Job.id == old)
                   .values(created_at=utcnow() - dt.timedelta(minutes=30)))
        jobs.submit(STEWARD, db, kind="test.count",
                    run_after=utcnow() + dt.timedelta(hours=1))  # not due: not waiting yet
    with runtime.db.transaction(write=False) as db:
        state = jobs.readiness(db, stale_seconds=60)
    assert state.queued == 2
    assert 29 * 60 < (state.oldest_queued_seconds or 0) < 31 * 60


def test_a_worker_gone_for_long_is_forgotten(runtime: Runtime) -> None:
    with runtime.db.transaction() as db:
        Worker(runtime, name="killed:1")._register(db, utcnow() - dt.timedelta(hours=3))
        Worker(runtime, name="killed:2")._register(db, utcnow() - dt.timedelta(minutes=5))
    Worker(runtime).reap_stale()
    with runtime.db.transaction(write=False) as db:
        assert [w.name for w in jobs.list_workers(db)] == ["killed:2"]
