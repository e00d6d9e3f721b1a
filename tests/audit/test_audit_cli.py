"""`gongshu audit verify` always gives a verdict (exit 1 and a sentence naming the first bad
event or the broken piece), never a traceback; `gongshu audit acknowledge-break`.

The chain is damaged through SQL, as an intruder with database access would; the command runs
through Typer's runner in this process, against the test's database (SQLite, and PostgreSQL
when configured)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from gongshu.audit import service
from gongshu.cli.main import build_app
from gongshu.core import audit
from gongshu.core.audit import AuditEvent
from gongshu.core.config import Settings
from gongshu.core.db import new_id
from gongshu.core.permissions import Actor
from gongshu.core.runtime import Runtime

ACTOR = Actor.system("test", via="system")


@pytest.fixture
def gongshu(settings: Settings, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("GONGSHU_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GONGSHU_DATABASE_URL", settings.effective_database_url)
    monkeypatch.delenv("GONGSHU_AUDIT_CHECKPOINT_DIR", raising=False)
    runner = CliRunner()
    app = build_app()

    def run(*args: str) -> Any:
        return runner.invoke(app, list(args), catch_exceptions=False)  # a traceback fails

    return run


def write_events(rt: Runtime, n: int) -> None:
    for i in range(n):
        with rt.db.transaction() as db:
            audit.record(db, ACTOR, "test.act", target_id=str(i))
    rt.audit_checkpoints.flush()


def said(output: str) -> str:
    """The output as one line (the console wraps long sentences)."""
    return " ".join(output.split())


def sql(rt: Runtime, statement: str, **params: object) -> None:
    with rt.db.engine.begin() as conn:
        conn.execute(text(statement), params)


def _append_without_moving_head(rt: Runtime) -> None:
    with rt.db.transaction(write=False) as db:
        last = db.scalar(select(AuditEvent.hash).where(AuditEvent.seq == 10))
    row = {"seq": 11, "id": new_id(), "occurred_at": audit.utcnow(), "actor_id": None,
           "actor_name": "intruder", "via": "web", "org_id": None, "org_path": "",
           "action": "user.grant", "target_type": "user", "target_id": "x",
           "details": audit.canonical_details({"role": "admin"}), "prev_hash": last}
    with rt.db.transaction() as db:
        db.add(AuditEvent(**row, hash=audit.event_hash(row)))


@dataclass(frozen=True)
class Broken:
    name: str
    apply: Callable[[Runtime], None]
    says: str  # the verdict's sentence (stderr)
    sqlite_only: bool = False


BROKEN = [
    Broken("head row deleted", lambda rt: sql(rt, "DELETE FROM audit_head"),
           "TAMPERED at event 11: the chain head (audit_head) is missing"),
    Broken("row appended without moving the head", _append_without_moving_head,
           "TAMPERED at event 11: events after the head (10) were added"),
    Broken("head seq moved up", lambda rt: sql(rt, "UPDATE audit_head SET seq = 15"),
           "TAMPERED at event 11: chain ends at event 10 but its head says 15"),
    Broken("head seq moved down", lambda rt: sql(rt, "UPDATE audit_head SET seq = 7"),
           "TAMPERED at event 8: events after the head (7) were added"),
    Broken("id of the wrong type (BLOB)",
           lambda rt: sql(rt, "UPDATE audit_event SET id = X'0190c0de000070008000000000000004' "
                              "WHERE seq = 4"),
           "TAMPERED at event 4: event 4 does not read: its id holds a BLOB instead of text",
           sqlite_only=True),
    Broken("event table emptied", lambda rt: sql(rt, "DELETE FROM audit_event"),
           "TAMPERED at event 1: chain ends at event 0 but its head says 10"),
    Broken("event table emptied and head reset",
           lambda rt: (sql(rt, "DELETE FROM audit_event"),
                       sql(rt, "UPDATE audit_head SET seq = 0, hash = :h", h="0" * 64)),
           "TAMPERED at event 1: events 1..10 were cut off (the signed checkpoint is at 10)"),
]


@pytest.mark.parametrize("case", BROKEN, ids=[b.name for b in BROKEN])
def test_verify_gives_a_verdict_for_every_broken_piece(
    gongshu: Any, runtime: Runtime, case: Broken
) -> None:
    if case.sqlite_only and runtime.db.dialect != "sqlite":
        pytest.skip("PostgreSQL's uuid column holds no other type")
    write_events(runtime, 10)
    assert audit.verify(runtime).ok
    case.apply(runtime)
    result = gongshu("audit", "verify")
    assert result.exit_code == 1
    assert case.says in said(result.stderr), result.stderr
    again = gongshu("audit", "verify", "--json")  # the same verdict, as JSON
    assert again.exit_code == 1 and '"ok": false' in again.stdout


def test_an_empty_chain_verifies(gongshu: Any) -> None:
    result = gongshu("audit", "verify")
    assert result.exit_code == 0 and "ok: 0 events" in result.stdout


def test_the_verdict_stands_when_it_cannot_be_recorded(
    gongshu: Any, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The verdict is printed before anything is written; recording it comes after."""
    write_events(runtime, 3)

    def record(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(service, "record_verification", record)
    result = gongshu("audit", "verify")
    assert result.exit_code == 1
    assert "ok: 3 events" in result.stdout
    assert "could not be recorded in the audit chain" in said(result.stderr)


def test_a_forged_rewrite_is_reported_and_acknowledged(gongshu: Any, runtime: Runtime) -> None:
    write_events(runtime, 10)
    with runtime.db.transaction(write=False) as db:
        events = db.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        forged = {e.seq: {c: getattr(e, c) for c in audit._COLUMNS} for e in events}
    forged[4]["action"] = "user.revoke"
    prev = forged[3]["hash"]
    for seq in range(4, 11):
        forged[seq]["prev_hash"] = prev
        forged[seq]["hash"] = prev = audit.event_hash(forged[seq])
    with runtime.db.transaction() as db:
        for seq in range(4, 11):
            e = db.get(AuditEvent, seq)
            assert e is not None
            e.action, e.prev_hash, e.hash = (forged[seq][c] for c in ("action", "prev_hash", "hash"))
    sql(runtime, "UPDATE audit_head SET hash = :h", h=prev)
    write_events(runtime, 1)  # an audited action: the forged head is not signed
    result = gongshu("audit", "verify")
    assert result.exit_code == 1 and "differs from the signed checkpoint" in said(result.stderr)
    assert gongshu("audit", "verify").exit_code == 1  # it stays reported
    refused = gongshu("audit", "acknowledge-break", "--reason", "short")
    assert refused.exit_code == 1 and "reason" in said(refused.stderr)
    done = gongshu("audit", "acknowledge-break", "--reason",
                   "event 4 was edited in the database; kept as evidence, ticket 17")
    assert done.exit_code == 0, done.output
    assert "a new signed segment starts at event" in said(done.stdout)
    ok = gongshu("audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert "acknowledged" in ok.stdout and "ticket 17" in said(ok.stdout)
    nothing = gongshu("audit", "acknowledge-break", "--reason", "nothing is wrong, just testing")
    assert nothing.exit_code == 1 and "no break to acknowledge" in said(nothing.stderr)
