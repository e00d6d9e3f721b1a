"""Opening's use cases (Art. 13): the only door to its tables.

**What is open** is decided by the catalog (``catalog.access``: published, not classified,
opening type ``open`` or ``conditional_open``, a grade the active grading scheme says may be
opened). The portal reads the catalog as the anonymous visitor, so it lists exactly what the
public may see.

**Data** leaves only through ``library.service.read_columns``, with a capability this module
confers after its own check (:func:`_reader`): an ``open`` entry to anyone, a
``conditional_open`` one to the developer holding an active grant of kind ``opening``
(``flows``). Which columns leave and how is :func:`column_plan`: a data item marked not open,
a column the scan never saw, or a column graded at a level that is not openable stays in; the
others are masked where the scan found personal information (``deid.masks``) unless the entry
and the column are both of a level openable in clear.

**Developers** sign up with a name and an e-mail and get an API key, shown once and stored
hashed. Each key may make ``opening_api_rate_limit`` requests per ``opening_api_rate_window``
seconds (429 with Retry-After beyond). Every download, API read and preview adds to the
entry's usage of the day (:func:`usage`), shown on the dataset's portal page and to the
provider.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gongshu.catalog import service as catalog
from gongshu.catalog.service import CatalogEntry, CatalogVersion
from gongshu.core import audit, exports
from gongshu.core.db import runtime_of, utcnow
from gongshu.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    Unauthenticated,
    ValidationFailed,
)
from gongshu.core.permissions import Actor, Capability, require
from gongshu.core.security import constant_time_equal, new_token, token_hash
from gongshu.deid import masks
from gongshu.grading import service as grading
from gongshu.library import service as library
from gongshu.library.permissions import LIBRARY_READ
from gongshu.opening.models import ApiKey, Channel, Developer, RateWindow, UsageDay
from gongshu.opening.permissions import OPENING_MANAGE, OPENING_REPORT

ANONYMOUS = catalog.ANONYMOUS
KEY_KIND = "gso"
_PREFIX = re.compile(r"[0-9a-f]{8}")  # gso_<prefix>_<secret>: a portal developer's key (not a platform token)
FORMATS: dict[str, tuple[str, str]] = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "json": ("application/json", "json"),
    "parquet": ("application/vnd.apache.parquet", "parquet"),
}
PREVIEW_ROWS = 20
TARGET = "catalog_entry"


# ---------------------------------------------------------------------------- what is open


@dataclass
class OpenColumn:
    code: str
    name: str
    data_type: str
    #: the detector types masked in it (empty: as stored)
    masked: tuple[str, ...] = ()


@dataclass
class OpenDataset:
    """An entry as the portal shows it."""

    entry: CatalogEntry
    version: CatalogVersion
    #: how its grade is openable: "clear" or "masked"
    level: str
    columns: list[OpenColumn] = field(default_factory=list)
    #: data items that stay in (not open, never scanned, or graded above what may be opened)
    withheld: list[str] = field(default_factory=list)

    @property
    def downloadable(self) -> bool:
        """Art. 13: an ``open`` entry's data is for anyone; a conditional one needs a grant."""
        return self.version.opening_type == "open"

    @property
    def conditional(self) -> bool:
        return self.version.opening_type == "conditional_open"


def search(db: Session, /, *, q: str = "", filters: catalog.SearchFilters | None = None,
           limit: int = 20, offset: int = 0, locale: str = "zh") -> catalog.SearchResult:
    """The open entries matching ``q`` and the filters, as the public finds them."""
    return catalog.search_entries(ANONYMOUS, db, q=q[:200], filters=filters, limit=limit,
                                 offset=offset, locale=locale)


def list_open(db: Session, /, *, limit: int = 50, offset: int = 0) -> tuple[list[CatalogEntry], int]:
    """The open entries, newest change first (for the CLI and the API)."""
    return catalog.list_entries(ANONYMOUS, db, limit=limit, offset=offset)


