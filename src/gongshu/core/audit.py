"""The audit chain: every state change leaves an event, hash-chained with SM3 and checkpointed.

How it holds together
- A service calls ``record(session, actor, action, …)`` in the same transaction as its change.
  The event waits in the session; when the transaction commits, the ``before_commit`` hook locks
  the chain head (a row lock on ``audit_head``; on SQLite the database write lock), numbers the
  events, chains them (``hash = SM3(domain ‖ canonical(event) )`` where the canonical record
  includes ``prev_hash``), inserts them and moves the head — all inside the same commit. So an
  event exists exactly when its change does, and concurrent writers append in commit order.
- After the commit, a signed checkpoint (seq, hash, Ed25519 signature) is written to the data
  directory, outside the database. Rewriting the chain needs the signing key, and cutting off the
  newest events leaves the checkpoint pointing past the end.
- ``verify_chain`` re-derives every hash in seq order and names the first bad event: an edited
  row (hash mismatch), a deleted or inserted row (seq gap or prev_hash mismatch), reordered rows
  (prev_hash mismatch), a truncated tail (checkpoint beyond the end).

The canonical encoding is a JSON array of the fields in a fixed order (``_canonical``); details
are stored as their canonical JSON text so the hashed bytes never depend on a database's JSON
handling. Art. 41-44 (security) rely on this log; Art. 12 requires every use of shared data to be
audited.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import BigInteger, Index, Integer, String, Text, event, func, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from gongshu.core.db import Base, new_id, utcnow
from gongshu.core.permissions import Actor

GENESIS_HASH = "0" * 64
DOMAIN = b"gongshu.audit.v1\n"
CHECKPOINT_DOMAIN = b"gongshu.audit.checkpoint.v1\n"

_SeqType = BigInteger().with_variant(Integer(), "sqlite")


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_target", "target_type", "target_id"),)

    seq: Mapped[int] = mapped_column(_SeqType, primary_key=True, autoincrement=False)
    id: Mapped[uuid.UUID] = mapped_column(unique=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    actor_name: Mapped[str] = mapped_column(String(128))
    via: Mapped[str] = mapped_column(String(16))
    org_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    org_path: Mapped[str] = mapped_column(String(512), default="")
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(64), default="")
    target_id: Mapped[str] = mapped_column(String(128), default="")
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    @property
    def details_dict(self) -> dict[str, Any]:
        return json.loads(self.details)


class AuditHead(Base):
    """The chain's head: one row, locked by every append so appends serialise in commit order."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(_SeqType, default=0)
    hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)


# ---------------------------------------------------------------------------- encoding, hashing


def _ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_details(details: Mapping[str, Any] | None) -> str:
    return orjson.dumps(
        details or {}, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str
    ).decode()


def _canonical(row: Mapping[str, Any]) -> bytes:
    return orjson.dumps(
        [
            row["seq"],
            str(row["id"]),
            _ts(row["occurred_at"]),
            str(row["actor_id"]) if row["actor_id"] else "",
            row["actor_name"],
            row["via"],
            str(row["org_id"]) if row["org_id"] else "",
            row["org_path"],
            row["action"],
            row["target_type"],
            row["target_id"],
            row["details"],
            row["prev_hash"],
        ]
    )


def sm3_hex(data: bytes) -> str:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize().hex()


def event_hash(row: Mapping[str, Any]) -> str:
    return sm3_hex(DOMAIN + _canonical(row))


