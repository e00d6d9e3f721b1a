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
count the matching entries the searcher may see, with every filter applied: the 20 most
frequent values of each. The page of hits, the total and the facets come from one statement
over the matches (a materialised CTE), so the matches are found once.
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
from gongshu.catalog.models import (
    FTS_TABLE,
    CatalogEntry,
    CatalogVersion,
    SearchDoc,
    SearchTerms,
)
from gongshu.catalog.vocab import vocab
from gongshu.core.permissions import Actor, Perm, require

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
#: facets with few values, counted together (see ``_run``)
COMBINED_FACETS = ("resource_kind", "sharing_type", "opening_type", "grade", "update_cycle",
                   "format_class")
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


def covering(path_col: Any, grants: Iterable[Any]) -> list[Any]:
    """SQL conditions: ``path_col`` is an organisation one of ``grants`` covers (its own org, or
    its subtree for a subtree grant); OR them together."""
    return [path_col.startswith(g.org_path) if g.subtree else path_col == g.org_path
            for g in grants]


def privileged_clause(actor: Actor, provider_path: Any, bureau_path: Any) -> Any:
    """SQL: the actor is of the entry's body (provider path) or one of its reviewers (bureau
    path), and so sees its working version."""
    if actor.is_system:
        return sa.true()
    body = {g for perm in BODY_PERMS for g in actor.scopes(perm)}
    conds = covering(provider_path, body) + covering(bureau_path,
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


def _delete_doc(db: Session, doc_id: int) -> None:
    if _is_sqlite(db):
        db.execute(sa.text(f"DELETE FROM {FTS_TABLE} WHERE rowid = :id"), {"id": doc_id})
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
            changed = {k: v for k, v in values.items() if row[k] != v}
            if changed:
                db.execute(DOC.update().where(DOC.c.id == row["id"]).values(**changed))
            if scope not in unchanged:
                terms = reusable.get(version.id) or _terms(version, entry.resource_code)
                _write_terms(db, row["id"], terms, replace=True)
            continue
        doc_id = db.execute(DOC.insert().values(**values).returning(DOC.c.id)).scalar_one()
        terms = reusable.get(version.id) or _terms(version, entry.resource_code)
        _write_terms(db, doc_id, terms, replace=False)


def remove(db: Session, /, entry_id: uuid.UUID) -> None:
    """Drop an entry's index rows (the entry is being deleted)."""
    for doc_id in db.scalars(sa.select(DOC.c.id).where(DOC.c.entry_id == entry_id)).all():
        _delete_doc(db, doc_id)


def reindex(db: Session, /, *, progress: Any = None) -> int:
    """Rebuild the whole index from the entries (after editing the synonyms or the dictionary,
    or to repair the SQLite index file); returns the number of entries indexed."""
    if _is_sqlite(db):
        db.execute(sa.text(f"DELETE FROM {FTS_TABLE}"))
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
        # The FTS5 matches first, materialised, then their rows: left to itself, SQLite's
        # planner may walk a filter's index and probe the full-text index once per row.
        fts = sa.table("fts", sa.column("rowid"), schema="catalog_search").alias("f")
        query = " ".join(_quote_fts(t) for t in terms)
        weights = [sa.literal_column(repr(w)) for _n, w, _l in FIELDS]
        hits = (sa.select(fts.c.rowid.label("id"),
                          (-sa.func.bm25(sa.literal_column("f.fts"), *weights)).label("score"))
                .where(sa.literal_column("f.fts").op("MATCH")(sa.literal(query)))
                .cte("hits").prefix_with("MATERIALIZED"))
        return hits.join(DOC, DOC.c.id == hits.c.id), sa.true(), hits.c.score
    query = " & ".join(_quote_pg(t) for t in terms)
    tsquery = sa.cast(sa.literal(query), TSQUERY)
    where = DOC.c.terms.op("@@")(tsquery)
    score = sa.func.ts_rank(sa.literal_column(f"'{PG_WEIGHTS}'::float4[]"), DOC.c.terms, tsquery)
    return DOC, where, score


def _run(db: Session, from_: Any, conds: list[Any], score: Any, *, limit: int, offset: int,
         with_facets: bool) -> tuple[list[tuple[int, float | None]], int,
                                     dict[str, list[FacetValue]]]:
    """The page of hits (ids and scores), the total and every facet's counts, in ONE
    statement: the matches are found once (a materialised CTE) and everything is counted and
    ranked from them."""
    cols = [DOC.c.id.label("id"), (score if score is not None else sa.null()).label("score"),
            DOC.c.updated_at.label("updated_at")]
    if with_facets:
        cols += [c.label(name) for name, c in FACETS.items()]
        cols.append(DOC.c.provider_name.label("provider_name"))
    matches = sa.select(*cols).select_from(from_).where(*conds).cte("m").prefix_with(
        "MATERIALIZED")
    order = ([matches.c.score.desc(), matches.c.id] if score is not None
             else [matches.c.updated_at.desc(), matches.c.id.desc()])
    top = (sa.select(matches.c.id, matches.c.score).order_by(*order).limit(limit).offset(offset)
           .subquery("top"))
    no_text, no_int, no_float = (sa.cast(sa.null(), sa.String), sa.cast(sa.null(), sa.Integer),
                                 sa.cast(sa.null(), sa.Float))
    parts = [
        sa.select(sa.literal("_hit").label("facet"), sa.cast(top.c.id, sa.String).label("value"),
                  no_text.label("label"), no_int.label("n"),
                  sa.cast(top.c.score, sa.Float).label("score")),
        sa.select(sa.literal("_total"), no_text, no_text, sa.func.count(), no_float)
        .select_from(matches),
    ]
    if with_facets:
        # the facets of few values, counted by their combinations in one GROUP BY and summed
        # here; providers and regions, the facets of many values, by a GROUP BY each
        combined = sa.literal("")
        for i, name in enumerate(COMBINED_FACETS):
            value = sa.func.coalesce(matches.c[name], "")
            combined = value if i == 0 else combined + "|" + value
        parts.append(sa.select(sa.literal("_combo"), combined, no_text, sa.func.count(),
                               no_float).group_by(*[matches.c[n] for n in COMBINED_FACETS]))
        for name in ("provider", "region"):
            col = matches.c[name]
            n = sa.func.count()
            counted = (sa.select(sa.literal(name).label("facet"),
                                 sa.cast(col, sa.String).label("value"),
                                 sa.func.max(matches.c.provider_name).label("label"),
                                 n.label("n"), no_float.label("score"))
                       .group_by(col).order_by(n.desc(), col).limit(FACET_VALUES)
                       .subquery(f"f_{name}"))
            parts.append(sa.select(*counted.c))
    hits: list[tuple[int, float | None]] = []
    combos: dict[str, dict[str, int]] = {}
    total = 0
    facets: dict[str, list[FacetValue]] = {name: [] for name in FACETS} if with_facets else {}
    for facet, value, label, n, hit_score in db.execute(sa.union_all(*parts)).all():
        if facet == "_hit":
            hits.append((int(value), hit_score))
        elif facet == "_total":
            total = n
        elif facet == "_combo":
            for name, part in zip(COMBINED_FACETS, value.split("|"), strict=True):
                if part:
                    combos.setdefault(name, {})
                    combos[name][part] = combos[name].get(part, 0) + n
        elif value is not None:
            facets[facet].append(FacetValue(_facet_value(facet, value), n,
                                            label if facet == "provider" else ""))
    for name, counts in combos.items():
        facets[name] = [FacetValue(value, n) for value, n in counts.items()]
    for values in facets.values():
        values.sort(key=lambda f: (-f.count, f.value))
        del values[FACET_VALUES:]
    return hits, total, facets


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


def _term_exists(db: Session, term: str) -> bool:
    """Whether any entry at all has ``term`` (an index lookup, no ranking)."""
    if _is_sqlite(db):
        found = db.execute(sa.text(f"SELECT 1 FROM {FTS_TABLE} AS f WHERE f.fts MATCH :q LIMIT 1"),
                           {"q": _quote_fts(term)}).first()
    else:
        # a materialised CTE is planned without the LIMIT, so PostgreSQL asks the GIN index
        # instead of scanning the table in the hope of an early row
        matches = (sa.select(DOC.c.id).where(DOC.c.terms.op("@@")(
            sa.cast(sa.literal(_quote_pg(term)), TSQUERY))).cte("t").prefix_with("MATERIALIZED"))
        found = db.execute(sa.select(sa.literal(1)).select_from(matches).limit(1)).first()
    return found is not None


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
    page, count, facet_counts = _run(db, from_, conds, score, limit=limit, offset=offset,
                                     with_facets=facets)
    if count == 0 and len(terms) > 1:
        known = [t for t in terms if _term_exists(db, t)]
        if known and len(known) * 2 >= len(terms) and len(known) < len(terms):
            from_, where, score = _matching(db, known)
            conds = [where, *base]
            relaxed = True
            page, count, facet_counts = _run(db, from_, conds, score, limit=limit,
                                             offset=offset, with_facets=facets)
    found = {row.id: row for row in db.execute(
        sa.select(DOC.c.id, *_HIT_COLUMNS).where(DOC.c.id.in_([i for i, _s in page])))}
    rows = [(doc_id, hit_score, found[doc_id]) for doc_id, hit_score in page if doc_id in found]
    if score is not None:  # the statement's order, which a UNION does not keep
        rows.sort(key=lambda r: (-(r[1] or 0.0), r[0]))
    else:
        rows.sort(key=lambda r: (r[2].updated_at, r[0]), reverse=True)
    hits = [Hit(*row[1:], score=hit_score) for _id, hit_score, row in rows]
    facet_counts = _labelled(facet_counts, locale) if facets else {}
    return SearchResult(hits, count, facet_counts, terms, relaxed)


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
