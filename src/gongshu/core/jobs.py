"""Long work as jobs: a table, handlers by kind, workers that claim and run them.

- A service submits a job (``submit``) in its own transaction; the job row is the queue entry.
- Workers claim queued jobs one at a time: ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL,
  a single ``BEGIN IMMEDIATE`` transaction on SQLite. ``gongshu serve`` runs an in-process worker
  (``job_threads`` threads); ``gongshu worker`` runs the same loop as a separate process.
- A handler reports progress through ``JobContext.progress``; each report is its own short
  transaction, so the API and the web page see it at once.
- A running job sends heartbeats from a small thread beside its handler, wherever it runs
  (worker thread, ``run_pending``, ``run_inline``). A job whose heartbeat is older than
  ``job_stale_seconds`` (its worker crashed or was killed) is marked failed by any worker's
  reaper: never lost, never silently re-run. A finished status is final: a late worker does not
  overwrite a reaped or cancelled job.
- Who sees a job: its submitter, and holders of ``job.read_all`` whose scope covers the job's
  organisation. A job without an organisation (submitted by the system) is platform-wide: only
  a province-wide grant (a subtree grant at a root organisation) covers it.
- Queues and priorities: a handler declares its queue (``ingest``, ``scan``, ``default``, …) and
  a default priority. A worker claims the queued job of highest priority, oldest first, among the
  queues below their limit of running jobs (``job_queue_limits``, counted across every worker
  process): a long ingest does not hold up a short job of another queue. On PostgreSQL the count
  and the claim are serialised per limited queue by a transaction-level advisory lock; on SQLite
  the claiming transaction holds the database lock. ``run_after`` delays a job.
- A job re-checks its actor when it is claimed: the actor is resolved again from the database
  (through the hook the ``orgs`` module registers with ``set_actor_resolver``: user still active,
  role assignments as they are now, the token still valid), and a job whose actor may no longer
  do what the handler declares (``perm``) fails with the code ``actor_no_longer_permitted``
  without running.
- Scheduled jobs: a module declares ``schedule(kind, every=…)`` beside its handler; workers
  write the declarations into ``job_schedule`` at start, and any worker's housekeeping submits a
  due schedule's job after moving its ``next_run_at`` on by a compare-and-set update, so however
  many workers run, a period runs once. Missed periods (no worker running) are run once, not
  caught up one by one.
- Lost work settles its domain record: a handler may declare ``on_lost`` (``@handler(kind,
  on_lost=fn)``), called as ``fn(db, job, reason)`` in the same transaction whenever a job of its
  kind ends without its handler having run to the end — reaped after its worker died
  (``worker_lost``), refused because its actor may no longer act, or cancelled while queued —
  so that, say, an ingest does not say "running" for ever. Files of such work are left to the
  module's scheduled sweep (``library.sweep_uploads``).
- Workers announce themselves in ``job_worker`` (a row per process, ``seen_at`` renewed by
  housekeeping), which ``/readyz`` counts. ``Worker.drain`` (SIGTERM of ``gongshu worker``, the
  shutdown of ``gongshu serve``) stops claiming, lets the running jobs finish within
  ``worker_grace_seconds``, then hands back those still running: asked to stop at their next
  progress report (``JobHandedBack``) and queued again, or — if they do not stop within
  ``HAND_BACK_SECONDS`` — queued again by the worker itself as it exits. A handed-back job runs
  again from the start on another worker; nothing of it is settled as failed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    String,
    Text,
    delete,
    false,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.orm import Mapped, Session, mapped_column

from gongshu.core import audit
from gongshu.core.db import Base, CreatedMixin, IdMixin, as_uuids, on_commit, utcnow
from gongshu.core.errors import GongshuError, InvalidState, NotFound, PermissionDenied
from gongshu.core.permissions import Actor, Perm, Role, RoleAssignment

if TYPE_CHECKING:
    from gongshu.core.runtime import Runtime

log = logging.getLogger("gongshu.jobs")


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
DEFAULT_QUEUE = "default"
#: the error code of a job whose actor may no longer do what its handler needs
ACTOR_NO_LONGER_PERMITTED = "actor_no_longer_permitted"


class Job(IdMixin, CreatedMixin, Base):
    __tablename__ = "job"

    kind: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), index=True, default=JobStatus.QUEUED)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    progress_done: Mapped[int] = mapped_column(BigInteger, default=0)
    progress_total: Mapped[int | None] = mapped_column(BigInteger)
    message: Mapped[str] = mapped_column(String(500), default="")
    #: the message as an i18n key (``job_message.<key>``) and its parameters, so pages say it
    #: in the reader's language; ``message`` is the English text (API, CLI, logs)
    message_key: Mapped[str] = mapped_column(String(64), default="", server_default="")
    message_params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: the stable code of the error that failed the job (``job_error.<code>`` on pages)
    error_code: Mapped[str] = mapped_column(String(64), default="", server_default="")
    #: who asked, as a snapshot: the job acts with the rights its submitter had
    actor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    org_path: Mapped[str] = mapped_column(String(1024), default="")
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    heartbeat_at: Mapped[dt.datetime | None]
    worker: Mapped[str] = mapped_column(String(128), default="")
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the queue the job waits in (its handler's); running jobs per queue are limited
    queue: Mapped[str] = mapped_column(String(32), index=True, default=DEFAULT_QUEUE,
                                       server_default=DEFAULT_QUEUE)
    #: higher runs first; among equals, the oldest first
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: not claimed before this time (a delay); None: at once
    run_after: Mapped[dt.datetime | None]

    @property
    def fraction(self) -> float | None:
        if not self.progress_total:
            return None
        return min(1.0, self.progress_done / self.progress_total)


class JobSchedule(Base):
    """A job submitted once per period (declared in code with ``schedule``; see module doc)."""

    __tablename__ = "job_schedule"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    period_seconds: Mapped[int] = mapped_column(Integer)
    #: when the next period's job is due; moved on by the worker that submits it
    next_run_at: Mapped[dt.datetime]
    last_run_at: Mapped[dt.datetime | None]
    last_job_id: Mapped[uuid.UUID | None]


class JobWorker(Base):
    """A worker process (``gongshu worker`` or the worker inside ``gongshu serve``) that is
    alive: ``seen_at`` is renewed by its housekeeping; the row goes when it stops cleanly."""

    __tablename__ = "job_worker"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    threads: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[dt.datetime]
    seen_at: Mapped[dt.datetime] = mapped_column(index=True)
    #: it received SIGTERM (or is shutting down): it claims nothing more
    draining: Mapped[bool] = mapped_column(Boolean, default=False)


# ----------------------------------------------------------------------------------- handlers


class JobCancelled(Exception):
    pass


class JobHandedBack(Exception):  # noqa: N818 - a signal, like JobCancelled
    """Raised at a progress report when the worker drains: the job goes back to its queue and
    runs again elsewhere. A handler that settles its domain record on errors must let this
    pass unsettled (the record stays as it is; the next run takes it up)."""


@dataclass
class JobContext:
    """What a handler gets: its parameters, who asked, the runtime, and a progress reporter."""

    job_id: uuid.UUID
    params: dict[str, Any]
    actor: Actor
    runtime: Runtime
    _report: Callable[[int, int | None, str, str, dict[str, Any]], bool] = field(repr=False)
    #: True once the worker drains and hands the job back (see ``Worker.drain``)
    _handing_back: Callable[[], bool] = field(default=lambda: False, repr=False)

    def progress(self, done: int, total: int | None = None, message: str = "", *,
                 key: str = "", **params: Any) -> None:
        """Report progress; raises ``JobCancelled`` if someone asked to cancel the job.

        ``message`` is English; ``key`` (with ``params``) names the same message in the
        ``job_message`` i18n group, for pages in the reader's language.
        Raises ``JobHandedBack`` when the worker drains and hands the job back."""
        if self._handing_back():
            raise JobHandedBack()
        if self._report(done, total, message, key, params):
            raise JobCancelled()


Handler = Callable[[JobContext], dict[str, Any] | None]
HANDLERS: dict[str, Handler] = {}
#: settles a job's domain record when the job ends outside its handler: (db, job, reason)
OnLost = Callable[[Session, "Job", str], None]


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """What a handler declares besides its function: where its jobs wait and what they need."""

    kind: str
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    #: the actor must still hold one of these when the job is claimed (empty: no permission)
    perms: tuple[str, ...] = ()
    #: check ``perms`` anywhere rather than at the job's organisation
    anywhere: bool = False
    #: called when a job of this kind ends without its handler running to the end
    on_lost: OnLost | None = None


SPECS: dict[str, HandlerSpec] = {}


def handler(kind: str, *, queue: str = DEFAULT_QUEUE, priority: int = 0,
            perm: str | tuple[str, ...] | None = None,
            anywhere: bool = False, on_lost: OnLost | None = None
            ) -> Callable[[Handler], Handler]:
    """Register the function that runs jobs of ``kind``.

    ``queue`` and ``priority`` place its jobs; ``perm`` (one permission, or a tuple of which
    any one will do) is what the job's actor must still hold, at the job's organisation (or
    ``anywhere``), when a worker claims the job: the submitting service has checked it once,
    the worker checks it again against the actor as it is by then. ``on_lost(db, job, reason)``
    settles the job's domain record when the job ends without its handler running to the end
    (its worker was lost, its actor refused, it was cancelled while queued): in the transaction
    that fails the job, inside a savepoint (an error there is logged, the job still ends)."""
    if len(queue) > 32 or not queue:
        raise ValueError(f"queue name {queue!r}: 1 to 32 characters")
    perms = () if perm is None else (perm,) if isinstance(perm, str) else tuple(perm)

    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        SPECS[kind] = HandlerSpec(kind, queue, priority, tuple(str(p) for p in perms), anywhere,
                                  on_lost)
        return fn

    return register


def spec_of(kind: str) -> HandlerSpec:
    return SPECS.get(kind) or HandlerSpec(kind)


def settle_lost(db: Session, job: Job, reason: str) -> None:
    """Let the handler of ``job`` settle its domain record (``on_lost``): the job ended (or is
    ending, in this transaction) without its handler having run to the end."""
    settle = spec_of(job.kind).on_lost
    if settle is None:
        return
    try:
        with db.begin_nested():
            settle(db, job, reason)
    except Exception:  # the job still ends; its own record says why
        log.exception("job %s (%s): could not settle its record after: %s", job.id, job.kind,
                      reason)


def actor_snapshot(actor: Actor) -> dict[str, Any]:
    return {
        "username": actor.username,
        "display_name": actor.display_name,
        "user_id": str(actor.user_id) if actor.user_id else None,
        "org_id": str(actor.org_id) if actor.org_id else None,
        "org_path": actor.org_path,
        "is_system": actor.is_system,
        "grants": [[g.role.value, str(g.org_id), g.org_path, g.subtree] for g in actor.grants],
        "token_id": str(actor.token_id) if actor.token_id else None,
        "token_perms": sorted(actor.token_perms) if actor.token_perms is not None else None,
    }


def actor_from_snapshot(data: dict[str, Any]) -> Actor:
    return Actor(
        username=data["username"],
        display_name=data.get("display_name", ""),
        user_id=uuid.UUID(data["user_id"]) if data.get("user_id") else None,
        org_id=uuid.UUID(data["org_id"]) if data.get("org_id") else None,
        org_path=data.get("org_path"),
        grants=tuple(
            RoleAssignment(Role(r), uuid.UUID(o), p, bool(s)) for r, o, p, s in data.get("grants", [])
        ),
        via="job",
        is_system=bool(data.get("is_system")),
        token_id=uuid.UUID(data["token_id"]) if data.get("token_id") else None,
        token_perms=frozenset(data["token_perms"]) if data.get("token_perms") is not None
        else None,
    )


# ------------------------------------------------------------------------- the actor, re-checked


class ActorGone(Exception):
    """Raised by the actor resolver: the job's actor can no longer act at all (``reason``:
    ``user_missing``, ``user_inactive``, ``token_revoked``, ``token_expired``, ``token_invalid``)."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason
        self.message = message or reason


