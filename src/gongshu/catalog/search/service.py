"""Catalog search that understands Chinese, with facets, on SQLite and PostgreSQL (Art. 9).

The index is ``catalog_search_doc``: one row per entry and scope. The ``published`` row is what
every signed-in user finds; the ``working`` row (a draft, or a revision in review) is what the
entry's body and its reviewers find instead, so each searcher sees each entry once and only
what they may see (``access.py``: drafts to the body and reviewers, classified entries also to
administrators covering the provider, nothing of either to anyone else; the public, operators
included, only the published rows of entries open to it, Art. 13, a condition on the opening
type and grade of each row's facet combination). Rows are rewritten
by :func:`refresh` whenever the service changes an entry (create, edit, submit, review,
publish, revise, withdraw, grade), in the same transaction.

Text goes through ``catalog/text.py`` on both sides (jieba terms; synonyms on the index side)
and is stored per field, so each field weighs differently in the ranking:

==========  ==================  ==========================  =================
field       what                SQLite FTS5 ``bm25`` weight  PostgreSQL weight
==========  ==================  ==========================  =================
name        信息资源名称          10                          A
code        信息资源代码          8                           A
keywords    关键词, 分类 labels   5                           B
provider    提供方                3                           C
items       信息项 names, codes   2                           C
summary     摘要, format          1                           D
==========  ==================  ==========================  =================

- SQLite: the search file ``catalog-search.db`` (see ``models.py``) holds an FTS5 table over
  the space-joined terms and one narrow row per search row (visibility bits, owner and facet
  combination as small integers, the time). A query is the AND of its terms. A search reads
  the narrow rows of its matches and nothing else: the count and the facets are one GROUP BY
  over (owner, combination) with no ranking, added up per facet in the same statement; the
  page is ranked by ``bm25`` (weights above), keeping only the best ``limit + offset``: without
  filters, the best few by ``bm25`` in the full-text index alone, checked for visibility
  (``TOP_CANDIDATES``); with filters, which may pass few of those, one pass scores only the
  matches that pass and gives the page and the facets together (``count_and_top``). Then only
  the page's ~20 rows of ``catalog_search_doc`` are read.
- PostgreSQL: a weighted ``tsvector`` (``terms``, GIN-indexed) built from the same terms as a
  literal (no text-search parser or locale is involved), matched with a ``tsquery`` of the
  query terms and ranked by ``ts_rank``; the matches are read once (a materialised CTE of
  narrow columns) for the page and one GROUP BY for the count and facets.

A query whose terms do not all occur together is run again without the words that occur in no
entry at all (``relaxed``), if at least half of its words are left: a question with one
unknown word still finds what the rest describes, and a question of mostly unknown words does
not fall back to its one common word.

Facets (provider, region, resource kind, sharing type, opening, grade, update cycle, format)
count the matching entries the searcher may see, with every filter applied: the 20 most
frequent values of each.

**Broad queries.** Above ``GONGSHU_SEARCH_EXACT_LIMIT`` (20,000) matches (信息 is in nearly every name), ranking them all
costs more than it tells (a word in every entry says nothing about any of them: its ``bm25``
weight is ~0), so such a search is *estimated*: the count and the facet counts come from a
fixed sample of the matches (SQLite: every k-th row id; PostgreSQL: ``TABLESAMPLE SYSTEM``
with a fixed seed) scaled up, and the page lists the matches newest first
(``SearchResult.estimated``, ``ranked = False``; the page says "约 …" and suggests narrowing).
Filters that leave few matches bring back the exact, ranked search. ``exact=True`` (the CLI)
always counts and ranks everything.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR
from sqlalchemy.orm import Session

from gongshu.catalog import access
from gongshu.catalog.models import (
    COMBO_COLUMNS,
    FTS_TABLE,
    OWNER_COLUMNS,
    SEARCH_SCHEMA,
    VIS_CLASSIFIED,
    VIS_HAS_WORKING,
    VIS_PUBLISHED,
    CatalogEntry,
    CatalogVersion,
    SearchDoc,
    SearchTerms,
    narrow_time,
    narrow_vis,
)
from gongshu.catalog.search import text as catalog_text
from gongshu.catalog.vocab import vocab
from gongshu.core.db import runtime_of
from gongshu.core.permissions import Actor

DOC = SearchDoc.__table__
TERMS = SearchTerms.__table__

#: (field, SQLite bm25 weight, PostgreSQL weight letter), in FTS column order
FIELDS: tuple[tuple[str, float, str], ...] = (
    ("name", 10.0, "A"),
    ("code", 8.0, "A"),
    ("keywords", 5.0, "B"),
    ("provider", 3.0, "C"),
    ("items", 2.0, "C"),
    ("summary", 1.0, "D"),
)
#: ts_rank weights of D, C, B, A
PG_WEIGHTS = "{0.1, 0.3, 0.6, 1.0}"

#: facet name → the column it counts
FACETS: Mapping[str, sa.Column[Any]] = {
    "provider": DOC.c.provider_org_id,
    "region": DOC.c.region_code,
    "resource_kind": DOC.c.resource_kind,
    "sharing_type": DOC.c.sharing_type,
    "opening_type": DOC.c.opening_type,
    "grade": DOC.c.grade,
    "update_cycle": DOC.c.update_cycle,
    "format_class": DOC.c.format_class,
}
#: how many values of each facet are counted and shown (the most frequent first)
FACET_VALUES = 20
#: facets with few values, counted together as one combination (with the status)
COMBINED_FACETS = ("resource_kind", "sharing_type", "opening_type", "grade", "update_cycle",
                   "format_class")
#: about how many matches the sample of an estimated search reads
SAMPLE_SIZE = 4_000
#: SQLite: the best matches by ``bm25`` among which the page is looked for first (``top``)
TOP_CANDIDATES = 200
#: facet name → the value list that labels its values
FACET_LISTS: Mapping[str, str] = {
    "resource_kind": "resource_kinds",
    "sharing_type": "sharing_types",
    "opening_type": "opening_types",
    "update_cycle": "update_cycles",
    "format_class": "format_classes",
}

#: roles that make someone part of an entry's body (kept here for callers; ``access.py``)
BODY_PERMS = access.BODY_PERMS
covering = access.covering
privileged_clause = access.privileged_clause


# ------------------------------------------------------------------------------- visibility


def _visible(actor: Actor, db: Session, t: Any = DOC) -> Any:
    """SQL over the search rows ``t`` (``catalog_search_doc`` or a sample of it): each entry
    once, as the actor may see it (``access.py``); the public only the published rows of
    entries open to it (Art. 13)."""
    if access.is_public(actor, db):
        return sa.and_(t.c.scope == "published", t.c.status == "published",
                       access.open_clause(db, opening_type=t.c.opening_type, grade=t.c.grade,
                                          secrecy=t.c.secrecy))
    privileged = access.privileged_clause(actor, t.c.provider_path, t.c.bureau_path)
    classified_ok = access.classified_clause(actor, t.c.provider_path, t.c.bureau_path)
    return sa.or_(
        sa.and_(t.c.scope == "published",
                sa.or_(t.c.has_working.is_(False), sa.not_(privileged)),
                sa.or_(t.c.secrecy != access.CLASSIFIED, classified_ok)),
        sa.and_(t.c.scope == "working", privileged),
    )


# ---------------------------------------------------------------------------------- writing


def _pg_tsvector(fields: Sequence[tuple[str, str]]) -> str:
    """A tsvector literal: every term with its position and its field's weight."""
    parts: list[str] = []
    position = 0
    for terms, weight in fields:
        for term in terms.split():
            position = min(position + 1, 16383)
            lexeme = term.replace("\\", "\\\\").replace("'", "''")
            parts.append(f"'{lexeme}':{position}{weight}")
    return " ".join(parts)


