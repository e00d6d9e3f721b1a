"""The catalog's tables (Arts. 3, 9, 11, 12, 47).

- ``CatalogEntry`` is a data resource's stable identity: its resource code (given once, kept
  across versions), its provider, the same-level data bureau that reviews it, the confirmed
  grade (set by grading, Art. 10), and pointers to its current *published* version and its
  current *working* version (a draft or a revision in review). While a revision is in review the
  published version stays what everyone sees.
- ``CatalogVersion`` is one version's full content (``content``: the compilation-guide metadata
  except the data items and the grade) with the workflow state and who did what when; the
  columns beside ``content`` are copies for lists and filters. A version's content changes only
  while it is a draft or returned; after that it is a record.
- ``DataItem`` rows are a version's data items (信息项), in order.
- ``DataElement`` is the registry of standard data elements (数据元, Art. 47).
- ``ReviewRecord`` is the review trail of an entry: submissions, returns with their comments,
  approvals, publications, withdrawals.
- ``CatalogSequence`` allocates the sequence numbers (后段码) per front segment.
- ``SearchDoc`` is the search index: one row per entry and scope (``published`` /
  ``working``) with the facet columns; ``SearchTerms`` holds its segmented terms per field. On
  PostgreSQL the ``terms`` column of the doc holds a weighted tsvector (GIN-indexed); on SQLite
  the terms are indexed by an FTS5 table in a file beside the database (see
  :func:`attach_search_index`).
- Census tables (Art. 9): ``Census`` campaigns, one ``CensusResponse`` per public body,
  the ``InfoSystem`` s a body reports, and ``CensusReminder`` s sent to bodies that have not
  answered.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.pool import Pool

from gongshu.core.db import Base, CreatedMixin, IdMixin, utcnow

log = logging.getLogger("gongshu.catalog")

#: Version states in which the content may still change (Art. 9: a body edits until it submits).
EDITABLE = frozenset({"draft", "returned"})
#: Version states of a working version (not yet published).
WORKING = frozenset({"draft", "submitted", "returned", "approved"})


class CatalogEntry(IdMixin, CreatedMixin, Base):
    __tablename__ = "catalog_entry"

    resource_code: Mapped[str] = mapped_column(String(32), unique=True)
    front_segment: Mapped[str] = mapped_column(String(12), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    provider_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    #: the provider's organisation path, for scope checks and scoped lists
    provider_path: Mapped[str] = mapped_column(String(1024), index=True)
    #: the same-level data bureau that reviews the entry (Art. 9), as of its last submission
    bureau_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organization.id"))
    bureau_path: Mapped[str] = mapped_column(String(1024), default="", index=True)
    region_code: Mapped[str | None] = mapped_column(String(6), index=True)
    #: the state of the newest version (the working one if there is one)
    status: Mapped[str] = mapped_column(String(16), index=True, default="draft")
    #: not foreign keys: versions point at their entry, and a cycle would complicate both
    published_version_id: Mapped[uuid.UUID | None]
    working_version_id: Mapped[uuid.UUID | None]
    last_number: Mapped[int] = mapped_column(Integer, default=0)
    #: the confirmed grade (Art. 10), set through ``service.set_grade`` by grading
    grade: Mapped[str | None] = mapped_column(String(32), index=True)
    grade_reasons: Mapped[list[Any]] = mapped_column(default=list)
    graded_at: Mapped[dt.datetime | None]
    graded_by: Mapped[str] = mapped_column(String(64), default="")
    first_published_at: Mapped[dt.datetime | None]
    withdrawn_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    created_by_id: Mapped[uuid.UUID | None]
    created_by: Mapped[str] = mapped_column(String(64), default="")

    versions: Mapped[list[CatalogVersion]] = relationship(
        back_populates="entry", order_by="CatalogVersion.number", cascade="all, delete-orphan",
        passive_deletes=True,
    )
    published_version: Mapped[CatalogVersion | None] = relationship(
        primaryjoin="foreign(CatalogEntry.published_version_id) == CatalogVersion.id",
        viewonly=True, lazy="select",
    )
    working_version: Mapped[CatalogVersion | None] = relationship(
        primaryjoin="foreign(CatalogEntry.working_version_id) == CatalogVersion.id",
        viewonly=True, lazy="select",
    )

    @property
    def current_version(self) -> CatalogVersion | None:
        """The working version if there is one, else the published one."""
        return self.working_version or self.published_version


class CatalogVersion(IdMixin, CreatedMixin, Base):
    __tablename__ = "catalog_version"
    __table_args__ = (UniqueConstraint("entry_id", "number"),)

    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    #: the metadata of the compilation guide (``CatalogEntryCreate`` as JSON) without the data
    #: items (rows of ``catalog_data_item``) and the grade (on the entry)
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    name: Mapped[str] = mapped_column(String(200))
    resource_kind: Mapped[str] = mapped_column(String(16))
    sharing_type: Mapped[str] = mapped_column(String(16))
    opening_type: Mapped[str] = mapped_column(String(16))
    update_cycle: Mapped[str] = mapped_column(String(16))
    #: 涉密属性: who may see the entry while this version is its published one (``access.py``)
    secrecy: Mapped[str] = mapped_column(String(16), default="unclassified",
                                         server_default="unclassified")
    change_note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[uuid.UUID | None]
    created_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[uuid.UUID | None]
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    submitted_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    submitted_by_id: Mapped[uuid.UUID | None]
    submitted_by: Mapped[str] = mapped_column(String(64), default="")
    reviewed_at: Mapped[dt.datetime | None]
    reviewed_by_id: Mapped[uuid.UUID | None]
    reviewed_by: Mapped[str] = mapped_column(String(64), default="")
    published_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]  # superseded by a newer version, or withdrawn

    entry: Mapped[CatalogEntry] = relationship(back_populates="versions")
    items: Mapped[list[DataItem]] = relationship(
        back_populates="version", order_by="DataItem.position", cascade="all, delete-orphan",
        passive_deletes=True, lazy="selectin",
    )


class DataItem(IdMixin, Base):
    """信息项: one field of a version's resource."""

    __tablename__ = "catalog_data_item"
    #: Art. 12 (duplicate collection): published items of other bodies are found by name key
    __table_args__ = (Index("ix_catalog_data_item_name_key", "name_key", "version_id"),)

    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_version.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(64))
    data_type: Mapped[str] = mapped_column(String(4))
    length: Mapped[int | None] = mapped_column(BigInteger)
    data_element_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("catalog_data_element.id"), index=True)
    sharing_type: Mapped[str | None] = mapped_column(String(16))
    sharing_condition: Mapped[str | None] = mapped_column(Text)
    legal_basis: Mapped[str | None] = mapped_column(Text)
    opening_type: Mapped[str | None] = mapped_column(String(16))
    #: the name as ``duplicates.name_key`` keys it (NFKC, variants and synonyms made one)
    name_key: Mapped[str] = mapped_column(String(128), default="", server_default="")

    version: Mapped[CatalogVersion] = relationship(back_populates="items")