# ------------------------------------------------------------------------------------ recording


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    target_type: str = "",
    target_id: object = "",
    org_id: uuid.UUID | None = None,
    org_path: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Queue an audit event; it is written when (and only if) the transaction commits.

    ``org_id``/``org_path`` name the organisation the action concerns (default: the actor's).
    """
    session.info.setdefault("audit_pending", []).append(
        {
            "id": new_id(),
            "occurred_at": utcnow(),
            "actor_id": actor.user_id,
            "actor_name": actor.username,
            "via": actor.via,
            "org_id": org_id if org_id is not None else actor.org_id,
            "org_path": org_path if org_path is not None else (actor.org_path or ""),
            "action": action,
            "target_type": target_type,
            "target_id": str(target_id) if target_id is not None else "",
            "details": canonical_details(details),
        }
    )


def _lock_head(session: Session) -> tuple[int, str]:
    if session.get_bind().dialect.name == "sqlite":
        # A write first: takes the database write lock if the transaction has not yet written.
        session.execute(update(AuditHead).where(AuditHead.id == 1).values(id=1))
        row = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
    else:
        row = session.execute(
            select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1).with_for_update()
        ).one()
    return int(row.seq), row.hash


@event.listens_for(Session, "before_commit")
def _append_pending(session: Session) -> None:
    pending: list[dict[str, Any]] | None = session.info.pop("audit_pending", None)
    if not pending:
        return
    session.flush()
    seq, prev = _lock_head(session)
    rows = []
    for item in pending:
        seq += 1
        item["seq"] = seq
        item["prev_hash"] = prev
        item["hash"] = prev = event_hash(item)
        rows.append(item)
    session.execute(insert(AuditEvent), rows)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=seq, hash=prev))
    session.info["audit_committed"] = (seq, prev)


@event.listens_for(Session, "after_commit")
def _write_checkpoint_after_commit(session: Session) -> None:
    head = session.info.pop("audit_committed", None)
    runtime = session.info.get("runtime")
    if head is None or runtime is None:
        return
    runtime.audit_checkpoints.advance(*head)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop("audit_pending", None)
    session.info.pop("audit_committed", None)


# ----------------------------------------------------------------------------------- checkpoint


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    signed_at: str
    signature: str

    def message(self) -> bytes:
        return CHECKPOINT_DOMAIN + f"{self.seq}\n{self.hash}\n{self.signed_at}".encode()


def checkpoint_signature_ok(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(base64.b64decode(checkpoint.signature), checkpoint.message())
    except (InvalidSignature, ValueError):
        return False
    return True


class CheckpointStore:
    """The signed chain head, kept in a file beside (not inside) the database."""

    def __init__(self, path: Path, key: Callable[[], Ed25519PrivateKey]) -> None:
        self.path = path
        self._key = key
        self._last_seq = -1

    def read(self) -> Checkpoint | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        return Checkpoint(**data)

    def advance(self, seq: int, hash_: str) -> None:
        """Move the checkpoint forward to (seq, hash); never backwards (several processes)."""
        if seq <= self._last_seq:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = self.read()
            if current is not None and current.seq >= seq:
                self._last_seq = current.seq
                return
            unsigned = Checkpoint(seq, hash_, _ts(utcnow()), "")
            signature = base64.b64encode(self._key().sign(unsigned.message())).decode()
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({**unsigned.__dict__, "signature": signature}))
            os.replace(tmp, self.path)
            self._last_seq = seq


# --------------------------------------------------------------------------------- verification


@dataclass
class VerifyReport:
    ok: bool
    events_checked: int
    head_seq: int
    bad_seq: int | None = None
    bad_event_id: str | None = None
    reason: str = ""
    checkpoint_seq: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


_COLUMNS = (
    "seq",
    "id",
    "occurred_at",
    "actor_id",
    "actor_name",
    "via",
    "org_id",
    "org_path",
    "action",
    "target_type",
    "target_id",
    "details",
    "prev_hash",
    "hash",
)


def _rows(session: Session, batch: int) -> Iterator[Mapping[str, Any]]:
    stmt = select(*(getattr(AuditEvent, c) for c in _COLUMNS)).order_by(AuditEvent.seq)
    result = session.execute(stmt.execution_options(stream_results=True, yield_per=batch))
    for row in result.mappings():
        yield row


def verify_chain(
    session: Session,
    *,
    checkpoint: Checkpoint | None = None,
    public_key: Ed25519PublicKey | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 5000,
) -> VerifyReport:
    """Re-derive the whole chain; report the first bad event, or ok."""
    total = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    expected_seq = 1
    prev = GENESIS_HASH
    checked = 0
    checkpoint_hash_at_seq: str | None = None

    def bad(row: Mapping[str, Any] | None, seq: int, reason: str) -> VerifyReport:
        return VerifyReport(
            ok=False,
            events_checked=checked,
            head_seq=expected_seq - 1,
            bad_seq=seq,
            bad_event_id=str(row["id"]) if row is not None else None,
            reason=reason,
            checkpoint_seq=checkpoint.seq if checkpoint else None,
        )

    if checkpoint is not None and public_key is not None:
        if not checkpoint_signature_ok(checkpoint, public_key):
            return bad(None, checkpoint.seq, "checkpoint signature is not valid")

    for row in _rows(session, batch):
        seq = row["seq"]
        if seq != expected_seq:
            reason = (
                f"event {expected_seq} is missing (next is {seq})"
                if seq > expected_seq
                else f"event {seq} appears out of order"
            )
            return bad(row, seq, reason)
        if row["prev_hash"] != prev:
            return bad(row, seq, "prev_hash does not match the previous event's hash")
        if event_hash(row) != row["hash"]:
            return bad(row, seq, "content does not match its hash (edited)")
        prev = row["hash"]
        if checkpoint is not None and seq == checkpoint.seq:
            checkpoint_hash_at_seq = prev
        expected_seq += 1
        checked += 1
        if progress is not None and checked % batch == 0:
            progress(checked, total)

    head = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    last_seq = expected_seq - 1
    if head is not None and (head.seq != last_seq or head.hash != prev):
        return bad(None, head.seq, f"chain ends at event {last_seq} but its head says {head.seq}")
    if checkpoint is not None:
        if checkpoint.seq > last_seq:
            return bad(
                None,
                last_seq + 1,
                f"events {last_seq + 1}..{checkpoint.seq} were cut off (the signed checkpoint "
                f"is at {checkpoint.seq})",
            )
        if checkpoint.seq > 0 and checkpoint_hash_at_seq != checkpoint.hash:
            return bad(None, checkpoint.seq, "event differs from the signed checkpoint")
    if progress is not None:
        progress(checked, total)
    return VerifyReport(
        ok=True,
        events_checked=checked,
        head_seq=last_seq,
        checkpoint_seq=checkpoint.seq if checkpoint else None,
    )
