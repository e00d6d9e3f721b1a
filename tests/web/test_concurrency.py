"""Many users at once never stall the server (``web/admission.py``).

A real ``gongshu serve`` (one process on SQLite, two worker processes on PostgreSQL) gets 200
catalog searches at the same moment from one user, and meanwhile a request of another user.
None may answer 5xx, every search succeeds, and the other user is served while the searches
are still going on (fair admission), not after them. The servers run with the documented
defaults (but for fewer threads per process on PostgreSQL, whose connections the test database
shares). The line's 503 with Retry-After is the answer to overload only after
``GONGSHU_REQUEST_QUEUE_SECONDS`` (checked in-process below).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gongshu.core.errors import Unavailable
from gongshu.core.permissions import Actor
from gongshu.web.admission import FairGate
from servers import Processes

SYSTEM = Actor.system("test", via="system")
STORM = 200
NAMES = ["常住人口基本信息", "企业登记信息", "社会保险参保信息", "医疗机构执业登记", "道路运输许可",
         "不动产登记信息", "公共租赁住房保障", "义务教育学校名录"]


def _publish_entries(runtime: Any, tree: dict[str, Any], n: int) -> None:
    from catalog.conftest import VALID_ENTRY, patched
    from gongshu.catalog import flows, service

    for i in range(n):
        with runtime.db.transaction() as db:
            data = patched(VALID_ENTRY, {"name": f"{NAMES[i % len(NAMES)]}（{2010 + i}年）"})
            entry = service.create_entry(SYSTEM, db, data, provider_org_id=tree["province.hr"].id)
            flows.submit(SYSTEM, db, entry.id)
            flows.approve(SYSTEM, db, entry.id)


@pytest.fixture
def server(runtime: Any) -> Iterator[Any]:
    """start(workers=1, **settings) -> base URL of ``gongshu serve`` on this test's database."""
    with Processes(runtime) as procs:
        yield procs.web


async def _storm(base: str, searcher: dict[str, str], other: dict[str, str]) -> dict[str, Any]:
    """STORM searches at once by one user; another user's request once they are under way."""
    done: list[float] = []
    limits = httpx.Limits(max_connections=STORM + 10, max_keepalive_connections=STORM + 10)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        async def search(i: int) -> httpx.Response:
            response = await client.get("/api/v1/catalog/search", headers=searcher,
                                        params={"q": NAMES[i % len(NAMES)][:4]})
            done.append(time.monotonic())
            return response

        started = time.monotonic()
        tasks = [asyncio.create_task(search(i)) for i in range(STORM)]
        await asyncio.sleep(0.3)  # the searches are sent and waiting in line
        asked = time.monotonic()
        answer = await client.get("/api/v1/me", headers=other)
        answered = time.monotonic()
        responses = await asyncio.gather(*tasks)
    return {"responses": responses, "other": answer, "other_seconds": answered - asked,
            "before_other": sum(1 for t in done if t <= answered),
            "seconds": time.monotonic() - started}


def _check(outcome: dict[str, Any]) -> None:
    statuses = [r.status_code for r in outcome["responses"]]
    assert not [s for s in statuses if s >= 500], sorted(statuses)
    assert statuses == [200] * STORM
    assert all(r.json()["count"] >= 1 for r in outcome["responses"])
    assert outcome["other"].status_code == 200
    # the other user is served among the first searches, not behind all of them (fair line)
    assert outcome["before_other"] < STORM // 2, outcome


@pytest.mark.slow
def test_200_concurrent_searches_and_another_user(
    backend: str, runtime: Any, tree: dict[str, Any], make_user: Any, token_for: Any,
    server: Any,
) -> None:
    _publish_entries(runtime, tree, 24)
    searcher = token_for(make_user("searcher", "requester", "province.health"))
    other = token_for(make_user("other", "requester", "province.health"))
    # PostgreSQL: two processes, each with its own threads and pool (mind max_connections)
    base = server(workers=2, web_threads=6) if backend == "postgresql" else server()
    _check(asyncio.run(_storm(base, searcher, other)))