class DataElement(IdMixin, CreatedMixin, Base):
    """数据元 (Art. 47): a standard field definition data items may follow."""

    __tablename__ = "catalog_data_element"

    identifier: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    data_type: Mapped[str] = mapped_column(String(4))
    length: Mapped[int | None] = mapped_column(BigInteger)
    value_domain: Mapped[str | None] = mapped_column(Text)
    definition: Mapped[str | None] = mapped_column(Text)
    standard: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(64), default="")
    #: the organisation whose data element it is, and its path: a bureau manages the elements
    #: under its scope; none (elements made before owners were kept) means the province's
    owner_org_id: Mapped[uuid.UUID | None]
    owner_path: Mapped[str | None] = mapped_column(String(1024), index=True)


class ReviewRecord(IdMixin, CreatedMixin, Base):
    """One step of an entry's review trail (Art. 9), with the reviewer's comment."""

    __tablename__ = "catalog_review"

    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_entry.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("catalog_version.id", ondelete="CASCADE"), index=True)
    version_number: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(128), default="")


class CatalogSequence(Base):
    """The last sequence number (后段码) given under each front segment (前段码)."""

    __tablename__ = "catalog_sequence"

    front_segment: Mapped[str] = mapped_column(String(12), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


TSVectorOrText = Text().with_variant(TSVECTOR(), "postgresql")


class SearchDoc(Base):
    """The search index: what one scope of one entry shows, with its segmented terms.

    ``scope`` is ``published`` (what every signed-in user finds) or ``working`` (the draft or
    revision its body and reviewers find instead). ``has_working`` on a published row says a
    working row exists, so a privileged searcher sees one row per entry.
    """

    __tablename__ = "catalog_search_doc"
    __table_args__ = (
        UniqueConstraint("entry_id", "scope"),
        Index("ix_catalog_search_doc_terms", "terms", postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("catalog_entry.id", ondelete="CASCADE"))
    version_id: Mapped[uuid.UUID]
    scope: Mapped[str] = mapped_column(String(10), index=True)
    has_working: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    resource_code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    provider_name: Mapped[str] = mapped_column(String(200))
    provider_org_id: Mapped[uuid.UUID] = mapped_column(index=True)
    provider_path: Mapped[str] = mapped_column(String(1024), index=True)
    bureau_path: Mapped[str] = mapped_column(String(1024), default="")
    region_code: Mapped[str | None] = mapped_column(String(6), index=True)
    resource_kind: Mapped[str] = mapped_column(String(16), index=True)
    sharing_type: Mapped[str] = mapped_column(String(16), index=True)
    opening_type: Mapped[str] = mapped_column(String(16))
    grade: Mapped[str | None] = mapped_column(String(32))
    update_cycle: Mapped[str] = mapped_column(String(16))
    format_class: Mapped[str] = mapped_column(String(24))
    secrecy: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[dt.datetime] = mapped_column(index=True)
    #: PostgreSQL: the weighted tsvector of the row's terms; SQLite: unused (FTS5 instead)
    terms: Mapped[str | None] = mapped_column(TSVectorOrText)


class SearchTerms(Base):
    """A search row's segmented terms per field, space-joined (``catalog/search/text.py``), kept
    apart so the rows searches read stay narrow: the FTS5 index (SQLite) is rebuilt from here,
    and an unchanged version's terms are reused instead of segmented again."""

    __tablename__ = "catalog_search_terms"

    doc_id: Mapped[int] = mapped_column(
        ForeignKey("catalog_search_doc.id", ondelete="CASCADE"), primary_key=True,
        autoincrement=False)
    name: Mapped[str] = mapped_column(Text, default="")
    code: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[str] = mapped_column(Text, default="")
    provider: Mapped[str] = mapped_column(Text, default="")
    items: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")


# --------------------------------------------------------------------------------- census


class Census(IdMixin, CreatedMixin, Base):
    """A census campaign (Art. 9) opened by a data bureau for the bodies of its area."""

    __tablename__ = "census"

    title: Mapped[str] = mapped_column(String(200))
    bureau_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    bureau_path: Mapped[str] = mapped_column(String(1024))
    #: the area it covers: every public body below this government
    area_path: Mapped[str] = mapped_column(String(1024))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    due_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    closed_at: Mapped[dt.datetime | None]

    responses: Mapped[list[CensusResponse]] = relationship(
        back_populates="census", cascade="all, delete-orphan", passive_deletes=True)


class CensusResponse(IdMixin, CreatedMixin, Base):
    """One public body's answer to a census: its information systems and its catalog."""

    __tablename__ = "census_response"
    __table_args__ = (UniqueConstraint("census_id", "org_id"),)

    census_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("census.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    org_path: Mapped[str] = mapped_column(String(1024), index=True)
    org_name: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str | None] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    catalog_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[dt.datetime | None]
    submitted_by: Mapped[str] = mapped_column(String(64), default="")

    census: Mapped[Census] = relationship(back_populates="responses")
    systems: Mapped[list[InfoSystem]] = relationship(
        back_populates="response", order_by="InfoSystem.position", cascade="all, delete-orphan",
        passive_deletes=True, lazy="selectin")
    reminders: Mapped[list[CensusReminder]] = relationship(
        back_populates="response", order_by="CensusReminder.created_at",
        cascade="all, delete-orphan", passive_deletes=True)


class InfoSystem(IdMixin, Base):
    """An information system a body reports in a census (Arts. 9, 30)."""

    __tablename__ = "census_info_system"

    response_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("census_response.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text, default="")
    #: deployed on the government cloud (Art. 30: non-classified systems migrate there)
    on_government_cloud: Mapped[bool] = mapped_column(Boolean, default=False)
    classified: Mapped[bool] = mapped_column(Boolean, default=False)
    #: ids of the catalog entries whose data the system holds
    entry_ids: Mapped[list[Any]] = mapped_column(default=list)

    response: Mapped[CensusResponse] = relationship(back_populates="systems")


class CensusReminder(IdMixin, CreatedMixin, Base):
    """A reminder sent to a body that has not answered a census; shown to it in the platform."""

    __tablename__ = "census_reminder"

    response_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("census_response.id", ondelete="CASCADE"), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    sent_by: Mapped[str] = mapped_column(String(64), default="")

    response: Mapped[CensusResponse] = relationship(back_populates="reminders")


# ----------------------------------------------------------------- the SQLite search file

SEARCH_SCHEMA = "catalog_search"
SEARCH_FILE = "catalog-search.db"
FTS_TABLE = f"{SEARCH_SCHEMA}.fts"
#: FTS5 columns, in the order of the ``bm25()`` weights (search.py)
FTS_COLUMNS = ("name", "code", "keywords", "provider", "items", "summary")
#: the layout of the search file (``PRAGMA user_version``); a file of another layout is rebuilt
SEARCH_LAYOUT = 2
#: address space SQLite may map of the search file: reads of its pages then copy nothing (the
#: file is ~1 KB per entry, and what a search touches, the full-text doclists and the narrow
#: rows, is a fraction of it)
SEARCH_MMAP_BYTES = 256 * 1024 * 1024
#: page cache of the search file per connection (KiB; SQLite's default is 2 MB for every file)
SEARCH_CACHE_KIB = 16 * 1024

#: ``doc.vis`` bits: the row is the published scope (else the working one) · the entry has a
#: working version too · the row's version is classified (涉密)
VIS_PUBLISHED, VIS_HAS_WORKING, VIS_CLASSIFIED = 1, 2, 4
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

#: The search file's tables besides ``fts``: ``doc`` is one narrow row per search row (same id
#: as ``catalog_search_doc`` and the FTS rowid) with what a search reads of *every* match:
#: visibility bits, the owner and facet combination as small integers, the time for
#: newest-first order. ``owner`` holds the distinct (provider, paths, name, region) of the
#: rows, ``combo`` the distinct (status, kind, sharing, opening, grade, cycle, format); both
#: are a few hundred rows, so a search resolves filters and visibility against them and
#: counts facets by two integers, and 100,000 entries take ~2 MB of ``doc``.
_SEARCH_DDL = (
    f"CREATE TABLE {SEARCH_SCHEMA}.owner (id INTEGER PRIMARY KEY, provider_org_id TEXT NOT NULL,"
    " provider_path TEXT NOT NULL, bureau_path TEXT NOT NULL, provider_name TEXT NOT NULL,"
    " region_code TEXT NOT NULL, UNIQUE (provider_org_id, provider_path, bureau_path,"
    " provider_name, region_code))",
    f"CREATE TABLE {SEARCH_SCHEMA}.combo (id INTEGER PRIMARY KEY, status TEXT NOT NULL,"
    " resource_kind TEXT NOT NULL, sharing_type TEXT NOT NULL, opening_type TEXT NOT NULL,"
    " grade TEXT NOT NULL, update_cycle TEXT NOT NULL, format_class TEXT NOT NULL,"
    " UNIQUE (status, resource_kind, sharing_type, opening_type, grade, update_cycle,"
    " format_class))",
    f"CREATE TABLE {SEARCH_SCHEMA}.doc (id INTEGER PRIMARY KEY, owner INTEGER NOT NULL,"
    " combo INTEGER NOT NULL, vis INTEGER NOT NULL, updated INTEGER NOT NULL)",
    f"CREATE INDEX {SEARCH_SCHEMA}.doc_updated ON doc (updated)",
)
#: the columns of ``owner`` and ``combo``, as ``catalog_search_doc`` names them; its NULLs
#: (no region, no grade) are stored as '' so that UNIQUE holds
OWNER_COLUMNS = ("provider_org_id", "provider_path", "bureau_path", "provider_name",
                 "region_code")
COMBO_COLUMNS = ("status", "resource_kind", "sharing_type", "opening_type", "grade",
                 "update_cycle", "format_class")
_NULLABLE = frozenset({"region_code", "grade"})


def _source(column: str) -> str:
    return f"coalesce(d.{column}, '')" if column in _NULLABLE else f"d.{column}"


def narrow_vis(scope: str, has_working: bool, secrecy: str) -> int:
    """``doc.vis`` of a search row (the SQL twin is in :func:`build_search_file`)."""
    return ((VIS_PUBLISHED if scope == "published" else 0)
            | (VIS_HAS_WORKING if has_working else 0)
            | (VIS_CLASSIFIED if secrecy == "classified" else 0))


def narrow_time(value: dt.datetime) -> int:
    """``doc.updated``: microseconds since 1970 (UTC), exactly."""
    return (value - _EPOCH) // dt.timedelta(microseconds=1)


#: SQL twins over ``main.catalog_search_doc d`` (SQLite stores times as
#: 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC)
_VIS_SQL = (f"(CASE WHEN d.scope = 'published' THEN {VIS_PUBLISHED} ELSE 0 END"
            f" | (CASE WHEN d.has_working THEN {VIS_HAS_WORKING} ELSE 0 END)"
            f" | (CASE WHEN d.secrecy = 'classified' THEN {VIS_CLASSIFIED} ELSE 0 END))")
_TIME_SQL = ("(CAST(strftime('%s', d.updated_at) AS INTEGER) * 1000000"
             " + CAST(substr(d.updated_at || '.000000', 21, 6) AS INTEGER))")


@event.listens_for(Pool, "checkout")
def attach_search_index(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """On SQLite, attach the catalog's search file ``catalog-search.db``, kept beside the
    database file, as the schema ``catalog_search``: the FTS5 index and the narrow rows every
    search reads (see ``_SEARCH_DDL``).

    Why a file of its own: FTS5 tables are virtual tables with shadow tables that SQLAlchemy
    cannot describe, so the metadata store holds only what the models describe (and the
    migrations create); the file is derived data (from ``catalog_search_terms`` and
    ``catalog_search_doc``), rebuilt by ``gongshu catalog reindex``, and automatically when the
    file is missing or of an older layout. A transaction that changes both commits both; only
    a crash between the two files' commits could leave the index behind, which a reindex
    repairs. Its own pragmas (memory-mapped reads, a larger page cache) leave the metadata
    store's settings alone.

    Only the platform's metadata store gets it: a SQLite database that has no catalog (an
    organisation's database the library reads, a store not migrated yet) is left alone. At
    checkout, not at connect, because no transaction is open then (ATTACH needs that) and a
    connection opened before the migrations gets the index once they have run; each
    connection looks once it has the catalog.
    """
    if record.info.get(SEARCH_SCHEMA) or not type(dbapi_conn).__module__.startswith(
            ("sqlite3", "pysqlite2")):
        return
    try:
        rows = dbapi_conn.execute("PRAGMA database_list").fetchall()
        has_catalog = dbapi_conn.execute(
            "SELECT 1 FROM main.sqlite_master WHERE name = 'catalog_search_terms'").fetchone()
    except Exception:  # pragma: no cover - not a usable sqlite connection
        return
    names = {row[1]: row[2] for row in rows}
    main = names.get("main") or ""
    if not has_catalog or not main:
        return  # not the metadata store (yet), or in memory (no directory to put it in)
    record.info[SEARCH_SCHEMA] = True
    if SEARCH_SCHEMA in names:
        return
    path = os.path.join(os.path.dirname(main), SEARCH_FILE)
    dbapi_conn.execute(f"ATTACH DATABASE ? AS {SEARCH_SCHEMA}", (path,))
    dbapi_conn.execute(f"PRAGMA {SEARCH_SCHEMA}.journal_mode=WAL")
    dbapi_conn.execute(f"PRAGMA {SEARCH_SCHEMA}.synchronous=NORMAL")
    dbapi_conn.execute(f"PRAGMA {SEARCH_SCHEMA}.mmap_size={SEARCH_MMAP_BYTES}")
    dbapi_conn.execute(f"PRAGMA {SEARCH_SCHEMA}.cache_size=-{SEARCH_CACHE_KIB}")
    layout = dbapi_conn.execute(f"PRAGMA {SEARCH_SCHEMA}.user_version").fetchone()[0]
    if layout != SEARCH_LAYOUT:
        build_search_file(dbapi_conn)


def build_search_file(dbapi_conn: Any, *, force: bool = False) -> int:
    """(Re)build the search file from the metadata store's search rows and terms, in one write
    transaction: once, by whichever connection gets there first (a racing one waits for the
    lock and then finds the layout current). ``force`` rebuilds a current file too. Returns the
    number of rows indexed."""
    dbapi_conn.execute("BEGIN IMMEDIATE")
    try:
        layout = dbapi_conn.execute(f"PRAGMA {SEARCH_SCHEMA}.user_version").fetchone()[0]
        if layout == SEARCH_LAYOUT and not force:
            dbapi_conn.execute("COMMIT")
            return 0
        for table in ("fts", "doc", "owner", "combo"):
            dbapi_conn.execute(f"DROP TABLE IF EXISTS {SEARCH_SCHEMA}.{table}")
        columns = ", ".join(FTS_COLUMNS)
        dbapi_conn.execute(f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5({columns}, "
                           "tokenize='unicode61 remove_diacritics 0')")
        for statement in _SEARCH_DDL:
            dbapi_conn.execute(statement)
        copied = dbapi_conn.execute(
            f"INSERT INTO {FTS_TABLE} (rowid, {columns}) "
            f"SELECT doc_id, {columns} FROM main.catalog_search_terms").rowcount
        for table, cols in (("owner", OWNER_COLUMNS), ("combo", COMBO_COLUMNS)):
            dbapi_conn.execute(
                f"INSERT OR IGNORE INTO {SEARCH_SCHEMA}.{table} ({', '.join(cols)}) "
                f"SELECT DISTINCT {', '.join(_source(c) for c in cols)} "
                "FROM main.catalog_search_doc d")
        owner_match = " AND ".join(f"o.{c} = {_source(c)}" for c in OWNER_COLUMNS)
        combo_match = " AND ".join(f"c.{c} = {_source(c)}" for c in COMBO_COLUMNS)
        dbapi_conn.execute(
            f"INSERT INTO {SEARCH_SCHEMA}.doc (id, owner, combo, vis, updated) "
            f"SELECT d.id, o.id, c.id, {_VIS_SQL}, {_TIME_SQL} FROM main.catalog_search_doc d "
            f"JOIN {SEARCH_SCHEMA}.owner o ON {owner_match} "
            f"JOIN {SEARCH_SCHEMA}.combo c ON {combo_match}")
        dbapi_conn.execute(f"PRAGMA {SEARCH_SCHEMA}.user_version = {SEARCH_LAYOUT}")
        dbapi_conn.execute("COMMIT")
    except BaseException:
        dbapi_conn.execute("ROLLBACK")
        raise
    if copied:
        log.warning("built the catalog search file (layout %s) with %s documents",
                    SEARCH_LAYOUT, copied)
    return max(copied, 0)
