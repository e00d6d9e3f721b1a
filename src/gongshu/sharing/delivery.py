"""Delivery of granted data (Art. 12): a grant's holder pulls what the grant gives, and only that.

A pull is two steps, each its own unit of work, so that the audit event and the usage row are
written exactly once per pull and before a byte of data leaves:

1. ``prepare_pull`` (a read session): checks that the actor may pull this grant now, reads the
   granted items of the rows the row filter keeps (``library.service.read_columns`` with the
   filter as ``where`` and the items not granted in clear masked by their detected personal-data
   types, ``deid.masks``), inserts the grant's canary rows (``fingerprint``) and writes the page
   in the asked format into a spooled temporary file (memory up to 16 MB, then
   ``<data_dir>/tmp``), counting rows and bytes. Nothing is written to the metadata store.
2. ``record_pull`` (a write transaction): locks the grant row, checks again that it is active
   and that the day's row limit holds with this page (concurrent pulls of one grant queue on the
   lock, on PostgreSQL across server processes too), adds the ``GrantPull`` row and records the
   one ``sharing.pull`` audit event (who, grant, scenario, rows, bytes, format) in the audit
   chain. Only after the commit is the file streamed to the caller.

So a client that aborts the download still leaves its one event (the event says what was
prepared for it), a refused pull leaves none, and a crash before the commit delivers nothing.
The price is that the first byte waits for the page to be written; pages are bounded
(``MAX_PAGE_ROWS``), and writing runs at hundreds of thousands of rows per second.

Pages: ``limit`` data rows from the position a ``cursor`` names. The cursor is opaque and signed
(HMAC under the data directory's ``sharing-cursor`` key): it pins the grant, the dataset version
and the row count the canaries were placed for, so the pages of one pull series fit together.

The data row limit per day (``ShareGrant.daily_row_limit``) counts data rows delivered that day
(Asia/Shanghai); a page is cut to what is left, and a pull with nothing left answers 429
``daily_row_limit``.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import io
import json
import math
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gongshu.core import audit, exports
from gongshu.core.db import runtime_of, utcnow
from gongshu.core.errors import (
    BadRequest,
    InvalidState,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    ValidationFailed,
)
from gongshu.core.permissions import Actor
from gongshu.deid import masks
from gongshu.grading import service as grading
from gongshu.library import service as library
from gongshu.sharing import fingerprint
from gongshu.sharing import service as sharing
from gongshu.sharing.models import GrantPull, GrantStatus, ShareGrant
from gongshu.sharing.permissions import SHARE_PULL

FORMATS = ("json", "ndjson", "csv", "parquet", "xlsx")
MEDIA_TYPES = {
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
PAGE_ROWS = 100_000
MAX_PAGE_ROWS = 1_000_000
XLSX_MAX_ROWS = 1_048_575
SPOOL_BYTES = 16 * 1024 * 1024


# ------------------------------------------------------------------------------ keys, cursor


_SECRETS: dict[tuple[str, str], bytes] = {}


def _secret(db: Session, name: str) -> bytes:
    """A data directory's secret, read once per process (keys never change in place)."""
    keys = runtime_of(db).keys
    slot = (str(keys.directory), name)
    found = _SECRETS.get(slot)
    if found is None:
        found = _SECRETS[slot] = keys.secret(name)
    return found


def _fingerprint_key(db: Session) -> bytes:
    return _secret(db, "fingerprint")


def _cursor_key(db: Session) -> bytes:
    return _secret(db, "sharing-cursor")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Cursor:
    version: int
    total: int
    offset: int


def encode_cursor(key: bytes, grant_id: uuid.UUID, cursor: Cursor) -> str:
    body = json.dumps([str(grant_id), cursor.version, cursor.total, cursor.offset],
                      separators=(",", ":")).encode()
    tag = hmac.new(key, body, hashlib.sha256).digest()[:16]
    return f"{_b64(body)}.{_b64(tag)}"


def decode_cursor(key: bytes, grant_id: uuid.UUID, text: str) -> Cursor:
    """The position a cursor names; ``cursor_invalid`` unless this platform made it for this
    grant."""
    bad = BadRequest("The cursor is not valid for this grant.", code="cursor_invalid")
    try:
        body_text, tag_text = text.split(".", 1)
        body, tag = _unb64(body_text), _unb64(tag_text)
    except (ValueError, TypeError):
        raise bad from None
    if not hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest()[:16], tag):
        raise bad
    try:
        gid, version, total, offset = json.loads(body)
    except (ValueError, TypeError):
        raise bad from None
    if gid != str(grant_id) or not (0 <= int(offset) <= int(total)):
        raise bad
    return Cursor(int(version), int(total), int(offset))


