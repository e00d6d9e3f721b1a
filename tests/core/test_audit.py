"""The audit chain (Arts. 12, 41-44): events commit with their change, and tampering is found.

Every tampering case edits the database directly through SQL, as an intruder with database
access would, then checks that ``verify`` fails and names the first bad event.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, text

from gongshu.core import audit
from gongshu.core.audit import AuditEvent, AuditHead, Checkpoint
from gongshu.core.config import Settings
from gongshu.core.db import new_id
from gongshu.core.permissions import Actor
from gongshu.core.runtime import Runtime
from gongshu.orgs.models import Organization

ACTOR = Actor(
    username="zhang.wei",
    display_name="张伟",
    user_id=uuid.UUID("0190c0de-0000-7000-8000-000000000001"),
    org_id=uuid.UUID("0190c0de-0000-7000-8000-0000000000aa"),
    org_path="/0190c0de00007000800000000000000aa/",
    via="api",
)


# ----------------------------------------------------------------------------------- helpers


def write_events(runtime: Runtime, n: int, *, per_commit: int = 1, prefix: str = "test") -> None:
    """``n`` audited transactions of ``per_commit`` events each, then sign the head."""
    for i in range(n):
        with runtime.db.transaction() as db:
            for j in range(per_commit):
                audit.record(
                    db,
                    ACTOR,
                    f"{prefix}.act",
                    target_type="thing",
                    target_id=f"{i}-{j}",
                    details={"i": i, "j": j, "名称": "太原"},
                )
    runtime.audit_checkpoints.flush()


def sql(runtime: Runtime, statement: str, **params: object) -> None:
    with runtime.db.engine.begin() as conn:
        conn.execute(text(statement), params)


def event_count(runtime: Runtime) -> int:
    with runtime.db.transaction(write=False) as db:
        return db.scalar(select(func.count()).select_from(AuditEvent)) or 0


def head(runtime: Runtime) -> tuple[int, str]:
    with runtime.db.transaction(write=False) as db:
        row = db.execute(select(AuditHead.seq, AuditHead.hash)).one()
        return row.seq, row.hash


def event_id(runtime: Runtime, seq: int) -> str:
    with runtime.db.transaction(write=False) as db:
        return str(db.scalar(select(AuditEvent.id).where(AuditEvent.seq == seq)))


def logged(runtime: Runtime) -> list[dict]:
    """The entries of the checkpoint log (checked: it must read)."""
    found = runtime.audit_checkpoints.read_log(runtime.keys.verify_key("audit"))
    assert found is not None and found.problem is None, found
    return found.entries


def first_signed(runtime: Runtime, seq: int) -> int:
    """The first event at or after ``seq`` whose head was signed (the signer thread decides)."""
    return min(e["seq"] for e in logged(runtime) if e["kind"] == "checkpoint" and e["seq"] >= seq)


def new_org(name: str) -> Organization:
    org_id = new_id()
    return Organization(id=org_id, name=name, kind="public_body", path=f"/{org_id.hex}/")


def shift_seqs(runtime: Runtime, *, from_seq: int, by: int) -> None:
    """Renumber events from ``from_seq`` on (two steps: primary keys are checked per row)."""
    sql(runtime, "UPDATE audit_event SET seq = seq + 1000000 WHERE seq >= :s", s=from_seq)
    sql(runtime, "UPDATE audit_event SET seq = seq - 1000000 + :by WHERE seq >= 1000000", by=by)


def recompute_from(runtime: Runtime, seq: int) -> None:
    """What an intruder who knows the hash definition does after an edit: re-chain the rest."""
    with runtime.db.transaction() as db:
        rows = db.scalars(select(AuditEvent).where(AuditEvent.seq >= seq).order_by(AuditEvent.seq))
        prev = db.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq - 1))
        for ev in rows:
            ev.prev_hash = prev
            ev.hash = prev = audit.event_hash({c: getattr(ev, c) for c in audit._COLUMNS})
        db.execute(
            AuditHead.__table__.update().values(
                hash=prev, seq=db.scalar(select(func.max(AuditEvent.seq)))
            )
        )


# ------------------------------------------------------------------------ hash and encoding


def test_sm3_matches_the_standard_test_vector() -> None:
    # GB/T 32905-2016, example 1
    assert audit.sm3_hex(b"abc") == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )


def test_event_hash_follows_the_documented_definition() -> None:
    row = {
        "seq": 7,
        "id": uuid.UUID("01900000-0000-7000-8000-000000000007"),
        "occurred_at": dt.datetime(2025, 3, 1, 8, 30, 0, 5, tzinfo=dt.UTC),
        "actor_id": None,
        "actor_name": "李娜",
        "via": "web",
        "org_id": None,
        "org_path": "",
        "action": "catalog.publish",
        "target_type": "catalog_entry",
        "target_id": "42",
        "details": audit.canonical_details({"b": 1, "a": "晋"}),
        "prev_hash": "ab" * 32,
    }
    expected_bytes = (
        b'gongshu.audit.v2\n[7,"01900000000070008000000000000007",'
        b'"2025-03-01 08:30:00.000005","","\xe6\x9d\x8e\xe5\xa8\x9c","web","","",'
        b'"catalog.publish","catalog_entry","42","{\\"a\\":\\"\xe6\x99\x8b\\",\\"b\\":1}",'
        + b'"'
        + b"ab" * 32
        + b'"]'
    )
    assert audit.event_hash(row) == audit.sm3_hex(expected_bytes)


# ------------------------------------------------------------------- recording and commit


def test_event_is_written_with_the_change_in_one_commit(runtime: Runtime) -> None:
    with runtime.db.transaction() as db:
        org = new_org("太原市数据局")
        db.add(org)
        db.flush()
        audit.record(
            db,
            ACTOR,
            "org.create",
            target_type="organization",
            target_id=org.id,
            details={"name": org.name},
        )
        assert event_count(runtime) == 0  # not visible before the commit
    with runtime.db.transaction(write=False) as db:
        ev = db.scalars(select(AuditEvent)).one()
        assert db.get(Organization, org.id) is not None
    assert (ev.seq, ev.action, ev.target_id) == (1, "org.create", str(org.id))
    assert (ev.actor_id, ev.actor_name, ev.via) == (ACTOR.user_id, "zhang.wei", "api")
    assert (ev.org_id, ev.org_path) == (ACTOR.org_id, ACTOR.org_path)
    assert ev.details_dict == {"name": "太原市数据局"}
    assert ev.prev_hash == audit.GENESIS_HASH
    assert head(runtime) == (1, ev.hash)
    assert ev.occurred_at.tzinfo is not None


def test_events_read_back_through_the_orm_hash_to_their_stored_hash(runtime: Runtime) -> None:
    """The append writes through the driver; the ORM must read back exactly what was hashed."""
    write_events(runtime, 3, per_commit=2)
    with runtime.db.transaction(write=False) as db:
        events = db.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
    for ev in events:
        assert audit.event_hash({c: getattr(ev, c) for c in audit._COLUMNS}) == ev.hash
        assert isinstance(ev.id, uuid.UUID) and ev.actor_id == ACTOR.user_id


def test_rollback_writes_no_event_and_leaves_the_head(runtime: Runtime) -> None:
    write_events(runtime, 2)
    before = head(runtime)
    with pytest.raises(RuntimeError), runtime.db.transaction() as db:
        db.add(new_org("阳泉市数据局"))
        audit.record(db, ACTOR, "org.create")
        raise RuntimeError("the service failed after recording")
    assert event_count(runtime) == 2
    assert head(runtime) == before
    with runtime.db.transaction(write=False) as db:
        assert db.scalar(select(func.count()).select_from(Organization)) == 0
    assert audit.verify(runtime).ok


def test_a_change_that_fails_at_commit_writes_no_event(runtime: Runtime) -> None:
    org = new_org("大同市数据局")
    with runtime.db.transaction() as db:
        db.add(org)
    clash = Organization(id=new_id(), name="另一个", kind="public_body", path=org.path)
    with pytest.raises(Exception, match="(?i)unique|duplicate"), runtime.db.transaction() as db:
        db.add(clash)  # flushed only at commit, after the event was queued
        audit.record(db, ACTOR, "org.create", target_id=clash.id)
    assert event_count(runtime) == 0
    assert head(runtime) == (0, audit.GENESIS_HASH)


def test_events_of_a_rolled_back_savepoint_go_and_the_others_stay(runtime: Runtime) -> None:
    with runtime.db.transaction() as db:
        audit.record(db, ACTOR, "outer.before")
        with pytest.raises(ValueError), db.begin_nested():
            audit.record(db, ACTOR, "inner.rolled_back")
            raise ValueError
        with db.begin_nested():
            audit.record(db, ACTOR, "inner.kept")
        audit.record(db, ACTOR, "outer.after")
    with runtime.db.transaction(write=False) as db:
        actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions == ["outer.before", "inner.kept", "outer.after"]


def test_a_released_savepoint_is_not_a_commit(runtime: Runtime) -> None:
    """SQLAlchemy fires the commit events when a SAVEPOINT is released too: the events wait for
    the real commit, nothing is offered for signing before it, and a rollback after the release
    leaves no event, no checkpoint and no break (the demo once logged a false break so)."""
    from gongshu.core.db import on_commit

    ran: list[str] = []
    with pytest.raises(ValueError), runtime.db.transaction() as db:
        audit.record(db, ACTOR, "outer.before")
        on_commit(db, lambda: ran.append("outer"))
        with db.begin_nested():
            audit.record(db, ACTOR, "inner.released")
        assert runtime.audit_checkpoints._pending is None  # noqa: SLF001 - nothing offered yet
        assert ran == []
        raise ValueError
    assert head(runtime) == (0, audit.GENESIS_HASH) and ran == []
    write_events(runtime, 1)  # the next real commit signs cleanly
    report = audit.verify(runtime)
    assert report.ok and not report.acknowledged, report.reason
    assert runtime.audit_checkpoints.read().seq == 1


def test_a_transaction_without_events_leaves_the_chain_alone(runtime: Runtime) -> None:
    with runtime.db.transaction() as db:
        db.add(new_org("晋城市数据局"))
    assert head(runtime) == (0, audit.GENESIS_HASH)
    assert runtime.audit_checkpoints.read() is None


# ------------------------------------------------------------------------------ verification


def test_clean_chain_verifies(runtime: Runtime) -> None:
    write_events(runtime, 6, per_commit=2)
    seen: list[tuple[int, int]] = []
    report = audit.verify(runtime, progress=lambda done, total: seen.append((done, total)))
    assert report.ok, report.reason
    assert (report.events_checked, report.head_seq, report.checkpoint_seq) == (12, 12, 12)
    assert report.unattested == 0
    assert seen[-1] == (12, 12)


def test_empty_chain_verifies(runtime: Runtime) -> None:
    report = audit.verify(runtime)
    assert report.ok and report.events_checked == 0


def test_checkpoint_is_signed_and_moves_only_forward(runtime: Runtime) -> None:
    write_events(runtime, 3)
    cp = runtime.audit_checkpoints.read()
    assert cp is not None and (cp.seq, cp.hash) == head(runtime)
    assert audit.checkpoint_signature_ok(cp, runtime.keys.verify_key("audit"))
    runtime.audit_checkpoints.advance(1, "0" * 64)  # an older head: ignored
    runtime.audit_checkpoints.flush()
    assert runtime.audit_checkpoints.read() == cp


def test_checkpoint_written_by_another_process_is_not_moved_back(runtime: Runtime) -> None:
    write_events(runtime, 2)
    other = audit.CheckpointStore(
        runtime.settings.audit_checkpoint_path, lambda: runtime.keys.signing_key("audit")
    )
    other.advance(1, "f" * 64)
    other.flush()
    assert runtime.audit_checkpoints.read().seq == 2  # type: ignore[union-attr]


def _wait_for_checkpoint(store: audit.CheckpointStore, seq: int) -> Checkpoint | None:
    """The checkpoint once it reaches ``seq`` (the signer thread writes it), or None after 10 s."""
    for _ in range(1000):
        cp = store.read()
        if cp is not None and cp.seq >= seq:
            return cp
        threading.Event().wait(0.01)
    return None


def test_commits_are_signed_by_the_signer_thread_without_a_flush(runtime: Runtime) -> None:
    with runtime.db.transaction() as db:
        audit.record(db, ACTOR, "test.act")
    cp = _wait_for_checkpoint(runtime.audit_checkpoints, 1)
    assert cp is not None and (cp.seq, cp.hash) == head(runtime)
    assert audit.checkpoint_signature_ok(cp, runtime.keys.verify_key("audit"))


def test_close_writes_the_head_still_waiting_for_its_interval(runtime: Runtime) -> None:
    store = audit.CheckpointStore(
        runtime.settings.audit_checkpoint_path,
        lambda: runtime.keys.signing_key("audit"),
        interval=3600,
    )
    store.advance(1, "a" * 64)  # signed at once: the first of its interval
    assert _wait_for_checkpoint(store, 1) is not None
    store.advance(2, "b" * 64)  # waits for the interval
    store.close()
    cp = store.read()
    assert cp is not None and (cp.seq, cp.hash) == (2, "b" * 64)
    store.advance(3, "c" * 64)  # after close: signed synchronously
    assert store.read().seq == 3  # type: ignore[union-attr]


def test_an_idle_signer_ends_and_the_next_commit_starts_another(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit.CheckpointStore, "_SIGNER_IDLE", 0.5)
    store = runtime.audit_checkpoints
    with runtime.db.transaction() as db:
        audit.record(db, ACTOR, "test.act")
    first = store._signer
    assert first is not None
    first.join(10)
    assert not first.is_alive() and store._signer is None
    with runtime.db.transaction() as db:
        audit.record(db, ACTOR, "test.act")
    assert _wait_for_checkpoint(store, 2) is not None


@dataclass(frozen=True)
class Tamper:
    name: str
    apply: Callable[[Runtime], None]
    bad_seq: int | None | Callable[[Runtime], int]
    reason: str
    names_event: bool = True  # the report carries the id of the event found at bad_seq


def _edit(column: str, value: str) -> Callable[[Runtime], None]:
    return lambda rt: sql(rt, f"UPDATE audit_event SET {column} = :v WHERE seq = 4", v=value)


def _occurred_at_plus_one_second(rt: Runtime) -> None:
    if rt.db.dialect == "sqlite":
        sql(
            rt,
            "UPDATE audit_event SET occurred_at = "
            "strftime('%Y-%m-%d %H:%M:%f000', occurred_at, '+1 second') WHERE seq = 4",
        )
    else:
        sql(
            rt,
            "UPDATE audit_event SET occurred_at = occurred_at + interval '1 second' WHERE seq = 4",
        )


def _forged_row(rt: Runtime, *, seq: int, prev_hash: str, correct_hash: bool) -> dict:
    row = {
        "seq": seq,
        "id": new_id(),
        "occurred_at": audit.utcnow(),
        "actor_id": None,
        "actor_name": "intruder",
        "via": "web",
        "org_id": None,
        "org_path": "",
        "action": "user.grant",
        "target_type": "user",
        "target_id": "x",
        "details": audit.canonical_details({"role": "admin"}),
        "prev_hash": prev_hash,
    }
    row["hash"] = audit.event_hash(row) if correct_hash else "e" * 64
    return row


def _insert_row(rt: Runtime, row: dict) -> None:
    with rt.db.transaction() as db:
        db.add(AuditEvent(**row))


def _insert_forged_in_middle(*, correct_hash: bool) -> Callable[[Runtime], None]:
    def apply(rt: Runtime) -> None:
        with rt.db.transaction(write=False) as db:
            prev = db.scalar(select(AuditEvent.hash).where(AuditEvent.seq == 3))
        shift_seqs(rt, from_seq=4, by=1)
        _insert_row(rt, _forged_row(rt, seq=4, prev_hash=prev, correct_hash=correct_hash))
        sql(rt, "UPDATE audit_head SET seq = seq + 1")

    return apply


def _append_forged_without_moving_head(rt: Runtime) -> None:
    seq, last = head(rt)
    _insert_row(rt, _forged_row(rt, seq=seq + 1, prev_hash=last, correct_hash=True))


def _swap(a: int, b: int) -> Callable[[Runtime], None]:
    def apply(rt: Runtime) -> None:
        sql(rt, "UPDATE audit_event SET seq = -1 WHERE seq = :a", a=a)
        sql(rt, "UPDATE audit_event SET seq = :a WHERE seq = :b", a=a, b=b)
        sql(rt, "UPDATE audit_event SET seq = :b WHERE seq = -1", b=b)

    return apply


def _delete_middle_and_close_gap(rt: Runtime) -> None:
    sql(rt, "DELETE FROM audit_event WHERE seq = 4")
    shift_seqs(rt, from_seq=5, by=-1)
    sql(rt, "UPDATE audit_head SET seq = seq - 1")


def _cut_tail(*, move_head: bool) -> Callable[[Runtime], None]:
    def apply(rt: Runtime) -> None:
        sql(rt, "DELETE FROM audit_event WHERE seq > 7")
        if move_head:
            with rt.db.transaction(write=False) as db:
                h7 = db.scalar(select(AuditEvent.hash).where(AuditEvent.seq == 7))
            sql(rt, "UPDATE audit_head SET seq = 7, hash = :h", h=h7)

    return apply


def _edit_and_rechain(rt: Runtime) -> None:
    sql(rt, "UPDATE audit_event SET details = :d WHERE seq = 4", d='{"role":"admin"}')
    recompute_from(rt, 4)


def _rewrite_checkpoint(mutate: Callable[[dict], None]) -> Callable[[Runtime], None]:
    def apply(rt: Runtime) -> None:
        path = rt.settings.audit_checkpoint_path
        data = json.loads(path.read_text())
        mutate(data)
        path.write_text(json.dumps(data))

    return apply


def _sign_with_another_key(data: dict) -> None:
    cp = Checkpoint(data["seq"], data["hash"], data["signed_at"], "")
    data["signature"] = base64.b64encode(Ed25519PrivateKey.generate().sign(cp.message())).decode()


def _lower_checkpoint_and_cut(rt: Runtime) -> None:
    """Hide a truncation by moving the checkpoint back too (the signature no longer fits)."""
    _cut_tail(move_head=True)(rt)
    with rt.db.transaction(write=False) as db:
        h7 = db.scalar(select(AuditEvent.hash).where(AuditEvent.seq == 7))
    _rewrite_checkpoint(lambda d: d.update(seq=7, hash=h7))(rt)


TAMPERING = [
    Tamper("edit action", _edit("action", "user.revoke"), 4, "edited"),
    Tamper("edit details", _edit("details", '{"i":99}'), 4, "edited"),
    Tamper("edit actor_name", _edit("actor_name", "someone.else"), 4, "edited"),
    Tamper("edit occurred_at", _occurred_at_plus_one_second, 4, "edited"),
    Tamper("edit target_id", _edit("target_id", "other"), 4, "edited"),
    Tamper("edit stored hash", _edit("hash", "a" * 64), 4, "edited"),
    Tamper(
        "delete a middle row",
        lambda rt: sql(rt, "DELETE FROM audit_event WHERE seq = 4"),
        4,
        "event 4 is missing",
        names_event=False,
    ),
    Tamper("delete a middle row and renumber", _delete_middle_and_close_gap, 4, "prev_hash"),
    Tamper(
        "insert a forged row (hash left wrong)",
        _insert_forged_in_middle(correct_hash=False),
        4,
        "edited",
    ),
    Tamper(
        "insert a forged row (hash recomputed)",
        _insert_forged_in_middle(correct_hash=True),
        5,
        "prev_hash",
    ),
    Tamper(
        "append a row without moving the head",
        _append_forged_without_moving_head,
        11,
        "after the head",
        names_event=False,
    ),
    Tamper("swap two rows' order", _swap(4, 5), 4, "prev_hash"),
    Tamper(
        "cut off the newest (head left)",
        _cut_tail(move_head=False),
        8,
        "head says 10",
        names_event=False,
    ),
    Tamper(
        "cut off the newest (head moved back)",
        _cut_tail(move_head=True),
        8,
        "cut off",
        names_event=False,
    ),
    Tamper(
        "recompute all hashes after an edit",
        _edit_and_rechain,
        lambda rt: first_signed(rt, 4),
        "differs from the signed checkpoint",
    ),
    Tamper(
        "forged checkpoint signature",
        _rewrite_checkpoint(lambda d: d.update(signature=base64.b64encode(b"x" * 64).decode())),
        10,
        "signature",
        names_event=False,
    ),
    Tamper(
        "checkpoint signed with another key",
        _rewrite_checkpoint(_sign_with_another_key),
        10,
        "signature",
        names_event=False,
    ),
    Tamper(
        "checkpoint moved back to hide a cut",
        _lower_checkpoint_and_cut,
        7,
        "signature",
        names_event=False,
    ),
    Tamper(
        "checkpoint deleted",
        lambda rt: rt.settings.audit_checkpoint_path.unlink(),
        None,
        "checkpoint (audit-head.json) is missing, though the checkpoint log has one at event 10",
        names_event=False,
    ),
]


@pytest.mark.parametrize("case", TAMPERING, ids=[t.name for t in TAMPERING])
def test_tampering_is_detected_and_names_the_first_bad_event(
    runtime: Runtime, case: Tamper
) -> None:
    write_events(runtime, 10)
    assert audit.verify(runtime).ok
    bad_seq = case.bad_seq(runtime) if callable(case.bad_seq) else case.bad_seq
    case.apply(runtime)
    report = audit.verify(runtime)
    assert not report.ok
    assert report.bad_seq == bad_seq, report
    assert case.reason in report.reason, report
    if case.names_event:
        assert report.bad_event_id == event_id(runtime, bad_seq)


def test_events_after_the_checkpoint_are_reported_unattested(runtime: Runtime) -> None:
    """A forged append that also moves the head is consistent but unsigned: shown, not hidden."""
    write_events(runtime, 5)
    seq, last = head(runtime)
    _insert_row(runtime, _forged_row(runtime, seq=seq + 1, prev_hash=last, correct_hash=True))
    with runtime.db.transaction() as db:
        forged = db.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq + 1))
        db.execute(AuditHead.__table__.update().values(seq=seq + 1, hash=forged))
    report = audit.verify(runtime)
    assert report.ok and report.unattested == 1 and report.checkpoint_seq == 5


AWKWARD = [
    'quote " backslash \\ slash /',
    "controls \x01\x08\t\n\x0c\r\x1f\x7f",
    "line separators \u2028\u2029",
    "emoji \U0001f600 and 晋 and \ud7ff\ue000",
    "",
]


def _count_exact_scans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the fallbacks to the exact pass (the fast pass found something unexpected)."""
    calls: list[int] = []
    real = audit._exact_scan

    def counted(*args: object, **kwargs: object) -> audit._Scan:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(audit, "_exact_scan", counted)
    return calls