#: (db, actor as snapshotted) -> the actor as it is now (same ``via``), or raises ``ActorGone``
ActorResolver = Callable[[Session, Actor], Actor]
_actor_resolver: ActorResolver | None = None


def set_actor_resolver(fn: ActorResolver | None) -> None:
    """Register how a job's actor is resolved again when the job runs (the ``orgs`` module does,
    at import: core knows no users). Without one, the snapshot taken at submit is used."""
    global _actor_resolver
    _actor_resolver = fn


def actor_resolver() -> ActorResolver | None:
    return _actor_resolver


def recheck_actor(db: Session, actor: Actor, kind: str, org_path: str) -> Actor:
    """The actor a job of ``kind`` at ``org_path`` runs with now; raises ``ActorGone`` when the
    actor may no longer act or no longer holds the permission the handler declares."""
    if not actor.is_system and actor.user_id is not None and _actor_resolver is not None:
        actor = _actor_resolver(db, actor)
    spec = spec_of(kind)
    if spec.perms:
        where = None if spec.anywhere else (org_path or None)
        if not any(actor.can(p, where) for p in spec.perms):
            raise ActorGone("permission_lost",
                            f"{actor.username} no longer holds {' or '.join(spec.perms)} here")
    return actor


# ---------------------------------------------------------------------------- service functions