def _entry_by_ref(db: Session, ref: str | uuid.UUID) -> CatalogEntry:
    if isinstance(ref, uuid.UUID):
        return catalog.get_entry(ANONYMOUS, db, ref)
    try:
        return catalog.get_entry(ANONYMOUS, db, uuid.UUID(str(ref)))
    except ValueError:
        return catalog.get_entry_by_code(ANONYMOUS, db, str(ref))


def column_plan(db: Session, entry: CatalogEntry, version: CatalogVersion,
                levels: dict[str, str]) -> tuple[list[OpenColumn], list[str]]:
    """Which columns leave, and masked how (module doc); and the items withheld."""
    entry_level = levels.get(entry.grade or "", "")
    graded = grading.column_grades(db, entry.id)
    shown: list[OpenColumn] = []
    withheld: list[str] = []
    for item in version.items:
        column = graded.get(item.code)
        level = levels.get(column.proposed_grade, "") if column is not None else ""
        if item.opening_type == "not_open" or column is None or not level:
            withheld.append(item.code)
            continue
        clear = level == "clear" and entry_level == "clear"
        types = () if clear else tuple(t for t in masks.MASKS
                                       if t in masks.mask_types(column.detections))
        shown.append(OpenColumn(item.code, item.name, item.data_type or "C", types))
    return shown, withheld


def get_dataset(db: Session, /, ref: str | uuid.UUID) -> OpenDataset:
    """An open entry by id or resource code; anything else is ``catalog_entry_not_found``."""
    entry = _entry_by_ref(db, ref)
    version = entry.published_version
    levels = grading.openable_levels(db)
    if version is None or not levels.get(entry.grade or ""):  # pragma: no cover - access.py
        raise NotFound("No such catalog entry.", code="catalog_entry_not_found")
    columns, withheld = column_plan(db, entry, version, levels)
    return OpenDataset(entry, version, levels[entry.grade or ""], columns, withheld)


def entry_public(dataset: OpenDataset) -> Any:
    """The entry's published metadata in the catalog's API shape."""
    return catalog.entry_public(dataset.entry, dataset.version)


# ------------------------------------------------------------------------------- reading


def _reader(actor: Actor, entry_id: uuid.UUID, via: str) -> Actor:
    """The actor holding the library's read capability on one entry, conferred by opening
    after its own check (the caller's)."""
    return actor.with_capabilities(Capability(LIBRARY_READ.value, TARGET, entry_id, via=via))


def _mask_expr(types: Sequence[str]) -> str:
    """A ``read_columns`` mask: ``{code}`` for the column, braces of the SQL escaped."""
    marker = "\x00column\x00"
    x = f"CAST({marker} AS VARCHAR)"
    for t in types:
        x = masks.MASKS[t](x)
    return x.replace("{", "{{").replace("}", "}}").replace(marker, "{code}")


@dataclass
class Rows:
    dataset: OpenDataset
    columns: list[OpenColumn]
    rows: list[dict[str, Any]]
    offset: int
    limit: int
    #: the dataset's stored version the rows come from
    version: int | None = None
    #: more rows follow (read them from ``offset + limit``)
    more: bool = False


def read_rows(actor: Actor, db: Session, /, dataset: OpenDataset, *, offset: int = 0,
              limit: int | None = None, items: Sequence[str] | None = None,
              via: str = "opening:open") -> Rows:
    """Rows of an open dataset as they may leave (``column_plan``). The caller has decided the
    actor may have them (open, or a grant); ``items`` narrows the columns (a grant's)."""
    cap = runtime_of(db).settings.opening_download_max_rows
    limit = cap if limit is None else max(0, min(int(limit), cap))
    offset = max(0, int(offset))
    columns = [c for c in dataset.columns if items is None or c.code in items]
    if not columns:
        return Rows(dataset, [], [], offset, limit)
    mask = {c.code: _mask_expr(c.masked) for c in columns if c.masked}
    try:
        stream = library.read_columns(_reader(actor, dataset.entry.id, via), db,
                                      entry_id=dataset.entry.id,
                                      columns=[c.code for c in columns], mask=mask,
                                      offset=offset, limit=limit + 1)
    except NotFound as exc:
        if exc.code in ("dataset_not_found", "dataset_no_version"):
            raise NotFound("This open dataset has no data on the platform yet.",
                           code="open_dataset_no_data") from exc
        raise
    except ValidationFailed as exc:  # a column the catalog names but the data lacks
        raise NotFound("This open dataset has no data on the platform yet.",
                       code="open_dataset_no_data") from exc
    try:
        table = stream.batches.read_all()
    finally:
        stream.close()
    rows = table.slice(0, limit).to_pylist()
    return Rows(dataset, columns, rows, offset, limit, stream.version.number,
                more=table.num_rows > limit)