# ------------------------------------------------------------------------------ who may pull


def may_pull(actor: Actor, grant: ShareGrant) -> bool:
    """The holder's staff with ``sharing.pull`` (through a session, a plain token or a token
    bound to this grant), or the local operator."""
    if actor.is_system:
        return True
    return (sharing.is_holder(actor, grant) and sharing.may_pull(actor, grant)
            and actor.can(SHARE_PULL))


def check_active(grant: ShareGrant, now: dt.datetime | None = None) -> None:
    """Art. 12: a revoked, suspended or expired grant delivers nothing (stable codes)."""
    now = now or utcnow()
    status = sharing.effective_status(grant, now)
    if status == GrantStatus.REVOKED:
        raise PermissionDenied("The grant has been revoked.", code="grant_revoked")
    if status == GrantStatus.SUSPENDED:
        raise PermissionDenied("The grant is suspended.", code="grant_suspended")
    if status == GrantStatus.EXPIRED:
        raise PermissionDenied("The grant has expired.", code="grant_expired")
    if grant.starts_at > now:
        raise PermissionDenied("The grant has not started yet.", code="grant_not_started")


def _pullable(actor: Actor, db: Session, grant_id: uuid.UUID, *, lock: bool = False) -> ShareGrant:
    grant = sharing.grant_row(db, grant_id, lock=lock)
    if not may_pull(actor, grant):
        raise NotFound("No such grant.", code="grant_not_found")
    check_active(grant)
    return grant


def _day(db: Session) -> dt.date:
    zone = ZoneInfo(runtime_of(db).settings.display_timezone)
    return utcnow().astimezone(zone).date()


def _used_today(db: Session, grant_id: uuid.UUID, day: dt.date) -> int:
    return int(db.scalar(sa.select(sa.func.coalesce(sa.func.sum(GrantPull.rows), 0)).where(
        GrantPull.grant_id == grant_id, GrantPull.day == day)) or 0)


def _limit_reached(grant: ShareGrant, used: int) -> TooManyRequests:
    return TooManyRequests(
        f"The grant's daily limit of {grant.daily_row_limit} rows is used up for today.",
        code="daily_row_limit", limit=grant.daily_row_limit, used=used)


# ------------------------------------------------------------------------------ the plan


@dataclass(frozen=True)
class Plan:
    """What a grant delivers: columns, their masks, the row filter, the fingerprint columns."""

    grant_id: uuid.UUID
    entry_id: uuid.UUID
    columns: tuple[str, ...]
    masks: dict[str, str]
    where: tuple[tuple[str, str, Any], ...]
    fp_columns: tuple[fingerprint.Column, ...]

    @property
    def signature(self) -> str:
        return repr((self.columns, sorted(self.masks), self.fp_columns))


def _arrow_kind(arrow_type: str) -> str:
    t = (arrow_type or "").lower()
    if t in ("string", "large_string", "utf8", "large_utf8", "str"):
        return "string"
    if t.startswith("decimal"):
        inside = t[t.find("(") + 1:t.rfind(")")].split(",")
        return f"decimal:{int(inside[1]) if len(inside) == 2 else 0}"
    if t.startswith("date"):
        return "date"
    if t.startswith("timestamp"):
        return "timestamp"
    if t in ("bool", "boolean"):
        return "bool"
    if t.startswith(("int", "uint")):
        return "int"
    if t in ("double", "float", "halffloat", "float64", "float32"):
        return "float"
    return "other"


def mask_sql_for(grant: ShareGrant, graded: dict[str, Any]) -> dict[str, str]:
    """The mask of each granted item not granted in clear, by the types the latest grading
    scan found in it (``deid.masks``)."""
    clear = set(grant.clear_items)
    out = {}
    for code in grant.items:
        g = graded.get(code)
        sql = None if code in clear or g is None else masks.column_mask(
            masks.mask_types(g.detections))
        if sql is not None:
            out[code] = sql
    return out