def submit(
    actor: Actor,
    db: Session,
    /,
    *,
    kind: str,
    params: dict[str, Any] | None = None,
    title: str = "",
    org_path: str | None = None,
    priority: int | None = None,
    run_after: dt.datetime | None = None,
) -> Job:
    """Queue a job of ``kind``. The caller has checked the permission for the work itself.

    The job waits in its handler's queue with its handler's priority (or ``priority``), and is
    not claimed before ``run_after`` when that is given."""
    if kind not in HANDLERS:
        raise NotFound(f"No job handler for {kind!r}.", code="job_kind_unknown", kind=kind)
    spec = spec_of(kind)
    job = Job(
        kind=kind,
        title=(title or kind)[:200],  # a title names a file at times; the column holds 200
        params=params or {},
        actor=actor_snapshot(actor),
        created_by_id=actor.user_id,
        org_path=org_path if org_path is not None else (actor.org_path or ""),
        queue=spec.queue,
        priority=spec.priority if priority is None else priority,
        run_after=run_after,
    )
    db.add(job)
    db.flush()
    audit.record(
        db, actor, "job.submit", target_type="job", target_id=job.id, details={"kind": kind}
    )
    runtime = db.info.get("runtime")
    if runtime is not None:
        on_commit(db, lambda: _wake(runtime))
    return job


def _covers(grant: RoleAssignment, job_org_path: str) -> bool:
    """Does ``grant`` reach a job of ``job_org_path`` ("" = a platform job, see module doc)?"""
    if not job_org_path:
        return grant.subtree and grant.org_path.count("/") == 2
    return grant.covers(job_org_path)


def _may(actor: Actor, perm: Perm, job: Job) -> bool:
    return actor.is_system or any(_covers(g, job.org_path) for g in actor.scopes(perm))


def _is_mine(actor: Actor, job: Job) -> bool:
    return actor.user_id is not None and job.created_by_id == actor.user_id


def _visible(actor: Actor, job: Job) -> bool:
    return _is_mine(actor, job) or _may(actor, Perm.JOB_READ_ALL, job)


def _lock_job(db: Session, job_id: uuid.UUID) -> Job | None:
    """The job row, locked against a concurrent claim, finish or reap (PostgreSQL; SQLite write
    transactions hold the database lock already)."""
    return db.get(Job, job_id, with_for_update=True, populate_existing=True)


def live_jobs(db: Session, /, *, kinds: Sequence[str]) -> list[Job]:
    """The queued and running jobs of ``kinds`` (for a module's sweep: what is still in use)."""
    return list(db.scalars(select(Job).where(
        Job.kind.in_(list(kinds)), Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))))


def running_job_ids(db: Session, /) -> list[uuid.UUID]:
    return list(db.scalars(select(Job.id).where(Job.status == JobStatus.RUNNING)))


def count_running(db: Session, /) -> int:
    """How many jobs are running now (the home page's figure)."""
    return db.scalar(select(func.count()).select_from(Job).where(Job.status == JobStatus.RUNNING)) or 0


