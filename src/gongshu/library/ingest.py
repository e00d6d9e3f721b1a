"""The ingest pipeline (Art. 11): from a source to a new Parquet version of a dataset.

1. :func:`match_columns` matches the source's columns to the catalog entry's data items, by
   name or by code, and lists every mismatch column by column (missing, extra, duplicate).
2. :class:`Caster` casts text batches to the data items' types (信息项数据类型 C/N/Y/D/T/L/M/G/B/I/F)
   in DuckDB: numbers with thousands separators and full-width digits, dates written
   ``2024-01-05``, ``2024/1/5``, ``20240105`` or ``2024年1月5日``, logical values as 是/否 …
   A value that does not cast is *wrong type*.
3. :func:`ingest_stream` reads the source once and streams the batches into
   ``engine.storage`` (a temporary directory, renamed into a new version only when every file
   is written and synced) while a thread runs the sensitive-data detectors
   (``grading.scan.scan_batches``) over the same batches. Memory holds a few batches, never the
   file. If the columns do not match, or any value does not cast, nothing is published and
   :class:`IngestRejected` lists every problem: columns, counts and examples.

Nothing here touches the metadata store: ``library.service`` and ``library.jobs`` decide
what the result means for the dataset.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from gongshu.engine import DatasetStore, Engine
from gongshu.engine import DatasetVersion as StoredVersion
from gongshu.engine.readers import SourceReader
from gongshu.grading.detectors import ColumnDetections
from gongshu.grading.service import SCAN_BATCH_ROWS, scan_batches

__all__ = [
    "DATA_TYPES",
    "Caster",
    "ColumnMatch",
    "IngestRejected",
    "IngestResult",
    "ItemSpec",
    "ColumnMapping",
    "Problem",
    "ingest_stream",
    "match_columns",
]

#: Example values kept per column and problem.
EXAMPLES = 5

_BLANKS = " \t\r\n\u3000\ufeff"
_FULL_WIDTH = ("０１２３４５６７８９．－＋，", "0123456789.-+,")
_TRUE = ("1", "true", "t", "y", "yes", "是", "对", "真", "√")
_FALSE = ("0", "false", "f", "n", "no", "否", "错", "假", "×")
_DATE_FORMATS = ("%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日", "%Y.%m.%d")
_TIME_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y%m%d%H%M%S",
                 "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H时%M分%S秒", "%Y年%m月%d日 %H时%M分",
                 "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日")


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_lit(v) for v in values) + "]"


def _number_text(v: str) -> str:
    """Digits as a parser reads them: full-width digits folded, separators and ¥ dropped."""
    return (f"regexp_replace(translate({v}, {_lit(_FULL_WIDTH[0])}, {_lit(_FULL_WIDTH[1])}), "
            f"'[,¥￥\\s]', '', 'g')")


@dataclass(frozen=True)
class TypeSpec:
    """How one data item type of the compilation guide is stored and parsed."""

    code: str
    arrow: pa.DataType
    sql: Callable[[str], str]  # SQL expression of a trimmed, non-empty text value (or NULL)


def _date(v: str) -> str:
    return (f"COALESCE(TRY_CAST({v} AS DATE), CAST(TRY_STRPTIME({v}, {_list(_DATE_FORMATS)}) "
            f"AS DATE), CAST(TRY_CAST({v} AS TIMESTAMP) AS DATE))")


def _timestamp(v: str) -> str:
    return f"COALESCE(TRY_CAST({v} AS TIMESTAMP), TRY_STRPTIME({v}, {_list(_TIME_FORMATS)}))"


def _integer(v: str) -> str:
    n = _number_text(v)
    return (f"CASE WHEN regexp_full_match({n}, '[+-]?[0-9]+(\\.0*)?') "
            f"THEN TRY_CAST(regexp_replace({n}, '\\.0*$', '') AS BIGINT) END")


def _logical(v: str) -> str:
    return (f"CASE WHEN lower({v}) IN ({', '.join(map(_lit, _TRUE))}) THEN TRUE "
            f"WHEN lower({v}) IN ({', '.join(map(_lit, _FALSE))}) THEN FALSE END")


#: 信息项 数据类型 (catalog ``data_item_types``) → storage type and parser.
DATA_TYPES: Mapping[str, TypeSpec] = {
    spec.code: spec
    for spec in (
        TypeSpec("C", pa.string(), lambda v: v),  # 字符型
        TypeSpec("M", pa.string(), lambda v: v),  # 备注型
        TypeSpec("G", pa.string(), lambda v: v),  # 通用型 (objects arrive as text in files)
        TypeSpec("N", pa.float64(), lambda v: f"TRY_CAST({_number_text(v)} AS DOUBLE)"),
        TypeSpec("B", pa.float64(), lambda v: f"TRY_CAST({_number_text(v)} AS DOUBLE)"),
        TypeSpec("F", pa.float64(), lambda v: f"TRY_CAST({_number_text(v)} AS DOUBLE)"),
        TypeSpec("Y", pa.decimal128(18, 2),
                 lambda v: f"TRY_CAST({_number_text(v)} AS DECIMAL(18, 2))"),  # 货币型
        TypeSpec("I", pa.int64(), _integer),
        TypeSpec("D", pa.date32(), _date),
        TypeSpec("T", pa.timestamp("us"), _timestamp),
        TypeSpec("L", pa.bool_(), _logical),
    )
}
TEXT_TYPES = frozenset({"C", "M", "G"})


# --------------------------------------------------------------------------- matching


class ItemLike(Protocol):
    name: str
    code: str
    data_type: str
    length: int | None


@dataclass(frozen=True)
class ItemSpec:
    """A data item as ingest needs it (built from ``catalog.models.DataItem`` or a dict)."""

    name: str
    code: str
    data_type: str
    length: int | None = None

    @classmethod
    def of(cls, item: ItemLike | Mapping[str, Any]) -> ItemSpec:
        get = item.get if isinstance(item, Mapping) else lambda k, d=None: getattr(item, k, d)
        length = get("length")
        return cls(str(get("name")), str(get("code")), str(get("data_type") or "C").upper(),
                   int(length) if length else None)

    @property
    def arrow_type(self) -> pa.DataType:
        return DATA_TYPES[self.data_type].arrow if self.data_type in DATA_TYPES else pa.string()


@dataclass
class Problem:
    """One mismatch between the source and the entry, for one column or data item."""

    # missing | extra | duplicate | wrong_type | too_long | unknown_type | unknown_column |
    # unknown_item (the last two: a column mapping that names what is not there)
    code: str
    message: str
    column: str | None = None  # the source's column
    item: str | None = None  # the data item's name
    item_code: str | None = None
    data_type: str | None = None
    count: int = 0
    checked: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    blocking: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "column": self.column,
                "item": self.item, "item_code": self.item_code, "data_type": self.data_type,
                "count": self.count, "checked": self.checked, "examples": self.examples,
                "blocking": self.blocking}


@dataclass(frozen=True)
class ColumnMatch:
    item: ItemSpec
    source: str
    source_index: int
    by: str  # name | code | mapping (the person ingesting said so)


@dataclass
class ColumnMapping:
    source_columns: list[str]
    items: list[ItemSpec]
    matches: list[ColumnMatch]
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not any(p.blocking for p in self.problems)

    def report(self) -> dict[str, Any]:
        """Column by column: every data item and every source column, with its status."""
        by_item = {m.item.code: m for m in self.matches}
        problems_by_item: dict[str, list[Problem]] = {}
        for p in self.problems:
            if p.item_code:
                problems_by_item.setdefault(p.item_code, []).append(p)
        rows = []
        for item in self.items:
            m = by_item.get(item.code)
            found = problems_by_item.get(item.code, [])
            status = next((p.code for p in found if p.blocking), None) or (
                found[0].code if found else "ok")
            rows.append({"item": item.name, "code": item.code, "data_type": item.data_type,
                         "length": item.length, "source": m.source if m else None,
                         "by": m.by if m else None, "status": status})
        matched = {m.source for m in self.matches}
        for p in self.problems:
            if p.code in ("extra", "duplicate") and p.column not in matched:
                rows.append({"item": None, "code": None, "data_type": None, "length": None,
                             "source": p.column, "by": None,
                             "status": p.code if p.blocking else "dropped"})
        return {"columns": rows, "problems": [p.as_dict() for p in self.problems],
                "source_columns": list(self.source_columns), "ok": self.ok}


def normalise_name(text: str) -> str:
    """Column names compare without case, spaces, underscores, BOM or full-width spaces."""
    return "".join(ch for ch in str(text).casefold() if ch not in " \t\r\n_\u3000\ufeff-")


def match_columns(source_columns: Sequence[str], items: Sequence[ItemLike | Mapping[str, Any]]
                  | Sequence[ItemSpec], *, drop_extra: bool = False,
                  columns: Mapping[str, str] | None = None) -> ColumnMapping:
    """Match source columns to data items: as ``columns`` says (source column → data item code,
    or name), else by name, else by code; list every mismatch.

    Every data item needs exactly one column; a column that is no data item is *extra* (kept
    out of the library: Art. 46 wants data catalogued before it is used), reported as a
    problem that blocks, or, with ``drop_extra``, as a warning and left out. A mapping that
    names a column the source does not have, or an item the entry does not have, blocks.
    """
    specs = [i if isinstance(i, ItemSpec) else ItemSpec.of(i) for i in items]
    problems: list[Problem] = []
    chosen: dict[str, ItemSpec] = {}  # normalised source column → item, as mapped
    present = {normalise_name(c) for c in source_columns}
    for column, target in (columns or {}).items():
        key = normalise_name(target)
        spec = next((s for s in specs if normalise_name(s.code) == key), None) or next(
            (s for s in specs if normalise_name(s.name) == key), None)
        if normalise_name(column) not in present:
            problems.append(Problem("unknown_column", f"The mapping names column {column!r}, "
                                    "which the file does not have.", column=column))
        elif spec is None:
            problems.append(Problem("unknown_item", f"The mapping maps column {column!r} to "
                                    f"{target!r}, which is no data item of the entry.",
                                    column=column))
        else:
            chosen[normalise_name(column)] = spec
    mapped = set(chosen.values())
    by_name: dict[str, ItemSpec] = {}
    by_code: dict[str, ItemSpec] = {}
    for spec in specs:
        by_name.setdefault(normalise_name(spec.name), spec)
        by_code.setdefault(normalise_name(spec.code), spec)
        if spec.data_type not in DATA_TYPES:
            problems.append(Problem("unknown_type", f"Data item {spec.name!r} has the unknown "
                                    f"type {spec.data_type!r}.", item=spec.name,
                                    item_code=spec.code, data_type=spec.data_type))
    matches: dict[str, ColumnMatch] = {}
    for index, column in enumerate(source_columns):
        key = normalise_name(column)
        spec, by = chosen.get(key), "mapping"
        if spec is None:
            # by name, else by code; an item the mapping gave to a column is taken
            spec, by = by_name.get(key), "name"
            if spec is None or spec in mapped:
                spec, by = by_code.get(key), "code"
            if spec in mapped:
                spec = None
        if spec is None:
            problems.append(Problem(
                "extra", f"Column {column!r} is not a data item of the entry"
                + (" and is left out." if drop_extra else "."),
                column=column, blocking=not drop_extra))
            continue
        if spec.code in matches:
            problems.append(Problem(
                "duplicate", f"Column {column!r} and column {matches[spec.code].source!r} both "
                f"match data item {spec.name!r}.", column=column, item=spec.name,
                item_code=spec.code))
            continue
        matches[spec.code] = ColumnMatch(spec, column, index, by)
    for spec in specs:
        if spec.code not in matches:
            problems.append(Problem("missing", f"Data item {spec.name!r} ({spec.code}) has no "
                                    "column in the file.", item=spec.name, item_code=spec.code,
                                    data_type=spec.data_type))
    ordered = [matches[s.code] for s in specs if s.code in matches]
    return ColumnMapping(list(source_columns), specs, ordered, problems)


# --------------------------------------------------------------------------- casting


@dataclass
class CastResult:
    batch: pa.RecordBatch
    bad: list[int]  # per match: values that did not cast
    long: list[int]  # per match: text longer than the item's length
    nonempty: list[int]
    examples: list[list[dict[str, Any]]]


class Caster:
    """Casts batches of text (columns in ``matches`` order) to the items' types.

    Values are trimmed and empty ones become null in Arrow. A column whose values all follow
    the canonical form (``1234.5``, ``2024-01-05``, ``true``) is cast by Arrow at once; only a
    column that does not (``1,234.50``, ``2024/1/5``, ``是``, or a value that is plainly wrong)
    goes through the lenient parsers of :data:`DATA_TYPES` in DuckDB, which also say which
    values are wrong.
    """

    def __init__(self, engine: Engine, matches: Sequence[ColumnMatch]) -> None:
        self.engine = engine
        self.matches = list(matches)
        self.name = f"ingest_{uuid.uuid4().hex[:16]}"
        self.schema = pa.schema([pa.field(m.item.code, m.item.arrow_type) for m in self.matches])

    def text_batch(self, raw: pa.RecordBatch) -> pa.RecordBatch:
        """The matched columns of a source batch, as text named ``c0 … cN``."""
        arrays = []
        for m in self.matches:
            col = raw.column(m.source_index)
            if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
                col = pc.cast(col, pa.string())
            arrays.append(col)
        return pa.RecordBatch.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))])

    def cast(self, raw: pa.RecordBatch, *, offset: int = 0) -> CastResult:
        text = self.text_batch(raw)
        n = len(self.matches)
        arrays: list[pa.Array | None] = [None] * n
        bad, long, nonempty = [0] * n, [0] * n, [0] * n
        examples: list[list[dict[str, Any]]] = [[] for _ in range(n)]
        values: list[pa.Array] = []
        lenient: list[int] = []
        for i, m in enumerate(self.matches):
            trimmed = pc.utf8_trim(text.column(i), characters=_BLANKS)
            value = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, trimmed.type), trimmed)
            values.append(value)
            nonempty[i] = len(value) - value.null_count
            target = self.schema.field(i).type
            if m.item.data_type in TEXT_TYPES or m.item.data_type not in DATA_TYPES:
                arrays[i] = value if value.type == target else pc.cast(value, target)
                if m.item.length and m.item.data_type in ("C", "M") and nonempty[i]:
                    long[i] = int(pc.sum(pc.greater(pc.utf8_length(value),
                                                    int(m.item.length))).as_py() or 0)
                continue
            try:
                arrays[i] = pc.cast(value, target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                lenient.append(i)
        if lenient:
            self._lenient(lenient, values, arrays, bad, examples, text, offset)
        batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema) if n else \
            pa.RecordBatch.from_arrays([], schema=self.schema)
        return CastResult(batch, bad, long, nonempty, examples)

    def _lenient(self, which: list[int], values: list[pa.Array], arrays: list[pa.Array | None],
                 bad: list[int], examples: list[list[dict[str, Any]]], text: pa.RecordBatch,
                 offset: int) -> None:
        """Parse the columns ``which`` with the lenient SQL parsers; count what fails."""
        inner = ", ".join(f"{DATA_TYPES[self.matches[i].item.data_type].sql(f'x{i}')} AS v{i}, "
                          f"x{i}" for i in which)
        outer = ", ".join(f"v{i}, (x{i} IS NOT NULL AND v{i} IS NULL) AS b{i}" for i in which)
        sql = f'SELECT {outer} FROM (SELECT {inner} FROM "{self.name}")'
        self.engine.register(self.name, pa.RecordBatch.from_arrays(
            [values[i] for i in which], names=[f"x{i}" for i in which]))
        try:
            out = self.engine.query(sql)
        finally:
            self.engine.unregister(self.name)
        for i in which:
            target = self.schema.field(i).type
            array = out.column(f"v{i}").combine_chunks()
            arrays[i] = array if array.type == target else pc.cast(array, target)
            flags = out.column(f"b{i}").combine_chunks()
            bad[i] = int(pc.sum(flags).as_py() or 0)
            if bad[i]:
                where = pc.indices_nonzero(flags)[:EXAMPLES].to_pylist()
                found = text.column(i).take(pa.array(where)).to_pylist()
                examples[i] = [{"row": offset + w + 1, "value": str(v)[:100]}
                               for w, v in zip(where, found, strict=True)]

    def close(self) -> None:
        self.engine.unregister(self.name)


def _type_problems(matches: Sequence[ColumnMatch], bad: Sequence[int], long: Sequence[int],
                   nonempty: Sequence[int], examples: Sequence[Sequence[dict[str, Any]]],
                   *, where: str) -> list[Problem]:
    out = []
    for i, m in enumerate(matches):
        if bad[i]:
            out.append(Problem(
                "wrong_type", f"Column {m.source!r}: {bad[i]} of {nonempty[i]} values {where} are "
                f"not of the type {m.item.data_type} of data item {m.item.name!r}.",
                column=m.source, item=m.item.name, item_code=m.item.code,
                data_type=m.item.data_type, count=bad[i], checked=nonempty[i],
                examples=list(examples[i])))
        if long[i]:
            out.append(Problem(
                "too_long", f"Column {m.source!r}: {long[i]} values {where} are longer than the "
                f"{m.item.length} characters of data item {m.item.name!r}.",
                column=m.source, item=m.item.name, item_code=m.item.code,
                data_type=m.item.data_type, count=long[i], checked=nonempty[i], blocking=False))
    return out


# --------------------------------------------------------------------------- streaming


class IngestRejected(Exception):
    """The source does not fit the entry; nothing was stored."""

    def __init__(self, problems: list[Problem], *, rows: int = 0) -> None:
        super().__init__("; ".join(p.message for p in problems[:3]))
        self.problems = problems
        self.rows = rows


@dataclass
class IngestResult:
    version: StoredVersion
    rows: int
    scanned_rows: int
    detections: list[ColumnDetections]
    warnings: list[Problem]
    seconds: float
    schema: pa.Schema


_END = object()


class _ScanThread:
    """Runs ``scan_batches`` in a thread over batches handed to it through a bounded queue."""

    def __init__(self, names: Sequence[str], threads: int | None) -> None:
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=4)
        self.names = list(names)
        self.threads = threads
        self.result: tuple[int, list[ColumnDetections]] | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="ingest-scan", daemon=True)
        self.thread.start()

    def _items(self) -> Iterator[pa.RecordBatch]:
        while True:
            item = self.queue.get()
            if item is _END:
                return
            yield item

    def _run(self) -> None:
        try:
            self.result = scan_batches(self._items(), self.names, threads=self.threads)
        except BaseException as exc:  # handed to the ingesting thread
            self.error = exc
            while self.queue.get() is not _END:
                pass

    def put(self, item: Any) -> None:
        while True:
            try:
                self.queue.put(item, timeout=0.5)
                return
            except queue.Full:
                if not self.thread.is_alive():
                    return

    def finish(self) -> tuple[int, list[ColumnDetections]]:
        self.put(_END)
        self.thread.join()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def ingest_stream(
    reader: SourceReader,
    mapping: ColumnMapping,
    *,
    engine: Engine,
    store: DatasetStore,
    storage_id: str,
    metadata: Mapping[str, Any] | None = None,
    batch_rows: int = SCAN_BATCH_ROWS,
    progress: Callable[[int, pa.RecordBatch], None] | None = None,
    scan: bool = True,
    threads: int | None = None,
) -> IngestResult:
    """Stream ``reader`` through the cast into a new version of ``storage_id``, scanning as it
    goes, reading the source once.

    If the columns do not match the data items, or any value anywhere does not cast, nothing is
    published: :class:`IngestRejected` lists every problem, each wrong type counted over the
    whole file with examples (a mismatched file is still read to the end, writing nothing, so
    that one report shows everything to fix). ``progress(rows, batch)`` follows the reading.
    """
    started = time.monotonic()
    if not mapping.matches and not mapping.ok:
        raise IngestRejected(list(mapping.problems))
    rejected = not mapping.ok
    caster = Caster(engine, mapping.matches)
    scanner = _ScanThread([m.item.name for m in mapping.matches], threads) \
        if scan and not rejected else None
    n = len(mapping.matches)
    bad, long, nonempty = [0] * n, [0] * n, [0] * n
    examples: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    state = {"rows": 0}

    def type_problems() -> list[Problem]:
        return _type_problems(mapping.matches, bad, long, nonempty, examples, where="in the file")

    def batches() -> Iterator[pa.RecordBatch]:
        rows = 0
        for raw in reader.batches(batch_rows=batch_rows):
            result = caster.cast(raw, offset=rows)
            rows += raw.num_rows
            for i in range(n):
                bad[i] += result.bad[i]
                long[i] += result.long[i]
                nonempty[i] += result.nonempty[i]
                if len(examples[i]) < EXAMPLES:
                    examples[i].extend(result.examples[i][: EXAMPLES - len(examples[i])])
            state["rows"] = rows
            if progress is not None:
                progress(rows, raw)
            if rejected or any(bad):
                continue  # keep counting every bad value; no version will be kept
            if scanner is not None:
                text = caster.text_batch(raw)
                scanner.put(pa.RecordBatch.from_arrays(
                    text.columns, names=[m.item.name for m in mapping.matches]))
            yield result.batch
        if rejected or any(bad):
            raise IngestRejected(list(mapping.problems) + type_problems(), rows=rows)

    try:
        if rejected:
            for _ in batches():  # pragma: no cover - yields nothing when rejected
                pass
        stream = pa.RecordBatchReader.from_batches(caster.schema, batches())
        version = store.write(storage_id, stream, metadata=dict(metadata or {}))
        scanned_rows, detections = scanner.finish() if scanner is not None else (0, [])
        scanner = None
    finally:
        if scanner is not None:  # the write failed: stop the scan thread
            scanner.put(_END)
            scanner.thread.join()
        caster.close()
    warnings = [p for p in type_problems() if not p.blocking]
    warnings += [p for p in mapping.problems if not p.blocking]
    return IngestResult(version, state["rows"], scanned_rows, detections, warnings,
                        time.monotonic() - started, caster.schema)
