"""Helpers of the delivery and tracing tests: a stored register, grants on it, pulls."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from gongshu.core.db import utcnow
from gongshu.sharing import delivery
from gongshu.sharing import service as sharing
from library.data import SYSTEM, register_rows, write_file

ALL_ITEMS = ["XM", "GMSFHM", "LXDH", "ZZ", "YSR", "CSRQ", "SFZZ"]


def store(run_ingest: Any, people: Any, entry: Any, tmp_path: Path, rows: int,
          seed: int = 1) -> Any:
    path = tmp_path / f"people-{rows}-{seed}.csv"
    write_file(path, register_rows(rows, seed=seed))
    done = run_ingest(people.steward.actor, entry, path)
    assert done.status == "succeeded", done.error
    return entry


def issue(runtime: Any, entry: Any, holder: Any, **changes: Any) -> Any:
    with runtime.db.transaction() as db:
        grant = sharing.issue_grant(
            SYSTEM, db, entry_id=entry.id, resource_code=entry.resource_code,
            provider_org_id=entry.provider_org_id, provider_path=entry.provider_path,
            items=changes.pop("items", ["XM", "GMSFHM", "LXDH", "YSR"]),
            holder_org_id=holder.actor.org_id, holder_path=holder.actor.org_path or "",
            expires_at=changes.pop("expires_at", utcnow() + dt.timedelta(days=30)), **changes)
        db.flush()
        db.expunge(grant)
    return grant


def pull(runtime: Any, actor: Any, grant_id: Any, **options: Any) -> tuple[Any, bytes]:
    """One recorded pull through the service: (Prepared, body)."""
    with runtime.db.transaction(write=False) as db:
        prepared = delivery.prepare_pull(actor, db, grant_id, **options)
    try:
        with runtime.db.transaction() as db:
            delivery.record_pull(actor, db, prepared)
    except BaseException:
        prepared.close()
        raise
    return prepared, b"".join(prepared.chunks())
