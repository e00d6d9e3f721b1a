"""The metadata store: SQLAlchemy 2 on SQLite (embedded default) or PostgreSQL.

- ``Base`` is the declarative base of every module's ``models.py``; column types are portable
  (UUIDs, UTC datetimes, JSON) and constraint names follow one convention so Alembic migrations
  are stable.
- ``Database`` owns the engine and hands out sessions. A *write* session on SQLite starts with
  ``BEGIN IMMEDIATE`` so concurrent writers queue on the database lock instead of failing late
  with a stale snapshot; read sessions start deferred and never block each other.
- A session carries its ``Runtime`` in ``session.info`` so services reach settings and keys
  without globals (``runtime_of(session)``).
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import JSON, DateTime, MetaData, String, Uuid, create_engine, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    SessionTransaction,
    mapped_column,
    sessionmaker,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from gongshu.core.errors import FieldError, NotFound, ValidationFailed

if TYPE_CHECKING:
    from gongshu.core.runtime import Runtime

UTC = dt.UTC

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


M = TypeVar("M")


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


def as_uuids(values: Iterable[object]) -> list[uuid.UUID]:
    """The values that are UUIDs (as text or not), parsed; the others are left out."""
    out = []
    for value in values:
        try:
            out.append(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError:
            continue
    return out


def new_id() -> uuid.UUID:
    """A UUIDv7: time-ordered, so new rows append to indexes instead of scattering."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend.

    SQLite has no time zones, so the UTC wall time is stored there; PostgreSQL gets timestamptz.
    Naive datetimes are refused: a time without a zone is a bug waiting for daylight saving.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        dt.datetime: UTCDateTime(),
        uuid.UUID: Uuid(),
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
    }


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)


class CreatedMixin:
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (the pysqlite recipe).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("gongshu_write", False)
        # Straight to the driver: through exec_driver_sql this one statement cost ~35 µs of
        # SQLAlchemy bookkeeping, a fifth of a small write transaction (benchmarks/audit.py).
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")


#: connections a pool may open beyond its size, briefly, before a checkout waits
POOL_OVERFLOW = 4
#: seconds a checkout waits for a connection before it fails (answered 503, never a hang)
POOL_TIMEOUT = 10.0


def make_engine(url: str, *, echo: bool = False, pool_size: int = 20,
                pool_timeout: float = POOL_TIMEOUT) -> Engine:
    """The engine with its connection pool. Size the pool with the threads that use it
    (``Settings.effective_db_pool_size``): a thread that waits for a connection while every
    connection belongs to a request waiting for a thread is how a server stalls."""
    pool = {"pool_size": pool_size, "max_overflow": POOL_OVERFLOW, "pool_timeout": pool_timeout}
    if url.startswith("sqlite"):
        # One file, many threads: each checkout gets its own connection (cheap for SQLite);
        # NullPool for :memory: would lose the database, so tests use files.
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 15}, **pool
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, **pool)


class Database:
    """The engine and its sessions."""

    def __init__(self, url: str, *, runtime: Runtime | None = None, echo: bool = False,
                 pool_size: int = 20, pool_timeout: float = POOL_TIMEOUT) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo, pool_size=pool_size, pool_timeout=pool_timeout)
        self.runtime = runtime
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(gongshu_write=True), expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def new_session(self, *, write: bool = True) -> Session:
        session = (self._write if write else self._read)()
        session.info["runtime"] = self.runtime
        session.info["write"] = write
        return session

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """One unit of work: commit if the block succeeds, roll back everything if it raises."""
        session = self.new_session(write=write)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def fetch(db: Session, model: type[M], row_id: Any, *, missing: NotFound,
          lock: bool = False) -> M:
    """The ``model`` row with this primary key, or ``missing`` raised (a 404 with the room's
    own code).

    ``lock``: the row is locked until the transaction ends (``SELECT … FOR UPDATE`` on
    PostgreSQL; SQLite has one writer at a time anyway) and read afresh, so a state change that
    starts here waits for a concurrent one on the same row and sees what it did (the loser then
    answers 409 from its state check). Pending changes are flushed first: reading afresh loses
    nothing."""
    if lock:
        db.flush()
        found = db.get(model, row_id, with_for_update=True, populate_existing=True)
    else:
        found = db.get(model, row_id)
    if found is None:
        raise missing
    return found


def on_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` after the session's transaction commits (never if it rolls back).

    A callback registered inside a SAVEPOINT that rolls back is dropped with it.
    """
    session.info.setdefault("on_commit", []).append((session.get_nested_transaction(), callback))


@event.listens_for(Session, "after_commit")
def _run_on_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:  # a SAVEPOINT released, not a commit
        return
    for _tx, callback in session.info.pop("on_commit", []):
        callback()


def within(tx: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    """``tx`` is ``ancestor`` or nested inside it (a SAVEPOINT of it, at any depth)."""
    while tx is not None:
        if tx is ancestor:
            return True
        tx = tx.parent
    return False


@event.listens_for(Session, "after_soft_rollback")
def _drop_on_commit(session: Session, previous: SessionTransaction) -> None:
    if previous.nested:
        pending = session.info.get("on_commit")
        if pending:
            pending[:] = [(tx, cb) for tx, cb in pending if not within(tx, previous)]
        return
    session.info.pop("on_commit", None)


@event.listens_for(Session, "before_flush")
def _check_lengths(session: Session, _context: Any, _instances: Any) -> None:
    """A text longer than its column is a field error, on every backend: PostgreSQL refuses it
    (a 500 where the API did not bound the field), SQLite would store it silently. The field
    is the attribute's name, which is the API's name for it (``display_name``, ``short_name``)."""
    errors = []
    for obj in (*session.new, *session.dirty):
        state = sa_inspect(obj)
        for attr in state.mapper.column_attrs:
            column_type = attr.columns[0].type
            length = getattr(column_type, "length", None)
            if not length or not isinstance(column_type, String):
                continue
            value = state.dict.get(attr.key)
            if isinstance(value, str) and len(value) > length:
                errors.append(FieldError(attr.key, "too_long", f"At most {length} characters.",
                                         params={"max_length": length}))
    if errors:
        raise ValidationFailed("The input is not valid.", errors=errors)


def runtime_of(session: Session) -> Runtime:
    runtime = session.info.get("runtime")
    if runtime is None:
        raise RuntimeError("session was not created by gongshu.core.db.Database with a runtime")
    return runtime


# Re-exported so tests can make throwaway engines without pooling.
__all__ = [
    "Base",
    "CreatedMixin",
    "Database",
    "IdMixin",
    "JSONType",
    "NullPool",
    "UTCDateTime",
    "make_engine",
    "new_id",
    "on_commit",
    "runtime_of",
    "utcnow",
]
