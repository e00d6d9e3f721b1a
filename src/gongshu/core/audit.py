"""The audit chain: every state change leaves an event, hash-chained with SM3 and checkpointed.

How it holds together
- A service calls ``record(session, actor, action, …)`` in the same transaction as its change.
  The event waits in the session; when the transaction commits, the ``before_commit`` hook locks
  the chain head (a row lock on ``audit_head``; on SQLite the database write lock), numbers the
  events, chains them, inserts them and moves the head — all inside the same commit. So an event
  exists exactly when its change does, and concurrent writers append in commit order. Events
  recorded inside a SAVEPOINT that rolls back are dropped with it; the others stay.
- After the commit, a signed checkpoint (seq, hash, Ed25519 signature) is appended to the
  checkpoint log (``core.audit_log``, ``GONGSHU_AUDIT_CHECKPOINT_DIR``) and written to
  ``audit-head.json`` in the data directory, outside the database. Cutting off the newest events
  leaves the checkpoints pointing past the end. Signing and writing cost more than an audited
  commit, so the commit only hands its head to a signer thread, which signs the newest head at
  most once per ``CheckpointStore.interval`` (default 50 ms); ``flush()``, ``close()`` and
  interpreter exit write what is still pending. ``interval=0`` signs every commit synchronously.
- The signer signs only a head that continues the last signed checkpoint: the event at its seq
  still has the signed hash and the events after it chain from it (``continuation_problem``,
  which reads only those events). A chain rewritten in the database (even consistently, head
  included) is never signed: the signer appends a ``break`` to the log and signs nothing more
  until an operator acknowledges it (``acknowledge_break``, an audited event; its head starts a
  new signed segment).
- ``verify_chain`` re-derives every hash in seq order and names the first bad event: an edited
  row (hash mismatch), a deleted or inserted row (seq gap or prev_hash mismatch), reordered rows
  (prev_hash mismatch), a truncated tail (checkpoint beyond the end), a rewritten chain (the
  event at the checkpoint's seq has another hash), a forged checkpoint (bad signature).
  The exact pass goes over the chain event by event (fields → orjson → SM3, and the ORM's
  reading of an event before calling it bad) and names the first bad event. On SQLite a fast
  pass comes first: SQLite writes the canonical JSON of a batch of events from their stored
  fields while a helper thread lets Python hash the batch before; it only ever says "all good",
  and anything else it meets is left to the exact pass.

The hash (version 2)::

    hash = SM3( b"gongshu.audit.v2\\n" ‖ canonical(event) )   as 64 lowercase hex digits
    canonical(event) = the compact JSON array (orjson) of
        [seq, id, occurred_at, actor_id, actor_name, via, org_id, org_path, action,
         target_type, target_id, details, prev_hash]

with ``seq`` an integer, UUIDs as 32 lowercase hex digits (``""`` when absent), ``occurred_at``
in UTC as ``YYYY-MM-DD HH:MM:SS.ffffff``, and ``details`` the event's canonical JSON text
(sorted keys), stored as text so the hashed bytes never depend on a database's JSON handling.
``prev_hash`` of the first event is 64 zeros. These are the forms SQLite stores, so the verifier
hashes what it reads without converting it (version 1, used by development builds before the
first release, had dashed UUIDs and ``…THH:MM:SS.ffffffZ``; such chains must be recreated).

What the chain cannot show: an event appended directly in the database *after* the newest
signed checkpoint is internally consistent and unsigned; ``verify_chain`` counts such events as
``unattested`` instead of failing (a commit whose checkpoint is still pending looks the same).
Someone holding the audit key can re-sign ``audit-head.json``; only the checkpoint log's earlier
lines (kept where they cannot be rewritten) then show the rewrite (docs/operations.md, "What
the chain shows, and what it cannot").

Art. 41-44 (security) rely on this log; Art. 12 requires every use of shared data to be audited.
"""

from __future__ import annotations

import atexit
import base64
import datetime as dt
import fcntl
import hashlib
import itertools
import json
import logging
import os
import queue
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import BigInteger, Index, Integer, String, Text, event, func, select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from gongshu.core.audit_log import CheckpointLog, append_line, read_log, sign_entry, tail_of
from gongshu.core.db import Base, new_id, utcnow, within
from gongshu.core.errors import InvalidState
from gongshu.core.permissions import Actor

if TYPE_CHECKING:
    from gongshu.core.runtime import Runtime

log = logging.getLogger("gongshu.audit")

GENESIS_HASH = "0" * 64
DOMAIN = b"gongshu.audit.v2\n"
CHECKPOINT_DOMAIN = b"gongshu.audit.checkpoint.v1\n"

#: checks that the events after a signed checkpoint (seq, hash) chain to a head (seq, hash):
#: None, or (the first bad event's seq, what is wrong)
Continuation = Callable[[tuple[int, str], tuple[int, str]], "tuple[int, str] | None"]

_SeqType = BigInteger().with_variant(Integer(), "sqlite")
_T = TypeVar("_T")


