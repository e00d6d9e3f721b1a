"""The catalog's workflows over real processes (issue 13): two ``gongshu serve`` processes
and a ``gongshu worker`` on one PostgreSQL database (one process on SQLite), hammered the way
the issue's trial did. Before the row locks and constraints, 100 concurrent edits of one draft
turned its items into hundreds, 20 approvals all succeeded, revisions answered 500 (duplicate
key) and creates stalled into 500s. Now: no 5xx ever; edits all land and keep the items; one
approval and one revision win and the others answer 409 with a code; every create lands.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest

from catalog.conftest import VALID_ENTRY, patched
from servers import Processes

pytestmark = pytest.mark.slow


@pytest.fixture
def platform(runtime: Any, backend: str) -> Any:
    with Processes(runtime) as procs:
        if backend == "postgresql":
            base = procs.web(workers=2, web_threads=6)
            procs.worker()
        else:
            base = procs.web()
        yield base


async def _all(base: str, calls: list[tuple[str, str, dict[str, str], Any]]) -> list[Any]:
    limits = httpx.Limits(max_connections=len(calls) + 5)
    async with httpx.AsyncClient(base_url=base, timeout=180, limits=limits) as client:
        return list(await asyncio.gather(*[
            client.request(method, url, headers=headers, json=body)
            for method, url, headers, body in calls]))


def _statuses(responses: list[Any]) -> Counter[int]:
    statuses = Counter(r.status_code for r in responses)
    assert not [s for s in statuses if s >= 500], (statuses, [
        r.text[:300] for r in responses if r.status_code >= 500][:3])
    return statuses


def test_catalog_workflows_over_processes(platform: str, people: Any, token_for: Any) -> None:
    base = platform
    editor, reviewer = token_for(people.editor), token_for(people.reviewer)
    entries = f"{base}/api/v1/catalog/entries"

    # 100 concurrent edits of one draft: all land (they queue on its row), items stay as they were
    created = httpx.post(entries, headers=editor, json=VALID_ENTRY, timeout=60)
    assert created.status_code == 201, created.text
    entry = created.json()
    items = [(i["code"], i["name"]) for i in entry["items"]]
    edits = [("PUT", f"{entries}/{entry['id']}", editor,
              patched(VALID_ENTRY, {"name": f"常住人口基本信息{i}"})) for i in range(100)]
    assert _statuses(asyncio.run(_all(base, edits))) == {200: 100}
    after = httpx.get(f"{entries}/{entry['id']}", headers=editor, timeout=30).json()
    assert [(i["code"], i["name"]) for i in after["items"]] == items
    # the draft still takes a submission afterwards
    submitted = httpx.post(f"{entries}/{entry['id']}/submit", headers=editor, timeout=30)
    assert submitted.status_code == 200, submitted.text

    # 20 concurrent approvals of that submission: one wins, the others are told it moved on
    approvals = [("POST", f"{entries}/{entry['id']}/approve", reviewer, {}) for _ in range(20)]
    responses = asyncio.run(_all(base, approvals))
    assert _statuses(responses) == {200: 1, 409: 19}
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"catalog_wrong_state"}
    reviews = httpx.get(f"{entries}/{entry['id']}/reviews", headers=reviewer, timeout=30).json()
    assert [r["action"] for r in reviews].count("approve") == 1, reviews

    # 20 concurrent revisions of the published entry: one working version, no duplicate key
    revisions = [("POST", f"{entries}/{entry['id']}/revise", editor, {"change_note": f"r{i}"})
                 for i in range(20)]
    responses = asyncio.run(_all(base, revisions))
    assert _statuses(responses) == {200: 1, 409: 19}
    versions = httpx.get(f"{entries}/{entry['id']}/versions", headers=editor, timeout=30).json()
    assert len(versions) == 2

    # 50 concurrent creates: every one lands with its own resource code
    creates = [("POST", entries, editor, patched(VALID_ENTRY, {"name": f"企业年报信息{i}"}))
               for i in range(50)]
    responses = asyncio.run(_all(base, creates))
    assert _statuses(responses) == {201: 50}
    codes = {r.json()["resource_code"] for r in responses}
    assert len(codes) == 50
