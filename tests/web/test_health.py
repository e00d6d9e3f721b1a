"""/healthz (liveness) and /readyz (readiness: database, workers, the queue's oldest job)."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import update

from gongshu.core import jobs
from gongshu.core.db import utcnow
from gongshu.core.jobs import Job, Worker
from gongshu.core.permissions import Actor
from gongshu.modules import import_job_handlers

import_job_handlers()
SYSTEM = Actor.system("test", via="system")


def _queue(runtime: Any, *, minutes_ago: float = 0) -> None:
    with runtime.db.transaction() as db:
        job = jobs.submit(SYSTEM, db, kind="library.sweep_uploads")
        db.flush()
        db.execute(update(Job).where(Job.id == job.id)
                   .values(created_at=utcnow() - dt.timedelta(minutes=minutes_ago)))


def test_healthz_and_readyz_are_public(client: Any) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ok" and body["database"] == {"ok": True}
    assert body["workers"] == {"alive": 0, "draining": 0}
    assert body["jobs"] == {"status": "ok", "queued": 0, "running": 0,
                            "oldest_queued_seconds": None}


def test_readyz_is_degraded_when_jobs_wait_and_no_worker_lives(client: Any,
                                                               runtime: Any) -> None:
    _queue(runtime, minutes_ago=2)
    body = client.get("/readyz").json()
    assert client.get("/readyz").status_code == 200  # the web still serves
    assert body["status"] == "degraded" and body["jobs"]["status"] == "stalled"
    assert body["jobs"]["queued"] == 1 and 115 < body["jobs"]["oldest_queued_seconds"] < 180
    worker = Worker(runtime)
    with runtime.db.transaction() as db:
        worker._register(db, utcnow())
    body = client.get("/readyz").json()
    assert body["workers"]["alive"] == 1 and body["status"] == "ok"


def test_readyz_is_degraded_when_the_oldest_job_waited_too_long(client: Any,
                                                                runtime: Any) -> None:
    with runtime.db.transaction() as db:
        Worker(runtime)._register(db, utcnow())
    _queue(runtime, minutes_ago=runtime.settings.ready_queue_seconds / 60 + 1)
    body = client.get("/readyz").json()
    assert body["status"] == "degraded" and body["workers"]["alive"] == 1


def test_readyz_is_503_when_the_database_does_not_answer(client: Any, runtime: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    @contextmanager
    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError("database down")
        yield

    monkeypatch.setattr(runtime.db, "transaction", down)
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json() == {"status": "not_ready",
                             "database": {"ok": False, "error": "ConnectionRefusedError"}}


def test_readyz_is_503_while_the_process_shuts_down(client: Any) -> None:
    client.app.state.shutting_down = True
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.json()["status"] == "not_ready"
