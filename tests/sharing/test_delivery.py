"""Delivery (Art. 12): only granted items and rows leave, masked unless granted in clear; every
pull leaves one audit event and one GrantPull row; the day's row limit holds; a revoked,
suspended or expired grant delivers nothing."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from gongshu.core import identifiers as ids
from gongshu.core.audit import AuditEvent
from gongshu.core.db import utcnow
from gongshu.core.errors import BadRequest, NotFound, PermissionDenied, TooManyRequests
from gongshu.sharing import delivery
from gongshu.sharing import service as sharing
from gongshu.sharing.models import GrantPull, ShareGrant
from library.data import SYSTEM
from sharing.delivery_support import issue, pull, store

ROWS = 300


@pytest.fixture
def stored(entry: Any, people: Any, run_ingest: Any, tmp_path: Path) -> Any:
    return store(run_ingest, people, entry, tmp_path, ROWS)


def _rows(body: bytes) -> list[dict[str, Any]]:
    return json.loads(body)["rows"]


def _is_real_id(value: str) -> bool:
    return len(value) == 18 and ids.is_valid_cn_id(value)


def _events(runtime: Any, action: str = "sharing.pull") -> list[Any]:
    with runtime.db.transaction(write=False) as db:
        return list(db.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)
                               .order_by(AuditEvent.seq)))


def _pulls(runtime: Any) -> list[Any]:
    with runtime.db.transaction(write=False) as db:
        return list(db.scalars(sa.select(GrantPull).order_by(GrantPull.created_at)))


def test_only_granted_items_masked_unless_in_clear(runtime: Any, stored: Any, people: Any) -> None:
    grant = issue(runtime, stored, people.outsider, items=["XM", "GMSFHM", "LXDH", "YSR"],
                  clear_items=["GMSFHM"])
    prepared, body = pull(runtime, people.outsider.actor, grant.id, format="json")
    doc = json.loads(body)
    assert doc["columns"] == ["XM", "GMSFHM", "LXDH", "YSR"]
    rows = doc["rows"]
    assert all(set(r) == {"XM", "GMSFHM", "LXDH", "YSR"} for r in rows)
    assert prepared.rows == ROWS and len(rows) == ROWS + prepared.canaries
    assert prepared.canaries == 8 and doc["next_cursor"] is None
    real = [r for r in rows if _is_real_id(r["GMSFHM"])]
    assert len(real) == ROWS  # in clear: every real ID number, unchanged
    # canaries: ID numbers that fail their check character, never a real person
    fake = [r for r in rows if not _is_real_id(r["GMSFHM"])]
    assert len(fake) == 8 and all(len(r["GMSFHM"]) == 18 for r in fake)
    assert all("****" in r["LXDH"] for r in rows)  # mobile numbers masked
    assert all("*" in r["XM"] for r in rows)  # names masked


def test_row_filter_keeps_only_granted_rows(runtime: Any, stored: Any, people: Any) -> None:
    grant = issue(runtime, stored, people.outsider, items=["XM", "YSR", "SFZZ"],
                  row_filter=[{"item": "SFZZ", "op": "=", "value": True},
                              {"item": "YSR", "op": ">", "value": 10000}])
    prepared, body = pull(runtime, people.outsider.actor, grant.id, format="json")
    rows = _rows(body)
    assert rows and {r["SFZZ"] for r in rows} == {True}
    assert all(float(r["YSR"]) > 10000 for r in rows)  # the canaries pass the filter too
    assert 0 < prepared.rows < ROWS


def test_every_pull_leaves_one_event_and_one_pull_row(runtime: Any, stored: Any,
                                                      people: Any) -> None:
    grant = issue(runtime, stored, people.outsider)
    for fmt in ("json", "csv", "parquet", "ndjson", "xlsx"):
        pull(runtime, people.outsider.actor, grant.id, format=fmt)
    events = _events(runtime)
    pulls = _pulls(runtime)
    assert len(events) == len(pulls) == 5
    assert [p.format for p in pulls] == ["json", "csv", "parquet", "ndjson", "xlsx"]
    for event, p in zip(events, pulls, strict=True):
        details = json.loads(event.details)
        assert event.target_id == str(grant.id)
        assert details["rows"] == p.rows == ROWS
        assert details["bytes"] == p.bytes > 0
        assert details["pull_id"] == str(p.id)
        assert event.actor_name == people.outsider.actor.username


def test_formats_carry_the_same_rows(runtime: Any, stored: Any, people: Any) -> None:
    grant = issue(runtime, stored, people.outsider, items=["GMSFHM", "YSR"],
                  clear_items=["GMSFHM"])
    actor = people.outsider.actor
    ids_json = [r["GMSFHM"] for r in _rows(pull(runtime, actor, grant.id, format="json")[1])]
    table = pq.read_table(io.BytesIO(pull(runtime, actor, grant.id, format="parquet")[1]))
    assert table.column("GMSFHM").to_pylist() == ids_json
    csv_text = pull(runtime, actor, grant.id, format="csv")[1].decode("utf-8")
    assert [line.split(",")[0].strip('"') for line in csv_text.splitlines()[1:]] == ids_json
    nd = pull(runtime, actor, grant.id, format="ndjson")[1].decode().splitlines()
    assert [json.loads(line)["GMSFHM"] for line in nd] == ids_json


def test_pages_by_cursor_add_up_to_the_whole(runtime: Any, stored: Any, people: Any) -> None:
    grant = issue(runtime, stored, people.outsider)
    actor = people.outsider.actor
    whole = _rows(pull(runtime, actor, grant.id, format="json")[1])
    pages: list[dict[str, Any]] = []
    cursor = None
    while True:
        prepared, body = pull(runtime, actor, grant.id, format="json", cursor=cursor, limit=70)
        pages.extend(_rows(body))
        cursor = json.loads(body)["next_cursor"]
        assert cursor == prepared.next_cursor
        if cursor is None:
            break
    assert pages == whole
    with runtime.db.transaction(write=False) as db, pytest.raises(BadRequest) as bad:
        delivery.prepare_pull(actor, db, grant.id, cursor=cursor or "x.y")
    assert bad.value.code == "cursor_invalid"
    other = issue(runtime, stored, people.outsider)
    _, body = pull(runtime, actor, grant.id, format="json", limit=70)
    foreign = json.loads(body)["next_cursor"]
    with runtime.db.transaction(write=False) as db, pytest.raises(BadRequest):
        delivery.prepare_pull(actor, db, other.id, cursor=foreign)  # another grant's cursor


@pytest.mark.parametrize(("change", "code"), [
    ("revoke", "grant_revoked"),
    ("suspend", "grant_suspended"),
    ("expire", "grant_expired"),
])
def test_inactive_grants_deliver_nothing(runtime: Any, stored: Any, people: Any, change: str,
                                         code: str) -> None:
    grant = issue(runtime, stored, people.outsider)
    with runtime.db.transaction() as db:
        if change == "revoke":
            sharing.revoke_grant(people.steward.actor, db, grant.id, reason="ended")
        elif change == "suspend":
            db.execute(sa.update(ShareGrant).where(ShareGrant.id == grant.id)
                       .values(status="suspended"))
        else:
            db.execute(sa.update(ShareGrant).where(ShareGrant.id == grant.id)
                       .values(starts_at=utcnow() - dt.timedelta(days=2),
                               expires_at=utcnow() - dt.timedelta(seconds=1)))
    with runtime.db.transaction(write=False) as db, pytest.raises(PermissionDenied) as denied:
        delivery.prepare_pull(people.outsider.actor, db, grant.id)
    assert denied.value.code == code
    assert _pulls(runtime) == [] and _events(runtime) == []


def test_revoked_between_prepare_and_record_is_refused(runtime: Any, stored: Any,
                                                       people: Any) -> None:
    grant = issue(runtime, stored, people.outsider)
    with runtime.db.transaction(write=False) as db:
        prepared = delivery.prepare_pull(people.outsider.actor, db, grant.id)
    with runtime.db.transaction() as db:
        sharing.revoke_grant(people.steward.actor, db, grant.id, reason="ended")
    with runtime.db.transaction() as db, pytest.raises(PermissionDenied):
        delivery.record_pull(people.outsider.actor, db, prepared)
    prepared.close()
    assert _pulls(runtime) == [] and _events(runtime) == []


def test_another_bodys_grant_is_not_found(runtime: Any, stored: Any, people: Any) -> None:
    grant = issue(runtime, stored, people.outsider)
    for someone in (people.other_steward, people.steward, people.nobody):
        with runtime.db.transaction(write=False) as db, pytest.raises(NotFound):
            delivery.prepare_pull(someone.actor, db, grant.id)


def test_daily_row_limit(runtime: Any, stored: Any, people: Any) -> None:
    grant = issue(runtime, stored, people.outsider, daily_row_limit=ROWS + 50)
    actor = people.outsider.actor
    first, _ = pull(runtime, actor, grant.id)
    assert first.rows == ROWS
    second, _ = pull(runtime, actor, grant.id)  # cut to what is left today
    assert second.rows == 50 and second.next_cursor is not None
    with pytest.raises(TooManyRequests) as refused:
        pull(runtime, actor, grant.id)
    assert refused.value.code == "daily_row_limit"
    assert [p.rows for p in _pulls(runtime)] == [ROWS, 50]
    # two pulls prepared against the same allowance: the second to record is refused
    limited = issue(runtime, stored, people.outsider, daily_row_limit=ROWS)
    with runtime.db.transaction(write=False) as db:
        a = delivery.prepare_pull(actor, db, limited.id)
        b = delivery.prepare_pull(actor, db, limited.id)
    with runtime.db.transaction() as db:
        delivery.record_pull(actor, db, a)
    with runtime.db.transaction() as db, pytest.raises(TooManyRequests):
        delivery.record_pull(actor, db, b)
    a.close()
    b.close()
    assert len(_events(runtime)) == 3


def test_cli_pull_writes_what_the_api_delivers(runtime: Any, stored: Any, people: Any,
                                              tmp_path: Path) -> None:
    grant = issue(runtime, stored, people.outsider)
    api = _rows(pull(runtime, people.outsider.actor, grant.id, format="json")[1])
    out = tmp_path / "copy.json"
    done = delivery.pull_to_file(SYSTEM, runtime.db, grant.id, out, format="json")
    assert _rows(out.read_bytes()) == api
    assert done.rows == ROWS and done.via == "cli"
    events = _events(runtime)
    assert len(events) == 2 and json.loads(events[-1].details)["via"] == "cli"
    assert list(tmp_path.glob(".copy.json.part-*")) == []


def test_both_json_writers_write_the_same() -> None:
    import decimal

    n = 5000
    batch = pa.RecordBatch.from_pydict({
        "s": [f'名{i}"\\\n' for i in range(n)],
        "d": pa.array([decimal.Decimal(f"{i}.50") for i in range(n)], pa.decimal128(10, 2)),
        "day": pa.array([dt.date(2001, 1, 2)] * n),
        "b": pa.array([True, None] * (n // 2)),
        "i": pa.array(range(n)),
    })
    batch = delivery._jsonable(batch)
    assert n >= delivery.JSON_DUCKDB_ROWS > 1000
    big = delivery._json_rows(batch, b",")  # DuckDB
    small = b"".join(delivery._json_rows(batch.slice(i, 1000), b",") for i in range(0, n, 1000))
    assert big == small
    rows = json.loads(b"[" + big[:-1] + b"]")
    assert rows[3] == {"s": '名3"\\\n', "d": "3.50", "day": "2001-01-02", "b": None, "i": 3}


def test_a_cached_page_is_still_checked_limited_and_audited(runtime: Any, stored: Any,
                                                           people: Any) -> None:
    grant = issue(runtime, stored, people.outsider, daily_row_limit=60)
    actor = people.outsider.actor
    first = pull(runtime, actor, grant.id, limit=20)[1]
    again = pull(runtime, actor, grant.id, limit=20)[1]  # served from the page cache
    assert first == again
    assert len(_events(runtime)) == len(_pulls(runtime)) == 2
    with runtime.db.transaction() as db:
        sharing.revoke_grant(people.steward.actor, db, grant.id, reason="ended")
    with pytest.raises(PermissionDenied):
        pull(runtime, actor, grant.id, limit=20)
    assert len(_events(runtime)) == 2


def test_last_pulled_at_is_kept_to_the_minute(runtime: Any, stored: Any, people: Any) -> None:
    grant = issue(runtime, stored, people.outsider)
    pull(runtime, people.outsider.actor, grant.id, limit=5)
    with runtime.db.transaction(write=False) as db:
        first = db.get(ShareGrant, grant.id)
        assert first is not None and first.last_pulled_at is not None
        stamp, version = first.last_pulled_at, first.version
    pull(runtime, people.outsider.actor, grant.id, limit=5)
    with runtime.db.transaction(write=False) as db:
        again = db.get(ShareGrant, grant.id)
        assert again is not None and (again.last_pulled_at, again.version) == (stamp, version)
