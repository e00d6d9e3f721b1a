"""The delivery API: a token bound to a grant pulls that grant and nothing else (not another
entry, not other items or rows, not an inactive grant, not another body's grant)."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from gongshu.core.audit import AuditEvent
from gongshu.core.db import utcnow
from gongshu.sharing import service as sharing
from gongshu.sharing.models import GrantPull, ShareGrant
from sharing.delivery_support import issue, store

ROWS = 120


@pytest.fixture
def stored(entry: Any, people: Any, run_ingest: Any, tmp_path: Path) -> Any:
    return store(run_ingest, people, entry, tmp_path, ROWS)


def _problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


def _bound_token(client: Any, token_for: Any, member: Any, grant_id: Any) -> dict[str, str]:
    response = client.post(f"/api/v1/grants/{grant_id}/tokens", json={"name": "etl"},
                           headers=token_for(member))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["permissions"] == ["sharing.pull"]
    return {"Authorization": f"Bearer {body['token']}"}


def test_bound_token_pulls_its_grant_only(client: Any, runtime: Any, stored: Any, people: Any,
                                         make_entry: Any, run_ingest: Any, token_for: Any,
                                         tmp_path: Path) -> None:
    holder = people.outsider
    grant = issue(runtime, stored, holder, items=["XM", "YSR"],
                  row_filter=[{"item": "YSR", "op": ">", "value": 10000}])
    other_entry = store(run_ingest, people, make_entry(name="另一个登记（测试）"), tmp_path, 30,
                        seed=7)
    elsewhere = issue(runtime, other_entry, holder, items=["XM", "GMSFHM"])
    same_entry = issue(runtime, stored, holder, items=["GMSFHM"])
    bound = _bound_token(client, token_for, holder, grant.id)

    response = client.get(f"/api/v1/grants/{grant.id}/data", headers=bound)
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["columns"] == ["XM", "YSR"]  # other items do not leave
    assert all(set(r) == {"XM", "YSR"} for r in doc["rows"])
    assert all(float(r["YSR"]) > 10000 for r in doc["rows"])  # other rows do not leave
    assert 0 < int(response.headers["x-rows"]) < ROWS
    # another entry, another grant of the same entry: not for this token
    _problem(client.get(f"/api/v1/grants/{elsewhere.id}/data", headers=bound), 404,
             "grant_not_found")
    _problem(client.get(f"/api/v1/grants/{same_entry.id}/data", headers=bound), 404,
             "grant_not_found")
    # and nothing but pulling: not the library, not a token of its own
    assert client.get("/api/v1/library/datasets", headers=bound).status_code == 403
    assert client.post(f"/api/v1/grants/{grant.id}/tokens", json={"name": "again"},
                       headers=bound).status_code in (403, 404)
    # the holder's plain token pulls the other grants
    plain = token_for(holder)
    assert client.get(f"/api/v1/grants/{elsewhere.id}/data", headers=plain).status_code == 200


def test_another_bodys_staff_cannot_pull_or_make_tokens(client: Any, runtime: Any, stored: Any,
                                                       people: Any, token_for: Any) -> None:
    grant = issue(runtime, stored, people.outsider)
    for someone in (people.other_steward, people.steward):
        headers = token_for(someone)
        _problem(client.get(f"/api/v1/grants/{grant.id}/data", headers=headers), 404,
                 "grant_not_found")
        _problem(client.post(f"/api/v1/grants/{grant.id}/tokens", json={"name": "x"},
                             headers=headers), 404, "grant_not_found")
    with runtime.db.transaction(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(GrantPull)) == 0


@pytest.mark.parametrize(("change", "code"), [("revoke", "grant_revoked"),
                                              ("expire", "grant_expired")])
def test_inactive_grant_answers_a_stable_code(client: Any, runtime: Any, stored: Any, people: Any,
                                              token_for: Any, change: str, code: str) -> None:
    grant = issue(runtime, stored, people.outsider)
    bound = _bound_token(client, token_for, people.outsider, grant.id)
    with runtime.db.transaction() as db:
        if change == "revoke":
            sharing.revoke_grant(people.steward.actor, db, grant.id, reason="ended")
        else:
            db.execute(sa.update(ShareGrant).where(ShareGrant.id == grant.id).values(
                starts_at=utcnow() - dt.timedelta(days=2),
                expires_at=utcnow() - dt.timedelta(seconds=1)))
    _problem(client.get(f"/api/v1/grants/{grant.id}/data", headers=bound), 403, code)


def test_pages_formats_limit_and_audit(client: Any, runtime: Any, stored: Any, people: Any,
                                       token_for: Any) -> None:
    grant = issue(runtime, stored, people.outsider, daily_row_limit=ROWS + 10)
    bound = _bound_token(client, token_for, people.outsider, grant.id)
    url = f"/api/v1/grants/{grant.id}/data"
    first = client.get(url, params={"format": "csv", "limit": 50, "download": "true"},
                       headers=bound)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/csv")
    assert "attachment" in first.headers["content-disposition"]
    assert first.headers["x-rows"] == "50"
    cursor = first.headers["x-next-cursor"]
    second = client.get(url, params={"format": "parquet", "cursor": cursor, "limit": 1000},
                        headers=bound)
    assert second.status_code == 200
    assert second.headers["x-rows"] == str(ROWS - 50)
    assert "x-next-cursor" not in second.headers
    table = pq.read_table(io.BytesIO(second.content))
    assert table.num_rows >= ROWS - 50
    _problem(client.get(url, params={"cursor": "nonsense"}, headers=bound), 400, "cursor_invalid")
    third = client.get(url, params={"limit": 50}, headers=bound)
    assert third.headers["x-rows"] == "10"  # cut to what is left of today's limit
    _problem(client.get(url, headers=bound), 429, "daily_row_limit")
    with runtime.db.transaction(write=False) as db:
        pulls = list(db.scalars(sa.select(GrantPull).order_by(GrantPull.created_at)))
        events = list(db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "sharing.pull")))
    assert [p.rows for p in pulls] == [50, ROWS - 50, 10]
    assert [p.format for p in pulls] == ["csv", "parquet", "json"]
    assert len(events) == 3
    assert sorted(json.loads(e.details)["bytes"] for e in events) == sorted(p.bytes for p in pulls)
    assert int(first.headers["content-length"]) == len(first.content) == pulls[0].bytes
