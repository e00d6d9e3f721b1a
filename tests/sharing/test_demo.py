"""The demo province's sharing: requests in every state (some overdue, one escalated), grants
with usage history, more than twenty active grants on one entry with data, and work waiting
for the demo logins. Reads a copy of the demo built once per session (``demo_province``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gongshu.core.permissions import Actor
from gongshu.orgs import service as orgs
from gongshu.sharing import service


@pytest.fixture
def demo(demo_province: Any, tmp_path: Path) -> Iterator[Any]:
    runtime = demo_province.fresh(tmp_path / "data")
    yield runtime
    runtime.close()


def test_demo_sharing(demo: Any) -> None:
    system = Actor.system("test")
    with demo.db.transaction(write=False) as db:
        rows, total = service.list_requests(system, db, limit=1000)
        assert {r.status for r in rows} == {"bureau_check", "provider_review", "coordination",
                                            "granted", "refused", "withdrawn"}
        assert any(service.is_overdue(r) for r in rows)
        assert any(r.escalation_level for r in rows)
        by_entry: dict[Any, set[Any]] = {}
        for u in service.usage_by_grant(system, db, limit=10_000):
            if u.status == "active":
                by_entry.setdefault(u.grant.entry_id, set()).add(u.grant.holder_org_id)
        entry_id, holders = max(by_entry.items(), key=lambda kv: len(kv[1]))
        assert len(holders) >= 20
        from gongshu.library import service as library

        dataset = library.dataset_for_entry(system, db, entry_id)
        assert dataset is not None and dataset.current_version_id is not None
        uses = service.usage_by_grant(system, db, entry_id=entry_id)
        assert sum(u.pulls for u in uses) > 100 and any(u.unused for u in uses)
        # the demo logins have work
        requester = orgs.actor_for_user(orgs.find_user(db, "requester"))
        assert service.list_requests(requester, db, box="mine", open_only=True)[1] >= 3
        assert len(service.list_grants(requester, db, held=True, status="active")) >= 2
        steward = orgs.actor_for_user(orgs.find_user(db, "steward"))
        assert service.list_requests(steward, db, box="inbox", overdue=True)[1] >= 1
        reviewer = orgs.actor_for_user(orgs.find_user(db, "reviewer"))
        assert service.list_requests(reviewer, db, box="queue", open_only=True)[1] >= 2