def _terms(version: CatalogVersion, resource_code: str) -> dict[str, str]:
    """Each field's index terms (see the module doc for what goes in which field)."""
    c = version.content
    v = vocab()
    category = c.get("category") or {}
    kind = category.get("resource_kind", "")
    subject = v.subject(kind, category.get("subject", "")) if kind in v.subjects else None
    fmt = c.get("format") or {}
    keywords = list(c.get("keywords") or [])
    keywords += [v.resource_kinds.label(kind)] + ([subject.zh] if subject else [])
    provider = c.get("provider") or {}
    summary = [c.get("summary") or "", v.format_classes.label(fmt.get("format_class"))]
    if fmt.get("format_type"):
        summary.append(v.format_types.label(fmt["format_type"]))
    items = [f"{i.name} {i.code}" for i in version.items]
    it = catalog_text.index_terms
    return {
        "name": it(c.get("name") or ""),
        "code": it(resource_code),
        "keywords": it(" ".join(keywords)),
        "provider": it(f"{provider.get('name', '')} {provider.get('code', '')}"),
        "items": it(" ".join(items)),
        "summary": it(" ".join(summary)),
    }


def _doc_values(entry: CatalogEntry, version: CatalogVersion, scope: str,
                has_working: bool) -> dict[str, Any]:
    c = version.content
    return {
        "entry_id": entry.id, "version_id": version.id, "scope": scope,
        "has_working": has_working, "status": version.status,
        "resource_code": entry.resource_code, "name": version.name, "version": version.number,
        "provider_name": (c.get("provider") or {}).get("name", ""),
        "provider_org_id": entry.provider_org_id, "provider_path": entry.provider_path,
        "bureau_path": entry.bureau_path or "", "region_code": entry.region_code,
        "resource_kind": version.resource_kind, "sharing_type": version.sharing_type,
        "opening_type": version.opening_type, "grade": entry.grade,
        "update_cycle": version.update_cycle,
        "format_class": (c.get("format") or {}).get("format_class", ""),
        "secrecy": c.get("secrecy", ""), "updated_at": version.updated_at,
    }


def _text_for(db: Session) -> Any:
    """The segmenter, caching its dictionary in the data directory (``GONGSHU_CACHE_DIR`` wins)."""
    runtime = db.info.get("runtime")
    if runtime is not None:
        catalog_text.set_default_cache_dir(runtime.settings.resolved_data_dir / "cache")
    return catalog_text


def _is_sqlite(db: Session) -> bool:
    return db.get_bind().dialect.name == "sqlite"


def _write_terms(db: Session, doc_id: int, terms: Mapping[str, str], *, replace: bool) -> None:
    """Store a row's terms and index them (FTS5 row, or the row's tsvector)."""
    if replace:
        db.execute(TERMS.update().where(TERMS.c.doc_id == doc_id).values(**terms))
    else:
        db.execute(TERMS.insert().values(doc_id=doc_id, **terms))
    if _is_sqlite(db):
        if replace:
            db.execute(sa.text(f"DELETE FROM {FTS_TABLE} WHERE rowid = :id"), {"id": doc_id})
        names = [name for name, _w, _l in FIELDS]
        db.execute(sa.text(f"INSERT INTO {FTS_TABLE} (rowid, {', '.join(names)}) "
                           f"VALUES (:id, {', '.join(':' + n for n in names)})"),
                   {"id": doc_id, **{n: terms[n] for n in names}})
    else:
        literal = _pg_tsvector([(terms[n], letter) for n, _w, letter in FIELDS])
        db.execute(DOC.update().where(DOC.c.id == doc_id)
                   .values(terms=sa.cast(sa.literal(literal), TSVECTOR)))


def _dictionary_id(db: Session, table: str, columns: Sequence[str], values: Sequence[Any]) -> int:
    """The id of a row of ``owner`` or ``combo`` (search file), added if new."""
    where = " AND ".join(f"{c} = :{c}" for c in columns)
    params = dict(zip(columns, values, strict=True))
    found = db.execute(sa.text(f"SELECT id FROM {SEARCH_SCHEMA}.{table} WHERE {where}"),
                       params).scalar()
    if found is None:
        found = db.execute(sa.text(
            f"INSERT INTO {SEARCH_SCHEMA}.{table} ({', '.join(columns)}) "
            f"VALUES ({', '.join(':' + c for c in columns)}) RETURNING id"), params).scalar_one()
    return int(found)


def _write_narrow(db: Session, doc_id: int, values: Mapping[str, Any]) -> None:
    """SQLite: the search row's narrow row in the search file (``models.py``)."""
    def text(column: str) -> str:
        value = values[column]
        return value.hex if isinstance(value, uuid.UUID) else (value or "")

    owner = _dictionary_id(db, "owner", OWNER_COLUMNS, [text(c) for c in OWNER_COLUMNS])
    combo = _dictionary_id(db, "combo", COMBO_COLUMNS, [text(c) for c in COMBO_COLUMNS])
    db.execute(sa.text(f"INSERT OR REPLACE INTO {SEARCH_SCHEMA}.doc (id, owner, combo, vis, "
                       "updated) VALUES (:id, :owner, :combo, :vis, :updated)"),
               {"id": doc_id, "owner": owner, "combo": combo,
                "vis": narrow_vis(values["scope"], values["has_working"], values["secrecy"]),
                "updated": narrow_time(values["updated_at"])})


