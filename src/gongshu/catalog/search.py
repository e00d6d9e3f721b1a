"""Catalog search that understands Chinese, with facets, on SQLite and PostgreSQL (Art. 9).

The index is ``catalog_search_doc``: one row per entry and scope. The ``published`` row is what
every signed-in user finds; the ``working`` row (a draft, or a revision in review) is what the
entry's body and its reviewers find instead, so each searcher sees each entry once and only
what they may see. Rows are rewritten by :func:`refresh` whenever the service changes an entry
(create, edit, submit, review, publish, revise, withdraw, grade), in the same transaction.

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

- SQLite: an FTS5 table (``catalog_search.fts``, in its own file, see ``models.py``) over the
  space-joined terms; a query is the AND of its terms, ranked by ``bm25`` with the weights
  above.
- PostgreSQL: a weighted ``tsvector`` (``terms``, GIN-indexed) built from the same terms as a
  literal (no text-search parser or locale is involved), matched with a ``tsquery`` of the
  query terms and ranked by ``ts_rank``.

A query whose terms do not all occur together is run again without the words that occur in no
entry at all (``relaxed``), if at least half of its words are left: a question with one
unknown word still finds what the rest describes, and a question of mostly unknown words does
not fall back to its one common word.

Facets (provider, region, resource kind, sharing type, opening, grade, update cycle, format)
count the matching entries the searcher may see, with every filter applied, in one statement
over the matches (a materialised CTE).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR
from sqlalchemy.orm import Session

from gongshu.catalog import text as catalog_text
from gongshu.catalog.models import FTS_TABLE, CatalogEntry, CatalogVersion, SearchDoc
from gongshu.catalog.vocab import vocab
from gongshu.core.permissions import Actor, Perm, require

DOC = SearchDoc.__table__

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
#: facet name → the value list that labels its values
FACET_LISTS: Mapping[str, str] = {
    "resource_kind": "resource_kinds",
    "sharing_type": "sharing_types",
    "opening_type": "opening_types",
    "update_cycle": "update_cycles",
    "format_class": "format_classes",
}

#: roles that make someone part of an entry's body (they see its drafts; Art. 9, 10)
BODY_PERMS = (Perm.CATALOG_EDIT, Perm.GRADING_CONFIRM, Perm.LIBRARY_INGEST)


# ------------------------------------------------------------------------------- visibility


def _covering(path_col: Any, grants: Iterable[Any]) -> list[Any]:
    return [path_col.startswith(g.org_path) if g.subtree else path_col == g.org_path
            for g in grants]


def privileged_clause(actor: Actor, provider_path: Any, bureau_path: Any) -> Any:
    """SQL: the actor is of the entry's body (provider path) or one of its reviewers (bureau
    path), and so sees its working version."""
    if actor.is_system:
        return sa.true()
    body = {g for perm in BODY_PERMS for g in actor.scopes(perm)}
    conds = _covering(provider_path, body) + _covering(bureau_path,
                                                       actor.scopes(Perm.CATALOG_REVIEW))
    return sa.or_(*conds) if conds else sa.false()


def _visible(actor: Actor) -> Any:
    privileged = privileged_clause(actor, DOC.c.provider_path, DOC.c.bureau_path)
    return sa.or_(
        sa.and_(DOC.c.scope == "published",
                sa.or_(DOC.c.has_working.is_(False), sa.not_(privileged))),
        sa.and_(DOC.c.scope == "working", privileged),
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


def _doc_values(entry: CatalogEntry, version: CatalogVersion, scope: str, has_working: bool,
                known: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A doc row's values; ``known`` is a row of the same version content whose terms are
    reused (segmenting is most of the cost of a workflow step)."""
    c = version.content
    if known is not None:
        terms = {name: known[f"t_{name}"] for name, _w, _l in FIELDS}
    else:
        terms = _terms(version, entry.resource_code)
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
        **{f"t_{name}": terms[name] for name, _w, _l in FIELDS},
    }


def _text_for(db: Session) -> Any:
    """The segmenter, caching its dictionary in the data directory (``GONGSHU_CACHE_DIR`` wins)."""
    runtime = db.info.get("runtime")
    if runtime is not None:
        catalog_text.set_default_cache_dir(runtime.settings.resolved_data_dir / "cache")
    return catalog_text


def _is_sqlite(db: Session) -> bool:
    return db.get_bind().dialect.name == "sqlite"


