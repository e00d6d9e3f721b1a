"""Streaming readers for the files public bodies really have (Art. 11: the resource library is
built from them; issue 4 §1).

GBK-encoded CSV exported from old systems, Excel sheets with a title row above the header, JSON
and JSON Lines, Parquet, and tables in a database: :func:`open_source` opens any of them and
returns a :class:`SourceReader` whose :meth:`~SourceReader.batches` yields ``pyarrow.RecordBatch``
objects of one fixed schema, a bounded number of rows at a time, so a 2 GB CSV goes through in
bounded memory.

By default every column is text (``as_text=True``): CSV and spreadsheets have no reliable types,
ID numbers and phone numbers must keep their leading zeros, and the catalog entry's data items,
not the file, say what type a column has. Pass ``as_text=False`` to keep the types that Parquet,
JSON and database tables carry.

Bad input raises :class:`~gongshu.core.errors.BadRequest` (we can't read it at all: unknown
format, missing sheet or table) or :class:`~gongshu.core.errors.ValidationFailed` (it is the
right kind of file but its content is broken), always with a message a person can act on.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import io
import json
import math
import os
import queue
import threading
import zipfile
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gongshu.core.errors import BadRequest, FieldError, ValidationFailed

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "SourceReader",
    "detect_encoding",
    "find_header_row",
    "open_source",
    "sniff_csv",
]

DEFAULT_BATCH_ROWS = 65_536
#: Bytes read from the start of a text file to detect encoding, delimiter, quoting and header.
SNIFF_BYTES = 1 << 20
#: Rows looked at to find the header below a title or blank rows.
HEADER_SEARCH_ROWS = 30
#: Encodings of the GB family are all read as GB 18030, their superset.
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "hz", "cp936", "euc_cn", "iso2022_cn"}
_DELIMITERS = (",", "\t", ";", "|")
_FORMATS = {
    ".csv": "csv", ".txt": "csv", ".tsv": "csv",
    ".xlsx": "xlsx", ".xlsm": "xlsx",
    ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".parquet": "parquet", ".pq": "parquet",
}


class SourceReader(ABC):
    """One readable source. Re-iterable: each :meth:`batches` call starts from the beginning."""

    #: ``csv``, ``xlsx``, ``json``, ``jsonl``, ``parquet`` or ``sql``.
    format: str
    #: The text encoding detected (CSV only).
    encoding: str | None = None
    #: 0-based index of the header among the file's rows (CSV and XLSX), else None.
    header_row: int | None = None

    def __init__(self, source: str) -> None:
        self.source = source

    @property
    @abstractmethod
    def schema(self) -> pa.Schema:
        """The schema every batch has."""

    @abstractmethod
    def _batches(self, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Batches of roughly ``batch_rows`` rows, already of :attr:`schema`."""

    def batches(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Stream the rows as record batches of at most ``batch_rows`` rows."""
        if batch_rows < 1:
            raise BadRequest("batch_rows must be at least 1")
        try:
            yield from _rebatch(self._batches(batch_rows), batch_rows, self.schema)
        except (pa.ArrowInvalid, UnicodeDecodeError, ValueError) as exc:
            raise _broken(self.source, exc) from exc

    def sample(self, n: int = 1000) -> pa.Table:
        """The first ``n`` rows (a head, not a random sample: reading is streaming)."""
        taken: list[pa.RecordBatch] = []
        rows = 0
        for batch in self.batches(batch_rows=min(max(n, 1), DEFAULT_BATCH_ROWS)):
            taken.append(batch.slice(0, n - rows))
            rows += taken[-1].num_rows
            if rows >= n:
                break
        return pa.Table.from_batches(taken, schema=self.schema)

    def close(self) -> None:  # noqa: B027 - optional hook, most readers hold nothing open
        """Release what the reader holds open (a database engine, a workbook)."""

    def __enter__(self) -> SourceReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(source: str | os.PathLike[str], *, sheet: str | None = None,
                table: str | None = None, format: str | None = None,
                encoding: str | None = None, delimiter: str | None = None,
                as_text: bool = True) -> SourceReader:
    """Open a file (CSV, XLSX, JSON, JSON Lines, Parquet) or a database table.

    ``source`` is a path, or a SQLAlchemy URL (``sqlite:///data.db``,
    ``postgresql+psycopg://…``) with ``table``. The format comes from the extension, else from
    the first bytes. ``sheet`` picks a worksheet (default: the first). ``encoding`` and
    ``delimiter`` override what is sniffed from a CSV.
    """
    text = os.fspath(source)
    if "://" in text:
        if not table:
            raise BadRequest("A database source needs a table name (table=…).",
                             code="table_required")
        return SqlReader(text, table, as_text=as_text)
    path = Path(text)
    if not path.is_file():
        raise BadRequest(f"{path}: no such file.", code="file_not_found")
    kind = format or _guess_format(path)
    if kind == "csv":
        return CsvReader(path, encoding=encoding, delimiter=delimiter)
    if kind == "xlsx":
        return XlsxReader(path, sheet=sheet)
    if kind in ("json", "jsonl"):
        return JsonReader(path, kind, as_text=as_text)
    if kind == "parquet":
        return ParquetReader(path, as_text=as_text)
    raise BadRequest(f"{path.name}: unsupported format {kind!r}.", code="unsupported_format")


def _guess_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise BadRequest(f"{path.name}: the old Excel .xls format is not supported; save the "
                         "sheet as .xlsx or CSV.", code="unsupported_format")
    if suffix in _FORMATS:
        return _FORMATS[suffix]
    with path.open("rb") as f:
        head = f.read(4096)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"PAR1"):
        return "parquet"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"["):
        return "json"
    if stripped.startswith(b"{"):
        return "jsonl"
    return "csv"


def _broken(source: str, exc: BaseException) -> ValidationFailed:
    name = Path(source).name if "://" not in source else source.split("://", 1)[0] + " table"
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ValidationFailed(f"{name}: the file could not be read: {message}", code="bad_file",
                            errors=[FieldError("file", "bad_file", message)])


def _rebatch(batches: Iterable[pa.RecordBatch], batch_rows: int,
             schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Re-cut a stream of batches into batches of exactly ``batch_rows`` rows (the last fewer)."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        count += batch.num_rows
        if count < batch_rows:
            continue
        merged = pa.Table.from_batches(pending, schema=schema).combine_chunks()
        offset = 0
        while count - offset >= batch_rows:
            yield merged.slice(offset, batch_rows).to_batches()[0]
            offset += batch_rows
        rest = merged.slice(offset)
        pending = rest.to_batches() if rest.num_rows else []
        count -= offset
    if count:
        yield pa.Table.from_batches(pending, schema=schema).combine_chunks().to_batches()[0]


# --------------------------------------------------------------------------- header and names


def find_header_row(rows: Sequence[Sequence[Any]]) -> int:
    """Index of the header among the first rows: skips a title row and blank rows above it.

    The table's width is the most common number of filled cells in a row; the header is the
    first row that fills at least 60 % of that width with distinct values. A title (one filled
    cell, often merged across the table) and blank rows fall short.
    """
    filled = [[c for c in row if _filled(c)] for row in rows]
    counts = [len(cells) for cells in filled if cells]
    if not counts:
        return 0
    width = Counter(counts).most_common(1)[0][0]
    need = max(1, math.ceil(0.6 * width))
    for i, cells in enumerate(filled):
        names = [str(c).strip() for c in cells]
        if len(cells) >= need and len(set(names)) == len(names):
            return i
    return next(i for i, cells in enumerate(filled) if cells)


def _filled(cell: Any) -> bool:
    return cell is not None and str(cell).strip() != ""


def column_names(header: Sequence[Any], width: int) -> list[str]:
    """Header cells as unique, non-empty column names (``column_3``, ``姓名_2`` …)."""
    names: list[str] = []
    seen: Counter[str] = Counter()
    cells = list(header) + [None] * max(0, width - len(header))
    for i, cell in enumerate(cells[: max(width, len(header))]):
        name = str(cell).strip() if _filled(cell) else f"column_{i + 1}"
        seen[name] += 1
        names.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return names


# --------------------------------------------------------------------------- CSV


def detect_encoding(head: bytes) -> str:
    """The encoding of a text file from its first bytes: UTF-8 (with or without BOM), GB 18030
    for anything of the GB family, else charset-normalizer's best guess."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise ValidationFailed("The file is binary, not text.", code="not_text")
    # The sample may end inside a multi-byte character: _decode_prefix allows for that.
    if _decode_prefix(head, "utf-8") is not None:
        return "utf-8"
    # Public bodies here write GBK/GB 18030 when not UTF-8; a short Chinese sample can look
    # like Korean (cp949) to a statistical detector, so try the GB family first.
    gb = _decode_prefix(head, "gb18030")
    if gb is not None:
        wide = [c for c in gb if ord(c) > 0x7F]
        chinese = sum(1 for c in wide if "\u3400" <= c <= "\u9fff" or "\u3000" <= c <= "\u303f"
                      or "\uff00" <= c <= "\uffef")
        if not wide or chinese >= 0.9 * len(wide):
            return "gb18030"
    from charset_normalizer import from_bytes

    best = from_bytes(head).best()
    if best is None:
        raise ValidationFailed("The text encoding could not be recognised; save the file as "
                               "UTF-8 or GBK.", code="unknown_encoding")
    name = codecs.lookup(best.encoding).name.replace("-", "_")
    if name in _GB_FAMILY or name.startswith("gb"):
        return "gb18030"
    return codecs.lookup(best.encoding).name


def _decode_prefix(head: bytes, encoding: str) -> str | None:
    """``head`` decoded strictly, allowing a character cut off at the end; None if it fails."""
    for cut in range(4):
        try:
            return head[: len(head) - cut].decode(encoding)
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:
                return None
    return None


@dataclass(frozen=True)
class CsvDialect:
    delimiter: str
    quote_char: str
    escape_char: str | None
    newlines_in_values: bool


def sniff_csv(text: str, delimiter: str | None = None) -> tuple[CsvDialect, list[list[str]]]:
    """Delimiter and quoting of a CSV from the start of its text, and its first rows parsed.

    A candidate delimiter is good when it splits the rows into the same number of fields (more
    than one); the quote character is the one seen opening fields.
    """
    lines = text.splitlines(keepends=True)
    complete = "".join(lines[:-1]) if len(lines) > 1 else text
    quote = '"'
    if complete.count("'") > 2 * complete.count('"'):
        # Only when single quotes open fields (',' + "'") more than double quotes do.
        opens_single = sum(complete.count(d + "'") for d in _DELIMITERS) + complete.count("\n'")
        opens_double = sum(complete.count(d + '"') for d in _DELIMITERS) + complete.count('\n"')
        if opens_single > opens_double:
            quote = "'"
    escape = "\\" if ("\\" + quote) in complete else None

    def parse(delim: str) -> list[list[str]]:
        reader = csv.reader(io.StringIO(complete), delimiter=delim, quotechar=quote,
                            escapechar=escape, doublequote=escape is None)
        rows = []
        try:
            for row in reader:
                rows.append(row)
                if len(rows) >= 200:
                    break
        except csv.Error:
            pass
        return rows

    if delimiter is None:
        best, best_score = ",", -1.0
        for delim in _DELIMITERS:
            rows = [r for r in parse(delim) if any(c.strip() for c in r)]
            if not rows:
                continue
            widths = Counter(len(r) for r in rows)
            width, hits = widths.most_common(1)[0]
            if width < 2:
                continue
            score = hits / len(rows) + 0.001 * width
            if score > best_score:
                best, best_score = delim, score
        delimiter = best
    rows = parse(delimiter)
    multiline = any("\n" in cell or "\r" in cell for row in rows for cell in row)
    return CsvDialect(delimiter, quote, escape, multiline), rows


class Utf8Stream(io.RawIOBase):
    """A text file re-encoded as UTF-8 by a background thread, read as a binary stream.

    Decoding GBK in Python holds the interpreter lock; pyarrow's CSV parser does not. Decoding
    in a producer thread (a few chunks ahead, so memory stays bounded) lets both run at once.
    For the GB family each newline-aligned chunk is decoded with the faster ``gbk`` codec and,
    only if it holds a four-byte GB 18030 sequence, again with ``gb18030`` (GBK is a subset, so
    the result is the same). Byte 0x0A never occurs inside a GBK, GB 18030 or Big5 character.
    """

    CHUNK = 8 << 20
    AHEAD = 4

    def __init__(self, path: Path, encoding: str) -> None:
        super().__init__()
        self._chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(self.AHEAD)
        self._stop = threading.Event()
        self._buffer = memoryview(b"")
        self._finished = False
        self._reading = threading.Condition()  # counts the readinto calls under way
        self._readers = 0
        self._thread = threading.Thread(target=self._produce, args=(path, encoding),
                                        name="utf8-stream", daemon=True)
        self._thread.start()

    def _put(self, item: bytes | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._chunks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, path: Path, encoding: str) -> None:
        gb = _is_gb(encoding)
        try:
            with path.open("rb") as f:
                if _newline_safe(encoding):
                    for chunk in _newline_chunks(f, self.CHUNK):
                        if not self._put(_decode_chunk(chunk, encoding, gb)):
                            return
                else:
                    decoder = codecs.getincrementaldecoder(encoding)()
                    while not self._stop.is_set():
                        block = f.read(self.CHUNK)
                        text = decoder.decode(block, final=not block)
                        if text and not self._put(text.encode("utf-8")):
                            return
                        if not block:
                            break
        except BaseException as exc:  # handed to the reading side
            self._put(exc)
        self._put(None)

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        with self._reading:
            self._readers += 1
        try:
            return self._readinto(target)
        finally:
            with self._reading:
                self._readers -= 1
                self._reading.notify_all()

    def _readinto(self, target: Any) -> int:
        while not len(self._buffer):
            if self._finished or self._stop.is_set():
                # Closed while pyarrow's read-ahead thread waits here: end of file for it
                # (it would otherwise wait forever, and hold up the interpreter's exit).
                self._finished = True
                return 0
            try:
                item = self._chunks.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is None:
                self._finished = True
                return 0
            if isinstance(item, BaseException):
                self._finished = True
                raise item
            self._buffer = memoryview(item)
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def close(self) -> None:
        """Stop the producer and wait for a read under way to return, so that no pyarrow
        thread is inside this object once the reader is closed."""
        self._stop.set()
        with self._reading:
            self._reading.wait_for(lambda: self._readers == 0, timeout=5)
        self._thread.join(timeout=5)
        super().close()


def _decode_chunk(chunk: bytes, encoding: str, gb: bool) -> bytes:
    """One newline-aligned chunk as UTF-8: GB text tries the faster ``gbk`` codec first."""
    if gb:
        try:
            return chunk.decode("gbk").encode("utf-8")
        except UnicodeDecodeError:
            pass
    return chunk.decode(encoding).encode("utf-8")


def _is_gb(encoding: str) -> bool:
    return codecs.lookup(encoding).name in ("gb18030", "gbk", "gb2312")


def _newline_safe(encoding: str) -> bool:
    """Encodings in which byte 0x0A is always a newline (never inside a character)."""
    return _is_gb(encoding) or codecs.lookup(encoding).name in ("big5", "big5hkscs", "cp950")


def _newline_chunks(f: Any, size: int) -> Iterator[bytes]:
    """A binary file in chunks of about ``size`` bytes that end at a newline."""
    rest = b""
    while True:
        block = rest + f.read(size)
        if not block:
            return
        grew = len(block) > len(rest)
        cut = block.rfind(b"\n") + 1 if grew else len(block)
        chunk, rest = block[:cut], block[cut:]
        if chunk:
            yield chunk
        elif not grew:
            return


#: Files above this size are transcoded by a helper process (below, starting it costs more than
#: it saves).
HELPER_MIN_BYTES = 64 << 20


def _use_helper(path: Path, encoding: str) -> bool:
    """A helper process transcodes large GB/Big5 files when there is a second core for it."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return ((cores or 1) >= 2 and _newline_safe(encoding)
            and path.stat().st_size >= HELPER_MIN_BYTES)


# The helper: the interpreter alone (isolated; nothing imported beyond the codecs) running the
# same chunking and decoding as Utf8Stream, UTF-8 to stdout; a decoding error goes to stderr as
# the repr of (encoding, start, end, reason, bad bytes), with exit status 3.
_HELPER = """
from __future__ import annotations
import sys
{newline_chunks}
{decode_chunk}
def main(path, encoding, gb, size):
    write = sys.stdout.buffer.write
    with open(path, "rb") as f:
        for chunk in _newline_chunks(f, size):
            try:
                text = _decode_chunk(chunk, encoding, gb)
            except UnicodeDecodeError as exc:
                sys.stdout.buffer.flush()
                sys.stderr.write(repr((exc.encoding, exc.start, exc.end, exc.reason,
                                       chunk[exc.start:exc.end])))
                sys.exit(3)
            write(text)
try:
    main(sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4]))