def has_data(actor: Actor, db: Session, /, dataset: OpenDataset) -> bool:
    try:
        read_rows(actor, db, dataset, limit=0)
    except NotFound:
        return False
    return True


def preview(db: Session, /, dataset: OpenDataset, *, rows: int = PREVIEW_ROWS) -> Rows:
    """The first rows of an open (or conditionally open) dataset, as they would leave: the
    public sees what it is about before it applies or downloads."""
    found = read_rows(ANONYMOUS, db, dataset, limit=min(rows, PREVIEW_ROWS),
                      via="opening:preview")
    record_usage(db, dataset.entry.id, Channel.PREVIEW)
    return found


# ------------------------------------------------------------------------------ files out

#: the first characters that make a spreadsheet read a cell as a formula (OWASP CSV injection)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def render_file(found: Rows, fmt: str) -> tuple[bytes, str, str]:
    """The rows as a file: (bytes, media type, extension). Spreadsheet cells are neutralised;
    JSON and Parquet carry values as they are."""
    if fmt not in FORMATS:
        raise ValidationFailed.single("format", "opening_format", f"Unknown format {fmt!r}.",
                                      value=fmt)
    media_type, ext = FORMATS[fmt]
    codes = [c.code for c in found.columns]
    names = [c.name for c in found.columns]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([exports.safe_cell(n) for n in names])
        for row in found.rows:
            writer.writerow([exports.safe_cell(_text(row[c])) for c in codes])
        body = out.getvalue().encode("utf-8-sig")  # Excel reads UTF-8 with a BOM
    elif fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(found.dataset.entry.resource_code.replace("/", "-")[:31])
        exports.xlsx_append(sheet, names)
        for row in found.rows:
            exports.xlsx_append(sheet, [v if isinstance(v, (str, int, float, bool, dt.date))
                                        or v is None else str(v) for v in (row[c] for c in codes)])
        buffer = io.BytesIO()
        book.save(buffer)
        body = buffer.getvalue()
    elif fmt == "json":
        doc = {"resource_code": found.dataset.entry.resource_code,
               "name": found.dataset.version.name,
               "columns": [{"code": c.code, "name": c.name, "masked": list(c.masked)}
                           for c in found.columns],
               "offset": found.offset, "rows": [{c: json_value(r[c]) for c in codes}
                                                for r in found.rows]}
        body = json.dumps(doc, ensure_ascii=False).encode("utf-8")
    else:
        table = pa.Table.from_pylist(found.rows) if found.rows else \
            pa.table({c: pa.array([], pa.string()) for c in codes})
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        body = buffer.getvalue()
    return body, media_type, ext


def download(db: Session, /, ref: str | uuid.UUID, *,
             fmt: str) -> tuple[bytes, str, str, OpenDataset, bool]:
    """An open dataset as a file for anyone (Art. 13): ``open`` entries only; at most
    ``opening_download_max_rows`` rows (the last value says more follow: the API pages through
    them). Counted and audited."""
    dataset = get_dataset(db, ref)
    if not dataset.downloadable:
        raise PermissionDenied("This dataset is opened on application only.",
                               code="opening_conditional")
    if fmt not in FORMATS:
        raise ValidationFailed.single("format", "opening_format", f"Unknown format {fmt!r}.",
                                      value=fmt)
    found = read_rows(ANONYMOUS, db, dataset, via="opening:download")
    body, media_type, ext = render_file(found, fmt)
    record_usage(db, dataset.entry.id, Channel.DOWNLOAD)
    _audit_out(db, ANONYMOUS, "opening.download", dataset, found, fmt=fmt)
    return body, media_type, ext, dataset, found.more