def _delete_doc(db: Session, doc_id: int) -> None:
    if _is_sqlite(db):
        db.execute(sa.text(f"DELETE FROM {FTS_TABLE} WHERE rowid = :id"), {"id": doc_id})
        db.execute(sa.text(f"DELETE FROM {SEARCH_SCHEMA}.doc WHERE id = :id"), {"id": doc_id})
    db.execute(TERMS.delete().where(TERMS.c.doc_id == doc_id))
    db.execute(DOC.delete().where(DOC.c.id == doc_id))


def _stored_terms(db: Session, doc_id: int) -> dict[str, str]:
    row = db.execute(sa.select(*[TERMS.c[n] for n, _w, _l in FIELDS])
                     .where(TERMS.c.doc_id == doc_id)).mappings().one()
    return dict(row)


_DOC_COLUMNS = [c for c in DOC.c if c.name != "terms"]


def refresh(db: Session, /, entry: CatalogEntry) -> None:
    """Bring the entry's index rows in line with its versions (call after every change).

    Segmenting is most of a workflow step's cost, so the terms of a version whose content has
    not changed since it was indexed (same version, same ``updated_at``) are reused."""
    _text_for(db)
    db.flush()
    wanted: dict[str, tuple[CatalogVersion, bool]] = {}
    published, working = entry.published_version, entry.working_version
    if published is not None and published.status == "published":
        wanted["published"] = (published, working is not None)
    if working is not None:
        wanted["working"] = (working, False)
    existing = {row.scope: row for row in db.execute(
        sa.select(*_DOC_COLUMNS).where(DOC.c.entry_id == entry.id)).mappings()}
    unchanged = {scope: row for scope, row in existing.items()
                 if scope in wanted and row["version_id"] == wanted[scope][0].id
                 and row["updated_at"] == wanted[scope][0].updated_at}
    reusable = {row["version_id"]: _stored_terms(db, row["id"]) for row in existing.values()
                if any(row["version_id"] == v.id and row["updated_at"] == v.updated_at
                       for v, _h in wanted.values())}
    for scope, row in existing.items():
        if scope not in wanted:
            _delete_doc(db, row["id"])
    for scope, (version, has_working) in wanted.items():
        values = _doc_values(entry, version, scope, has_working)
        row = existing.get(scope)
        if row is not None:
            doc_id = row["id"]
            changed = {k: v for k, v in values.items() if row[k] != v}
            if changed:
                db.execute(DOC.update().where(DOC.c.id == doc_id).values(**changed))
            if scope not in unchanged:
                terms = reusable.get(version.id) or _terms(version, entry.resource_code)
                _write_terms(db, doc_id, terms, replace=True)
        else:
            doc_id = db.execute(DOC.insert().values(**values).returning(DOC.c.id)).scalar_one()
            terms = reusable.get(version.id) or _terms(version, entry.resource_code)
            _write_terms(db, doc_id, terms, replace=False)
        if _is_sqlite(db):
            _write_narrow(db, doc_id, values)


def remove(db: Session, /, entry_id: uuid.UUID) -> None:
    """Drop an entry's index rows (the entry is being deleted)."""
    for doc_id in db.scalars(sa.select(DOC.c.id).where(DOC.c.entry_id == entry_id)).all():
        _delete_doc(db, doc_id)


def reindex(db: Session, /, *, progress: Any = None) -> int:
    """Rebuild the whole index from the entries (after editing the synonyms or the dictionary,
    or to repair the SQLite index file); returns the number of entries indexed."""
    if _is_sqlite(db):
        for table in ("fts", "doc", "owner", "combo"):
            db.execute(sa.text(f"DELETE FROM {SEARCH_SCHEMA}.{table}"))
    db.execute(TERMS.delete())
    db.execute(DOC.delete())
    ids = db.scalars(sa.select(CatalogEntry.id).order_by(CatalogEntry.id)).all()
    for done, entry_id in enumerate(ids, 1):
        entry = db.get(CatalogEntry, entry_id)
        assert entry is not None
        refresh(db, entry)
        if progress is not None and done % 500 == 0:
            progress(done, len(ids))
    return len(ids)


# ---------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class SearchFilters:
    """Facet filters; each given value must match exactly."""

    provider: uuid.UUID | None = None
    region: str | None = None
    resource_kind: str | None = None
    sharing_type: str | None = None
    opening_type: str | None = None
    grade: str | None = None
    update_cycle: str | None = None
    format_class: str | None = None
    status: str | None = None

    def clauses(self, t: Any = DOC) -> list[Any]:
        """Conditions on the search rows ``t`` (``catalog_search_doc`` or a sample of it)."""
        out = [t.c[FACETS[name].name] == value for name, value in self._given().items()
               if name != "status"]
        if self.status:
            out.append(t.c.status == self.status)
        return out

    def _given(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (*FACETS, "status")
                if getattr(self, name) not in (None, "")}

    def active(self) -> dict[str, str]:
        return {name: str(value) for name, value in self._given().items()}


@dataclass(frozen=True)
class Hit:
    entry_id: uuid.UUID
    resource_code: str
    name: str
    provider_name: str
    provider_org_id: uuid.UUID
    region_code: str | None
    status: str
    version: int
    scope: str
    resource_kind: str
    sharing_type: str
    opening_type: str
    grade: str | None
    update_cycle: str
    format_class: str
    updated_at: dt.datetime
    score: float | None


@dataclass(frozen=True)
class FacetValue:
    value: str
    count: int
    label: str = ""


@dataclass
class SearchResult:
    hits: list[Hit]
    count: int
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)
    terms: list[str] = field(default_factory=list)
    relaxed: bool = False
    #: the count and the facet counts are estimates from a sample (a broad query; "约 …")
    estimated: bool = False
    #: the hits are in order of relevance (else newest first: no query, or a broad one)
    ranked: bool = False
    #: no entry has every term: the hits match at least ``need`` of them, most first
    partial: bool = False
    #: the best hit is weak (nothing, or not every term): the page offers suggestions
    weak: bool = False
    #: "did you mean": queries that would find more (the known words only …)
    suggestions: list[str] = field(default_factory=list)
    #: related entries when the best match is weak (not counted in ``count``)
    related: list[Hit] = field(default_factory=list)