def _write_terms(db: Session, doc_id: int, values: Mapping[str, Any], *, replace: bool) -> None:
    if _is_sqlite(db):
        if replace:
            db.execute(sa.text(f"DELETE FROM {FTS_TABLE} WHERE rowid = :id"), {"id": doc_id})
        cols = ", ".join(name for name, _w, _l in FIELDS)
        params = ", ".join(f":t_{name}" for name, _w, _l in FIELDS)
        db.execute(sa.text(f"INSERT INTO {FTS_TABLE} (rowid, {cols}) VALUES (:id, {params})"),
                   {"id": doc_id, **{f"t_{n}": values[f"t_{n}"] for n, _w, _l in FIELDS}})
    else:
        literal = _pg_tsvector([(values[f"t_{n}"], letter) for n, _w, letter in FIELDS])
        db.execute(DOC.update().where(DOC.c.id == doc_id)
                   .values(terms=sa.cast(sa.literal(literal), TSVECTOR)))


def _delete_doc(db: Session, doc_id: int) -> None:
    if _is_sqlite(db):
        db.execute(sa.text(f"DELETE FROM {FTS_TABLE} WHERE rowid = :id"), {"id": doc_id})
    db.execute(DOC.delete().where(DOC.c.id == doc_id))


_TERM_COLUMNS = tuple(f"t_{name}" for name, _w, _l in FIELDS)


def refresh(db: Session, /, entry: CatalogEntry) -> None:
    """Bring the entry's index rows in line with its versions (call after every change)."""
    _text_for(db)
    db.flush()
    wanted: dict[str, tuple[CatalogVersion, bool]] = {}
    published, working = entry.published_version, entry.working_version
    if published is not None and published.status == "published":
        wanted["published"] = (published, working is not None)
    if working is not None:
        wanted["working"] = (working, False)
    existing = {row.scope: row for row in db.execute(
        sa.select(DOC).where(DOC.c.entry_id == entry.id)).mappings()}
    for scope, row in existing.items():
        if scope not in wanted:
            _delete_doc(db, row["id"])
    for scope, (version, has_working) in wanted.items():
        same = next((row for row in existing.values() if row["version_id"] == version.id
                     and row["updated_at"] == version.updated_at), None)
        values = _doc_values(entry, version, scope, has_working, same)
        row = existing.get(scope)
        if row is None:
            doc_id = db.execute(DOC.insert().values(**values).returning(DOC.c.id)).scalar_one()
            _write_terms(db, doc_id, values, replace=False)
            continue
        changed = {k: v for k, v in values.items() if row[k] != v}
        if changed:
            db.execute(DOC.update().where(DOC.c.id == row["id"]).values(**changed))
        if any(k in changed for k in _TERM_COLUMNS):
            _write_terms(db, row["id"], values, replace=True)


def remove(db: Session, /, entry_id: uuid.UUID) -> None:
    """Drop an entry's index rows (the entry is being deleted)."""
    for doc_id in db.scalars(sa.select(DOC.c.id).where(DOC.c.entry_id == entry_id)).all():
        _delete_doc(db, doc_id)


def reindex(db: Session, /, *, progress: Any = None) -> int:
    """Rebuild the whole index from the entries (after editing the synonyms or the dictionary,
    or to repair the SQLite index file); returns the number of entries indexed."""
    if _is_sqlite(db):
        db.execute(sa.text(f"DELETE FROM {FTS_TABLE}"))
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

    def clauses(self) -> list[Any]:
        out = [FACETS[name] == getattr(self, name) for name in FACETS
               if getattr(self, name) not in (None, "")]
        if self.status:
            out.append(DOC.c.status == self.status)
        return out

    def active(self) -> dict[str, str]:
        return {name: str(getattr(self, name)) for name in (*FACETS, "status")
                if getattr(self, name) not in (None, "")}


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


_HIT_COLUMNS = (
    DOC.c.entry_id, DOC.c.resource_code, DOC.c.name, DOC.c.provider_name, DOC.c.provider_org_id,
    DOC.c.region_code, DOC.c.status, DOC.c.version, DOC.c.scope, DOC.c.resource_kind,
    DOC.c.sharing_type, DOC.c.opening_type, DOC.c.grade, DOC.c.update_cycle,
    DOC.c.format_class, DOC.c.updated_at,
)