def test_the_fast_verifier_encodes_awkward_text_exactly_like_the_writer(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite builds the canonical JSON on the fast pass (json_array); it must match orjson
    byte for byte, or such a chain would take the exact pass (counted here)."""
    actor = Actor(username=AWKWARD[0], via="web")
    with runtime.db.transaction() as db:
        for text_ in AWKWARD:
            audit.record(
                db,
                actor,
                "test.awkward",
                target_id=text_,
                org_path=text_,
                details={text_: text_, "nested": [text_, {"k": text_}]},
            )
    runtime.audit_checkpoints.flush()
    exact = _count_exact_scans(monkeypatch)
    report = audit.verify(runtime)
    assert report.ok and report.events_checked == len(AWKWARD)
    assert exact == ([] if runtime.db.dialect == "sqlite" else [1])  # PostgreSQL: exact only


def test_a_fast_path_encoding_difference_is_never_a_false_alarm(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_events(runtime, 5)
    # a fast pass that gets the encoding wrong for every event (an extra space)
    real = audit._event_batches

    def wrong(*args: object) -> object:
        for last, count, events, *stored in real(*args):  # type: ignore[arg-type]
            yield last, count, [b"[ " + e[1:] for e in events], *stored

    monkeypatch.setattr(audit, "_event_batches", wrong)
    exact = _count_exact_scans(monkeypatch)
    assert audit.verify(runtime).ok
    assert exact == [1]  # on SQLite after the fast pass gave up; PostgreSQL has no fast pass
    sql(runtime, "UPDATE audit_event SET action = 'x' WHERE seq = 3")
    report = audit.verify(runtime)
    assert not report.ok and report.bad_seq == 3 and "edited" in report.reason


def _verify_in_batches(runtime: Runtime, batch: int, **kwargs: object) -> audit.VerifyReport:
    runtime.audit_checkpoints.flush()
    with runtime.db.transaction(write=False) as db:
        return audit.verify_chain(
            db,
            checkpoint=runtime.audit_checkpoints.read(),
            public_key=runtime.keys.verify_key("audit"),
            batch=batch,
            **kwargs,  # type: ignore[arg-type]
        )


def test_the_fast_pass_checks_across_batch_boundaries(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_events(runtime, 5, per_commit=2)
    exact = _count_exact_scans(monkeypatch)
    fast = runtime.db.dialect == "sqlite"  # PostgreSQL takes the exact pass only
    seen: list[tuple[int, int]] = []
    report = _verify_in_batches(runtime, 3, progress=lambda d, t: seen.append((d, t)))
    assert report.ok and report.events_checked == 10 and len(exact) == (0 if fast else 1)
    assert seen == [(3, 10), (6, 10), (9, 10), (10, 10)]
    sql(runtime, "UPDATE audit_event SET details = '{}' WHERE seq = 7")
    report = _verify_in_batches(runtime, 3)
    assert (report.ok, report.bad_seq, report.bad_event_id) == (False, 7, event_id(runtime, 7))
    assert "edited" in report.reason and len(exact) == (1 if fast else 2)


def test_a_hash_digit_moved_to_the_next_event_is_found(runtime: Runtime) -> None:
    """The fast pass compares the hashes of a batch joined: joined without a separator, event
    2 giving its last digit to event 3 would read the same (PostgreSQL's varchar(64) refuses
    the 65-digit hash, and has no fast pass)."""
    if runtime.db.dialect != "sqlite":
        pytest.skip("SQLite only")
    write_events(runtime, 4)
    sql(
        runtime,
        "UPDATE audit_event SET hash = "
        "(SELECT substr(hash, 64) FROM audit_event WHERE seq = 2) || hash WHERE seq = 3",
    )
    sql(runtime, "UPDATE audit_event SET hash = substr(hash, 1, 63) WHERE seq = 2")
    report = audit.verify(runtime)
    assert (report.ok, report.bad_seq) == (False, 2) and "edited" in report.reason


def test_the_helper_stops_when_the_caller_does(runtime: Runtime) -> None:
    """Stopping early waits for the helper (it uses the session's connection); the helper's
    error reaches the caller."""
    items = audit._prefetched((i for i in range(100)), ahead=2)
    assert [next(items), next(items)] == [0, 1]
    items.close()

    def failing() -> Generator[int]:
        yield 1
        raise RuntimeError("helper failed")

    got: list[int] = []
    with pytest.raises(RuntimeError, match="helper failed"):
        got.extend(audit._prefetched(failing()))
    assert got == [1]


def test_a_gap_as_wide_as_a_batch_is_found(runtime: Runtime) -> None:
    write_events(runtime, 8)
    sql(runtime, "DELETE FROM audit_event WHERE seq IN (3, 4)")
    report = _verify_in_batches(runtime, 2)
    assert (report.ok, report.bad_seq) == (False, 3)
    assert "event 3 is missing (next is 5)" in report.reason


def test_an_event_numbered_below_one_is_found(runtime: Runtime) -> None:
    write_events(runtime, 4)
    _insert_row(
        runtime, _forged_row(runtime, seq=0, prev_hash=audit.GENESIS_HASH, correct_hash=True)
    )
    report = audit.verify(runtime)
    assert (report.ok, report.bad_seq, report.bad_event_id) == (False, 0, event_id(runtime, 0))
    assert "appears out of order" in report.reason


def test_verify_chain_without_checkpoint_checks_the_chain_alone(runtime: Runtime) -> None:
    write_events(runtime, 4)
    sql(runtime, "UPDATE audit_event SET action = 'x' WHERE seq = 2")
    with runtime.db.transaction(write=False) as db:
        report = audit.verify_chain(db)
    assert not report.ok and report.bad_seq == 2 and report.checkpoint_seq is None


# ----------------------------------------------------------------------------- concurrency


def _hammer(runtime: Runtime, threads: int, per_thread: int) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(t: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with runtime.db.transaction() as db:
                    db.add(new_org(f"org {t}-{i}"))
                    audit.record(db, ACTOR, "org.create", target_id=f"{t}-{i}")
                    if i % 3 == 0:  # some transactions carry two events
                        audit.record(db, ACTOR, "org.update", target_id=f"{t}-{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return errors


def test_concurrent_writers_keep_one_contiguous_chain(runtime: Runtime) -> None:
    threads, per_thread = 8, 25
    assert _hammer(runtime, threads, per_thread) == []
    expected = threads * (per_thread + len(range(0, per_thread, 3)))
    with runtime.db.transaction(write=False) as db:
        seqs = db.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
        orgs = db.scalar(select(func.count()).select_from(Organization))
    assert seqs == list(range(1, expected + 1))
    assert orgs == threads * per_thread
    runtime.audit_checkpoints.flush()
    report = audit.verify(runtime)
    assert report.ok and report.events_checked == expected and report.unattested == 0


def test_verify_while_writers_run_sees_a_consistent_snapshot(runtime: Runtime) -> None:
    write_events(runtime, 20)
    stop = threading.Event()
    failures: list[audit.VerifyReport] = []

    def verifier() -> None:
        while not stop.is_set():
            report = audit.verify(runtime)
            if not report.ok:
                failures.append(report)

    th = threading.Thread(target=verifier)
    th.start()
    try:
        assert _hammer(runtime, 4, 15) == []
    finally:
        stop.set()
        th.join()
    assert failures == []


# ------------------------------------------------- breaks: a rewritten chain is never signed


def signed_head(runtime: Runtime) -> tuple[int, str]:
    cp = runtime.audit_checkpoints.read()
    assert cp is not None
    return cp.seq, cp.hash


def audited_action(runtime: Runtime, action: str = "test.after") -> None:
    """What anyone does next: an audited commit, its checkpoint written at once."""
    with runtime.db.transaction() as db:
        audit.record(db, ACTOR, action)
    runtime.audit_checkpoints.flush()


def resign_checkpoint_file(runtime: Runtime) -> None:
    """What an intruder holding the audit key does after rewriting the chain: sign its head."""
    seq, h = head(runtime)
    unsigned = Checkpoint(seq, h, "2030-01-01T00:00:00.000000Z", "")
    signature = runtime.keys.signing_key("audit").sign(unsigned.message())
    runtime.settings.audit_checkpoint_path.write_text(json.dumps(
        {"seq": seq, "hash": h, "signed_at": unsigned.signed_at,
         "signature": base64.b64encode(signature).decode(), "logged": True}))


def test_a_rewritten_chain_is_not_signed_by_the_next_audited_action(runtime: Runtime) -> None:
    """Item 1's forgery: edit an event, re-chain every later event and the head, then let the
    platform go on. The signer refuses the forged head, the break stays in the log, and every
    verification names the first event that differs from what was signed."""
    write_events(runtime, 10)
    signed = signed_head(runtime)
    first_bad = first_signed(runtime, 4)
    _edit_and_rechain(runtime)
    for _ in range(3):  # the platform goes on: each commit asks to sign the forged head
        audited_action(runtime)
    assert signed_head(runtime) == signed  # nothing signed over the forged head
    entries = logged(runtime)
    breaks = [e for e in entries if e["kind"] == "break"]
    assert len(breaks) == 1 and entries[-1] == breaks[0]  # recorded once, nothing signed since
    assert breaks[0]["seq"] == 10 and breaks[0]["head_seq"] == 11
    assert "event 10 differs from the signed checkpoint" in breaks[0]["reason"]
    for _ in range(2):  # and it stays reported
        report = audit.verify(runtime)
        assert not report.ok and report.bad_seq == first_bad
        assert "differs from the signed checkpoint" in report.reason
        assert report.bad_event_id == event_id(runtime, first_bad)


def test_a_verification_does_not_sign_a_rewritten_chain(runtime: Runtime) -> None:
    """`audit verify` records itself after its verdict: that commit must not sign the forgery."""
    from gongshu.audit import service

    write_events(runtime, 10)
    signed = signed_head(runtime)
    _edit_and_rechain(runtime)
    system = Actor.system("test", via="system")
    with runtime.db.transaction(write=False) as db:
        report = service.verify(system, db)
    with runtime.db.transaction() as db:
        service.record_verification(system, db, report)
    runtime.audit_checkpoints.flush()
    assert not report.ok and signed_head(runtime) == signed
    assert not audit.verify(runtime).ok


def test_an_event_edited_before_its_checkpoint_is_signed_over_its_hash_and_found(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event edited (not re-chained) while its checkpoint waits keeps its stored hash: the
    signer signs that hash, which the edited content no longer matches, so every verification
    names the event."""
    write_events(runtime, 4)
    store = runtime.audit_checkpoints
    with monkeypatch.context() as m:
        m.setattr(store, "advance", lambda *head: None)  # the next commits wait for the signer
        for i in range(3):
            with runtime.db.transaction() as db:
                audit.record(db, ACTOR, "test.pending", target_id=str(i))
    sql(runtime, "UPDATE audit_event SET action = 'x' WHERE seq = 6")
    store.advance(*head(runtime))
    store.flush()
    assert signed_head(runtime) == head(runtime)
    report = audit.verify(runtime)
    assert (report.ok, report.bad_seq) == (False, 6) and "edited" in report.reason


def test_events_re_chained_before_their_checkpoint_are_not_signed(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_events(runtime, 4)
    store = runtime.audit_checkpoints
    with monkeypatch.context() as m:
        m.setattr(store, "advance", lambda *head: None)
        for i in range(3):
            with runtime.db.transaction() as db:
                audit.record(db, ACTOR, "test.pending", target_id=str(i))
    sql(runtime, "UPDATE audit_event SET action = 'x' WHERE seq = 3")
    recompute_from(runtime, 3)
    store.advance(*head(runtime))
    store.flush()
    assert signed_head(runtime)[0] == 4
    assert logged(runtime)[-1]["kind"] == "break" and logged(runtime)[-1]["bad_seq"] == 4


def test_rewriting_the_database_and_the_checkpoint_file_together_is_caught_by_the_log(
    settings: Settings, tmp_path: Path
) -> None:
    """An intruder with the database, the data directory and the audit key rewrites the chain
    and re-signs audit-head.json; the checkpoint log, kept in another directory, still holds
    the checkpoints signed before."""
    elsewhere = tmp_path / "worm"
    rt = Runtime(settings.model_copy(update={"audit_checkpoint_dir": elsewhere}))
    try:
        write_events(rt, 10)
        assert (elsewhere / "audit-checkpoints.jsonl").exists()
        assert not (rt.settings.resolved_data_dir / "audit-checkpoints.jsonl").exists()
        first_bad = first_signed(rt, 4)
        _edit_and_rechain(rt)
        resign_checkpoint_file(rt)
        cp = rt.audit_checkpoints.read()
        assert cp is not None and audit.checkpoint_signature_ok(cp, rt.keys.verify_key("audit"))
        report = audit.verify(rt)
        assert not report.ok and report.bad_seq == first_bad
        assert "audit-checkpoints.jsonl" in report.reason
        audited_action(rt)  # the signer continues the log, not the re-signed file
        assert logged(rt)[-1]["kind"] == "break"
        assert not audit.verify(rt).ok
    finally:
        rt.close()


def _acknowledge(runtime: Runtime, reason: str = "restored nothing: the edit is kept as "
                 "evidence, case 2030-17") -> audit.VerifyReport:
    from gongshu.audit import service

    system = Actor.system("security.officer", via="cli")
    with runtime.db.transaction(write=False) as db:
        report = service.verify(system, db)
    with runtime.db.transaction() as db:
        service.acknowledge_break(system, db, reason=reason, report=report)
    return report


def test_acknowledging_a_break_starts_a_new_segment_and_keeps_the_evidence(
    runtime: Runtime,
) -> None:
    write_events(runtime, 10)
    _edit_and_rechain(runtime)
    audited_action(runtime)  # refused: the break is logged
    found = _acknowledge(runtime)
    with runtime.db.transaction(write=False) as db:
        ack = db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert ack is not None and ack.action == "audit.break_acknowledged"
    assert ack.details_dict == {"reason": "restored nothing: the edit is kept as evidence, "
                                          "case 2030-17", "evidence": found.verdict()}
    entries = logged(runtime)
    kinds = [e["kind"] for e in entries]
    assert kinds[-2:] == ["break", "acknowledge"] and kinds.count("checkpoint") >= 1
    assert (entries[-1]["seq"], entries[-1]["event_seq"]) == (ack.seq, ack.seq)
    assert signed_head(runtime) == (ack.seq, ack.hash)
    report = audit.verify(runtime)
    assert report.ok, report
    assert len(report.acknowledged) == 1 and "case 2030-17" in report.acknowledged[0]
    audited_action(runtime)  # checkpoints are signed again
    assert signed_head(runtime) == head(runtime) and logged(runtime)[-1]["kind"] == "checkpoint"
    assert audit.verify(runtime).ok
    sql(runtime, "UPDATE audit_event SET action = 'x' WHERE seq = :s", s=ack.seq + 1)
    report = audit.verify(runtime)  # a new edit in the new segment is found as ever
    assert (report.ok, report.bad_seq) == (False, ack.seq + 1)


def test_damage_acknowledged_stays_reported_as_such(runtime: Runtime) -> None:
    """An edit that was not re-chained stays in the chain; once acknowledged, the new segment
    is checked from its signed start and the old damage is listed, not hidden."""
    write_events(runtime, 6)
    sql(runtime, "UPDATE audit_event SET action = 'x' WHERE seq = 2")
    assert audit.verify(runtime).bad_seq == 2
    _acknowledge(runtime)
    report = audit.verify(runtime)
    assert report.ok, report
    assert any("event 2: content does not match its hash" in a for a in report.acknowledged)
    write_events(runtime, 2)
    assert audit.verify(runtime).ok


def test_acknowledging_needs_a_break_a_reason_and_the_permission(
    runtime: Runtime, make_user: Callable[..., object]
) -> None:
    from gongshu.audit import service
    from gongshu.core.errors import InvalidState, PermissionDenied, ValidationFailed

    write_events(runtime, 3)
    with pytest.raises(InvalidState, match="no break"):
        _acknowledge(runtime)
    sql(runtime, "UPDATE audit_event SET action = 'x' WHERE seq = 2")
    with pytest.raises(ValidationFailed):
        _acknowledge(runtime, reason=" short ")
    auditor = make_user("shen.ji", "auditor", "province", subtree=True)
    with runtime.db.transaction(write=False) as db:
        report = service.verify(auditor.actor, db)  # type: ignore[attr-defined]
    with pytest.raises(PermissionDenied), runtime.db.transaction() as db:
        service.acknowledge_break(auditor.actor, db, reason="a long enough reason",  # type: ignore[attr-defined]
                                  report=report)
    assert not audit.verify(runtime).ok  # nothing was acknowledged


def test_verification_writes_nothing(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a checkpoint, not a log line, not an event: a verdict first."""
    from gongshu.audit import service

    write_events(runtime, 5)
    store = runtime.audit_checkpoints
    flushed: list[int] = []
    monkeypatch.setattr(store, "advance", lambda *head: None)  # commits wait for the signer
    monkeypatch.setattr(store, "flush", lambda: flushed.append(1))
    with runtime.db.transaction() as db:
        audit.record(db, ACTOR, "test.pending")
    sql(runtime, "UPDATE audit_event SET action = 'x' WHERE seq = 6")
    files = [runtime.settings.audit_checkpoint_path, runtime.settings.audit_checkpoint_log_path]
    before = [f.read_bytes() for f in files], event_count(runtime)
    with runtime.db.transaction(write=False) as db:
        report = service.verify(Actor.system("test", via="system"), db)
    assert (report.ok, report.bad_seq) == (False, 6)
    assert ([f.read_bytes() for f in files], event_count(runtime)) == before
    assert flushed == []  # the checkpoint still waiting was not written first


def test_continuation_reads_only_what_follows_the_checkpoint(runtime: Runtime) -> None:
    """The signer's check costs what was appended since the last checkpoint: damage that
    leaves the signed hash in place is the full verification's business."""
    write_events(runtime, 8)
    with runtime.db.transaction(write=False) as db:
        h5 = db.scalar(select(AuditEvent.hash).where(AuditEvent.seq == 5))
    sql(runtime, "UPDATE audit_event SET action = 'x' WHERE seq = 2")
    with runtime.db.transaction(write=False) as db:
        assert audit.continuation_problem(db, (5, h5), head(runtime)) is None
        assert audit.continuation_problem(db, (5, "f" * 64), head(runtime)) == (
            5, "event 5 differs from the signed checkpoint: the chain was rewritten at or "
            "before it")
        assert audit.continuation_problem(db, (1, "f" * 64), (8, "e" * 64))[0] == 1  # type: ignore[index]
        assert audit.continuation_problem(db, (8, head(runtime)[1]), head(runtime)) is None
        assert audit.continuation_problem(db, (5, h5), (8, "e" * 64)) == (
            8, "event 8 has another hash than the head being signed")
    recompute_from(runtime, 2)  # re-chained: the hash at the checkpoint changes
    with runtime.db.transaction(write=False) as db:
        assert audit.continuation_problem(db, (5, h5), head(runtime))[0] == 5  # type: ignore[index]
        h5 = db.scalar(select(AuditEvent.hash).where(AuditEvent.seq == 5))
    sql(runtime, "DELETE FROM audit_event WHERE seq = 7")
    with runtime.db.transaction(write=False) as db:
        assert audit.continuation_problem(db, (5, h5), head(runtime)) == (
            7, "event 7 is missing (next is 8)")
    sql(runtime, "UPDATE audit_event SET prev_hash = :h WHERE seq = 6", h="d" * 64)
    with runtime.db.transaction(write=False) as db:
        assert audit.continuation_problem(db, (5, h5), head(runtime)) == (
            6, "event 6: prev_hash does not match the previous event's hash")


# --------------------------------------------------------------------------- the checkpoint log


def _log_lines(rt: Runtime) -> list[bytes]:
    return rt.settings.audit_checkpoint_log_path.read_bytes().splitlines(keepends=True)


def _rewrite_log(change: Callable[[list[bytes]], list[bytes]]) -> Callable[[Runtime], None]:
    def apply(rt: Runtime) -> None:
        rt.settings.audit_checkpoint_log_path.write_bytes(b"".join(change(_log_lines(rt))))

    return apply


def _edit_line(lines: list[bytes]) -> list[bytes]:
    entry = json.loads(lines[1])
    entry["hash"] = "a" * 64
    return [lines[0], json.dumps(entry).encode() + b"\n", *lines[2:]]


def _forge_line_with_another_key(lines: list[bytes]) -> list[bytes]:
    from gongshu.core import audit_log

    entry = json.loads(lines[-1])
    entry.pop("signature")
    entry.update(seq=entry["seq"] + 1, prev=audit_log._sm3(lines[-1]))
    return [*lines, audit_log.sign_entry(entry, Ed25519PrivateKey.generate())]


LOG_TAMPERING = [
    ("a line removed from the middle", _rewrite_log(lambda ls: ls[:1] + ls[2:]),
     "line 2 of the checkpoint log", "does not follow the line before it"),
    ("a line edited", _rewrite_log(_edit_line), "line 2 of the checkpoint log",
     "no valid signature"),
    ("a line not JSON", _rewrite_log(lambda ls: [ls[0], b"{oops\n", *ls[2:]]),
     "line 2 of the checkpoint log", "not valid JSON"),
    ("a line signed with another key", _rewrite_log(_forge_line_with_another_key),
     "line 11 of the checkpoint log", "no valid signature"),
    ("the newest lines cut off", _rewrite_log(lambda ls: ls[:-2]),
     "the checkpoint log lacks the signed checkpoint at event 10", "its end was cut off"),
    ("the log deleted", lambda rt: rt.settings.audit_checkpoint_log_path.unlink(),
     "the checkpoint log", "is missing, though the signed checkpoint says it was kept"),
]


@pytest.mark.parametrize("case", LOG_TAMPERING, ids=[c[0] for c in LOG_TAMPERING])
def test_tampering_with_the_checkpoint_log_is_detected(
    runtime: Runtime, case: tuple[str, Callable[[Runtime], None], str, str]
) -> None:
    _, apply, where, what = case
    for _ in range(10):
        write_events(runtime, 1)  # one checkpoint each
    assert len(_log_lines(runtime)) == 10 and audit.verify(runtime).ok
    apply(runtime)
    report = audit.verify(runtime)
    assert not report.ok and where in report.reason and what in report.reason, report
    before = signed_head(runtime)
    audited_action(runtime)  # the signer does not sign over a log it cannot continue
    if "removed" in case[0] or "edited" in case[0] or "JSON" in case[0]:
        return  # the tail reads: the signer continues it; verification still fails
    assert signed_head(runtime) == before
    assert not audit.verify(runtime).ok


def test_a_checkpoint_from_before_the_log_starts_it(runtime: Runtime) -> None:
    """An installation upgraded with audit-head.json and no log yet: the first signature
    starts the log with that checkpoint, then continues it."""
    write_events(runtime, 3)
    runtime.settings.audit_checkpoint_log_path.unlink()
    data = json.loads(runtime.settings.audit_checkpoint_path.read_text())
    data.pop("logged")
    runtime.settings.audit_checkpoint_path.write_text(json.dumps(data))
    assert audit.verify(runtime).ok  # nothing to compare yet: not a failure
    store = audit.CheckpointStore(
        runtime.settings.audit_checkpoint_path, lambda: runtime.keys.signing_key("audit"),
        log_path=runtime.settings.audit_checkpoint_log_path,
        continues=runtime._chain_continues, interval=0)
    runtime.audit_checkpoints.close()
    runtime.audit_checkpoints = store
    write_events(runtime, 1)
    assert [(e["kind"], e["seq"]) for e in logged(runtime)] == [("checkpoint", 3), ("checkpoint", 4)]
    assert logged(runtime)[0]["from"] == "audit-head.json"
    assert audit.verify(runtime).ok


def test_several_processes_append_and_sign_one_chain(settings: Settings) -> None:
    """Each runtime stands for a process with its own signer; they share the checkpoint file
    and log through the lock, and every checkpoint continues the one before."""
    runtimes = [Runtime(settings) for _ in range(3)]
    try:
        errors: list[BaseException] = []
        threads = [threading.Thread(target=lambda r=r: errors.extend(_hammer(r, 2, 15)))
                   for r in runtimes]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        for rt in runtimes:
            rt.audit_checkpoints.flush()
        entries = logged(runtimes[0])
        assert [e["kind"] for e in entries] == ["checkpoint"] * len(entries)
        seqs = [e["seq"] for e in entries]
        assert seqs == sorted(set(seqs)) and seqs[-1] == head(runtimes[0])[0]
        report = audit.verify(runtimes[0])
        assert report.ok and report.unattested == 0 and report.checkpoints_checked >= len(seqs)
    finally:
        for rt in runtimes:
            rt.close()


def test_a_damaged_log_moved_aside_is_acknowledged_and_a_new_log_starts(runtime: Runtime) -> None:
    for _ in range(3):
        write_events(runtime, 1)
    _rewrite_log(_edit_line)(runtime)
    report = audit.verify(runtime)
    assert not report.ok and "line 2 of the checkpoint log" in report.reason
    log_path = runtime.settings.audit_checkpoint_log_path
    log_path.rename(log_path.with_suffix(".damaged"))  # kept as evidence
    assert "is missing" in audit.verify(runtime).reason
    _acknowledge(runtime)
    assert [e["kind"] for e in logged(runtime)] == ["acknowledge"]
    report = audit.verify(runtime)
    assert report.ok and "is missing" in report.acknowledged[0]
    write_events(runtime, 1)
    assert [e["kind"] for e in logged(runtime)] == ["acknowledge", "checkpoint"]
    assert audit.verify(runtime).ok