_HIT_COLUMNS = (
    DOC.c.entry_id, DOC.c.resource_code, DOC.c.name, DOC.c.provider_name, DOC.c.provider_org_id,
    DOC.c.region_code, DOC.c.status, DOC.c.version, DOC.c.scope, DOC.c.resource_kind,
    DOC.c.sharing_type, DOC.c.opening_type, DOC.c.grade, DOC.c.update_cycle,
    DOC.c.format_class, DOC.c.updated_at,
)

#: a facet group: (provider org id, provider name, region, status, the COMBINED_FACETS …, n)
Group = tuple[Any, ...]


@dataclass
class _Found:
    """What one backend found: the page (search row ids and scores, in order), the count and
    the facet groups (``Group``; counts already scaled when estimated)."""

    page: list[tuple[int, float | None]]
    count: int
    groups: list[Group]
    estimated: bool = False
    ranked: bool = False


def _quote_fts(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _quote_pg(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def _lit(sql: str) -> Any:
    return sa.literal_column(sql)


@dataclass(frozen=True)
class _Query:
    """What a search matches: groups (one per query term: the term OR its synonyms and full
    forms, each an AND of terms), of which at least ``need`` must match (all, or a minimum
    that should match, module doc)."""

    groups: tuple[tuple[catalog_text.Alternative, ...], ...]
    need: int

    @classmethod
    def every(cls, groups: Sequence[tuple[catalog_text.Alternative, ...]]) -> _Query:
        return cls(tuple(groups), len(groups))

    def __bool__(self) -> bool:
        return bool(self.groups)

    def _expression(self, quote: Any, and_: str, or_: str) -> str:
        def group(alternatives: tuple[catalog_text.Alternative, ...]) -> str:
            alts = [and_.join(quote(t) for t in alt) for alt in alternatives]
            return alts[0] if len(alts) == 1 and len(alternatives[0]) == 1 else \
                "(" + or_.join(f"({a})" for a in alts) + ")"

        parts = [group(g) for g in self.groups]
        if self.need >= len(parts):
            return and_.join(parts)
        return or_.join("(" + and_.join(parts[i] for i in combo) + ")"
                        for combo in itertools.combinations(range(len(parts)), self.need))

    def fts(self) -> str:
        return self._expression(_quote_fts, " AND ", " OR ")

    def tsquery(self) -> str:
        return self._expression(_quote_pg, " & ", " | ")


class _SqliteSearch:
    """Search over the search file (``catalog_search``: ``fts``, ``doc``, ``owner``, ``combo``).

    Every match costs one FTS5 doclist step and one lookup of its narrow row; ``bm25`` (about
    1 µs a row, the dearest part) is computed only while ranking, never while counting: in the
    full-text index alone without filters, for the matches that pass with them."""

    OWNER = sa.table("owner", *[sa.column(c) for c in ("id", *OWNER_COLUMNS)],
                     schema=SEARCH_SCHEMA)
    COMBO = sa.table("combo", *[sa.column(c) for c in ("id", *COMBO_COLUMNS)],
                     schema=SEARCH_SCHEMA)
    WITH_TERMS = sa.text(f"{FTS_TABLE} AS f CROSS JOIN {SEARCH_SCHEMA}.doc AS d "
                         "ON d.id = f.rowid")
    NO_TERMS = sa.text(f"{SEARCH_SCHEMA}.doc AS d")

    def __init__(self, db: Session, actor: Actor, filters: SearchFilters) -> None:
        self.db = db
        filtering = self._filters(filters)
        #: filters given: ``count_and_top`` (score only what passes) beats ``count`` + ``top``
        self.filtered = bool(filtering)
        self.conds = [self._visible(actor), *filtering]

    # the conditions, on the narrow row ``d``
    def _visible(self, actor: Actor) -> Any:
        def bits(mask: int, value: int) -> Any:
            return _lit(f"(d.vis & {mask})") == _lit(str(value))

        if access.is_public(actor, self.db):  # Art. 13: published, unclassified and open
            c = self.COMBO.c
            return sa.and_(
                bits(VIS_PUBLISHED | VIS_CLASSIFIED, VIS_PUBLISHED),
                _lit("d.combo").in_(sa.select(c.id).where(
                    c.status == "published",
                    access.open_clause(self.db, opening_type=c.opening_type, grade=c.grade,
                                       secrecy=sa.null()))))

        if actor.is_system:  # each entry once: its working row if it has one
            return sa.or_(bits(VIS_PUBLISHED | VIS_HAS_WORKING, VIS_PUBLISHED),
                          bits(VIS_PUBLISHED, 0))
        owner, o = _lit("d.owner"), self.OWNER.c
        body, reviews = access.body_grants(actor), access.review_grants(actor)
        admins = access.admin_grants(actor)
        if not (body or reviews or admins):  # published, unclassified
            return bits(VIS_PUBLISHED | VIS_CLASSIFIED, VIS_PUBLISHED)
        privileged = (owner.in_(sa.select(o.id).where(
            access.privileged_clause(actor, o.provider_path, o.bureau_path)))
            if body or reviews else sa.false())
        classified_ok = owner.in_(sa.select(o.id).where(
            access.classified_clause(actor, o.provider_path, o.bureau_path)))
        return sa.or_(
            sa.and_(bits(VIS_PUBLISHED, VIS_PUBLISHED),
                    sa.or_(bits(VIS_HAS_WORKING, 0), sa.not_(privileged)),
                    sa.or_(bits(VIS_CLASSIFIED, 0), classified_ok)),
            sa.and_(bits(VIS_PUBLISHED, 0), privileged),
        )

    def _filters(self, filters: SearchFilters) -> list[Any]:
        given = filters._given()
        owner = {"provider_org_id": given["provider"].hex} if "provider" in given else {}
        if "region" in given:
            owner["region_code"] = given["region"]
        combo = {name: value for name, value in given.items() if name in COMBO_COLUMNS}
        out = []
        for column, table, wanted in (("d.owner", self.OWNER, owner),
                                      ("d.combo", self.COMBO, combo)):
            if wanted:
                out.append(_lit(column).in_(sa.select(table.c.id).where(
                    *[table.c[name] == value for name, value in wanted.items()])))
        return out

    @staticmethod
    def _match(terms: _Query) -> Any:
        return _lit("f.fts").op("MATCH")(sa.literal(terms.fts()))

    def _from(self, terms: _Query) -> tuple[Any, list[Any]]:
        if terms:
            return self.WITH_TERMS, [self._match(terms)]
        return self.NO_TERMS, []

    def raw_count(self, terms: _Query) -> int:
        """Matches before visibility and filters (cheap: FTS5 counts its doclists)."""
        if terms:
            stmt = sa.select(sa.func.count()).select_from(sa.text(f"{FTS_TABLE} AS f")).where(
                self._match(terms))
        else:
            stmt = sa.select(sa.func.count()).select_from(self.NO_TERMS)
        return int(self.db.execute(stmt).scalar_one())

    def _facet_parts(self, g: Any) -> list[Any]:
        """From ``g`` (owner, combo, n: the matches grouped, a few hundred rows), in one
        statement: the 20 biggest providers, every region, every combination and the total,
        each as a group whose other fields are NULL (``_facets`` adds them up as it would the
        groups themselves); the kind (p, r, c, t) first."""
        o, c = self.OWNER.c, self.COMBO.c
        none = sa.null()
        n = sa.func.sum(g.c.n).label("n")
        by_owner = g.join(self.OWNER, o.id == g.c.owner)
        providers = (sa.select(sa.literal("p").label("kind"), o.provider_org_id,
                               sa.func.max(o.provider_name).label("name"),
                               none.label("region"), none.label("status"),
                               *[none.label(f) for f in COMBINED_FACETS], n)
                     .select_from(by_owner).group_by(o.provider_org_id)
                     .order_by(sa.desc("n"), o.provider_org_id).limit(FACET_VALUES)
                     .subquery("p"))
        return [
            sa.select(*providers.c),
            sa.select(sa.literal("r"), none, none, o.region_code, none,
                      *[none for _f in COMBINED_FACETS], n)
            .select_from(by_owner).group_by(o.region_code),
            sa.select(sa.literal("c"), none, none, none, c.status,
                      *[c[f] for f in COMBINED_FACETS], n)
            .select_from(g.join(self.COMBO, c.id == g.c.combo)).group_by(g.c.combo),
            sa.select(sa.literal("t"), none, none, none, none,
                      *[none for _f in COMBINED_FACETS], n).select_from(g),
        ]

    @staticmethod
    def _tally(rows: Any) -> tuple[int, list[Group], dict[str, list[Any]]]:
        """The total (kind t), the facet groups (p, r, c) and the other kinds' rows."""
        total, groups, other = 0, [], {}
        for kind, *row in rows:
            if kind == "t":
                total = int(row[-1] or 0)
            elif kind in ("p", "r", "c"):
                groups.append(tuple(row))
            else:
                other.setdefault(kind, []).append(row)
        return total, groups, other

    @staticmethod
    def _grouped(rows: Any) -> Any:
        return (sa.select(rows.c.owner, rows.c.combo, sa.func.count().label("n"))
                .group_by(rows.c.owner, rows.c.combo).cte("g").prefix_with("MATERIALIZED"))

    def count(self, terms: _Query, *, facets: bool) -> tuple[int, list[Group]]:
        """The count and facet groups of the matches that pass (no ranking)."""
        from_, match = self._from(terms)
        if not facets:
            stmt = sa.select(sa.func.count()).select_from(from_).where(*match, *self.conds)
            return int(self.db.execute(stmt).scalar_one()), []
        m = (sa.select(_lit("d.owner").label("owner"), _lit("d.combo").label("combo"))
             .select_from(from_).where(*match, *self.conds).cte("m"))
        total, groups, _ = self._tally(self.db.execute(
            sa.union_all(*self._facet_parts(self._grouped(m)))))
        return total, groups

    def count_and_top(self, terms: _Query, *, facets: bool, limit: int,
                      offset: int) -> tuple[list[tuple[int, float | None]], int, list[Group]]:
        """The page by relevance, the count and the facet groups of a query with terms in ONE
        pass over its matches: each match's narrow row is read once and checked against
        visibility and the filters, and only the matches that pass are scored (``bm25``), into
        a materialised CTE that the page and the facets are taken from."""
        weights = ", ".join(repr(w) for _n, w, _l in FIELDS)
        m = (sa.select(_lit("d.id").label("id"), _lit("d.owner").label("owner"),
                       _lit("d.combo").label("combo"),
                       (-_lit(f"bm25(f.fts, {weights})")).label("score"))
             .select_from(self.WITH_TERMS).where(self._match(terms), *self.conds)
             .cte("m").prefix_with("MATERIALIZED"))
        top = (sa.select(m.c.id, m.c.score).order_by(m.c.score.desc(), m.c.id)
               .limit(limit).offset(offset).subquery("top"))
        none = sa.null()
        width = 3 + len(COMBINED_FACETS)  # the facet groups' columns between kind and n
        hits = sa.select(sa.literal("h"), top.c.id, *[none] * width, top.c.score)
        if facets:
            parts = [hits, *self._facet_parts(self._grouped(m))]
        else:
            parts = [hits, sa.select(sa.literal("t"), *[none] * (width + 1), sa.func.count())
                     .select_from(m)]
        total, groups, other = self._tally(self.db.execute(sa.union_all(*parts)))
        page = [(int(row[0]), float(row[-1])) for row in other.get("h", [])]
        page.sort(key=lambda r: (-(r[1] or 0.0), r[0]))  # a UNION does not keep the order
        return page, total, groups

    def top(self, terms: _Query, *, limit: int, offset: int,
            count: int) -> list[tuple[int, float | None]]:
        """The page by relevance (``bm25`` of the matches that pass), or newest first.

        ``count`` is how many matches pass (from :meth:`count`). The best
        ``TOP_CANDIDATES + limit + offset`` matches by ``bm25`` are found in the full-text
        index alone, and only they are checked
        against visibility and the filters: if the page is among them (it is whenever enough of
        them pass), that is the page, in the same order as ranking every match would give; if
        not (filters that few of the best pass), every match is ranked."""
        if not terms:
            return self.newest([], limit=limit, offset=offset)
        weights = ", ".join(repr(w) for _n, w, _l in FIELDS)
        score = (-_lit(f"bm25(f.fts, {weights})")).label("score")
        wanted = min(limit, count - offset)
        k = TOP_CANDIDATES + limit + offset
        best = (sa.select(_lit("f.rowid").label("id"), score)
                .select_from(sa.text(f"{FTS_TABLE} AS f")).where(self._match(terms))
                .order_by(sa.desc(_lit("score")), _lit("f.rowid")).limit(k).subquery("c"))
        stmt = (sa.select(best.c.id, best.c.score)
                .select_from(best.join(sa.text(f"{SEARCH_SCHEMA}.doc AS d"),
                                       _lit("d.id") == best.c.id))
                .where(*self.conds)
                .order_by(best.c.score.desc(), best.c.id).limit(limit).offset(offset))
        page = [(int(i), float(s)) for i, s in self.db.execute(stmt)]
        if len(page) >= wanted:
            return page
        from_, match = self._from(terms)
        stmt = (sa.select(_lit("f.rowid").label("id"), score).select_from(from_)
                .where(*match, *self.conds)
                .order_by(sa.desc(_lit("score")), _lit("f.rowid")).limit(limit).offset(offset))
        return [(int(i), float(s)) for i, s in self.db.execute(stmt)]

    def sample(self, terms: _Query, raw: int) -> tuple[float, list[Group]]:
        """Every k-th row id of the matches (~``SAMPLE_SIZE``), each marked with whether it
        passes visibility and filters: (the estimated count, the facet groups of the sampled
        rows that pass, scaled up), aggregated in the statement."""
        from_, match = self._from(terms)
        step = max(1, -(-raw // SAMPLE_SIZE))
        visible = sa.case((sa.and_(*self.conds), 1), else_=0)
        s = (sa.select(_lit("d.owner").label("owner"), _lit("d.combo").label("combo"),
                       visible.label("v"))
             .select_from(from_).where(*match, _lit(f"(d.id % {step})") == 0)
             .cte("s").prefix_with("MATERIALIZED"))
        g = (sa.select(s.c.owner, s.c.combo, sa.func.count().label("n")).where(s.c.v == 1)
             .group_by(s.c.owner, s.c.combo).cte("g").prefix_with("MATERIALIZED"))
        none = sa.null()
        sampled = sa.select(sa.literal("s"), *[none] * (3 + len(COMBINED_FACETS) + 1),
                            sa.func.count()).select_from(s)
        total, groups, other = self._tally(self.db.execute(
            sa.union_all(*self._facet_parts(g), sampled)))
        size = int(other["s"][0][-1]) if other.get("s") else 0
        scale = raw / size if size else 0.0
        return total * scale, [(*grp[:-1], (grp[-1] or 0) * scale) for grp in groups]

    def newest(self, terms: _Query, *, limit: int, offset: int) -> list[tuple[int, None]]:
        """The page newest first, walking the narrow rows by time (``doc_updated``) and asking
        the full-text index about each (a broad query matches most of them)."""
        match = []
        if terms:
            query = terms.fts()
            match.append(sa.text(f"EXISTS (SELECT 1 FROM {FTS_TABLE} AS f WHERE f.fts MATCH "
                                 ":fts_query AND f.rowid = d.id)").bindparams(fts_query=query))
        stmt = (sa.select(_lit("d.id").label("id")).select_from(self.NO_TERMS)
                .where(*match, *self.conds)
                .order_by(_lit("d.updated").desc(), _lit("d.id").desc())
                .limit(limit).offset(offset))
        return [(int(i), None) for (i,) in self.db.execute(stmt)]

    def term_exists(self, group: tuple[catalog_text.Alternative, ...]) -> bool:
        found = self.db.execute(sa.text(f"SELECT 1 FROM {FTS_TABLE} AS f WHERE f.fts MATCH :q "
                                        "LIMIT 1"), {"q": _Query.every([group]).fts()}).first()
        return found is not None


class _PostgresSearch:
    """Search over ``catalog_search_doc`` and its GIN-indexed ``terms``."""

    #: the seed of the sample of an estimated search, so the same query shows the same figures
    SEED = 20240701

    def __init__(self, db: Session, actor: Actor, filters: SearchFilters) -> None:
        self.db = db
        self.actor = actor
        self.filters = filters

    def _conds(self, t: Any) -> list[Any]:
        return [_visible(self.actor, self.db, t), *self.filters.clauses(t)]

    @staticmethod
    def _tsquery(terms: _Query) -> Any:
        return sa.cast(sa.literal(terms.tsquery()), TSQUERY)

    def _match(self, terms: _Query, t: Any = DOC) -> list[Any]:
        return [t.c.terms.op("@@")(self._tsquery(terms))] if terms else []

    def raw_count(self, terms: _Query) -> int:
        """The planner's estimate of the matches (PostgreSQL keeps the frequencies of the
        commonest lexemes of ``terms``; an exact count would read every match)."""
        stmt = sa.select(sa.literal(1)).select_from(DOC).where(*self._match(terms))
        compiled = stmt.compile(dialect=self.db.get_bind().dialect)
        # straight to the driver: the compiled text is already in its parameter style
        plan = self.db.connection().exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled.string}",
                                                    compiled.params).scalar_one()
        if isinstance(plan, str):  # pragma: no cover - a driver that does not parse json
            import json

            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])

    def _group_columns(self, t: Any) -> list[Any]:
        return [t.c.provider_org_id, t.c.provider_name, t.c.region_code, t.c.status,
                *[t.c[name] for name in COMBINED_FACETS]]

    def count_and_top(self, terms: _Query, *, facets: bool, limit: int,
                      offset: int) -> tuple[list[tuple[int, float | None]], int, list[Group]]:
        """The page, the count and the facet groups in ONE statement: the matches are read
        once into a materialised CTE of narrow columns, ranked and grouped from there."""
        score = (sa.func.ts_rank(_lit(f"'{PG_WEIGHTS}'::float4[]"), DOC.c.terms,
                                 self._tsquery(terms)) if terms else sa.null())
        cols = [DOC.c.id, score.label("score"), DOC.c.updated_at]
        if facets:
            cols += self._group_columns(DOC)
        m = (sa.select(*cols).where(*self._match(terms), *self._conds(DOC))
             .cte("m").prefix_with("MATERIALIZED"))
        order = ([m.c.score.desc(), m.c.id] if terms
                 else [m.c.updated_at.desc(), m.c.id.desc()])
        width = len(self._group_columns(DOC)) if facets else 0
        nothing = [sa.null()] * width
        top = sa.select(m.c.id, m.c.score).order_by(*order).limit(limit).offset(offset).subquery()
        parts = [sa.select(sa.literal("h").label("kind"), top.c.id.label("id"),
                           sa.cast(top.c.score, sa.Float).label("score"), *nothing,
                           sa.literal(0).label("n"))]
        if facets:
            group = self._group_columns(m)
            parts.append(sa.select(sa.literal("g"), sa.null(), sa.null(), *group,
                                   sa.func.count()).group_by(*group))
        else:
            parts.append(sa.select(sa.literal("g"), sa.null(), sa.null(), sa.func.count())
                         .select_from(m))
        page: list[tuple[int, float | None]] = []
        groups: list[Group] = []
        rows = self.db.execute(sa.union_all(*parts)).all()
        hits = [(row[1], row[2], row[-1]) for row in rows if row[0] == "h"]
        for doc_id, hit_score, _n in hits:
            page.append((int(doc_id), hit_score))
        count = 0
        for row in rows:
            if row[0] == "g":
                count += row[-1]
                if facets:
                    groups.append(tuple(row[3:]))
        # the statement's order, which a UNION does not keep
        if terms:
            page.sort(key=lambda r: (-(r[1] or 0.0), r[0]))
        return page, count, groups

    def sample(self, terms: _Query, raw: int) -> tuple[float, list[Group]]:
        """(the estimated count, the scaled facet groups) from ``TABLESAMPLE SYSTEM`` (whole
        pages, a fixed seed) of ~``SAMPLE_SIZE`` matches."""
        percent = min(100.0, 100.0 * SAMPLE_SIZE / max(raw, 1))
        t = sa.tablesample(DOC, sa.func.system(percent), name="s",
                           seed=sa.literal(self.SEED))
        visible = sa.case((sa.and_(*self._conds(t)), 1), else_=0)
        group = self._group_columns(t)
        stmt = (sa.select(*group, visible, sa.func.count()).where(*self._match(terms, t))
                .group_by(*group, visible))
        scale = 100.0 / percent
        groups = [(*row[:-2], row[-1] * scale) for row in self.db.execute(stmt) if row[-2]]
        return sum(g[-1] for g in groups), groups

    def newest(self, terms: _Query, *, limit: int, offset: int) -> list[tuple[int, None]]:
        stmt = (sa.select(DOC.c.id).where(*self._match(terms), *self._conds(DOC))
                .order_by(DOC.c.updated_at.desc(), DOC.c.id.desc()).limit(limit).offset(offset))
        return [(int(i), None) for i in self.db.scalars(stmt)]

    def term_exists(self, group: tuple[catalog_text.Alternative, ...]) -> bool:
        # a materialised CTE is planned without the LIMIT, so PostgreSQL asks the GIN index
        # instead of scanning the table in the hope of an early row
        matches = (sa.select(DOC.c.id).where(*self._match(_Query.every([group])))
                   .cte("t").prefix_with("MATERIALIZED"))
        return self.db.execute(sa.select(sa.literal(1)).select_from(matches).limit(1)).first() \
            is not None