def _audit_out(db: Session, actor: Actor, action: str, dataset: OpenDataset, found: Rows,
               **details: Any) -> None:
    entry = dataset.entry
    audit.record(db, actor, action, target_type=TARGET, target_id=entry.id,
                 org_id=entry.provider_org_id, org_path=entry.provider_path,
                 details={"resource_code": entry.resource_code, "rows": len(found.rows),
                          "offset": found.offset, "version": found.version,
                          "columns": [c.code for c in found.columns],
                          "masked": [c.code for c in found.columns if c.masked], **details})


def dcat_feed(db: Session, /, *, fmt: str) -> tuple[bytes, str, str]:
    """DCAT-AP 3 of the open entries only (the public's view of the catalog), with the portal's
    dataset pages as landing pages."""
    base = runtime_of(db).settings.base_url.rstrip("/")
    return catalog.export_entries(ANONYMOUS, db, fmt=fmt,
                                  page_url=f"{base}/portal/datasets/{{code}}")


# ------------------------------------------------------------------------------ statistics


def today(db: Session) -> dt.date:
    return utcnow().astimezone(ZoneInfo(runtime_of(db).settings.display_timezone)).date()


def _upsert(db: Session, table: Any, keys: dict[str, Any], column: str,
            start: int = 1) -> int:
    """Insert the row with ``column`` = ``start`` or add one to it; the new value. Safe under
    concurrency (PostgreSQL locks the row; SQLite writers hold the database lock)."""
    if db.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table).values(**keys, **{column: start})
    stmt = stmt.on_conflict_do_update(index_elements=list(keys),
                                      set_={column: table.c[column] + 1})
    return int(db.execute(stmt.returning(table.c[column])).scalar_one())


def record_usage(db: Session, /, entry_id: uuid.UUID, channel: Channel) -> None:
    _upsert(db, UsageDay.__table__, {"entry_id": entry_id, "day": today(db),
                                     "channel": channel.value}, "count")


@dataclass
class Usage:
    #: (day, {channel: count}), oldest first, every day of the period
    days: list[tuple[dt.date, dict[str, int]]]
    totals: dict[str, int]


def usage(db: Session, /, entry_id: uuid.UUID, *, days: int = 30) -> Usage:
    """Downloads, API reads and previews per day over the last ``days`` days (public figures
    of an open dataset: the portal shows them)."""
    last = today(db)
    first = last - dt.timedelta(days=max(1, days) - 1)
    rows = db.execute(sa.select(UsageDay.day, UsageDay.channel, UsageDay.count)
                      .where(UsageDay.entry_id == entry_id, UsageDay.day >= first)).all()
    by_day: dict[dt.date, dict[str, int]] = {}
    totals = {c.value: 0 for c in Channel}
    for day, channel, count in rows:
        by_day.setdefault(day, {})[channel] = int(count)
        totals[channel] = totals.get(channel, 0) + int(count)
    out = []
    for i in range((last - first).days + 1):
        day = first + dt.timedelta(days=i)
        out.append((day, {c.value: by_day.get(day, {}).get(c.value, 0) for c in Channel}))
    return Usage(out, totals)


def provider_usage(actor: Actor, db: Session, /, *, days: int = 30) -> list[tuple[Any, dict[str, int]]]:
    """The open datasets of the bodies the actor reports for, with their totals over the
    period (for the provider's page)."""
    require(actor, OPENING_REPORT)
    first = today(db) - dt.timedelta(days=max(1, days) - 1)
    entries, _ = list_open(db, limit=10_000)
    mine = [e for e in entries if actor.can(OPENING_REPORT, e.provider_path)
            or actor.can(OPENING_REPORT, e.bureau_path or "\x00")]
    if not mine:
        return []
    rows = db.execute(sa.select(UsageDay.entry_id, UsageDay.channel, sa.func.sum(UsageDay.count))
                      .where(UsageDay.entry_id.in_([e.id for e in mine]), UsageDay.day >= first)
                      .group_by(UsageDay.entry_id, UsageDay.channel)).all()
    totals: dict[uuid.UUID, dict[str, int]] = {}
    for entry_id, channel, n in rows:
        totals.setdefault(entry_id, {})[channel] = int(n or 0)
    return [(e, {c.value: totals.get(e.id, {}).get(c.value, 0) for c in Channel}) for e in mine]