class AuditEvent(Base):
    """One event of the chain. Its indexes are the audit log's look-ups, each paged newest
    first by ``seq`` (``gongshu.audit.service``): a target's history, an actor's actions, an
    action's occurrences. Every index is one more page written by every audited commit, so
    filters that page well along ``seq`` alone (action prefixes, organisation scope, time
    ranges, org_id) have none, and ``id`` (a UUIDv7, unique by construction, looked up by
    nothing) has no unique index."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_target", "target_type", "target_id", "seq"),
        Index("ix_audit_event_actor_name", "actor_name", "seq"),
        Index("ix_audit_event_action", "action", "seq"),
    )

    seq: Mapped[int] = mapped_column(_SeqType, primary_key=True, autoincrement=False)
    id: Mapped[uuid.UUID]
    occurred_at: Mapped[dt.datetime]
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(128))
    via: Mapped[str] = mapped_column(String(16))
    org_id: Mapped[uuid.UUID | None]
    org_path: Mapped[str] = mapped_column(String(512), default="")
    action: Mapped[str] = mapped_column(String(64))
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


#: the event's columns in table order; the first 13 are hashed, in this order
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

# ---------------------------------------------------------------------------- encoding, hashing


def _ts(value: dt.datetime) -> str:
    """The canonical time: UTC, microseconds, as SQLite stores it."""
    if value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _hex(value: uuid.UUID | str | None) -> str:
    """The canonical UUID: 32 lowercase hex digits, "" when absent."""
    if not value:
        return ""
    return value.hex if isinstance(value, uuid.UUID) else uuid.UUID(str(value)).hex


def canonical_details(details: Mapping[str, Any] | None) -> str:
    return orjson.dumps(
        details or {}, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str
    ).decode()


def _canonical(row: Mapping[str, Any]) -> bytes:
    """The hashed encoding of an event given as Python values (see the module docstring)."""
    return orjson.dumps(_canonical_values(row))


def _canonical_values(row: Mapping[str, Any]) -> list[Any]:
    return [
        row["seq"],
        _hex(row["id"]),
        _ts(row["occurred_at"]),
        _hex(row["actor_id"]),
        row["actor_name"],
        row["via"],
        _hex(row["org_id"]),
        row["org_path"],
        row["action"],
        row["target_type"],
        row["target_id"],
        row["details"],
        row["prev_hash"],
    ]


def _sm3_factory() -> Callable[[], Any]:
    """OpenSSL's SM3 through hashlib when this build offers it (a third cheaper per call than the
    ``cryptography`` object); the ``cryptography`` one otherwise. Both compute the same SM3."""
    try:
        hashlib.new("sm3")
        return lambda: hashlib.new("sm3")
    except ValueError:  # pragma: no cover - depends on the OpenSSL build

        class _CryptographySM3:
            def __init__(self) -> None:
                self._h = hashes.Hash(hashes.SM3())

            def update(self, data: bytes) -> None:
                self._h.update(data)

            def copy(self) -> _CryptographySM3:
                other = object.__new__(_CryptographySM3)
                other._h = self._h.copy()
                return other

            def hexdigest(self) -> str:
                return self._h.finalize().hex()

        return _CryptographySM3


_new_sm3 = _sm3_factory()
#: SM3 state after the domain prefix; ``.copy()`` it per event instead of re-hashing the prefix
_EVENT_SM3 = _new_sm3()
_EVENT_SM3.update(DOMAIN)


def sm3_hex(data: bytes) -> str:
    h = _new_sm3()
    h.update(data)
    return h.hexdigest()


def hash_canonical(canonical: bytes) -> str:
    """SM3 of the domain prefix and an event's canonical bytes: the event's hash."""
    h = _EVENT_SM3.copy()
    h.update(canonical)
    return h.hexdigest()


def event_hash(row: Mapping[str, Any]) -> str:
    return hash_canonical(_canonical(row))


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
        (
            session.get_nested_transaction(),  # dropped if this savepoint rolls back
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
            },
        )
    )


@dataclass(frozen=True)
class _Backend:
    """The append's SQL for one dialect, run on the driver's cursor: an audited commit pays for
    two or three small statements, not for the ORM's bookkeeping (benchmarks/audit.py)."""

    name: str
    #: locks the head row (PostgreSQL; on SQLite the write lock) and reserves n seqs
    reserve_sql: str
    #: one event's INSERT
    insert_sql: str
    #: moves the head's hash to the last appended event
    set_hash_sql: str
    #: one event's placeholders, to INSERT several events with one statement
    values_sql: str
    #: bind processors of the event columns (SQLAlchemy's own, so the ORM reads back the same)
    processors: tuple[Callable[[Any], Any] | None, ...]

    def row(self, item: Mapping[str, Any], canonical: list[Any]) -> list[Any]:
        """An event's INSERT parameters in ``_COLUMNS`` order. SQLite stores the canonical
        values themselves (absent UUIDs as NULL), so the stored text is the hashed text; other
        databases get the Python values through SQLAlchemy's bind processors."""
        if self.name == "sqlite":
            row = [*canonical, item["hash"]]
            row[3] = row[3] or None
            row[6] = row[6] or None
            return row
        return [
            value if proc is None or value is None else proc(value)
            for proc, value in zip(self.processors, (item[c] for c in _COLUMNS), strict=True)
        ]

    def insert_many_sql(self, rows: int) -> str:
        """One INSERT of ``rows`` events."""
        return ", ".join([self.insert_sql] + [self.values_sql] * (rows - 1))


@cache
def _backend(dialect: Dialect) -> _Backend:
    table = AuditEvent.__table__
    processors = tuple(
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in _COLUMNS
    )
    p = "?" if dialect.paramstyle == "qmark" else "%s"
    values = "(" + ", ".join([p] * len(_COLUMNS)) + ")"
    return _Backend(
        name=dialect.name,
        reserve_sql=f"UPDATE audit_head SET seq = seq + {p} WHERE id = 1 RETURNING seq, hash",
        insert_sql=f"INSERT INTO audit_event ({', '.join(_COLUMNS)}) VALUES {values}",
        set_hash_sql=f"UPDATE audit_head SET hash = {p} WHERE id = 1",
        values_sql=values,
        processors=processors,
    )


#: events per commit written with one combined statement on PostgreSQL (bind parameter limit)
_PG_COMBINED_MAX = 1000


def _append(session: Session, items: Sequence[dict[str, Any]]) -> tuple[int, str]:
    """Chain ``items`` onto the head inside the session's transaction; returns the new head.

    1. Reserve ``len(items)`` numbers on the head row, which locks it until the commit, and
       read the hash of the event before them.
    2. Number and hash each event, each one over the hash of the one before.
    3. Insert the events and move the head's hash to the last one.
    """
    conn = session.connection()
    backend = _backend(conn.dialect)
    cursor = conn.connection.cursor()
    try:
        cursor.execute(backend.reserve_sql, (len(items),))
        head = cursor.fetchall()
        if not head:
            raise InvalidState(
                "the audit chain head (audit_head, id 1) is missing: nothing can be audited "
                "until it is restored (`gongshu audit verify` says where the chain ends)",
                code="audit_head_missing",
            )
        last_seq, prev = head[0]
        seq = int(last_seq) - len(items)
        rows: list[list[Any]] = []
        for item in items:
            seq += 1
            item["seq"] = seq
            item["prev_hash"] = prev
            canonical = _canonical_values(item)
            item["hash"] = prev = hash_canonical(orjson.dumps(canonical))
            rows.append(backend.row(item, canonical))
        try:
            if backend.name == "postgresql" and len(rows) <= _PG_COMBINED_MAX:
                # one round trip for the events and the head
                cursor.execute(
                    f"WITH ins AS ({backend.insert_many_sql(len(rows))}) {backend.set_hash_sql}",
                    [value for row in rows for value in row] + [prev],
                )
            else:
                if len(rows) == 1:
                    cursor.execute(backend.insert_sql, rows[0])
                else:
                    cursor.executemany(backend.insert_sql, rows)
                cursor.execute(backend.set_hash_sql, (prev,))
        except Exception as exc:
            if not any(c.__name__ == "IntegrityError" for c in type(exc).__mro__):
                raise
            raise InvalidState(
                f"an audit event numbered {seq - len(rows) + 1}..{seq} already exists: the chain "
                "head is behind its events (rows were written around the chain); nothing can be "
                "audited until it is repaired (`gongshu audit verify` names the first bad event)",
                code="audit_head_behind",
            ) from exc
    finally:
        cursor.close()
    return seq, prev


