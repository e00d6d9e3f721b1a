"""Concurrent pulls through two runtimes (each its own connection pool, as two server processes
have) on one database: every successful pull leaves exactly one audit event and one GrantPull
row in one unbroken chain, and the day's row limit holds however the pulls interleave."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gongshu.core import audit
from gongshu.core.audit import AuditEvent
from gongshu.core.errors import TooManyRequests
from gongshu.core.runtime import Runtime
from gongshu.sharing.models import GrantPull
from sharing.delivery_support import issue, pull, store

ROWS = 100
LIMIT = 1250  # 12 whole pulls and a cut one


@pytest.mark.parametrize("limit", [LIMIT, None])
def test_concurrent_pulls_one_event_each_and_the_limit_holds(runtime: Any, entry: Any,
                                                            people: Any, run_ingest: Any,
                                                            tmp_path: Path,
                                                            limit: int | None) -> None:
    store(run_ingest, people, entry, tmp_path, ROWS)
    grant = issue(runtime, entry, people.outsider, daily_row_limit=limit)
    other = Runtime(runtime.settings)
    runtimes = [runtime, other]
    done: list[int] = []
    refused: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        rt = runtimes[i % 2]
        for _ in range(4):
            try:
                prepared, _body = pull(rt, people.outsider.actor, grant.id, format="csv")
            except TooManyRequests as exc:
                with lock:
                    refused.append(exc.code)
            except BaseException as exc:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(exc)
            else:
                with lock:
                    done.append(prepared.rows)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    assert not errors, errors
    assert len(done) + len(refused) == 32
    if limit is None:  # no lock on the grant: pulls queue only on the audit chain
        assert not refused and len(done) == 32
    else:
        assert set(refused) <= {"daily_row_limit"} and refused
    with runtime.db.transaction(write=False) as db:
        pulls = list(db.scalars(sa.select(GrantPull)))
        events = list(db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "sharing.pull")))
        report = audit.verify_chain(db)
    assert report.ok, report.reason
    assert len(pulls) == len(events) == len(done)
    assert {json.loads(e.details)["pull_id"] for e in events} == {str(p.id) for p in pulls}
    if limit is None:
        return
    assert sum(p.rows for p in pulls) == sum(done) <= LIMIT
    while True:  # what is left of the day, one pull at a time; then nothing more
        try:
            done.append(pull(runtime, people.outsider.actor, grant.id)[0].rows)
        except TooManyRequests:
            break
    assert sum(done) == LIMIT