# ------------------------------------------------------------------------------ developers


def _developer_actor(developer: Developer, key: ApiKey | None = None) -> Actor:
    """A developer acting through the portal API: no organisation, no role (the public)."""
    return Actor(username=f"developer:{developer.email}"[:64], display_name=developer.name,
                 user_id=developer.id, via="api", token_id=key.id if key else None)


def developer_actor(developer: Developer) -> Actor:
    return _developer_actor(developer)


def text_in(value: str | None) -> str:
    """Text as typed, trimmed, without NUL characters (no database stores them as text)."""
    return (value or "").replace("\x00", "").strip()


def _clean_email(email: str) -> str:
    return text_in(email).lower()


def register_developer(db: Session, /, *, name: str, email: str, organisation: str = "",
                       key_name: str = "default") -> tuple[Developer, str]:
    """Sign up on the portal (anyone): the developer and its first API key (shown once)."""
    name, email, organisation = text_in(name), _clean_email(email), text_in(organisation)
    errors = []
    if not 1 <= len(name) <= 100:
        errors.append(("name", "developer_name", "Give your name (at most 100 characters)."))
    if len(email) > 254 or "@" not in email or email.startswith("@") or "." not in email.split("@")[-1]:
        errors.append(("email", "invalid_email", "Give a valid e-mail address."))
    if len(organisation) > 200:
        errors.append(("organisation", "developer_organisation", "At most 200 characters."))
    if errors:
        from gongshu.core.errors import FieldError

        raise ValidationFailed("The sign-up is not valid.",
                               errors=[FieldError(f, c, m) for f, c, m in errors])
    if db.scalar(sa.select(Developer.id).where(Developer.email == email)) is not None:
        raise Conflict("A developer with this e-mail address is already registered.",
                       code="developer_exists")
    developer = Developer(name=name, email=email, organisation=organisation)
    db.add(developer)
    db.flush()
    actor = _developer_actor(developer)
    audit.record(db, actor, "opening.developer_register", target_type="opening_developer",
                 target_id=developer.id, details={"email": email, "organisation": organisation})
    raw = _new_key(db, actor, developer, key_name)
    return developer, raw


def _new_key(db: Session, actor: Actor, developer: Developer, name: str) -> str:
    raw, prefix, hashed = new_token(KEY_KIND)
    key = ApiKey(developer_id=developer.id, name=(name or "default")[:100], prefix=prefix,
                 key_hash=hashed)
    db.add(key)
    db.flush()
    audit.record(db, actor, "opening.key_create", target_type="opening_api_key",
                 target_id=key.id, details={"developer": developer.email, "prefix": prefix,
                                            "name": key.name})
    return raw


def create_key(actor: Actor, db: Session, /, *, developer_email: str, name: str = "") -> str:
    """Another key for a developer: the developer itself (through its key), or an operator of
    the platform (``opening.manage``; the CLI)."""
    developer = db.scalar(sa.select(Developer).where(Developer.email == _clean_email(developer_email)))
    if developer is None:
        raise NotFound("No such developer.", code="developer_not_found")
    if actor.user_id != developer.id:
        require(actor, OPENING_MANAGE)
    return _new_key(db, actor, developer, name)


def revoke_key(actor: Actor, db: Session, /, *, prefix: str) -> ApiKey:
    key = db.scalar(sa.select(ApiKey).where(ApiKey.prefix == prefix).with_for_update())
    if key is None or (actor.user_id != key.developer_id and not actor.can(OPENING_MANAGE)):
        raise NotFound("No such API key.", code="api_key_not_found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(db, actor, "opening.key_revoke", target_type="opening_api_key",
                     target_id=key.id, details={"prefix": prefix})
    return key


def list_developers(actor: Actor, db: Session, /, *, limit: int = 100,
                    offset: int = 0) -> list[Developer]:
    require(actor, OPENING_MANAGE)
    return list(db.scalars(sa.select(Developer).order_by(Developer.created_at.desc())
                           .limit(limit).offset(offset)))