except BrokenPipeError:  # the reader stopped early
    pass
"""


class TranscodingPipe(io.RawIOBase):
    """A GB/Big5 file re-encoded as UTF-8 by a helper process, read from its stdout.

    Python's codecs hold the interpreter lock (GBK decodes at some 150-200 MB/s on one core)
    and a decoding thread stalls pyarrow whenever it calls back into Python. The helper runs the
    very same chunking and codec (:func:`_newline_chunks`, :func:`_decode_chunk`) on the other
    core and this process only copies bytes from a pipe: the output is byte-identical, and a
    decoding error is the same ``UnicodeDecodeError`` (same message), raised by :meth:`check`
    once the rows before it have been read.
    """

    def __init__(self, path: Path, encoding: str, chunk: int) -> None:
        import inspect
        import subprocess
        import sys

        super().__init__()
        source = _HELPER.format(newline_chunks=inspect.getsource(_newline_chunks),
                                decode_chunk=inspect.getsource(_decode_chunk))
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-c", source, str(path), encoding,
             "1" if _is_gb(encoding) else "0", str(chunk)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._pipe = self._proc.stdout
        with contextlib.suppress(OSError, AttributeError, ImportError):
            import fcntl

            # A 1 MB pipe (Linux allows it unprivileged): 5x fewer switches between the two.
            fcntl.fcntl(self._pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
        self._reading = threading.Condition()  # counts the reads under way
        self._readers = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        with self._reading:
            if self.closed:
                return b""
            self._readers += 1
        try:
            data = self._pipe.read(size)
            if size < 0 or len(data) < size:
                self._eof = True  # the helper closed its output: it is done or failing
            return data
        finally:
            with self._reading:
                self._readers -= 1
                self._reading.notify_all()

    def readinto(self, target: Any) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)

    def stopped(self) -> bool:
        """Whether the helper has finished (or failed): its output ended."""
        return self._eof or self._proc.poll() is not None

    def check(self) -> None:
        """Wait for the helper; raise what it met: the decoding error, or its failure."""
        status = self._proc.wait()
        if status == 0:
            return
        error = self._proc.stderr.read().decode("utf-8", "replace")
        if status == 3:
            import ast

            encoding, start, end, reason, bad = ast.literal_eval(error)
            # The message names the bytes at [start:end] of the chunk; only those are kept.
            raise UnicodeDecodeError(encoding, bytes(start) + bad, start, end, reason)
        raise OSError(f"the transcoding helper process failed ({status}): "
                      f"{error.strip().splitlines()[-1] if error.strip() else 'no message'}")

    def close(self) -> None:
        """Stop the helper and wait for a read under way to return (so that no pyarrow thread
        is inside this object once the reader is closed)."""
        if self.closed:
            return
        if self._proc.poll() is None:
            self._proc.kill()
        with self._reading:
            self._reading.wait_for(lambda: self._readers == 0, timeout=5)
            super().close()
        self._proc.wait()
        for pipe in (self._proc.stdout, self._proc.stderr):
            with contextlib.suppress(OSError):
                pipe.close()


class CsvReader(SourceReader):
    format = "csv"

    def __init__(self, path: Path, *, encoding: str | None = None,
                 delimiter: str | None = None) -> None:
        super().__init__(str(path))
        self.path = path
        with path.open("rb") as f:
            head = f.read(SNIFF_BYTES)
        if not head.strip():
            raise ValidationFailed(f"{path.name}: the file is empty.", code="empty_file")
        try:
            self.encoding = encoding or detect_encoding(head)
            text = head.decode(self.encoding, errors="ignore")
        except LookupError as exc:
            raise BadRequest(f"{path.name}: unknown encoding {encoding!r}.",
                             code="unknown_encoding") from exc
        except ValidationFailed as exc:
            raise ValidationFailed(f"{path.name}: {exc.detail}", code=exc.code) from exc
        text = text.lstrip("\ufeff")
        self.dialect, rows = sniff_csv(text, delimiter)
        self.delimiter = self.dialect.delimiter
        self.header_row = find_header_row(rows[:HEADER_SEARCH_ROWS])
        data_rows = [r for r in rows[self.header_row + 1 :] if any(c.strip() for c in r)]
        width = max([len(rows[self.header_row])] + [len(r) for r in data_rows[:50]])
        self.columns = column_names(rows[self.header_row], width)
        self._schema = pa.schema([pa.field(n, pa.string()) for n in self.columns])
        # Bytes per row, from the whole sample (``rows`` holds only the first 200 rows).
        self._row_bytes = max(1, len(head) // max(1, head.count(b"\n")))

    @property
    def schema(self) -> pa.Schema:
        return self._schema

    def _batches(self, batch_rows: int) -> Iterator[pa.RecordBatch]:
        # About one batch of rows per block, at most 4 MB: pyarrow's streaming reader keeps some
        # 32 blocks in flight (read ahead, then parsed), so the block size sets the memory a
        # large file needs (64 MB blocks took a 2 GB file to 2.3 GB of RSS).
        block = min(4 << 20, max(1 << 20, batch_rows * self._row_bytes))
        encoding = self.encoding or "utf-8"
        if encoding in ("utf-8", "utf-8-sig"):
            yield from self._parse(self.path, block)
            return
        source: Utf8Stream | TranscodingPipe | None = None
        if _use_helper(self.path, encoding):
            with contextlib.suppress(OSError):  # no interpreter to start: decode in a thread
                source = TranscodingPipe(self.path, encoding, Utf8Stream.CHUNK)
        if source is None:
            source = Utf8Stream(self.path, encoding)
        try:
            try:
                yield from self._parse(source, block)
            except pa.ArrowInvalid:
                if isinstance(source, TranscodingPipe) and source.stopped():
                    source.check()  # a decoding error cut the text short: that is the cause
                raise
            if isinstance(source, TranscodingPipe):
                source.check()
        finally:
            source.close()

    def _parse(self, source: Any, block: int) -> Iterator[pa.RecordBatch]:
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(
                encoding="utf8", skip_rows=self.header_row + 1,
                column_names=self.columns, block_size=block),
            parse_options=pacsv.ParseOptions(
                delimiter=self.dialect.delimiter, quote_char=self.dialect.quote_char,
                escape_char=self.dialect.escape_char or False,
                double_quote=self.dialect.escape_char is None,
                newlines_in_values=self.dialect.newlines_in_values, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(self.columns, pa.string()),
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
        with reader:
            yield from reader


# --------------------------------------------------------------------------- XLSX


def _cell_text(value: Any) -> str | None:
    """A spreadsheet cell as text, as a person reads it (``13812345678``, not ``1.38e10``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


class XlsxReader(SourceReader):
    format = "xlsx"

    def __init__(self, path: Path, *, sheet: str | None = None) -> None:
        super().__init__(str(path))
        self.path = path
        wb = self._open()
        try:
            self.sheets = list(wb.sheetnames)
            if not self.sheets:
                raise ValidationFailed(f"{path.name}: the workbook has no sheets.",
                                       code="empty_file")
            if sheet is not None and sheet not in self.sheets:
                raise BadRequest(f"{path.name}: no sheet named {sheet!r}; the sheets are "
                                 f"{', '.join(self.sheets)}.", code="sheet_not_found")
            self.sheet = sheet or self.sheets[0]
            head = []
            for row in self._rows(wb):
                head.append([_cell_text(c) for c in row])
                if len(head) >= HEADER_SEARCH_ROWS + 50:
                    break
        finally:
            wb.close()
        if not any(any(_filled(c) for c in row) for row in head):
            raise ValidationFailed(f"{path.name}: sheet {self.sheet!r} is empty.",
                                   code="empty_file")
        self.header_row = find_header_row(head[:HEADER_SEARCH_ROWS])
        header = head[self.header_row]
        while header and not _filled(header[-1]):
            header = header[:-1]
        self.columns = column_names(header, len(header))
        self._schema = pa.schema([pa.field(n, pa.string()) for n in self.columns])

    def _open(self) -> Any:
        from openpyxl import load_workbook

        try:
            return load_workbook(self.path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            raise ValidationFailed(f"{self.path.name}: not a readable .xlsx workbook ({exc}).",
                                   code="bad_file") from exc

    def _rows(self, wb: Any) -> Iterator[tuple[Any, ...]]:
        ws = wb[self.sheet]
        if hasattr(ws, "reset_dimensions"):
            ws.reset_dimensions()  # some writers store wrong dimensions; read what is there
        yield from ws.iter_rows(values_only=True)

    @property
    def schema(self) -> pa.Schema:
        return self._schema

    def _batches(self, batch_rows: int) -> Iterator[pa.RecordBatch]:
        width = len(self.columns)
        wb = self._open()
        try:
            columns: list[list[str | None]] = [[] for _ in range(width)]
            for i, row in enumerate(self._rows(wb)):
                if i <= self.header_row:
                    continue
                cells = [_cell_text(c) for c in row[:width]]
                if not any(_filled(c) for c in cells):
                    continue  # blank rows, and the empty tail some writers leave
                cells += [None] * (width - len(cells))
                for col, cell in zip(columns, cells, strict=True):
                    col.append(cell)
                if len(columns[0]) >= batch_rows:
                    yield pa.record_batch(columns, schema=self._schema)
                    columns = [[] for _ in range(width)]
            if columns and columns[0]:
                yield pa.record_batch(columns, schema=self._schema)
        finally:
            wb.close()


# --------------------------------------------------------------------------- JSON


def _text_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, pa.string()) for f in schema])