def _find(backend: Any, terms: _Query, *, limit: int, offset: int, facets: bool,
          exact: bool, exact_limit: int) -> _Found:
    """Count, facets and the page of one query (module doc: exact, or estimated if broad)."""
    if not exact:
        raw = backend.raw_count(terms)
        if raw > exact_limit:
            estimate, groups = backend.sample(terms, raw)
            if estimate > exact_limit:
                page = backend.newest(terms, limit=limit, offset=offset)
                return _Found(page, round(estimate), groups if facets else [], estimated=True)
    if isinstance(backend, _PostgresSearch) or (terms and backend.filtered):
        page, count, groups = backend.count_and_top(terms, facets=facets, limit=limit,
                                                    offset=offset)
    else:  # SQLite: count and facets without ranking, then the page from the best matches
        count, groups = backend.count(terms, facets=facets)
        page = (backend.top(terms, limit=limit, offset=offset, count=count)
                if count > offset else [])
    return _Found(page, count, groups, ranked=bool(terms))


def _approx(value: float) -> int:
    """An estimate as people read it: two significant figures (at least 1)."""
    if value < 1:
        return 1 if value > 0 else 0
    digits = len(str(int(value))) - 2
    return int(round(value, -digits)) if digits > 0 else int(round(value))


def _facets(groups: list[Group], *, estimated: bool) -> dict[str, list[FacetValue]]:
    """Each facet's values and counts from the groups, most frequent first."""
    # a broad match has hundreds of groups but far fewer owners and combinations: sum by those
    # first, then spread each over its facets
    by_owner: dict[tuple[Any, Any, Any], float] = {}
    by_combo: dict[tuple[Any, ...], float] = {}
    for org_id, name, region, _status, *rest in groups:
        n = rest[-1]
        owner = (org_id, name, region)
        by_owner[owner] = by_owner.get(owner, 0) + n
        combo = tuple(rest[:-1])
        by_combo[combo] = by_combo.get(combo, 0) + n
    counts: dict[str, dict[str, float]] = {name: {} for name in FACETS}
    labels: dict[str, str] = {}
    providers, regions = counts["provider"], counts["region"]
    for (org_id, name, region), n in by_owner.items():
        if org_id:
            org = str(org_id if isinstance(org_id, uuid.UUID) else uuid.UUID(str(org_id)))
            providers[org] = providers.get(org, 0) + n
            labels[org] = max(labels.get(org, ""), name or "")
        if region:
            regions[region] = regions.get(region, 0) + n
    for combo, n in by_combo.items():
        for facet, value in zip(COMBINED_FACETS, combo, strict=True):
            if value:
                counts[facet][value] = counts[facet].get(value, 0) + n
    out: dict[str, list[FacetValue]] = {}
    for facet, found in counts.items():
        ranked = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[:FACET_VALUES]
        out[facet] = [FacetValue(value, _approx(n) if estimated else int(n),
                                 labels.get(value, "") if facet == "provider" else "")
                      for value, n in ranked]
    return out