def plan_for(db: Session, grant: ShareGrant, stored: Sequence[dict[str, Any]],
             graded: dict[str, Any] | None = None) -> Plan:
    """The delivery plan of a grant over a version's stored columns (``stored``: the columns'
    metadata, each with ``code`` and ``arrow_type``)."""
    by_code = {c["code"]: c for c in stored}
    columns = tuple(c for c in grant.items if c in by_code)
    if graded is None:
        graded = grading.column_grades(db, grant.entry_id)
    fixed: dict[str, tuple[Any, ...]] = {}
    bounds: dict[str, dict[str, float]] = {}
    where = []
    for f in grant.row_filter:
        op, value = f.get("op", "="), f["value"]
        where.append((f["item"], op, value))
        if op == "=":
            fixed[f["item"]] = (value,)
        elif op == "in":
            fixed[f["item"]] = tuple(value)
        elif op in ("<", "<=", ">", ">=") and isinstance(value, int | float) \
                and not isinstance(value, bool):
            # the canaries pass the filter too (a margin keeps them clear of the bound)
            side = "low" if op.startswith(">") else "high"
            margin = 1.0 if side == "low" else -1.0
            bounds.setdefault(f["item"], {})[side] = float(value) + margin
    mask_sql = mask_sql_for(grant, graded)
    fp_columns = []
    for code in columns:
        g = graded.get(code)
        types = masks.mask_types(g.detections) if g else ()
        sql = mask_sql.get(code)
        arrow = "string" if sql is not None else _arrow_kind(str(by_code[code].get("arrow_type")))
        kind = fingerprint.kind_for(types, arrow == "string")
        fp_columns.append(fingerprint.Column(code, kind, arrow, masked=sql is not None,
                                             fixed=fixed.get(code, ()),
                                             **bounds.get(code, {})))
    return Plan(grant.id, grant.entry_id, columns, mask_sql, tuple(where), tuple(fp_columns))


_TOTALS: OrderedDict[tuple[Any, ...], int] = OrderedDict()


def _total(reader: Actor, db: Session, grant: ShareGrant, version: Any,
           where: list[tuple[str, str, Any]]) -> int:
    """The data rows a grant delivers from a version: the version's row count without a row
    filter, else counted once per (version, filter) (versions never change)."""
    if not where:
        return int(version.rows)
    key = (version.id, repr(where))
    with _CACHE_LOCK:
        if key in _TOTALS:
            return _TOTALS[key]
    probe = library.read_columns(reader, db, entry_id=grant.entry_id, columns=[where[0][0]],
                                 version=version.number, where=where)
    try:
        total = sum(b.num_rows for b in probe.batches)
    finally:
        probe.close()
    with _CACHE_LOCK:
        _TOTALS[key] = total
        while len(_TOTALS) > 4096:
            _TOTALS.popitem(last=False)
    return total


def reader_actor(actor: Actor, grant: ShareGrant) -> Actor:
    """The actor that reads the data: no role, only the grant's capability on its entry."""
    return Actor(username=actor.username, display_name=actor.display_name,
                 user_id=actor.user_id, org_id=actor.org_id, org_path=actor.org_path,
                 via=actor.via, capabilities=(sharing.capability(grant),))


# ------------------------------------------------------------------------------ canaries