def get_job(actor: Actor, db: Session, /, job_id: uuid.UUID) -> Job:
    job = db.get(Job, job_id)
    if job is None or not _visible(actor, job):
        raise NotFound("No such job.", code="job_not_found")
    return job


def list_jobs(
    actor: Actor,
    db: Session,
    /,
    *,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Job], int]:
    """Jobs the actor may see, newest first: their own, plus all in scope for admins/auditors."""

    conds = []
    if not actor.is_system:
        scoped = []
        for g in actor.scopes(Perm.JOB_READ_ALL):
            if g.subtree:
                scoped.append(Job.org_path.startswith(g.org_path))
                if g.org_path.count("/") == 2:  # province-wide: platform jobs too
                    scoped.append(Job.org_path == "")
            else:
                scoped.append(Job.org_path == g.org_path)
        mine = Job.created_by_id == actor.user_id if actor.user_id else false()
        conds.append(or_(mine, *scoped))
    if status:
        conds.append(Job.status == status)
    if kind:
        conds.append(Job.kind == kind)
    total = db.scalar(select(func.count()).select_from(Job).where(*conds)) or 0
    rows = db.scalars(
        select(Job).where(*conds).order_by(Job.created_at.desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def cancel(actor: Actor, db: Session, /, job_id: uuid.UUID) -> Job:
    """Cancel a queued job at once; ask a running one to stop at its next progress report."""
    get_job(actor, db, job_id)
    job = _lock_job(db, job_id)
    assert job is not None
    if not _is_mine(actor, job) and not _may(actor, Perm.JOB_MANAGE, job):
        raise PermissionDenied("Only the submitter or an administrator may cancel a job.")
    if job.status in FINISHED:
        raise InvalidState("The job has already finished.", code="job_finished")
    if job.status == JobStatus.QUEUED:
        job.status = JobStatus.CANCELLED
        job.finished_at = utcnow()
        job.message = "cancelled before it started"
        settle_lost(db, job, "cancelled before it started")
    else:
        job.cancel_requested = True
    audit.record(db, actor, "job.cancel", target_type="job", target_id=job.id)
    return job


# ---------------------------------------------------------------------------------------- worker

_wakers: dict[int, threading.Event] = {}


def _wake(runtime: Runtime) -> None:
    ev = _wakers.get(id(runtime))
    if ev is not None:
        ev.set()


def _queue_lock(db: Session, queue: str) -> bool:
    """Take the claiming lock of a limited queue for this transaction (PostgreSQL), without
    waiting: False if another worker is claiming from the queue right now."""
    key = func.hashtext(literal(f"gongshu.job_queue:{queue}"))
    return bool(db.scalar(select(func.pg_try_advisory_xact_lock(key))))


def _running(db: Session, queue: str | None = None) -> dict[str, int]:
    stmt = select(Job.queue, func.count()).where(Job.status == JobStatus.RUNNING)
    if queue is not None:
        stmt = stmt.where(Job.queue == queue)
    return {q: int(n) for q, n in db.execute(stmt.group_by(Job.queue)).all()}


def _claim(db: Session, worker_name: str, limits: dict[str, int] | None = None) -> Job | None:
    """Mark running the next job to run: highest priority, then oldest, among the due jobs of
    the queues below their limit of running jobs (``limits``; a queue not named is unlimited,
    a limit of 0 pauses the queue)."""
    limits = limits or {}
    now = utcnow()
    postgres = db.get_bind().dialect.name == "postgresql"
    running = _running(db) if limits else {}
    full = {q for q, n in limits.items() if running.get(q, 0) >= n}
    locked: set[str] = set()
    while True:
        stmt = select(Job).where(
            Job.status == JobStatus.QUEUED, or_(Job.run_after.is_(None), Job.run_after <= now)
        )
        if full:
            stmt = stmt.where(Job.queue.not_in(sorted(full)))
        stmt = stmt.order_by(Job.priority.desc(), Job.created_at, Job.id).limit(1)
        if postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        job = db.scalars(stmt).first()
        if job is None:
            return None
        limit = limits.get(job.queue)
        if postgres and limit is not None and job.queue not in locked:
            # Count again under the queue's lock: the count above may predate another worker's
            # claim, which commits before it releases the lock (READ COMMITTED sees it then).
            if not _queue_lock(db, job.queue) or _running(db, job.queue).get(job.queue, 0) >= limit:
                full.add(job.queue)
                continue
            locked.add(job.queue)
        job.status = JobStatus.RUNNING
        job.started_at = now
        job.heartbeat_at = now
        job.worker = worker_name
        return job


def _refuse(db: Session, job: Job, gone: ActorGone, code: str = ACTOR_NO_LONGER_PERMITTED
            ) -> None:
    """Fail a claimed job whose actor may no longer act, without running it."""
    job.status = JobStatus.FAILED
    job.finished_at = utcnow()
    job.error = f"the job's actor may no longer do this work ({gone.reason}): {gone.message}"[:2000]
    if code != ACTOR_NO_LONGER_PERMITTED:
        job.error = f"the job's actor could not be checked: {gone.message}"[:2000]
    job.error_code = code
    settle_lost(db, job, job.error)
    audit.record(
        db,
        Actor.system("job-worker", via="system"),
        "job.failed",
        target_type="job",
        target_id=job.id,
        details={"kind": job.kind, "error": code, "reason": gone.reason,
                 "actor": job.actor.get("username", "")},
    )


def _requeue(db: Session, job: Job, why: str) -> None:
    """Put a running job back in its queue (a draining worker hands it back): it runs again
    from the start, on whichever worker claims it."""
    job.status = JobStatus.QUEUED
    job.worker = ""
    job.started_at = None
    job.heartbeat_at = None
    job.progress_done = 0
    job.progress_total = None
    job.message = why[:500]
    job.message_key = ""
    job.message_params = {}
    audit.record(
        db,
        Actor.system("job-worker", via="system"),
        "job.requeued",
        target_type="job",
        target_id=job.id,
        details={"kind": job.kind, "reason": why[:200]},
    )


def forget_workers(db: Session, /) -> int:
    """Remove every worker row (after a restore: the processes of the backed-up platform are
    not running here). Returns how many."""
    return db.execute(delete(JobWorker)).rowcount or 0  # type: ignore[attr-defined]


def list_workers(db: Session, /) -> list[JobWorker]:
    """The worker processes that announced themselves, most recently seen first."""
    return list(db.scalars(select(JobWorker).order_by(JobWorker.seen_at.desc())))


@dataclass(frozen=True, slots=True)
class Readiness:
    """What ``/readyz`` reports about the jobs: live workers, and the queue's oldest due job."""

    workers: int
    draining: int
    queued: int
    oldest_queued_seconds: float | None
    running: int


def readiness(db: Session, /, *, stale_seconds: float, now: dt.datetime | None = None
              ) -> Readiness:
    """Workers seen within ``stale_seconds`` (those draining apart), and the jobs that are due
    and waiting: how many, and how long the oldest has waited (since it was due)."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=stale_seconds)
    rows = db.execute(select(JobWorker.draining, func.count()).where(JobWorker.seen_at >= cutoff)
                      .group_by(JobWorker.draining)).all()
    live = {bool(d): int(n) for d, n in rows}
    due = (Job.status == JobStatus.QUEUED, or_(Job.run_after.is_(None), Job.run_after <= now))
    # a delayed job waits from its run_after, any other from its submit
    waiting_since = func.coalesce(Job.run_after, Job.created_at, type_=Job.created_at.type)
    queued, since = db.execute(select(func.count(), func.min(waiting_since)).where(*due)).one()
    oldest = max(0.0, (now - since).total_seconds()) if queued and since is not None else None
    running = db.scalar(select(func.count()).select_from(Job)
                        .where(Job.status == JobStatus.RUNNING)) or 0
    return Readiness(live.get(False, 0), live.get(True, 0), int(queued or 0), oldest,
                     int(running))


# ----------------------------------------------------------------------------------- schedules


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    kind: str
    every: dt.timedelta
    params: dict[str, Any] = field(default_factory=dict)
    title: str = ""


SCHEDULES: dict[str, Schedule] = {}
#: the actor of scheduled jobs
SCHEDULER = Actor.system("scheduler", via="system")


def schedule(kind: str, *, every: dt.timedelta, params: dict[str, Any] | None = None,
             name: str | None = None, title: str = "") -> Schedule:
    """Declare that a job of ``kind`` runs once every ``every`` (at import, beside the handler):
    ``jobs.schedule("sharing.sweep", every=timedelta(minutes=15))``. The job is submitted by
    the system (a platform job); its handler finds the work itself."""
    if every < dt.timedelta(seconds=1):
        raise ValueError("a schedule's period is at least a second")
    found = Schedule(name or kind, kind, every, dict(params or {}), title)
    if len(found.name) > 64:
        raise ValueError(f"schedule name {found.name!r}: at most 64 characters")
    SCHEDULES[found.name] = found
    return found


def _next_after(due: dt.datetime, period: int, now: dt.datetime) -> dt.datetime:
    """The first time after ``now`` on the grid ``due + k·period`` (missed periods run once)."""
    step = dt.timedelta(seconds=period)
    missed = max(0, int((now - due) // step))
    following = due + step * (missed + 1)
    return following if following > now else following + step


def sync_schedules(db: Session, /, *, now: dt.datetime | None = None) -> int:
    """Write the declared schedules into ``job_schedule`` (new ones are due at once; a changed
    one keeps its time, brought forward to at most a period away). Safe with several workers
    starting together. Returns how many rows were added or changed."""
    now = now or utcnow()
    changed = 0
    insert = (pg_dialect.insert if db.get_bind().dialect.name == "postgresql"
              else sqlite_dialect.insert)
    for sched in SCHEDULES.values():
        period = max(1, int(sched.every.total_seconds()))
        added = db.execute(
            insert(JobSchedule)
            .values(name=sched.name, kind=sched.kind, params=sched.params,
                    period_seconds=period, next_run_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(JobSchedule.name)
        ).scalar_one_or_none()
        if added is not None:
            changed += 1
            continue
        row = db.get(JobSchedule, sched.name, with_for_update=True, populate_existing=True)
        assert row is not None
        if (row.kind, row.params, row.period_seconds) != (sched.kind, sched.params, period):
            row.kind, row.params, row.period_seconds = sched.kind, dict(sched.params), period
            row.next_run_at = min(row.next_run_at, now + sched.every)
            changed += 1
    return changed


def list_schedules(db: Session, /) -> list[JobSchedule]:
    return list(db.scalars(select(JobSchedule).order_by(JobSchedule.name)))


@dataclass(frozen=True, slots=True)
class QueueState:
    queue: str
    limit: int | None
    queued: int
    running: int


def queue_states(actor: Actor, db: Session, /, *, limits: dict[str, int]) -> list[QueueState]:
    """Per queue: its limit, and how many jobs wait and run (for ``job.read_all`` holders)."""
    if not actor.is_system and not actor.scopes(Perm.JOB_READ_ALL):
        raise PermissionDenied("You may not see the job queues.", code="permission_denied",
                               permission=Perm.JOB_READ_ALL.value)
    counts: dict[str, dict[str, int]] = {}
    rows = db.execute(
        select(Job.queue, Job.status, func.count())
        .where(Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
        .group_by(Job.queue, Job.status)
    ).all()
    for queue, status, n in rows:
        counts.setdefault(queue, {})[status] = int(n)
    names = sorted(set(counts) | set(limits) | {s.queue for s in SPECS.values()})
    return [QueueState(q, limits.get(q), counts.get(q, {}).get(JobStatus.QUEUED, 0),
                       counts.get(q, {}).get(JobStatus.RUNNING, 0)) for q in names]


#: how long a worker process that stopped without saying so (killed, cut off) stays listed
#: (``gongshu job workers``: gone) after its lease ran out
GONE_WORKERS_KEPT = dt.timedelta(hours=1)
#: seconds a job handed back by a draining worker has to stop at its next progress report
#: before the worker queues it again itself and exits
HAND_BACK_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Drained:
    """What ``Worker.drain`` did: jobs that finished while it waited, handed back at a progress
    report, and queued again by the worker itself (they had not stopped in time)."""

    finished: int
    handed_back: int
    requeued: int


class Worker:
    """Claims and runs jobs. ``run_pending`` for tests and the CLI; ``start`` for threads."""

    def __init__(self, runtime: Runtime, *, name: str | None = None, threads: int = 1) -> None:
        self.runtime = runtime
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self) & 0xFFFF:x}"
        self.threads = threads
        self._stop = threading.Event()
        self._wake = _wakers.setdefault(id(runtime), threading.Event())
        self._running: set[uuid.UUID] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._job_threads: list[threading.Thread] = []
        self._hand_back = threading.Event()  # running jobs: stop and go back to the queue
        self._handed_back = 0

    # -- one job
    def run_one(self) -> uuid.UUID | None:
        """Claim the oldest queued job and run it to the end. Returns its id, or None."""
        if self._hand_back.is_set():  # draining: claim nothing more
            return None
        with self.runtime.db.transaction() as db:
            job = _claim(db, self.name, self.runtime.settings.job_queue_limits)
            if job is None:
                return None
            job_id, kind, params = job.id, job.kind, dict(job.params)
            try:
                actor = recheck_actor(db, actor_from_snapshot(job.actor), kind, job.org_path)
            except ActorGone as gone:
                log.info("job %s (%s) refused: its actor %s", job_id, kind, gone.reason)
                _refuse(db, job, gone)
                return job_id
            except Exception as exc:  # a bug in a resolver must not stick the job at the head
                log.exception("job %s (%s): its actor could not be checked", job_id, kind)
                _refuse(db, job, ActorGone("resolve_failed", f"internal error: {exc}"),
                        code="internal_error")
                return job_id
        with self._lock:
            self._running.add(job_id)
        try:
            self._execute(job_id, kind, params, actor)
        finally:
            with self._lock:
                self._running.discard(job_id)
        return job_id

    def _execute(
        self,
        job_id: uuid.UUID,
        kind: str,
        params: dict[str, Any],
        actor: Actor,
        observer: Callable[[int, int | None, str], None] | None = None,
    ) -> None:
        last = [0.0]

        def report(done: int, total: int | None, message: str, key: str = "",
                   params: dict[str, Any] | None = None) -> bool:
            if observer is not None:
                observer(done, total, message)
            now = time.monotonic()
            final = total is not None and done >= total
            if now - last[0] < 0.25 and not final:
                return False
            last[0] = now
            with self.runtime.db.transaction() as db:
                job = db.get(Job, job_id)
                assert job is not None
                if job.status != JobStatus.RUNNING:  # reaped meanwhile: stop the work
                    return True
                job.progress_done = done
                if total is not None:
                    job.progress_total = total
                if message:
                    job.message = message[:500]
                    job.message_key = key[:64]
                    job.message_params = dict(params or {})
                job.heartbeat_at = utcnow()
                return job.cancel_requested

        ctx = JobContext(job_id, params, actor, self.runtime, report, self._hand_back.is_set)
        with self._heartbeating(job_id):
            status, result, error, error_code = self._call(ctx, kind)
        with self.runtime.db.transaction() as db:
            job = _lock_job(db, job_id)
            assert job is not None
            if job.status != JobStatus.RUNNING or job.worker != self.name:
                # reaped, cancelled, or queued again (a drain that could not wait) while we
                # ran: that stands
                log.warning("job %s finished as %s but was already %s", job_id, status, job.status)
                return
            if status == JobStatus.QUEUED:  # handed back by a draining worker
                _requeue(db, job, f"handed back by worker {self.name} as it stopped")
                with self._lock:
                    self._handed_back += 1
                return
            job.status = status
            job.result = result
            job.error = error
            job.error_code = error_code
            job.finished_at = utcnow()
            if status == JobStatus.SUCCEEDED and job.progress_total:
                job.progress_done = job.progress_total
            audit.record(
                db,
                actor,
                f"job.{status}",
                target_type="job",
                target_id=job_id,
                details={"kind": kind, **({"error": error[:200]} if error else {})},
            )

    @staticmethod
    def _call(ctx: JobContext, kind: str
              ) -> tuple[JobStatus, dict[str, Any] | None, str | None, str]:
        """Run the handler; turn every outcome into (status, result, error, error code)."""
        try:
            fn = HANDLERS.get(kind)
            if fn is None:
                raise NotFound(f"No job handler for {kind!r}.", code="job_kind_unknown")
            return JobStatus.SUCCEEDED, fn(ctx), None, ""
        except JobCancelled:
            return JobStatus.CANCELLED, None, "cancelled on request", "cancelled"
        except JobHandedBack:
            return JobStatus.QUEUED, None, None, ""
        except GongshuError as exc:
            return JobStatus.FAILED, None, exc.detail, exc.code[:64]
        except Exception as exc:  # a bug: keep the job, say what happened, log the trace
            log.exception("job %s (%s) crashed", ctx.job_id, kind)
            detail = "".join(traceback.format_exception_only(exc)).strip()
            return JobStatus.FAILED, None, f"internal error: {detail}"[:2000], "internal_error"

    @contextmanager
    def _heartbeating(self, job_id: uuid.UUID) -> Iterator[None]:
        """Beat for ``job_id`` while the block runs, so a live job is never reaped as lost."""
        stop = threading.Event()
        interval = max(0.5, self.runtime.settings.job_stale_seconds / 4)

        def beat() -> None:
            while not stop.wait(interval):
                try:
                    with self.runtime.db.transaction() as db:
                        db.execute(
                            update(Job)
                            .where(Job.id == job_id, Job.status == JobStatus.RUNNING)
                            .values(heartbeat_at=utcnow())
                        )
                except Exception:  # a database hiccup; the next beat tries again
                    log.exception("heartbeat of job %s failed", job_id)

        thread = threading.Thread(target=beat, name=f"gongshu-job-beat-{job_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def run_schedules(self, *, now: dt.datetime | None = None) -> list[uuid.UUID]:
        """Submit the job of every declared schedule that is due; returns the new jobs' ids.

        Each schedule is claimed by a compare-and-set of its ``next_run_at`` (a worker whose
        update finds the row moved on by another worker submits nothing), in the transaction
        that submits the job: one job per period, however many workers look. A period whose
        previous job still waits in its queue submits none (jobs do not pile up behind a
        paused or busy queue)."""
        now = now or utcnow()
        names = [n for n, s in SCHEDULES.items() if s.kind in HANDLERS]
        if not names:
            return []
        with self.runtime.db.transaction(write=False) as db:
            due = db.execute(
                select(JobSchedule.name, JobSchedule.next_run_at, JobSchedule.period_seconds)
                .where(JobSchedule.name.in_(names), JobSchedule.next_run_at <= now)
            ).all()
        submitted = []
        for name, at, period in due:
            job_id = self._take_period(name, at, period, now)
            if job_id is not None:
                submitted.append(job_id)
        return submitted

    def _take_period(self, name: str, at: dt.datetime, period: int,
                     now: dt.datetime) -> uuid.UUID | None:
        """Move the schedule ``name`` on from ``at`` (as this worker read it) and submit its
        job; None if another worker moved it first, or its previous job still waits."""
        with self.runtime.db.transaction() as db:
            moved = db.execute(
                update(JobSchedule)
                .where(JobSchedule.name == name, JobSchedule.next_run_at == at)
                .values(next_run_at=_next_after(at, period, now), last_run_at=now)
                .returning(JobSchedule.last_job_id)
            ).one_or_none()
            if moved is None:  # another worker took this period
                return None
            last = moved[0]
            if last is not None and db.scalar(
                    select(Job.status).where(Job.id == last)) == JobStatus.QUEUED:
                return None
            sched = SCHEDULES[name]
            job = submit(SCHEDULER, db, kind=sched.kind, params=dict(sched.params),
                         title=sched.title or sched.name, org_path="")
            db.execute(update(JobSchedule).where(JobSchedule.name == name)
                       .values(last_job_id=job.id))
            return job.id

    def sync_schedules(self, *, now: dt.datetime | None = None) -> None:
        with self.runtime.db.transaction() as db:
            sync_schedules(db, now=now)

    def run_pending(self) -> int:
        """Run queued jobs until none is left; returns how many ran."""
        n = 0
        while self.run_one() is not None:
            n += 1
        return n

    # -- liveness
    def heartbeat(self) -> None:
        with self._lock:
            running = list(self._running)
        with self.runtime.db.transaction() as db:
            now = utcnow()
            if running:
                db.execute(update(Job).where(Job.id.in_(running)).values(heartbeat_at=now))
            seen = db.execute(update(JobWorker).where(JobWorker.name == self.name)
                              .values(seen_at=now, draining=self._stop.is_set()))
            if getattr(seen, "rowcount", 1) == 0 and self._threads:
                self._register(db, now)  # removed meanwhile (e.g. by a restore): again

    def _register(self, db: Session, now: dt.datetime) -> None:
        db.merge(JobWorker(name=self.name, host=socket.gethostname(), pid=os.getpid(),
                           threads=self.threads, started_at=now, seen_at=now, draining=False))

    def _deregister(self) -> None:
        try:
            with self.runtime.db.transaction() as db:
                db.execute(delete(JobWorker).where(JobWorker.name == self.name))
        except Exception:  # it ages out of /readyz's count anyway
            log.exception("could not remove worker %s from job_worker", self.name)

    def reap_stale(self) -> int:
        """Mark failed the running jobs whose worker has gone silent (and forget the worker
        processes gone for more than ``GONE_WORKERS_KEPT``)."""
        cutoff = utcnow() - dt.timedelta(seconds=self.runtime.settings.job_stale_seconds)
        with self.runtime.db.transaction() as db:
            db.execute(delete(JobWorker).where(
                JobWorker.seen_at < cutoff - GONE_WORKERS_KEPT))
            stmt = select(Job).where(Job.status == JobStatus.RUNNING, Job.heartbeat_at < cutoff)
            if db.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)  # one reaper per job
            stale = db.scalars(stmt).all()
            for job in stale:
                job.status = JobStatus.FAILED
                job.finished_at = utcnow()
                job.error = f"worker {job.worker} stopped responding; the job did not finish"
                job.error_code = "worker_lost"
                settle_lost(db, job, job.error)
                audit.record(
                    db,
                    Actor.system("job-reaper", via="system"),
                    "job.failed",
                    target_type="job",
                    target_id=job.id,
                    details={"kind": job.kind, "error": "worker lost"},
                )
            return len(stale)

    # -- threads
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_one()
            except Exception:  # database hiccup: log, wait, go on
                log.exception("worker loop error")
                ran = None
            # Idle: sleep until a submit wakes us (or a second passes, for other processes'
            # jobs). Another thread may have cleared the wake-up that ``stop`` sent: look first.
            if ran is None and not self._stop.is_set():
                self._wake.wait(timeout=1.0)
                if not self._stop.is_set():
                    self._wake.clear()

    def _housekeeping(self) -> None:
        interval = max(1.0, self.runtime.settings.job_stale_seconds / 4)
        while not self._stop.wait(interval):
            try:
                self.heartbeat()
                self.reap_stale()
                self.run_schedules()
            except Exception:
                log.exception("worker housekeeping error")

    def start(self) -> None:
        with self.runtime.db.transaction() as db:
            self._register(db, utcnow())
        self.reap_stale()
        try:
            self.sync_schedules()
            self.run_schedules()
        except Exception:  # a schedule must not keep the worker from running jobs
            log.exception("could not bring the job schedules up to date")
        for i in range(self.threads):
            t = threading.Thread(target=self._loop, name=f"gongshu-job-{i}", daemon=True)
            t.start()
            self._threads.append(t)
            self._job_threads.append(t)
        t = threading.Thread(target=self._housekeeping, name="gongshu-job-hk", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
        self._job_threads.clear()
        self._deregister()

    def drain(self, grace: float | None = None) -> Drained:
        """Stop claiming; let the running jobs finish within ``grace`` seconds (default
        ``worker_grace_seconds``); hand back those still running (see the module doc); stop.
        Returns what happened to the jobs that were running."""
        grace = self.runtime.settings.worker_grace_seconds if grace is None else grace
        with self._lock:
            had = set(self._running)
        self._stop.set()
        self._wake.set()
        try:
            with self.runtime.db.transaction() as db:
                db.execute(update(JobWorker).where(JobWorker.name == self.name)
                           .values(draining=True, seen_at=utcnow()))
        except Exception:
            log.exception("could not mark worker %s draining", self.name)
        if had:
            log.info("worker %s draining: %d job(s) running, %.0f s to finish", self.name,
                     len(had), grace)
        deadline = time.monotonic() + max(0.0, grace)
        self._join_jobs(deadline)
        with self._lock:
            left = set(self._running)
        requeued = 0
        if left:
            log.warning("worker %s: %d job(s) still running after %.0f s: handing them back",
                        self.name, len(left), grace)
            self._hand_back.set()
            self._join_jobs(time.monotonic() + HAND_BACK_SECONDS)
            with self._lock:
                stuck = set(self._running)
            if stuck:
                requeued = self._requeue_own(stuck)
        for t in self._threads:
            t.join(1.0)
        self._threads.clear()
        self._job_threads.clear()
        self._deregister()
        handed = self._handed_back
        return Drained(len(had) - handed - requeued, handed, requeued)

    def _join_jobs(self, deadline: float) -> None:
        for t in self._job_threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def _requeue_own(self, job_ids: set[uuid.UUID]) -> int:
        """Queue again the jobs this worker still runs (it exits without waiting for them)."""
        n = 0
        with self.runtime.db.transaction() as db:
            for job_id in job_ids:
                job = _lock_job(db, job_id)
                if job is not None and job.status == JobStatus.RUNNING and job.worker == self.name:
                    _requeue(db, job, f"queued again by worker {self.name}: it stopped before "
                             "the job reached a progress report")
                    n += 1
        return n


def run_inline(
    runtime: Runtime,
    actor: Actor,
    *,
    kind: str,
    params: dict[str, Any] | None = None,
    title: str = "",
    on_progress: Callable[[int, int | None, str], None] | None = None,
) -> Job:
    """Submit a job and run it now in this thread (the CLI's way: same code, a Rich bar)."""
    worker = Worker(runtime, name=f"inline:{os.getpid()}")
    with runtime.db.transaction() as db:
        job = submit(actor, db, kind=kind, params=params, title=title)
        db.flush()
        job.status = JobStatus.RUNNING
        job.started_at = job.heartbeat_at = utcnow()
        job.worker = worker.name
        job_id = job.id
        try:
            current: Actor | None = recheck_actor(db, actor, kind, job.org_path)
        except ActorGone as gone:
            _refuse(db, job, gone)
            current = None
    if current is not None:
        worker._execute(job_id, kind, params or {}, current, observer=on_progress)
    with runtime.db.transaction(write=False) as db:
        done = db.get(Job, job_id)
        assert done is not None
        return done


def audit_labels(db: Session, /, ids: Sequence[str]) -> dict[str, str]:
    """Jobs as the audit log names them (their title), in one query."""
    return {str(i): title or kind for i, kind, title in db.execute(
        select(Job.id, Job.kind, Job.title).where(Job.id.in_(as_uuids(ids))))}