# ------------------------------------------------------------------ overload, in-process


def test_overload_is_answered_503_with_retry_after(runtime: Any, make_user: Any,
                                                   token_for: Any) -> None:
    """One slot and no wait: the requests that find the slot taken are answered 503 with
    Retry-After and a problem document at once, the others succeed; nothing else."""
    from gongshu.web.app import create_app

    runtime.settings.web_threads = 1
    runtime.settings.request_queue_seconds = 0
    app = create_app(runtime, start_worker=False)
    headers = token_for(make_user("busy", "requester", "province.health"))

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return list(await asyncio.gather(*[
                client.get("/api/v1/catalog/search", headers=headers, params={"q": "人口"})
                for _ in range(20)]))

    responses = asyncio.run(burst())
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 503} and 200 in statuses and 503 in statuses, statuses
    refused = next(r for r in responses if r.status_code == 503)
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "overloaded"
    assert refused.headers["x-content-type-options"] == "nosniff"


# ------------------------------------------------------------------ the fair line, pure


def test_the_line_serves_the_caller_holding_fewest_slots_first() -> None:
    async def run() -> list[str]:
        gate = FairGate(2)
        order: list[str] = []
        assert await gate.acquire("a", 1) and await gate.acquire("a", 1)

        async def wait(caller: str) -> None:
            assert await gate.acquire(caller, 5)
            order.append(caller)

        waiters = [asyncio.create_task(wait(c)) for c in ("a", "a", "a", "b")]
        await asyncio.sleep(0.01)
        gate.release("a")  # b holds none, a holds one: b first although it came last
        await asyncio.sleep(0.01)
        gate.release("a")
        gate.release("b")
        await asyncio.sleep(0.01)
        for _ in range(2):
            gate.release("a")
            await asyncio.sleep(0.01)
        await asyncio.gather(*waiters)
        return order

    assert asyncio.run(run()) == ["b", "a", "a", "a"]


def test_the_line_gives_up_after_its_wait_and_frees_nothing_it_did_not_take() -> None:
    async def run() -> tuple[bool, int, int]:
        gate = FairGate(1)
        assert await gate.acquire("a", 1)
        refused = await gate.acquire("b", 0.05)
        gate.release("a")
        return refused, gate.free, gate.waiting

    assert asyncio.run(run()) == (False, 1, 0)


def test_unavailable_carries_its_retry_after() -> None:
    assert Unavailable(retry_after=0).retry_after == 1
    assert Unavailable().status == 503 and Unavailable().code == "overloaded"


@pytest.mark.parametrize("error", [
    "pool", "locked",
])
def test_a_busy_database_is_answered_503_not_500(error: str, client: Any, make_user: Any,
                                                 token_for: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection not checked out in time, or SQLite's lock not obtained within its busy
    timeout, is overload: 503 with Retry-After. Another database error stays a 500."""
    import sqlite3

    from sqlalchemy import exc as sa_exc

    headers = token_for(make_user("waiting", "requester", "province.health"))
    raised = {"pool": sa_exc.TimeoutError("QueuePool limit of size 20 overflow 4 reached"),
              "locked": sa_exc.OperationalError("UPDATE x", {},
                                                sqlite3.OperationalError("database is locked"))}

    def busy(*_args: Any, **_kwargs: Any) -> Any:
        raise raised[error]

    monkeypatch.setattr("gongshu.orgs.service.get_user", busy)
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["code"] == "overloaded"

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise sa_exc.OperationalError("SELECT x", {}, sqlite3.OperationalError("no such table"))

    monkeypatch.setattr("gongshu.orgs.service.get_user", broken)
    from fastapi.testclient import TestClient

    with TestClient(client.app, raise_server_exceptions=False) as quiet:
        assert quiet.get("/api/v1/me", headers=headers).status_code == 500