def set_developer_status(actor: Actor, db: Session, /, developer_id: uuid.UUID, *,
                         active: bool, reason: str = "") -> Developer:
    """Suspend a developer (its keys stop working at once) or reinstate it: the data bureau or
    an administrator (``opening.manage``), e.g. after a breach of the terms of use."""
    require(actor, OPENING_MANAGE)
    developer = db.scalar(sa.select(Developer).where(Developer.id == developer_id)
                          .with_for_update())
    if developer is None:
        raise NotFound("No such developer.", code="developer_not_found")
    reason = text_in(reason)
    if not active and not reason:
        raise ValidationFailed.single("reason", "required", "Say why the developer is suspended.")
    status = "active" if active else "suspended"
    if developer.status != status:
        developer.status = status
        audit.record(db, actor, "opening.developer_status", target_type="opening_developer",
                     target_id=developer.id, details={"email": developer.email, "status": status,
                                                      "reason": reason})
    return developer


def authenticate_key(db: Session, /, raw: str) -> tuple[Developer, ApiKey]:
    """The developer and key of ``gso_<prefix>_<secret>``; 401 for anything else."""
    parts = (raw or "").strip().split("_", 2)
    # the prefix is 8 hex digits (``new_token``): anything else is never looked up (a NUL
    # byte, for one, is no text PostgreSQL accepts)
    if len(parts) != 3 or parts[0] != KEY_KIND or not _PREFIX.fullmatch(parts[1]):
        raise Unauthenticated("Send your portal API key as 'X-API-Key: gso_…'.",
                              code="api_key_invalid")
    key = db.scalar(sa.select(ApiKey).where(ApiKey.prefix == parts[1]))
    if key is None or not constant_time_equal(key.key_hash, token_hash(raw.strip())):
        raise Unauthenticated("Unknown API key.", code="api_key_invalid")
    if key.revoked_at is not None:
        raise Unauthenticated("This API key was revoked.", code="api_key_revoked")
    developer = db.get(Developer, key.developer_id)
    if developer is None or developer.status != "active":
        raise PermissionDenied("This developer account is suspended.", code="developer_suspended")
    return developer, key


def check_rate(db: Session, /, key: ApiKey) -> int:
    """Count one request of ``key`` in the current window; 429 with Retry-After past the
    limit. Returns the requests left in the window."""
    settings = runtime_of(db).settings
    window_len = max(1, settings.opening_api_rate_window)
    now = utcnow().timestamp()
    window = int(now // window_len * window_len)
    table = RateWindow.__table__
    db.execute(table.delete().where(table.c.key_id == key.id, table.c.window < window))
    count = _upsert(db, table, {"key_id": key.id, "window": window}, "count")
    limit = settings.opening_api_rate_limit
    if count > limit:
        retry = max(1, int(window + window_len - now + 0.999))
        raise TooManyRequests(f"At most {limit} requests per {window_len} seconds; try again "
                              f"in {retry} seconds.", code="rate_limited", retry_after=retry,
                              limit=limit, window=window_len)
    key.last_used_at = utcnow()
    return limit - count


def api_rows(db: Session, /, developer: Developer, ref: str, *, offset: int = 0,
             limit: int | None = None) -> Rows:
    """A developer's API read of one dataset: an ``open`` one, or a ``conditional_open`` one
    under an active grant the developer holds (the grant's items only). Counted and audited."""
    from gongshu.opening import flows

    dataset = get_dataset(db, ref)
    actor = _developer_actor(developer)
    items: Sequence[str] | None = None
    via = "opening:open"
    if not dataset.downloadable:
        grant = flows.active_grant(db, developer=developer, entry_id=dataset.entry.id)
        if grant is None:
            raise PermissionDenied("This dataset is opened on application only; apply on the "
                                   "portal.", code="opening_conditional")
        items, via = list(grant.items), f"share_grant:{grant.id}"
    found = read_rows(actor, db, dataset, offset=offset, limit=limit, items=items, via=via)
    record_usage(db, dataset.entry.id, Channel.API)
    _audit_out(db, actor, "opening.api_read", dataset, found)
    return found