_CANARY_CACHE: OrderedDict[tuple[Any, ...], pa.Table] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def canary_table(db: Session, plan: Plan, ks: Sequence[int], schema: pa.Schema | None = None,
                 *, key: bytes | None = None) -> pa.Table:
    """Canaries ``ks`` of a grant as delivered (masked like the real rows), of ``schema``
    (default: strings for text, the fingerprint's types otherwise)."""
    ks = tuple(ks)
    cache_key = (plan.grant_id, plan.signature, str(schema), ks)
    with _CACHE_LOCK:
        hit = _CANARY_CACHE.get(cache_key)
        if hit is not None:
            _CANARY_CACHE.move_to_end(cache_key)
            return hit
    gkey = fingerprint.grant_key(key or _fingerprint_key(db), plan.grant_id)
    rows = fingerprint.canary_rows(gkey, plan.fp_columns, ks)
    arrays = []
    for c in plan.fp_columns:
        values = [r[c.code] for r in rows]
        target = pa.string() if c.masked or schema is None else schema.field(c.code).type
        try:
            arrays.append(pa.array(values, type=target))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
            arrays.append(pa.nulls(len(values), type=target))
    raw = pa.table(arrays, names=list(plan.columns)) if plan.columns else pa.table({})
    table = raw
    if plan.masks and ks:
        engine = runtime_of(db).data_engine
        name = f"c_{uuid.uuid4().hex[:16]}"
        select = ", ".join(
            f"{plan.masks[c].format(code=_q(c))} AS {_q(c)}" if c in plan.masks else _q(c)
            for c in plan.columns)
        engine.register(name, raw)
        try:
            table = engine.query(f"SELECT {select} FROM {name}")
        finally:
            engine.unregister(name)
    if schema is not None:
        table = table.cast(schema)
    with _CACHE_LOCK:
        _CANARY_CACHE[cache_key] = table
        while len(_CANARY_CACHE) > 512:
            _CANARY_CACHE.popitem(last=False)
    return table


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _interleave(batches: Iterator[pa.RecordBatch], offset: int, at: Sequence[tuple[int, int]],
                canaries: pa.Table, counter: list[int]) -> Iterator[pa.RecordBatch]:
    """The data batches with canary ``i`` of ``canaries`` before data row ``at[i][0]``, one
    output batch per input batch; ``counter[0]`` counts data rows."""
    pending = sorted((pos, i) for i, (pos, _k) in enumerate(at))
    row = offset
    j = 0
    for batch in batches:
        n = batch.num_rows
        if j >= len(pending) or pending[j][0] >= row + n:
            row += n
            counter[0] += n
            yield batch
            continue
        pieces = []
        start = 0
        while j < len(pending) and pending[j][0] < row + n:
            cut = pending[j][0] - row
            if cut > start:
                pieces.append(batch.slice(start, cut - start))
            start = max(start, cut)
            pieces.extend(canaries.slice(pending[j][1], 1).to_batches())
            j += 1
        if start < n:
            pieces.append(batch.slice(start))
        row += n
        counter[0] += n
        yield from pa.Table.from_batches(pieces, schema=batch.schema).combine_chunks().to_batches()
    rest = [b for _p, i in pending[j:] for b in canaries.slice(i, 1).to_batches()]
    if rest:  # after the last data row
        yield from pa.Table.from_batches(rest, schema=canaries.schema).combine_chunks().to_batches()


# ------------------------------------------------------------------------------ writers