def _quote_fts(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _quote_pg(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def _matching(db: Session, terms: list[str]) -> tuple[Any, Any, Any]:
    """(FROM clause, WHERE clause, score: higher is better) for all of the query terms."""
    if _is_sqlite(db):
        fts = sa.table("fts", sa.column("rowid"), schema="catalog_search").alias("f")
        joined = fts.join(DOC, DOC.c.id == fts.c.rowid)
        query = " ".join(_quote_fts(t) for t in terms)
        where = sa.literal_column("f.fts").op("MATCH")(sa.literal(query))
        weights = [sa.literal_column(repr(w)) for _n, w, _l in FIELDS]
        score = -sa.func.bm25(sa.literal_column("f.fts"), *weights)
        return joined, where, score
    query = " & ".join(_quote_pg(t) for t in terms)
    tsquery = sa.cast(sa.literal(query), TSQUERY)
    where = DOC.c.terms.op("@@")(tsquery)
    score = sa.func.ts_rank(sa.literal_column(f"'{PG_WEIGHTS}'::float4[]"), DOC.c.terms, tsquery)
    return DOC, where, score


def _facet_counts(db: Session, from_: Any, conds: list[Any]) -> tuple[int, dict[str, list[FacetValue]]]:
    """Every facet's counts over the matches, in one statement (the matches once)."""
    cols = [c.label(name) for name, c in FACETS.items()] + [DOC.c.provider_name]
    # MATERIALIZED: both SQLite and PostgreSQL run the match once for all the GROUP BYs
    matches = sa.select(*cols).select_from(from_).where(*conds).cte("m").prefix_with(
        "MATERIALIZED")
    parts = []
    for name in FACETS:
        col = matches.c[name]
        parts.append(sa.select(sa.literal(name).label("facet"),
                               sa.cast(col, sa.String).label("value"),
                               sa.func.max(matches.c.provider_name).label("label"),
                               sa.func.count().label("n")).group_by(col))
    parts.append(sa.select(sa.literal("_total"), sa.null(), sa.null(), sa.func.count())
                 .select_from(matches))
    rows = db.execute(sa.union_all(*parts)).all()
    total = 0
    facets: dict[str, list[FacetValue]] = {name: [] for name in FACETS}
    for facet, value, label, n in rows:
        if facet == "_total":
            total = n
        elif value is not None:
            facets[facet].append(FacetValue(_facet_value(facet, value), n,
                                            label if facet == "provider" else ""))
    for values in facets.values():
        values.sort(key=lambda f: (-f.count, f.value))
    return total, facets


def _facet_value(facet: str, value: str) -> str:
    return str(uuid.UUID(value)) if facet == "provider" else value


def _labelled(facets: dict[str, list[FacetValue]], locale: str) -> dict[str, list[FacetValue]]:
    v = vocab()
    out: dict[str, list[FacetValue]] = {}
    for name, values in facets.items():
        lst = FACET_LISTS.get(name)
        out[name] = [FacetValue(f.value, f.count, v.get(lst).label(f.value, locale) if lst
                                else f.label or f.value) for f in values]
    return out


def _exists(db: Session, from_: Any, conds: list[Any]) -> bool:
    return db.execute(sa.select(sa.literal(1)).select_from(from_).where(*conds).limit(1)).first() \
        is not None


def _term_only(db: Session, term: str) -> tuple[Any, list[Any]]:
    from_, where, _score = _matching(db, [term])
    return from_, [where]


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
) -> SearchResult:
    """Entries the actor may see that match ``q`` (every term; else the known ones, see the
    module doc) and the filters, best first, with facet counts. An empty ``q`` lists them,
    newest first."""
    require(actor, Perm.CATALOG_READ)
    filters = filters or SearchFilters()
    terms = _text_for(db).query_terms(q) if q and q.strip() else []
    base = [_visible(actor), *filters.clauses()]
    relaxed = False
    if not terms:
        from_, conds, score = DOC, base, None
    else:
        from_, where, score = _matching(db, terms)
        conds = [where, *base]
        if len(terms) > 1 and not _exists(db, from_, conds):
            known = [t for t in terms if _exists(db, *_term_only(db, t))]
            if known and len(known) * 2 >= len(terms) and len(known) < len(terms):
                from_, where, score = _matching(db, known)
                conds = [where, *base]
                relaxed = True
    stmt = sa.select(*_HIT_COLUMNS, (score if score is not None else sa.null()).label("score"))
    stmt = stmt.select_from(from_).where(*conds)
    stmt = (stmt.order_by(sa.desc("score"), DOC.c.id) if score is not None
            else stmt.order_by(DOC.c.updated_at.desc(), DOC.c.id.desc()))
    rows = db.execute(stmt.limit(limit).offset(offset)).all()
    hits = [Hit(*row[:-1], score=float(row[-1]) if row[-1] is not None else None) for row in rows]
    if facets:
        count, facet_counts = _facet_counts(db, from_, conds)
        facet_counts = _labelled(facet_counts, locale)
    else:
        count = db.scalar(sa.select(sa.func.count()).select_from(from_).where(*conds)) or 0
        facet_counts = {}
    return SearchResult(hits, count, facet_counts, terms, relaxed)


__all__ = [
    "FACETS",
    "FacetValue",
    "Hit",
    "SearchFilters",
    "SearchResult",
    "privileged_clause",
    "refresh",
    "reindex",
    "remove",
    "search",
]
