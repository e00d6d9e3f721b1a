"""Grant primitives: a grant confers reading its entry's granted items on its holder and on
nobody else; a revoked grant confers nothing; the library's column reader honours exactly that."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from gongshu.core.db import utcnow
from gongshu.core.errors import InvalidState, NotFound, ValidationFailed
from gongshu.library import service as library
from gongshu.sharing import service as sharing
from library.data import SYSTEM, register_rows, write_file


@pytest.fixture
def stored(entry: Any, people: Any, run_ingest: Any, tmp_path: Path) -> Any:
    path = tmp_path / "people.csv"
    write_file(path, register_rows(40))
    done = run_ingest(people.steward.actor, entry, path)
    assert done.status == "succeeded"
    return entry


def _issue(runtime: Any, entry: Any, holder: Any, **changes: Any) -> Any:
    with runtime.db.transaction() as db:
        grant = sharing.issue_grant(
            SYSTEM, db, entry_id=entry.id, resource_code=entry.resource_code,
            provider_org_id=entry.provider_org_id, provider_path=entry.provider_path,
            items=changes.pop("items", ["XM", "YSR"]), holder_org_id=holder.actor.org_id,
            holder_path=holder.actor.org_path or "", expires_at=utcnow() + dt.timedelta(days=30), **changes)
        db.flush()
        db.expunge(grant)
    return grant


def test_capability_reads_granted_columns_only_for_its_entry(runtime: Any, stored: Any,
                                                             people: Any) -> None:
    holder = people.outsider
    grant = _issue(runtime, stored, holder)
    with runtime.db.transaction(write=False) as db:
        with pytest.raises(NotFound):
            library.read_columns(holder.actor, db, entry_id=stored.id, columns=["XM"])
        actor = holder.actor.with_capabilities(sharing.capability(grant))
        stream = library.read_columns(actor, db, entry_id=stored.id, columns=["XM", "YSR"],
                                      where=[("YSR", ">", 0)])
        table = stream.batches.read_all()
        assert table.column_names == ["XM", "YSR"]
        assert 0 < table.num_rows <= 40
        with pytest.raises(ValidationFailed):
            library.read_columns(actor, db, entry_id=stored.id, columns=["NOPE"])


def test_bound_token_actor_holds_only_its_object(runtime: Any, stored: Any, people: Any) -> None:
    from dataclasses import replace

    grant = _issue(runtime, stored, people.outsider)
    other = _issue(runtime, stored, people.outsider)
    actor = replace(people.outsider.actor, token_object=("share_grant", grant.id),
                    token_perms=frozenset({"sharing.pull"}))
    assert sharing.may_pull(actor, grant)
    assert not sharing.may_pull(actor, other)
    assert not actor.can("catalog.read")
    assert actor.can("sharing.pull")  # a data steward holds it, and the token allows it
    assert not actor.can("library.ingest")  # the user holds it, the token does not


def test_revoke_needs_provider_or_bureau_and_reason(runtime: Any, stored: Any, people: Any) -> None:
    grant = _issue(runtime, stored, people.outsider)
    with runtime.db.transaction() as db, pytest.raises(NotFound):
        sharing.revoke_grant(people.other_steward.actor, db, grant.id, reason="x")
    with runtime.db.transaction() as db, pytest.raises(ValidationFailed):
        sharing.revoke_grant(people.steward.actor, db, grant.id, reason=" ")
    with runtime.db.transaction() as db:
        assert sharing.revoke_grant(people.steward.actor, db, grant.id,
                                    reason="scenario ended").status == "revoked"
    with runtime.db.transaction() as db, pytest.raises(InvalidState):
        sharing.revoke_grant(people.steward.actor, db, grant.id, reason="again")