def _jsonable(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Decimals and timestamps as text (exact, and the same from both JSON writers)."""
    arrays = [pc.cast(a, pa.string())
              if pa.types.is_decimal(a.type) or pa.types.is_timestamp(a.type) else a
              for a in batch.columns]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


_LOCAL = threading.local()
#: batches at least this long are rendered as JSON by DuckDB (C++), smaller ones by orjson
JSON_DUCKDB_ROWS = 2048


def _json_rows(batch: pa.RecordBatch, sep: bytes) -> bytes:
    """The rows of a batch as JSON objects, each followed by ``sep``."""
    if batch.num_rows < JSON_DUCKDB_ROWS:
        rows = orjson.dumps(batch.to_pylist())
        return rows[1:-1].replace(b"},{", b"}" + sep + b"{") + sep
    con = getattr(_LOCAL, "duckdb", None)
    if con is None:
        import duckdb

        con = duckdb.connect(":memory:", config={"threads": 1,
                                                 "enable_external_access": False})
        _LOCAL.duckdb = con
    con.register("page", batch)
    try:
        column = con.sql("SELECT CAST(to_json(page) AS VARCHAR) FROM page").to_arrow_table()
    finally:
        con.unregister("page")
    out = []
    for chunk in column.column(0).chunks:
        if len(chunk) == 0:
            continue
        joined = pc.binary_join_element_wise(chunk, pa.scalar(""), sep.decode())
        width = pa.int64() if pa.types.is_large_string(joined.type) else pa.int32()
        offsets = pa.Array.from_buffers(width, len(joined) + 1, [None, joined.buffers()[1]],
                                        offset=joined.offset)
        begin, end = offsets[0].as_py(), offsets[len(joined)].as_py()
        out.append(joined.buffers()[2].slice(begin, end - begin).to_pybytes())
    return b"".join(out)


class _Counting(io.RawIOBase):
    def __init__(self, sink: IO[bytes]) -> None:
        self.sink = sink
        self.bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        n = self.sink.write(data)
        self.bytes += len(data)
        return n if n is not None else len(data)


def _write(fmt: str, batches: Iterator[pa.RecordBatch], schema: pa.Schema, out: _Counting,
           *, head: dict[str, Any], tail: dict[str, Any]) -> None:
    if fmt in ("json", "ndjson"):
        if fmt == "json":
            out.write(orjson.dumps(head)[:-1] + b',"rows":[')
        first = True
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if fmt == "json":
                rows = _json_rows(_jsonable(batch), b",")
                out.write((b"" if first else b",") + rows[:-1])
            else:
                out.write(_json_rows(_jsonable(batch), b"\n"))
            first = False
        if fmt == "json":
            out.write(b"]," + orjson.dumps(tail)[1:])
        return
    if fmt == "csv":
        import pyarrow.csv as pacsv

        with pacsv.CSVWriter(out, schema) as writer:
            for batch in batches:
                arrays = [exports.safe_column(a) for a in batch.columns]
                writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
        return
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetWriter(out, schema, compression="snappy") as writer:
            for batch in batches:
                writer.write_batch(batch)
        return
    if fmt == "xlsx":
        import openpyxl

        wb = openpyxl.Workbook(write_only=True)
        ws = wb.create_sheet()
        exports.xlsx_append(ws, schema.names)
        n = 0
        for batch in batches:
            n += batch.num_rows
            if n > XLSX_MAX_ROWS:
                raise ValidationFailed.single("format", "too_many_rows",
                                              "More rows than a worksheet holds; use csv or "
                                              "parquet.", max=XLSX_MAX_ROWS)
            cols = [a.to_pylist() for a in batch.columns]
            for row in zip(*cols, strict=True):
                exports.xlsx_append(ws, row)
        wb.save(out)
        return
    raise ValidationFailed.single("format", "invalid", f"Formats: {', '.join(FORMATS)}.")


# ------------------------------------------------------------------------------ page cache

#: small pages are kept, keyed by everything that makes their bytes: the grant (its items and
#: row filter), the dataset version (a cursor's) or "current", the page, the format, the masks
#: and the detected types. Who may pull, the grant's state, the day's limit and the audit event
#: are checked and written for every pull all the same. "Current" pages live PAGE_CACHE_CURRENT
#: seconds, so a new dataset version is served at most that much later; pinned ones longer.
PAGE_CACHE_BYTES = 256 * 1024
PAGE_CACHE_CURRENT = 2.0
PAGE_CACHE_PINNED = 60.0
_PAGES: OrderedDict[tuple[Any, ...], tuple[float, bytes, dict[str, Any]]] = OrderedDict()


def _cached_page(key: tuple[Any, ...], *, pinned: bool) -> tuple[bytes, dict[str, Any]] | None:
    ttl = PAGE_CACHE_PINNED if pinned else PAGE_CACHE_CURRENT
    with _CACHE_LOCK:
        found = _PAGES.get(key)
        if found is None or time.monotonic() - found[0] > ttl:
            return None
        _PAGES.move_to_end(key)
        return found[1], dict(found[2])


def _cache_page(key: tuple[Any, ...], data: bytes, meta: dict[str, Any]) -> None:
    with _CACHE_LOCK:
        _PAGES[key] = (time.monotonic(), data, dict(meta))
        while len(_PAGES) > 256:
            _PAGES.popitem(last=False)


# ------------------------------------------------------------------------------ pulls


@dataclass
class Prepared:
    """A page written and waiting for ``record_pull``; then ``chunks()`` sends it."""

    grant_id: uuid.UUID
    entry_id: uuid.UUID
    scenario_id: uuid.UUID | None
    resource_code: str
    format: str
    version: int
    offset: int
    rows: int
    canaries: int
    total: int
    next_cursor: str | None
    file: IO[bytes]
    bytes: int
    via: str
    day: dt.date
    columns: list[str] = field(default_factory=list)
    recorded: bool = False

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    @property
    def filename(self) -> str:
        ext = "jsonl" if self.format == "ndjson" else self.format
        return f"grant-{self.grant_id}-{self.offset}.{ext}"

    def chunks(self, size: int = 1 << 18) -> Iterator[bytes]:
        """The page, once ``record_pull`` committed; the file is closed at the end."""
        if not self.recorded:
            raise InvalidState("A pull is sent only after it was recorded.",
                               code="pull_not_recorded")
        try:
            self.file.seek(0)
            while chunk := self.file.read(size):
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.file.close()


def prepare_pull(actor: Actor, db: Session, /, grant_id: uuid.UUID, *, format: str = "json",
                 cursor: str | None = None, limit: int | None = PAGE_ROWS, via: str = "api",
                 sink: IO[bytes] | None = None) -> Prepared:
    """Check and write one page of a grant's data (``limit=None``: every row from the cursor
    on). Writes nothing to the metadata store: ``record_pull`` must follow before it is sent."""
    if format not in FORMATS:
        raise ValidationFailed.single("format", "invalid",
                                      f"Formats: {', '.join(FORMATS)}.", allowed=list(FORMATS))
    if limit is not None and not 1 <= limit <= MAX_PAGE_ROWS:
        raise ValidationFailed.single("limit", "out_of_range",
                                      f"A page has 1 to {MAX_PAGE_ROWS} rows.", max=MAX_PAGE_ROWS)
    grant = _pullable(actor, db, grant_id)
    position = decode_cursor(_cursor_key(db), grant.id, cursor) if cursor else None
    day = _day(db)
    if grant.daily_row_limit is not None:
        used = _used_today(db, grant.id, day)
        left = grant.daily_row_limit - used
        if left <= 0:
            raise _limit_reached(grant, used)
        limit = left if limit is None else min(limit, left)
    reader = reader_actor(actor, grant)
    graded = grading.column_grades(db, grant.entry_id)
    masks_sql = mask_sql_for(grant, graded)
    where = [(f["item"], f.get("op", "="), f["value"]) for f in grant.row_filter]
    offset = position.offset if position else 0
    page_key: tuple[Any, ...] | None = None
    if sink is None:
        types = tuple((c, masks.mask_types(graded[c].detections)) for c in grant.items
                      if c in graded)
        page_key = (grant.id, tuple(grant.items), repr(grant.row_filter), position, offset,
                    limit, format,
                    tuple(sorted(masks_sql.items())), types)
        hit = _cached_page(page_key, pinned=position is not None)
        if hit is not None:
            data, meta = hit
            return Prepared(grant.id, grant.entry_id, grant.scenario_id, grant.resource_code,
                            format, file=io.BytesIO(data), bytes=len(data), via=via, day=day,
                            **meta)
    stream = library.read_columns(reader, db, entry_id=grant.entry_id, columns=list(grant.items),
                                  version=position.version if position else None, where=where,
                                  mask=masks_sql, offset=offset, limit=limit)
    try:
        if position is None:
            total = _total(reader, db, grant, stream.version, where)
            position = Cursor(stream.version.number, total, 0)
        plan = plan_for(db, grant, stream.columns, graded)
    except BaseException:
        stream.close()
        raise
    total = position.total
    end = total if limit is None else min(total, offset + limit)
    key = _fingerprint_key(db)
    at = fingerprint.positions_between(fingerprint.grant_key(key, grant.id), total, offset,
                                       end + 1 if end == total else end) if total else []
    schema = stream.batches.schema
    canaries = canary_table(db, plan, [k for _p, k in at], schema, key=key)
    next_cursor = encode_cursor(_cursor_key(db), grant.id, Cursor(position.version, total, end)) \
        if end < total else None
    if sink is None:
        tmp = runtime_of(db).settings.resolved_data_dir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        sink = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, dir=tmp)  # noqa: SIM115 (Prepared closes it)
    out = _Counting(sink)
    counter = [0]
    head = {"grant_id": str(grant.id), "resource_code": grant.resource_code,
            "version": position.version, "offset": offset, "columns": list(plan.columns)}
    try:
        _write(format, _interleave(iter(stream.batches), offset, at, canaries, counter), schema,
               out, head=head, tail={"next_cursor": next_cursor})
    except BaseException:
        stream.close()
        with contextlib.suppress(Exception):
            sink.close()
        raise
    stream.close()
    sink.flush()
    meta = {"version": position.version, "offset": offset, "rows": counter[0],
            "canaries": len(at), "total": total, "next_cursor": next_cursor,
            "columns": list(plan.columns)}
    if page_key is not None and out.bytes <= PAGE_CACHE_BYTES:
        sink.seek(0)
        _cache_page(page_key, sink.read(), meta)
    return Prepared(grant.id, grant.entry_id, grant.scenario_id, grant.resource_code, format,
                    file=sink, bytes=out.bytes, via=via, day=day, **meta)


def record_pull(actor: Actor, db: Session, /, prepared: Prepared) -> GrantPull:
    """Record a prepared pull: the grant still active, the day's limit kept; one
    ``GrantPull`` and one ``sharing.pull`` audit event, in the caller's transaction.

    A grant with a daily row limit is locked while its day's rows are added up and the pull is
    added (concurrent pulls of it queue, across processes too); one without is not locked, so its
    pulls queue only on the audit chain. ``last_pulled_at`` is kept to the minute."""
    grant = _pullable(actor, db, prepared.grant_id)
    if grant.daily_row_limit is not None:
        grant = _pullable(actor, db, prepared.grant_id, lock=True)
        used = _used_today(db, grant.id, prepared.day)
        if used + prepared.rows > grant.daily_row_limit:
            raise _limit_reached(grant, used)
    pull = GrantPull(grant_id=grant.id, day=prepared.day, rows=prepared.rows,
                     bytes=prepared.bytes, format=prepared.format, actor=actor.username,
                     via=prepared.via, holder_org_id=grant.holder_org_id)
    db.add(pull)
    now = utcnow()
    if grant.last_pulled_at is None or now - grant.last_pulled_at > dt.timedelta(minutes=1):
        # not a change of the grant's state: no version bump, and a concurrent pull that got
        # here first makes this a no-op instead of a conflict
        db.execute(sa.update(ShareGrant).where(
            ShareGrant.id == grant.id,
            sa.or_(ShareGrant.last_pulled_at.is_(None),
                   ShareGrant.last_pulled_at < now - dt.timedelta(minutes=1)))
            .values(last_pulled_at=now).execution_options(synchronize_session=False))
    db.flush()
    audit.record(db, actor, "sharing.pull", target_type=sharing.TARGET, target_id=grant.id,
                 org_id=grant.holder_org_id, org_path=grant.holder_path or None,
                 details={"resource_code": grant.resource_code, "entry_id": str(grant.entry_id),
                          "scenario_id": str(grant.scenario_id) if grant.scenario_id else None,
                          "holder": grant.holder_path or str(grant.holder_user_id),
                          "rows": prepared.rows, "bytes": prepared.bytes,
                          "format": prepared.format, "version": prepared.version,
                          "offset": prepared.offset, "via": prepared.via,
                          "pull_id": str(pull.id)})
    prepared.recorded = True
    return pull


def pull_to_file(actor: Actor, database: Any, /, grant_id: uuid.UUID, path: Path, *,
                 format: str) -> Prepared:
    """The whole grant into ``path`` (the CLI): written beside it, recorded, then renamed, so
    ``path`` appears only for a recorded pull."""
    path = Path(path)
    part = path.with_name(f".{path.name}.part-{uuid.uuid4().hex[:8]}")
    try:
        with part.open("wb") as sink:
            with database.transaction(write=False) as db:
                prepared = prepare_pull(actor, db, grant_id, format=format, limit=None,
                                        via="cli", sink=sink)
            with database.transaction() as db:
                record_pull(actor, db, prepared)
        part.replace(path)
    finally:
        part.unlink(missing_ok=True)
    return prepared


# ------------------------------------------------------------------------------ grant tokens


def create_grant_token(actor: Actor, db: Session, /, grant_id: uuid.UUID, *, name: str,
                       days: int | None = None) -> tuple[Any, str]:
    """An API token that may only pull this grant (``sharing.pull``, bound to the grant), for
    a member of the holder's staff who holds ``sharing.pull``; it ends with the grant at the
    latest. Shown once."""
    from gongshu.orgs import service as orgs

    grant = sharing.grant_row(db, grant_id)
    if actor.is_system or actor.user_id is None or not sharing.is_holder(actor, grant):
        raise NotFound("No such grant.", code="grant_not_found")
    if actor.token_object is not None or not actor.can(SHARE_PULL):
        raise PermissionDenied("Only the holder's staff with sharing.pull may make a token for "
                               "a grant.", code="permission_denied", permission=str(SHARE_PULL))
    check_active(grant)
    left = max(1, math.ceil((grant.expires_at - utcnow()).total_seconds() / 86400))
    days = min(left, days) if days is not None else left
    settings = runtime_of(db).settings
    days = min(days, settings.token_max_days)
    return orgs.create_token(actor, db, name=name, days=days, permissions=[str(SHARE_PULL)],
                             bound_to=(sharing.TARGET, grant.id))