@event.listens_for(Session, "before_commit")
def _append_pending(session: Session) -> None:
    # SQLAlchemy fires before_commit/after_commit for a SAVEPOINT's release too: the events
    # wait for the real commit (else a head not yet committed would be offered for signing).
    if not session.info.get("audit_pending") or session.get_nested_transaction() is not None:
        return
    session.flush()  # the change first (its flush hooks may still record), then its events
    pending: list[tuple[Any, dict[str, Any]]] = session.info.pop("audit_pending")
    session.info["audit_committed"] = _append(session, [item for _, item in pending])


@event.listens_for(Session, "after_commit")
def _write_checkpoint_after_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:  # a SAVEPOINT released, not a commit
        return
    head = session.info.pop("audit_committed", None)
    acknowledgement = session.info.pop("audit_acknowledge", None)
    runtime = session.info.get("runtime")
    if head is None or runtime is None:
        return
    if acknowledgement is not None:
        try:
            runtime.audit_checkpoints.acknowledge(*head, event_seq=head[0], **acknowledgement)
        except Exception as exc:
            log.exception("could not write the acknowledgement to the checkpoint log")
            raise InvalidState(
                f"the acknowledgement is audit event {head[0]}, but it could not be written to "
                f"the checkpoint log ({exc}); run the command again",
                code="audit_acknowledgement_not_logged",
            ) from exc
        return
    try:
        runtime.audit_checkpoints.advance(*head)
    except Exception:  # the commit stands; the next checkpoint covers these events
        log.exception("could not write the audit checkpoint")


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous: SessionTransaction) -> None:
    if previous.nested:
        # A SAVEPOINT rolled back: only the events recorded inside it go.
        pending = session.info.get("audit_pending")
        if pending:
            pending[:] = [(tx, item) for tx, item in pending if not within(tx, previous)]
        return
    session.info.pop("audit_pending", None)
    session.info.pop("audit_committed", None)
    session.info.pop("audit_acknowledge", None)


def acknowledge_break(session: Session, actor: Actor, *, reason: str, evidence: str) -> None:
    """Record that ``actor`` acknowledged the chain's break (``evidence``: what verification
    found) for ``reason``. When the transaction commits, the head with this event starts a new
    signed segment in the checkpoint log; the entries before it stay as evidence."""
    record(session, actor, "audit.break_acknowledged", target_type="audit_chain",
           details={"reason": reason, "evidence": evidence})
    session.info["audit_acknowledge"] = {
        "reason": reason, "by": actor.username, "evidence": evidence}


# ----------------------------------------------------------------------------------- checkpoint


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    signed_at: str
    signature: str
    #: written by a signer that keeps the checkpoint log (not signed: says the log must exist)
    logged: bool = field(default=False, compare=False)

    def message(self) -> bytes:
        return CHECKPOINT_DOMAIN + f"{self.seq}\n{self.hash}\n{self.signed_at}".encode()