def _to_text(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Every column as text; nested values as JSON."""
    arrays = []
    for column in batch.columns:
        if pa.types.is_string(column.type):
            arrays.append(column)
            continue
        try:
            arrays.append(column.cast(pa.string()))
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            arrays.append(pa.array(
                [None if v is None else json.dumps(v, ensure_ascii=False, default=str)
                 for v in column.to_pylist()], type=pa.string()))
    return pa.record_batch(arrays, schema=schema)


class JsonReader(SourceReader):
    """JSON (an array of objects) and JSON Lines, read and typed by DuckDB's streaming reader."""

    def __init__(self, path: Path, kind: str, *, as_text: bool = True) -> None:
        super().__init__(str(path))
        self.path = path
        self.format = kind
        self.as_text = as_text
        try:
            native = self._relation(limit=0).to_arrow_table().schema
        except Exception as exc:  # duckdb raises its own exception types
            raise ValidationFailed(f"{path.name}: not valid JSON: {str(exc).splitlines()[0]}",
                                   code="bad_file") from exc
        self._native = native
        self._schema = _text_schema(native) if as_text else native

    def _relation(self, limit: int | None = None) -> Any:
        import duckdb

        con = duckdb.connect()
        con.execute("SET memory_limit = '512MB'")
        fmt = "newline_delimited" if self.format == "jsonl" else "auto"
        literal = str(self.path).replace("'", "''")
        sql = f"SELECT * FROM read_json('{literal}', format = '{fmt}', sample_size = -1)"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return con.sql(sql)

    @property
    def schema(self) -> pa.Schema:
        return self._schema

    def _batches(self, batch_rows: int) -> Iterator[pa.RecordBatch]:
        try:
            reader = self._relation().to_arrow_reader(batch_rows)
            for batch in reader:
                yield _to_text(batch, self._schema) if self.as_text else batch
        except Exception as exc:
            if isinstance(exc, ValidationFailed):
                raise
            raise ValueError(str(exc)) from exc


# --------------------------------------------------------------------------- Parquet


class ParquetReader(SourceReader):
    format = "parquet"

    def __init__(self, path: Path, *, as_text: bool = True) -> None:
        super().__init__(str(path))
        self.path = path
        self.as_text = as_text
        try:
            self._file = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValidationFailed(f"{path.name}: not a readable Parquet file ({exc}).",
                                   code="bad_file") from exc
        native = self._file.schema_arrow
        self._schema = _text_schema(native) if as_text else native

    @property
    def schema(self) -> pa.Schema:
        return self._schema

    def _batches(self, batch_rows: int) -> Iterator[pa.RecordBatch]:
        for batch in self._file.iter_batches(batch_size=batch_rows):
            yield _to_text(batch, self._schema) if self.as_text else batch

    def close(self) -> None:
        self._file.close()


# --------------------------------------------------------------------------- database tables


def _sql_arrow_type(column: Any) -> pa.DataType:
    from sqlalchemy import types as sat

    t = column.type
    if isinstance(t, sat.Boolean):
        return pa.bool_()
    if isinstance(t, sat.Integer):
        return pa.int64()
    if isinstance(t, sat.Float):
        return pa.float64()
    if isinstance(t, sat.Numeric):
        return pa.string()  # exact decimals kept as written
    if isinstance(t, sat.DateTime):
        return pa.timestamp("us")
    if isinstance(t, sat.Date):
        return pa.date32()
    return pa.string()


class SqlReader(SourceReader):
    """A table read through SQLAlchemy with a server-side cursor where the driver has one."""

    format = "sql"

    def __init__(self, url: str, table: str, *, as_text: bool = True) -> None:
        super().__init__(url)
        from sqlalchemy import MetaData, Table, create_engine
        from sqlalchemy.exc import (
            ArgumentError,
            NoSuchModuleError,
            NoSuchTableError,
            SQLAlchemyError,
        )

        try:
            self._engine = create_engine(url)
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            raise BadRequest(f"Not a usable database URL ({exc}).", code="bad_url") from exc
        schema_name, _, name = table.rpartition(".")
        try:
            self._table = Table(name, MetaData(), autoload_with=self._engine,
                                schema=schema_name or None)
        except NoSuchTableError as exc:
            self._engine.dispose()
            raise BadRequest(f"No table named {table!r} in the database.",
                             code="table_not_found") from exc
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise BadRequest(f"The database could not be read ({exc.__class__.__name__}).",
                             code="database_unreachable") from exc
        self.table = table
        self.as_text = as_text
        fields = [pa.field(c.name, pa.string() if as_text else _sql_arrow_type(c))
                  for c in self._table.columns]
        self._schema = pa.schema(fields)

    @property
    def schema(self) -> pa.Schema:
        return self._schema

    def _batches(self, batch_rows: int) -> Iterator[pa.RecordBatch]:
        from sqlalchemy import select

        convert = _cell_text if self.as_text else (lambda v: v)
        with self._engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=batch_rows).execute(
                select(self._table))
            for part in result.partitions(batch_rows):
                columns = list(zip(*part, strict=True)) if part else []
                arrays = [pa.array([convert(v) for v in col], type=f.type)
                          for col, f in zip(columns, self._schema, strict=True)]
                yield pa.record_batch(arrays, schema=self._schema)

    def close(self) -> None:
        self._engine.dispose()