def _labelled(facets: dict[str, list[FacetValue]], locale: str) -> dict[str, list[FacetValue]]:
    v = vocab()
    out: dict[str, list[FacetValue]] = {}
    for name, values in facets.items():
        lst = FACET_LISTS.get(name)
        out[name] = [FacetValue(f.value, f.count, v.get(lst).label(f.value, locale) if lst
                                else f.label or f.value) for f in values]
    return out


#: an AND query with fewer hits than this also looks for entries matching most of its terms
#: (they follow the full matches); with this many, the full matches are the answer
ENOUGH_HITS = 5
#: a query of many words keeps the first ones (the combinations grow fast)
MAX_GROUPS = 8
#: the best matches by the full-text rank that a partial search orders by coverage
RERANK_POOL = 60
#: related entries offered beside a weak result
RELATED = 5


def _need(known: int) -> int:
    """The terms that should match: two thirds of the known terms, rounded down, at least one
    (2 → 1, 3 → 2, 4 → 2, 5 → 3, 6 → 4)."""
    return max(1, (2 * known) // 3)


def _coverage(db: Session, query: _Query, phrase: str,
              page: list[tuple[int, float | None]]) -> list[tuple[int, float | None]]:
    """``page`` (search row ids with their full-text score) in order of how much of the query
    each covers: the number of query terms found, then an exact phrase in the name, then the
    terms' field weights (name 10 … summary 1), then the full-text score."""
    if not page:
        return page
    names = [n for n, _w, _l in FIELDS]
    weights = {n: w for n, w, _l in FIELDS}
    rows = {row[0]: row[1:] for row in db.execute(
        sa.select(TERMS.c.doc_id, *[TERMS.c[n] for n in names])
        .where(TERMS.c.doc_id.in_([i for i, _s in page])))}
    doc_names = dict(db.execute(sa.select(DOC.c.id, DOC.c.name)
                                .where(DOC.c.id.in_([i for i, _s in page]))).all())

    def key(item: tuple[int, float | None]) -> tuple[float, ...]:
        doc_id, score = item
        fields = [frozenset(text.split()) for text in rows.get(doc_id, ("",) * len(names))]
        found = 0
        weight = 0.0
        for group in query.groups:
            best = max((weights[n] for n, terms in zip(names, fields, strict=True)
                        if any(all(t in terms for t in alt) for alt in group)), default=0.0)
            found += best > 0
            weight += best
        name = catalog_text.normalize(doc_names.get(doc_id) or "")
        exact = 1.0 if phrase and phrase in name.replace(" ", "") else 0.0
        return (-found, -exact, -weight, -(score or 0.0), doc_id)

    return sorted(page, key=key)


def _hits(db: Session, page: list[tuple[int, float | None]]) -> list[Hit]:
    ids = [doc_id for doc_id, _s in page]
    rows = {row.id: row for row in db.execute(
        sa.select(DOC.c.id, *_HIT_COLUMNS).where(DOC.c.id.in_(ids)))} if ids else {}
    return [Hit(*rows[doc_id][1:], score=hit_score) for doc_id, hit_score in page
            if doc_id in rows]


def search(
    actor: Actor,
    db: Session,
    /,
    *,
    q: str = "",
    filters: SearchFilters | None = None,
    limit: int = 20,
    offset: int = 0,
    facets: bool = True,
    locale: str = "zh",
    exact: bool = False,
) -> SearchResult:
    """Entries the actor may see that match ``q`` and the filters, best first, with facet
    counts: every term; or, when that finds few, most of the known terms, ranked by how much
    each covers (module doc). An empty ``q`` lists them, newest first. A broad query is
    estimated unless ``exact`` (module doc)."""
    access.require_read(actor, db)
    filters = filters or SearchFilters()
    text = _text_for(db)
    terms = text.query_terms(q)[:MAX_GROUPS] if q and q.strip() else []
    groups = [text.expansions(t) for t in terms]
    backend = (_SqliteSearch if _is_sqlite(db) else _PostgresSearch)(db, actor, filters)
    options = {"limit": limit, "offset": offset, "facets": facets, "exact": exact,
               "exact_limit": runtime_of(db).settings.search_exact_limit}
    query = _Query.every(groups)
    found = _find(backend, query, **options)
    relaxed = partial = False
    suggestions: list[str] = []
    known = groups
    if len(groups) > 1 and found.count < ENOUGH_HITS and not found.estimated:
        known = [g for g in groups if backend.term_exists(g)]
        # a question of mostly unknown words does not fall back to its one common word; an
        # unknown word of a question about a service (申请条件) does not count
        asked = text.question_words()
        counted = [g for g in groups if g in known or g[0][0] not in asked]
        if known and len(known) * 2 >= len(counted) and (len(known) > 1 or found.count == 0):
            loose = _Query(tuple(known), _need(len(known)))
            pool = offset + limit <= RERANK_POOL
            wider = _find(backend, loose, **{**options, "offset": 0 if pool else offset,
                                             "limit": RERANK_POOL if pool else limit})
            if wider.count > found.count:
                relaxed = len(known) < len(groups)
                partial = loose.need < len(known)
                phrase = "".join(catalog_text.normalize(q).split())
                page = _coverage(db, _Query.every(known), phrase, wider.page) if pool \
                    else wider.page
                found = _Found(page[offset:offset + limit] if pool else page, wider.count,
                               wider.groups, wider.estimated, wider.ranked)
                terms = [t for t, g in zip(terms, groups, strict=True) if g in known]
        if len(known) < len(groups) and known:
            suggestions.append(" ".join(g[0][0] for g in known))
    hits = _hits(db, found.page)
    weak = bool(terms) and (found.count == 0 or partial)
    related: list[Hit] = []
    # a partial result is itself the related entries; nothing found: entries with any known word
    if found.count == 0 and known and not found.estimated:
        seen = {h.entry_id for h in hits}
        nearby = _find(backend, _Query(tuple(known), 1),
                       **{**options, "offset": 0, "limit": RELATED + len(hits), "facets": False})
        related = [h for h in _hits(db, nearby.page) if h.entry_id not in seen][:RELATED]
        suggestions += [h.name for h in related[:3] if h.name not in suggestions]
    facet_counts = (_labelled(_facets(found.groups, estimated=found.estimated), locale)
                    if facets else {})
    count = _approx(found.count) if found.estimated else found.count
    return SearchResult(hits, count, facet_counts, terms, relaxed, estimated=found.estimated,
                        ranked=found.ranked, partial=partial, weak=weak,
                        suggestions=suggestions, related=related)


__all__ = [
    "FACETS",
    "FacetValue",
    "Hit",
    "SearchFilters",
    "SearchResult",
    "covering",
    "privileged_clause",
    "refresh",
    "reindex",
    "remove",
    "search",
]