def checkpoint_signature_ok(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(base64.b64decode(checkpoint.signature), checkpoint.message())
    except (InvalidSignature, ValueError):
        return False
    return True


_open_stores: weakref.WeakSet[CheckpointStore] = weakref.WeakSet()


@atexit.register
def _flush_open_stores() -> None:
    for store in list(_open_stores):
        try:
            store.flush()
        except Exception:  # pragma: no cover - nothing to do at exit but say so
            log.exception("could not write the audit checkpoint at exit")


class CheckpointStore:
    """The signed chain head, kept in a file beside (not inside) the database.

    ``advance`` is called after every audited commit and only remembers the newest head: a
    signer thread signs and writes it, at most once per ``interval`` seconds (and ``flush``,
    ``close`` and interpreter exit write what is left). Signing and replacing the file cost
    more than an audited commit, so they stay off the committing thread. The signer lives as
    long as commits keep coming and ends after ``_SIGNER_IDLE`` seconds without any.
    ``interval=0`` signs every commit synchronously instead.
    Several processes share the file through ``flock``; it only ever moves forward.
    """

    #: seconds a signer thread waits for the next commit before it ends
    _SIGNER_IDLE = 2.0

    def __init__(
        self,
        path: Path,
        key: Callable[[], Ed25519PrivateKey],
        *,
        interval: float = 0.05,
        log_path: Path | None = None,
        continues: Continuation | None = None,
    ) -> None:
        self.path = path
        self.interval = interval
        self.log_path = log_path
        self._continues = continues
        self._break_logged = False  # this process said once that signing waits for an ack
        #: the log's last entry as this process last saw it: (file key, entry, next prev)
        self._tail_cache: tuple[tuple[int, ...], dict[str, Any] | None, str] | None = None
        self._key_factory = key
        self._key: Ed25519PrivateKey | None = None
        self._lock = threading.Lock()  # guards the fields below
        self._wake = threading.Condition(self._lock)  # the signer waits on it for a head
        self._write_lock = threading.Lock()  # one writer of the file per process
        self._pending: tuple[int, str] | None = None
        self._written_seq = -1
        self._next_write_at = 0.0
        self._signer: threading.Thread | None = None
        self._signer_waiting = False  # the signer waits for a head (not for its interval)
        self._closed = False
        _open_stores.add(self)

    def read(self) -> Checkpoint | None:
        """The newest signed checkpoint (``audit-head.json``); None when there is none yet. A
        file that does not read as a checkpoint reads as one that cannot verify."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
            return Checkpoint(
                int(data["seq"]), str(data["hash"]), str(data["signed_at"]),
                str(data["signature"]), logged=bool(data.get("logged", False)),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return Checkpoint(-1, "", "", "", logged=True)

    def read_log(self, public_key: Ed25519PublicKey | None) -> CheckpointLog | None:
        """The checkpoint log, checked line by line; None when this store keeps none."""
        return None if self.log_path is None else read_log(self.log_path, public_key)

    def read_signed(
        self, public_key: Ed25519PublicKey | None
    ) -> tuple[Checkpoint | None, CheckpointLog | None]:
        """The checkpoint file and the log as one signer left them (a shared ``flock``, so
        never between its two writes). Writes nothing."""
        try:
            lock = open(self.path.with_suffix(".lock"))  # noqa: SIM115 - closed below
        except FileNotFoundError:  # no signer ever wrote here
            return self.read(), self.read_log(public_key)
        with lock:
            fcntl.flock(lock, fcntl.LOCK_SH)
            return self.read(), self.read_log(public_key)

    def advance(self, seq: int, hash_: str) -> None:
        """Move the checkpoint forward to (seq, hash); never backwards (several processes)."""
        with self._lock:
            if seq <= self._written_seq or (self._pending and seq <= self._pending[0]):
                return
            self._pending = (seq, hash_)
            if self.interval > 0 and not self._closed:
                if self._signer is None or not self._signer.is_alive():
                    self._signer = threading.Thread(
                        target=self._sign_pending, name="gongshu-audit-checkpoint", daemon=True
                    )
                    self._signer.start()
                elif self._signer_waiting:
                    self._wake.notify()
                return
        self.flush()

    def _sign_pending(self) -> None:
        """The signer thread: write the pending head once its interval is over; end when idle."""
        me = threading.current_thread()
        while True:
            with self._lock:
                idle_until = time.monotonic() + self._SIGNER_IDLE
                while not self._closed:
                    now = time.monotonic()
                    if self._pending is None:
                        if now >= idle_until:
                            break
                        self._signer_waiting = True
                        self._wake.wait(idle_until - now)
                        self._signer_waiting = False
                    elif now < self._next_write_at:
                        self._wake.wait(self._next_write_at - now)
                    else:
                        break
                if self._pending is None or self._closed:  # idle, or close() writes the rest
                    if self._signer is me:
                        self._signer = None
                    return
            try:
                self.flush()
            except Exception:
                log.exception("could not write the audit checkpoint")
                time.sleep(self.interval)  # the head stays pending; try again later

    def flush(self) -> None:
        """Sign and write the newest head this process committed, if not yet written."""
        with self._write_lock:
            with self._lock:
                pending, self._pending = self._pending, None
                self._next_write_at = time.monotonic() + self.interval
            if pending is None:
                return
            try:
                self._write(*pending)
            except BaseException:
                with self._lock:  # keep it for the next try unless something newer came
                    if self._pending is None or self._pending[0] < pending[0]:
                        self._pending = pending
                raise

    def close(self) -> None:
        with self._lock:
            self._closed = True
            signer, self._signer = self._signer, None
            self._wake.notify_all()
        if signer is not None and signer is not threading.current_thread():
            signer.join()
        self.flush()

    def _signing_key(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = self._key_factory()
        return self._key

    def _write(self, seq: int, hash_: str) -> None:
        """Sign (seq, hash) if it continues the last signed checkpoint; otherwise record the
        break in the log and sign nothing until it is acknowledged."""
        # The data directory exists (the runtime made it); never recreate a removed one.
        with self._locked():
            current = self.read()
            if current is not None and current.seq < 0:  # unreadable: the log decides
                current = None if self.log_path is not None else current
            tail, prev = self._tail()
            base = _newest(current, tail)
            if base is not None and base[0] >= seq:
                with self._lock:
                    self._written_seq = max(self._written_seq, base[0])
                return
            if tail is not None and tail.get("kind") == "break":
                self._refuse_while_broken(seq, tail)
                return
            if tail is None and self.log_path is not None:
                if self._log_was_lost(current):
                    self._refuse_while_broken(seq, None)
                    return
                if current is not None and current.seq > 0:
                    # a checkpoint from before the log existed: the log starts with it
                    prev = self._append_entry(
                        {"kind": "checkpoint", "seq": current.seq, "hash": current.hash,
                         "signed_at": current.signed_at, "from": self.path.name}, prev)
            since = base if base is not None else (0, GENESIS_HASH)
            if (
                tail is not None and current is not None and current.logged
                and current.seq > since[0]
            ):
                found: tuple[int, str] | None = (
                    since[0] + 1,
                    f"the checkpoint log ends at event {since[0]} but the checkpoint file was "
                    f"signed at event {current.seq}: the log's end was cut off",
                )
            else:
                found = self._continues(since, (seq, hash_)) if self._continues else None
            if found is not None:
                self._record_break(since, (seq, hash_), found, prev)
                return
            self._sign(seq, hash_, prev, {"kind": "checkpoint"})

    def _record_break(self, since: tuple[int, str], head: tuple[int, str],
                      found: tuple[int, str], prev: str) -> None:
        bad_seq, reason = found
        log.error(
            "audit chain break: refusing to sign event %s: %s (last signed checkpoint: event %s)",
            head[0], reason, since[0])
        self._append_entry(
            {"kind": "break", "seq": since[0], "hash": since[1], "head_seq": head[0],
             "head_hash": head[1], "bad_seq": bad_seq, "reason": reason,
             "signed_at": _iso(utcnow())}, prev)
        with self._lock:
            self._written_seq = max(self._written_seq, head[0])

    def acknowledge(self, seq: int, hash_: str, *, reason: str, by: str, evidence: str,
                    event_seq: int) -> None:
        """Start a new signed segment at (seq, hash): an operator acknowledged the breaks
        before it (``gongshu audit acknowledge-break``). Everything logged before stays."""
        with self._write_lock, self._locked():
            _, prev = self._tail()
            self._sign(seq, hash_, prev, {"kind": "acknowledge", "reason": reason, "by": by,
                                          "evidence": evidence, "event_seq": event_seq})
            with self._lock:
                self._written_seq = seq
                if self._pending is not None and self._pending[0] <= seq:
                    self._pending = None
            self._break_logged = False

    @contextmanager
    def _locked(self) -> Generator[None]:
        with open(self.path.with_suffix(".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _tail(self) -> tuple[dict[str, Any] | None, str]:
        """The log's last entry and the next line's ``prev``; read again only when the file
        changed since this process last read or wrote it (another process appended)."""
        if self.log_path is None:
            return None, GENESIS_HASH
        key = _file_key(self.log_path)
        cached = self._tail_cache
        if cached is not None and key is not None and cached[0] == key:
            return cached[1], cached[2]
        entry, prev = tail_of(self.log_path)
        self._tail_cache = (key, entry, prev) if key is not None else None
        return entry, prev

    def _log_was_lost(self, current: Checkpoint | None) -> bool:
        """The log is missing or empty (or its last line unreadable) though the checkpoint file
        says it was kept, or the checkpoint file does not read."""
        if not self.path.exists():
            return False
        return current is None or current.logged

    def _refuse_while_broken(self, seq: int, tail: dict[str, Any] | None) -> None:
        if not self._break_logged:
            self._break_logged = True
            what = (
                f"the chain broke ({tail.get('reason')})" if tail is not None
                else f"the checkpoint log {self.log_path} is missing"
            )
            log.error(
                "audit checkpoints are not signed since %s: after investigating, run "
                "`gongshu audit acknowledge-break --reason ...`", what)
        with self._lock:
            self._written_seq = max(self._written_seq, seq)

    def _append_entry(self, entry: dict[str, Any], prev: str) -> str:
        """Append a signed entry to the log; the ``prev`` of the next one."""
        if self.log_path is None:
            return prev
        line = sign_entry({**entry, "prev": prev}, self._signing_key())
        append_line(self.log_path, line)
        following = sm3_hex(line)
        key = _file_key(self.log_path)
        self._tail_cache = (key, json.loads(line), following) if key is not None else None
        return following

    def _sign(self, seq: int, hash_: str, prev: str, entry: dict[str, Any]) -> None:
        """Sign (seq, hash): first into the log, then into the checkpoint file."""
        unsigned = Checkpoint(seq, hash_, _iso(utcnow()), "")
        self._append_entry({**entry, "seq": seq, "hash": hash_, "signed_at": unsigned.signed_at},
                           prev)
        signature = base64.b64encode(self._signing_key().sign(unsigned.message())).decode()
        data = {"seq": seq, "hash": hash_, "signed_at": unsigned.signed_at,
                "signature": signature}
        if self.log_path is not None:
            data["logged"] = True
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.path)
        with self._lock:
            self._written_seq = max(self._written_seq, seq)


def _file_key(path: Path) -> tuple[int, ...] | None:
    """What changes whenever a file is written or replaced (None: no file)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _newest(current: Checkpoint | None, tail: dict[str, Any] | None) -> tuple[int, str] | None:
    """The last signed (seq, hash): the log's last entry's when there is one (the log is the
    authority: a checkpoint file re-signed over a rewritten chain must not become the base),
    else the checkpoint file's (a log not started yet)."""
    if tail is not None and isinstance(tail.get("seq"), int):
        return tail["seq"], str(tail.get("hash"))
    return (current.seq, current.hash) if current is not None else None


# --------------------------------------------------------------------------------- verification


#: Each event's fields in their canonical form (the ``_canonical`` values), as the database
#: gives them: ``orjson.dumps(row[:13])`` of such a row is the event's canonical encoding.
_FIELDS_SQL = {
    "sqlite": (
        "SELECT seq, id, occurred_at, coalesce(actor_id, ''), actor_name, via, "
        "coalesce(org_id, ''), org_path, action, target_type, target_id, details, prev_hash, "
        "hash FROM audit_event"
    ),
    "postgresql": (
        "SELECT seq, encode(uuid_send(id), 'hex'), "
        "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), "
        "coalesce(encode(uuid_send(actor_id), 'hex'), ''), actor_name, via, "
        "coalesce(encode(uuid_send(org_id), 'hex'), ''), org_path, action, target_type, "
        "target_id, details, prev_hash, hash FROM audit_event"
    ),
}

#: The fast pass on SQLite: the events with seq in (after, until] as (the last seq, how many,
#: their canonical JSONs joined by "\n", their stored hashes joined by ",", their prev_hashes
#: joined by ","). SQLite writes each JSON from the stored fields (``json_array`` escapes exactly
#: as orjson does), and all of it in one query step, so a helper thread builds a batch without
#: holding the GIL. JSON never holds a raw newline, so "\n" separates the events; a hash that
#: is NULL joins as "" and so still takes its place. The range is a rowid range, which SQLite
#: reads (and so concatenates) in seq order.
_SQLITE_BATCH_SQL = (
    "SELECT max(seq), count(*), CAST(group_concat(json_array(seq, id, occurred_at, "
    "coalesce(actor_id, ''), actor_name, via, coalesce(org_id, ''), org_path, action, "
    "target_type, target_id, details, prev_hash), char(10)) AS BLOB), "
    "CAST(group_concat(coalesce(hash, ''), ',') AS BLOB), "
    "CAST(group_concat(coalesce(prev_hash, ''), ',') AS BLOB) "
    "FROM audit_event WHERE seq > ? AND seq <= ?"
)


def _event_batches(
    session: Session, size: int
) -> Generator[tuple[int, int, list[bytes], bytes, bytes]]:
    """The fast pass's batches on SQLite: the events in the seq ranges (0, size],
    (size, 2·size], … as (the last seq, how many, each event's canonical JSON, the stored hashes
    joined by ",", the stored prev_hashes joined by ","), until a range is empty. SQLite answers
    the next range in a helper thread (one query step, without the GIL) while the caller hashes
    this one, on the session's own connection (which ``core.db`` opens with
    ``check_same_thread=False``) and so in its transaction."""
    answers = _prefetched(_sqlite_answers(session.connection().connection, size))
    with closing(answers):
        for last, count, joined, hashes, prevs in answers:
            yield last, count, joined.split(b"\n"), hashes, prevs


def _sqlite_answers(dbapi: Any, size: int) -> Generator[tuple[int, int, bytes, bytes, bytes]]:
    """``_SQLITE_BATCH_SQL``'s row for each range, until one is empty."""
    cursor = dbapi.cursor()
    try:
        for k in itertools.count():
            cursor.execute(_SQLITE_BATCH_SQL, (k * size, (k + 1) * size))
            answer = cursor.fetchone()
            if not answer[1]:
                return
            yield answer
    finally:
        cursor.close()


#: what ``_prefetched``'s helper queues after the last item
_END: Any = object()


def _prefetched(items: Generator[_T], ahead: int = 2) -> Generator[_T]:
    """``items``, fetched by a helper thread up to ``ahead`` items before the caller takes
    them: the database builds the next batches while Python hashes this one. The helper goes
    on as soon as it has queued an item, without waiting for the caller to ask: a thread that
    waits for the GIL while the caller hashes waits a whole switch interval (5 ms), once per
    item instead of once per request and reply. Closing stops the helper and waits for it, so
    the caller may use the connection again afterwards; the helper's error is raised here."""
    ready: queue.Queue[Any] = queue.Queue(ahead)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                ready.put(item)
                if stop.is_set():
                    return
        finally:
            items.close()
            ready.put(_END)

    with ThreadPoolExecutor(1, thread_name_prefix="gongshu-audit-verify") as helper:
        done = helper.submit(produce)
        ended = False
        try:
            while (item := ready.get()) is not _END:
                yield item
            ended = True
            done.result()
        finally:
            if not ended:  # the caller stopped early: let the helper finish and end
                stop.set()
                while ready.get() is not _END:
                    pass


def _canonical_rows(session: Session, batch: int) -> Generator[Sequence[Any]]:
    """Every event in seq order as a tuple in ``_COLUMNS`` order, fields as canonical text."""
    for rows in _canonical_row_batches(session, batch):
        yield from rows


def _canonical_row_batches(
    session: Session, batch: int, *, start: int | None = None, until: int | None = None
) -> Generator[list[Sequence[Any]]]:
    """``_canonical_rows`` in lists of ``batch``, through the driver (a server-side cursor on
    PostgreSQL); only seqs from ``start`` up to ``until`` when given."""
    dialect = session.get_bind().dialect.name
    dbapi = session.connection().connection
    if dialect == "postgresql":
        cursor = dbapi.driver_connection.cursor(name="gongshu_audit_verify")
        cursor.itersize = batch
    else:
        cursor = dbapi.cursor()
    p = "?" if session.get_bind().dialect.paramstyle == "qmark" else "%s"
    where, params = [], []
    if start is not None:
        where.append(f"seq >= {p}")
        params.append(start)
    if until is not None:
        where.append(f"seq <= {p}")
        params.append(until)
    sql = _FIELDS_SQL[dialect] + (" WHERE " + " AND ".join(where) if where else "")
    try:
        cursor.execute(sql + " ORDER BY seq", params)
        while rows := cursor.fetchmany(batch):
            yield rows
    finally:
        cursor.close()


def _rederived_hash(session: Session, seq: int) -> str | None:
    """The hash of event ``seq`` re-derived from its fields as the ORM reads them (UUIDs and
    times parsed, whatever their stored spelling): the authoritative encoding. None when the
    event is not there or does not read (a field of the wrong type)."""
    try:
        found = session.execute(
            select(*(getattr(AuditEvent, c) for c in _COLUMNS)).where(AuditEvent.seq == seq)
        ).first()
        return None if found is None else event_hash(found._mapping)
    except Exception:
        return None


def _event_id(session: Session, seq: int) -> str | None:
    try:
        found = session.scalar(select(AuditEvent.id).where(AuditEvent.seq == seq))
    except Exception:  # an id of the wrong type: the reason says so
        return None
    return str(found) if found is not None else None


def _wrong_type(row: Sequence[Any]) -> str | None:
    """What is wrong with the types of an event's fields as the database gives them, if
    anything: the seq is an integer, every other field text."""
    for name, value in zip(_COLUMNS[1:], row[1:14], strict=True):
        if not isinstance(value, str):
            held = "NULL" if value is None else f"a {type(value).__name__} value"
            if isinstance(value, bytes | bytearray | memoryview):
                held = "a BLOB"
            return f"its {name} holds {held} instead of text (written around the chain)"
    return None


@dataclass
class _Scan:
    """Where a pass over the events ended: after the last good event, or at the first bad."""

    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    #: the stored hashes at the watched seqs (those of signed checkpoints)
    hashes_at: dict[int, str] = field(default_factory=dict)
    bad_seq: int | None = None
    reason: str = ""
    names_event: bool = True


def _scan(
    session: Session,
    *,
    total: int,
    watch: Sequence[int],
    batch: int,
    progress: Callable[[int], None] | None,
) -> _Scan:
    """Check every event in seq order: its number, its link to the previous hash, its hash.

    On SQLite the fast pass does it for a whole intact chain; wherever it finds anything
    unexpected (a tampered event, or only an encoding it does not recognise), the exact pass
    checks the chain again, event by event, and names the first bad one. On PostgreSQL the
    exact pass is also the cheapest: building the JSON costs its server more than orjson costs
    here, and Python converts the rows and hashes them under the GIL either way."""
    fast = session.get_bind().dialect.name == "sqlite"
    scan = _fast_scan(session, total=total, watch=watch, batch=batch) if fast else None
    if scan is not None:
        if progress is not None:
            for done in range(batch, scan.last_seq + 1, batch):
                progress(done)
        return scan
    return _exact_scan(session, watch=watch, batch=batch, progress=progress)


def _fast_scan(session: Session, *, total: int, watch: Sequence[int], batch: int) -> _Scan | None:
    """The whole chain in batches whose canonical JSON SQLite writes (``_event_batches``), each
    one built while the one before is hashed here. Each batch numbers its events without a gap
    after the one before; its events hash to its stored hashes (the hex digests joined by ","
    equal the stored hashes joined so: as no digest holds a ",", each one equals its own); each
    prev_hash is the hash before it (the prev_hashes joined by "," equal the hash before the
    batch and its hashes but the last, joined so); all of them are all the events. The hashing
    runs in C over the whole batch (``map``), with no Python bytecode per event. None as soon as
    anything else turns up (an error too: SQLite refuses to put a BLOB in JSON): the exact pass
    then decides, and names the event."""
    try:
        return _fast_scan_batches(session, total=total, watch=sorted(watch), batch=batch)
    except Exception:
        return None


def _fast_scan_batches(
    session: Session, *, total: int, watch: list[int], batch: int
) -> _Scan | None:
    base = _EVENT_SM3
    sm3 = type(base)
    copy, update, hexdigest = sm3.copy, sm3.update, sm3.hexdigest
    scan = _Scan()
    before = GENESIS_HASH.encode()  # the hash the next event's prev_hash must be
    watched = 0  # the next watched seq's index in ``watch``
    batches = _event_batches(session, batch)
    with closing(batches):
        for last, count, events, hashes, prevs in batches:
            first = scan.last_seq + 1
            if (
                last - scan.last_seq != count
                or len(events) != count
                or not events[0].startswith(b"[%d," % first)
                or not events[-1].startswith(b"[%d," % last)
            ):
                return None
            states = list(map(copy, itertools.repeat(base, count)))
            deque(map(update, states, events), maxlen=0)
            if (
                ",".join(map(hexdigest, states)).encode() != hashes
                or prevs != (before + b"," + hashes)[:-65]
            ):
                return None
            while watched < len(watch) and watch[watched] <= last:
                seq = watch[watched]
                if seq >= first:
                    at = (seq - first) * 65
                    scan.hashes_at[seq] = hashes[at : at + 64].decode()
                watched += 1
            before = hashes[-64:]
            scan.last_seq = last
    if scan.last_seq != total:  # events outside 1..n (numbers below 1, or after a gap)
        return None
    scan.last_hash = before.decode()
    return scan


def _exact_scan(
    session: Session,
    *,
    watch: Sequence[int] = (),
    batch: int,
    progress: Callable[[int], None] | None,
    start: tuple[int, str] = (0, GENESIS_HASH),
    until: int | None = None,
) -> _Scan:
    """Event by event in seq order, each check in turn, stopping at the first bad event: its
    fields come from the database in canonical form, orjson encodes them, and an event whose
    hash differs is re-derived from its fields as the ORM reads them before it is called bad.
    On PostgreSQL a helper thread fetches the next rows meanwhile: the server works on them,
    and the driver waits for it without the GIL, while the rows before are hashed here.

    ``start`` = (seq, hash) of a signed checkpoint: only the events from it on are checked, and
    the event at its seq must still have its hash (``until``: the last seq checked)."""
    start_seq, start_hash = start
    scan = _Scan(last_seq=start_seq, last_hash=start_hash)
    expected = start_seq if start_seq > 0 else 1
    prev: str | None = GENESIS_HASH if start_seq <= 0 else None  # None: not checked (the first)
    watched = set(watch)
    base = _EVENT_SM3
    dumps = orjson.dumps
    batches = _canonical_row_batches(
        session, batch, start=start_seq if start_seq > 0 else None, until=until
    )
    if session.get_bind().dialect.name == "postgresql":
        batches = _prefetched(batches)
    with closing(batches):
        for row in itertools.chain.from_iterable(batches):
            seq, prev_hash, stored = row[0], row[12], row[13]
            if not isinstance(seq, int) or isinstance(seq, bool):
                scan.bad_seq, scan.names_event = expected, False
                scan.reason = f"an event's seq is not a number ({seq!r}) where event {expected} belongs"
                break
            if seq != expected:
                if seq > expected:
                    scan.bad_seq, scan.names_event = expected, False
                    scan.reason = f"event {expected} is missing (next is {seq})"
                else:
                    scan.bad_seq, scan.reason = seq, f"event {seq} appears out of order"
                break
            if prev is not None and prev_hash != prev:
                wrong = _wrong_type(row)
                scan.bad_seq = seq
                scan.reason = (
                    f"event {seq} does not read: {wrong}" if wrong
                    else "prev_hash does not match the previous event's hash"
                )
                break
            h = base.copy()
            try:
                h.update(dumps(row[:13]))
                same = h.hexdigest() == stored
            except TypeError:  # a field orjson cannot encode (a BLOB)
                same = False
            if not same:  # the types first (a reason that says more), then the ORM's reading
                wrong = _wrong_type(row)
                if wrong is not None:
                    scan.bad_seq, scan.reason = seq, f"event {seq} does not read: {wrong}"
                    break
                if _rederived_hash(session, seq) != stored:
                    scan.bad_seq, scan.reason = seq, "content does not match its hash (edited)"
                    break
            if seq == start_seq and stored != start_hash:
                scan.bad_seq = seq
                scan.reason = (
                    f"event {seq} differs from the signed checkpoint: the chain was rewritten "
                    f"at or before it"
                )
                break
            prev = stored
            if seq in watched:
                scan.hashes_at[seq] = prev
            scan.last_seq, scan.last_hash = seq, prev
            expected += 1
            if progress is not None and seq % batch == 0:
                progress(seq)
    if scan.bad_seq is None and start_seq > 0 and scan.last_seq == start_seq and prev is None:
        scan.bad_seq, scan.names_event = start_seq, False
        scan.reason = f"event {start_seq}, the last signed checkpoint's, is missing"
    return scan


def continuation_problem(
    session: Session | Connection,
    since: tuple[int, str],
    head: tuple[int, str],
    *,
    batch: int = 5000,
) -> tuple[int, str] | None:
    """Whether the chain still runs from the signed checkpoint ``since`` = (seq, hash) to
    ``head`` = (seq, hash): None if so, else (the first bad event's seq, what is wrong).

    The event at the checkpoint's seq must still have the signed hash, and every event after it
    must follow without a gap, its prev_hash the stored hash before it, up to the head. Only the
    events from the checkpoint on are read, and nothing is hashed: the signer's check costs a
    range scan of what was appended since (the audited commit path is benchmarked). Re-hashing
    their contents would add nothing here: a signature covers the stored hash, and
    ``verify_chain`` re-derives every event's content against it. A rewrite of anything signed
    (an edit before the checkpoint, even re-chained consistently up to the head) changes the
    stored hash at the checkpoint's seq, or breaks a link after it, and is refused."""
    since_seq, since_hash = since
    first = since_seq if since_seq > 0 else 1
    prev: str | None = None if since_seq > 0 else GENESIS_HASH
    expected = first
    last_hash = since_hash
    conn = session.connection() if isinstance(session, Session) else session
    p = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    rows = conn.exec_driver_sql(
        f"SELECT seq, prev_hash, hash FROM audit_event WHERE seq >= {p} AND seq <= {p} "
        "ORDER BY seq",
        (first, head[0]),
        execution_options={"yield_per": batch},
    )
    for seq, prev_hash, stored in rows:
        if not isinstance(seq, int):
            return expected, f"an event's seq is not a number ({seq!r})"
        if seq != expected:
            if seq < expected:
                return seq, f"event {seq} appears out of order"
            if expected == since_seq:
                return expected, f"event {expected}, the last signed checkpoint's, is missing"
            return expected, f"event {expected} is missing (next is {seq})"
        if not isinstance(stored, str) or not isinstance(prev_hash, str):
            return seq, f"event {seq} does not read: its hashes are not text"
        if prev is None:  # the checkpoint's own event
            if stored != since_hash:
                return seq, (
                    f"event {seq} differs from the signed checkpoint: the chain was rewritten "
                    f"at or before it"
                )
        elif prev_hash != prev:
            return seq, f"event {seq}: prev_hash does not match the previous event's hash"
        prev = last_hash = stored
        expected += 1
    if expected <= head[0]:
        if expected == since_seq:
            return expected, f"event {expected}, the last signed checkpoint's, is missing"
        return expected, f"event {expected} is missing"
    if last_hash != head[1]:
        return head[0], f"event {head[0]} has another hash than the head being signed"
    return None


@dataclass
class VerifyReport:
    ok: bool
    events_checked: int
    head_seq: int
    bad_seq: int | None = None
    bad_event_id: str | None = None
    reason: str = ""
    checkpoint_seq: int | None = None
    #: events after the newest signed checkpoint (committed since, or appended around the chain)
    unattested: int = 0
    #: signed checkpoints compared with the chain (the checkpoint file's and the log's)
    checkpoints_checked: int = 0
    #: acknowledged breaks, oldest first: each a sentence (when, who, why, what was found)
    acknowledged: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def verdict(self) -> str:
        """The report as one sentence."""
        if self.ok:
            text = (
                f"ok: {self.events_checked} events, head at {self.head_seq}, signed checkpoint "
                f"at {self.checkpoint_seq}"
            )
            if self.unattested:
                text += f", {self.unattested} events after it not yet signed"
            return text
        where = "TAMPERED"
        if self.bad_seq is not None:
            where += f" at event {self.bad_seq}"
            if self.bad_event_id:
                where += f" (id {self.bad_event_id})"
        return f"{where}: {self.reason}"


def _break_sentence(entry: Mapping[str, Any]) -> str:
    return (
        f"on {entry.get('signed_at')} the signer refused to sign event {entry.get('head_seq')}: "
        f"{entry.get('reason')} (last signed checkpoint: event {entry.get('seq')})"
    )


def _ack_sentence(entry: Mapping[str, Any]) -> str:
    return (
        f"break acknowledged on {entry.get('signed_at')} by {entry.get('by')} at event "
        f"{entry.get('seq')}: {entry.get('reason')} (found: {entry.get('evidence')})"
    )


def verify_chain(
    session: Session,
    *,
    checkpoint: Checkpoint | None = None,
    public_key: Ed25519PublicKey | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 5000,
    require_checkpoint: bool = False,
    checkpoint_log: CheckpointLog | None = None,
) -> VerifyReport:
    """Re-derive the whole chain; report the first bad event, or ok.

    Pass the checkpoint and the checkpoint log read *before* this call (``verify`` does): they
    then never lie ahead of a consistent chain. On PostgreSQL a session that has not begun yet
    is read at REPEATABLE READ, so events, head and count come from one snapshot while writers
    go on. Nothing is written. A damaged chain gives a report, never an exception: only the
    database failing does.
    """
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    total = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    cp_seq = checkpoint.seq if checkpoint is not None else None
    acknowledged: list[str] = []
    checked = 0

    def report(scan: _Scan, bad_seq: int | None = None, reason: str = "", *,
               failed: bool | None = None, names: bool = True) -> VerifyReport:
        bad = bad_seq is not None if failed is None else failed
        named = names and bad_seq is not None and (bad_seq != scan.bad_seq or scan.names_event)
        return VerifyReport(
            ok=not bad,
            events_checked=scan.last_seq,
            head_seq=scan.last_seq,
            bad_seq=bad_seq,
            bad_event_id=_event_id(session, bad_seq) if named else None,  # type: ignore[arg-type]
            reason=reason,
            checkpoint_seq=cp_seq,
            unattested=max(scan.last_seq - (cp_seq or 0), 0) if not bad else 0,
            checkpoints_checked=checked,
            acknowledged=acknowledged,
        )

    if (
        checkpoint is not None
        and public_key is not None
        and not checkpoint_signature_ok(checkpoint, public_key)
    ):
        return report(_Scan(), checkpoint.seq if checkpoint.seq >= 0 else None,
                      "checkpoint signature is not valid", failed=True, names=False)

    # the signed checkpoints of the current segment (since the last acknowledgement)
    signed: list[tuple[int, str, str]] = []  # (seq, hash, where it was signed)
    base: dict[str, Any] | None = None
    breaks: list[dict[str, Any]] = []
    if checkpoint_log is not None:
        if checkpoint_log.problem is not None:
            return report(_Scan(), None, checkpoint_log.problem, failed=True)
        base, logged, breaks = checkpoint_log.segment()
        acknowledged.extend(_ack_sentence(a) for a in checkpoint_log.acknowledgements())
        log_name = checkpoint_log.path.name
        signed += [(e["seq"], e["hash"], f"line {e['line']} of {log_name}")
                   for e in ([base] if base else []) + logged]
        newest = max((s for s, _, _ in signed), default=None)
        if not checkpoint_log.exists and checkpoint is not None and checkpoint.logged:
            return report(_Scan(), None, f"the checkpoint log {checkpoint_log.path} is missing, "
                          "though the signed checkpoint says it was kept", failed=True)
        if checkpoint_log.exists and checkpoint is None and newest is not None:
            return report(_Scan(), None, "the signed checkpoint (audit-head.json) is missing, "
                          f"though the checkpoint log has one at event {newest}", failed=True)
        if checkpoint is not None and checkpoint_log.exists and (
            newest is None or checkpoint.seq > newest
        ) and (base is None or checkpoint.seq >= base["seq"]) and checkpoint.logged:
            return report(_Scan(), None, f"the checkpoint log lacks the signed checkpoint at "
                          f"event {checkpoint.seq}: its end was cut off", failed=True)
        if newest is not None:
            cp_seq = max(cp_seq or 0, newest)
    if checkpoint is not None and checkpoint.seq > 0 and (base is None or checkpoint.seq >= base["seq"]):
        signed.append((checkpoint.seq, checkpoint.hash, "audit-head.json"))
    checked = len(signed)

    scan = _scan(
        session,
        total=total,
        watch=[s for s, _, _ in signed],
        batch=batch,
        progress=(lambda done: progress(done, total)) if progress is not None else None,
    )
    if base is not None and scan.bad_seq is not None and scan.bad_seq <= base["seq"]:
        # damage before the acknowledged segment: known, so check the segment from its start
        acknowledged.append(f"still in the chain before the acknowledged break: event "
                            f"{scan.bad_seq}: {scan.reason}")
        scan = _exact_scan(session, watch=[s for s, _, _ in signed], batch=batch,
                           progress=None, start=(base["seq"], base["hash"]))
    if scan.bad_seq is not None:
        return report(scan, scan.bad_seq, scan.reason)
    for seq, hash_, where in sorted(signed):
        if seq > scan.last_seq:
            continue  # _check_ends reports the cut
        if scan.hashes_at.get(seq) != hash_:
            return report(
                scan, seq, f"event {seq} differs from the signed checkpoint ({where}): the "
                "chain was rewritten at or before it")
    ended = _check_ends(session, scan, cp_seq, max((s for s, _, _ in signed), default=None),
                        require_checkpoint, report)
    if ended is not None:
        return ended
    if breaks:
        first = breaks[0]
        return report(
            scan, first.get("bad_seq"), _break_sentence(first) + "; after investigating, "
            "acknowledge it with `gongshu audit acknowledge-break --reason ...`", failed=True)
    if progress is not None:
        progress(scan.last_seq, total)
    return report(scan)


def _check_ends(
    session: Session,
    scan: _Scan,
    cp_seq: int | None,
    signed_seq: int | None,
    require_checkpoint: bool,
    report: Callable[..., VerifyReport],
) -> VerifyReport | None:
    """The chain's end against the head row and the signed checkpoint; a report if bad."""
    last = scan.last_seq
    try:
        head = session.execute(
            select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
        ).first()
    except Exception:  # a head of the wrong type
        return report(scan, last + 1, "the chain head (audit_head) does not read", names=False)
    if head is None:
        return report(scan, last + 1, "the chain head (audit_head) is missing", names=False)
    if not isinstance(head.seq, int) or not isinstance(head.hash, str):
        return report(scan, last + 1, "the chain head (audit_head) does not read", names=False)
    if head.seq > last:
        return report(scan, last + 1, f"chain ends at event {last} but its head says {head.seq}",
                      names=False)
    if head.seq < last:
        return report(scan, head.seq + 1, f"events after the head ({head.seq}) were added",
                      names=False)
    if head.hash != scan.last_hash:
        return report(scan, last, "the head's hash differs from the last event's")
    if cp_seq is None:
        if require_checkpoint and last > 0:
            return report(
                scan, 1, f"the signed checkpoint is missing, though the chain has {last} events",
                names=False,
            )
        return None
    if signed_seq is not None and signed_seq > last:
        return report(
            scan,
            last + 1,
            f"events {last + 1}..{signed_seq} were cut off (the signed checkpoint "
            f"is at {signed_seq})",
            names=False,
        )
    return None


def verify(runtime: Runtime, *, progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Verify the runtime's chain against its signed checkpoint and checkpoint log (`gongshu
    audit verify`). Reads only: the checkpoint of commits still waiting for the signer is not
    written first (their events count as unattested)."""
    public_key = runtime.keys.verify_key("audit")
    checkpoint, checkpoint_log = runtime.audit_checkpoints.read_signed(public_key)
    with runtime.db.transaction(write=False) as session:
        return verify_chain(
            session,
            checkpoint=checkpoint,
            public_key=public_key,
            progress=progress,
            require_checkpoint=True,
            checkpoint_log=checkpoint_log,
        )
