"""Byte-level views of Arrow string arrays for the vectorised detectors (pure, no I/O).

Why bytes: a regular expression per detector per value would read every byte a dozen times
(``benchmarks/scan.py`` measures the cost). Instead the detectors share a few passes of numpy
over the UTF-8 bytes that Arrow already holds contiguously: they find the runs of ASCII that can
hold an identifier, split those into digit and letter runs, and look at fixed-width matrices of
candidates. Regular expressions run only on the few candidates a byte test lets through.

Every function here is vectorised over all values of a batch: no Python loop runs per row.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Byte classes (bit flags) of ASCII, for run finding and routing.
DIGIT = 1
UPPER = 2
LOWER = 4
DOT = 8
AT = 16
COLON = 32
SEP = 64  # space - ( ) + : what people put between groups of digits
OTHER = 128  # any other printable ASCII


def _byte_classes() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint8)
    for code in range(0x21, 0x7F):
        table[code] = OTHER
    table[ord("0") : ord("9") + 1] = DIGIT
    table[ord("A") : ord("Z") + 1] = UPPER
    table[ord("a") : ord("z") + 1] = LOWER
    table[ord(".")] = DOT
    table[ord("@")] = AT
    table[ord(":")] = COLON
    for ch in " -()+":
        table[ord(ch)] = SEP
    return table


BYTE_CLASS = _byte_classes()
#: Printable ASCII other than space: the bytes an identifier is written with.
INK = np.zeros(256, dtype=bool)
INK[0x21:0x7F] = True


@dataclass(frozen=True)
class Strings:
    """Values as byte spans: value ``i`` is ``data[starts[i]:ends[i]]``.

    ``data`` is shared with the Arrow array it came from (no copy) or with a gather of it.
    """

    data: np.ndarray  # uint8
    starts: np.ndarray  # int64
    ends: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def lengths(self) -> np.ndarray:
        return self.ends - self.starts

    @classmethod
    def from_arrow(cls, array: pa.Array) -> Strings:
        """View a string array's bytes; nulls become empty values."""
        if not pa.types.is_large_string(array.type):
            array = array.cast(pa.large_string())
        if array.null_count:
            array = pc.if_else(pc.is_valid(array), array, "")
            if isinstance(array, pa.ChunkedArray):  # pragma: no cover - defensive
                array = array.combine_chunks()
        buffers = array.buffers()
        offsets = np.frombuffer(buffers[1], dtype=np.int64, count=len(array) + 1,
                                offset=array.offset * 8)
        data = (np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None
                else np.zeros(0, dtype=np.uint8))
        # Views of Arrow's offsets (read-only: nothing here writes to starts or ends in place).
        return cls(data, offsets[:-1], offsets[1:])

    def take(self, index: np.ndarray) -> Strings:
        """A subset of the values (same bytes)."""
        return Strings(self.data, self.starts[index], self.ends[index])

    def compact(self) -> tuple[np.ndarray, np.ndarray]:
        """The values' bytes copied end to end, and their offsets (``len + 1``)."""
        lengths = self.lengths
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        total = int(offsets[-1])
        if total == 0:
            return np.zeros(0, dtype=np.uint8), offsets
        if len(self.starts) and np.array_equal(self.starts[1:], self.ends[:-1]):
            start = int(self.starts[0])  # already contiguous: a view, no copy
            return self.data[start : start + total], offsets
        taken = self._taken()
        if taken is not None:
            return np.frombuffer(taken.buffers()[2], dtype=np.uint8, count=total), offsets
        # Index of every byte: its value's start, plus its position within the value.
        shift = np.repeat(self.starts - offsets[:-1], lengths)
        index = np.arange(total, dtype=np.int64) + shift
        return self.data[index], offsets

    def _taken(self) -> pa.LargeStringArray | None:
        """Spans in order and apart, copied end to end by Arrow: an array over the same bytes
        whose values are the spans and the gaps between them, every other one taken (a memcpy
        a value, without the interpreter lock) instead of indexing every byte in numpy. None
        for spans in another order (or too few to bother)."""
        k = len(self.starts)
        if k < 64 or not self.data.flags.c_contiguous or (
                self.starts[1:] < self.ends[:-1]).any():
            return None
        bounds = np.empty(2 * k, dtype=np.int64)
        bounds[0::2], bounds[1::2] = self.starts, self.ends
        both = pa.Array.from_buffers(pa.large_string(), 2 * k - 1,
                                     [None, pa.py_buffer(bounds), pa.py_buffer(self.data)])
        return both.take(pa.array(np.arange(0, 2 * k - 1, 2)))

    def to_arrow(self) -> pa.LargeStringArray:
        """These values as an Arrow array (for the regular-expression kernels)."""
        if not (len(self.starts) and np.array_equal(self.starts[1:], self.ends[:-1])):
            taken = self._taken()
            if taken is not None:
                return taken
        data, offsets = self.compact()
        return pa.Array.from_buffers(
            pa.large_string(), len(offsets) - 1,
            [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data))],
        )

    def matrix(self, width: int) -> np.ndarray:
        """The values, all ``width`` bytes long, as an ``(n, width)`` uint8 matrix."""
        if len(self.starts) == 0:
            return np.zeros((0, width), dtype=np.uint8)
        if np.array_equal(self.starts[1:], self.starts[:-1] + width):
            start = int(self.starts[0])
            return self.data[start : start + width * len(self.starts)].reshape(-1, width)
        # Rows of a sliding window over the bytes: no (n, width) index matrix to build.
        return np.lib.stride_tricks.sliding_window_view(self.data, width)[self.starts]


@dataclass(frozen=True)
class Spans:
    """Byte spans found inside values: span ``j`` is ``data[starts[j]:ends[j]]`` of row ``rows[j]``."""

    rows: np.ndarray
    strings: Strings

    def __len__(self) -> int:
        return len(self.rows)

    def select(self, mask: np.ndarray) -> Spans:
        return Spans(self.rows[mask], self.strings.take(mask))


def _edges(mask: np.ndarray, values: Strings) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of each maximal True run of ``mask`` that lies within one value.

    ``mask`` covers ``values.data``; runs are cut at value boundaries, so two values written end
    to end in the buffer never make one run.
    """
    n = len(mask)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    nonempty = values.lengths > 0
    cut_before = np.zeros(n + 1, dtype=bool)
    cut_before[values.starts[nonempty]] = True
    cut_before[values.ends[nonempty]] = True
    begin = mask.copy()
    begin[1:] &= ~mask[:-1] | cut_before[1:n]
    finish = mask.copy()
    finish[:-1] &= ~mask[1:] | cut_before[1:n]
    return np.flatnonzero(begin), np.flatnonzero(finish) + 1


def contiguous(values: Strings) -> Strings:
    """The same values over a buffer that holds nothing else (copied only when needed)."""
    if len(values) == 0:
        return values
    lo, hi = int(values.starts[0]), int(values.ends[-1])
    if np.array_equal(values.starts[1:], values.ends[:-1]):
        return Strings(values.data[lo:hi], values.starts - lo, values.ends - lo)
    data, offsets = values.compact()
    return Strings(data, offsets[:-1], offsets[1:])


def runs(values: Strings, byte_mask: np.ndarray, *, join_single_space: bool = False) -> Spans:
    """Maximal runs of bytes ``b`` with ``byte_mask[b]`` True (a 256-entry bool table).

    ``rows`` index into ``values``; the spans' bytes may live in a compacted copy. With
    ``join_single_space``, runs separated by exactly one space join up, so ``138 1234 5678``
    is one run.
    """
    values = contiguous(values)
    nonempty = np.flatnonzero(values.lengths > 0)
    if len(nonempty) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Spans(empty, Strings(values.data, empty, empty))
    data = values.data
    starts, ends = _edges(byte_mask[data], values)
    rows = nonempty[np.searchsorted(values.starts[nonempty], starts, side="right") - 1]
    if join_single_space and len(starts) > 1:
        gap = starts[1:] - ends[:-1]
        joined = (gap == 1) & (data[np.minimum(ends[:-1], len(data) - 1)] == 0x20)
        joined &= rows[1:] == rows[:-1]
        first = np.concatenate(([True], ~joined))
        last = np.concatenate((~joined, [True]))
        starts, ends, rows = starts[first], ends[last], rows[first]
    return Spans(rows, Strings(data, starts, ends))


_HIGH = np.uint64(0x8080808080808080)


def ink_runs_sparse(values: Strings) -> Spans:
    """Runs of printable ASCII (single spaces inside allowed) in mostly non-ASCII text.

    Han text is three bytes a character, all >= 0x80, so most 8-byte words of it hold no ASCII
    at all: one test per word finds the few words worth a closer look, and the runs are built
    from the positions of their ASCII bytes. Same result as ``runs(values, INK,
    join_single_space=True)``, several times faster on Chinese text.
    """
    empty = np.zeros(0, dtype=np.int64)
    nonempty = np.flatnonzero(values.lengths > 0)
    if len(nonempty) == 0:
        return Spans(empty, Strings(values.data, empty, empty))
    if not np.array_equal(values.starts[1:], values.ends[:-1]):
        raise ValueError("ink_runs_sparse needs the values of a whole batch, end to end")
    lo, hi = int(values.starts[0]), int(values.ends[-1])
    data = values.data[lo:hi]
    n = len(data)
    n8 = n // 8
    words = data[: n8 * 8].view(np.uint64)
    has_ascii = np.flatnonzero((words & _HIGH) != _HIGH)
    picked = data[: n8 * 8].reshape(-1, 8)[has_ascii]
    flat = np.flatnonzero(((picked >= 0x21) & (picked <= 0x7E)).ravel())
    pos = has_ascii[flat >> 3] * 8 + (flat & 7)
    tail = data[n8 * 8 :]
    pos = np.concatenate([pos, n8 * 8 + np.flatnonzero((tail >= 0x21) & (tail <= 0x7E))])
    if len(pos) == 0:
        return Spans(empty, Strings(values.data, empty, empty))
    value_start = np.zeros(n + 1, dtype=bool)
    value_start[values.starts - lo] = True
    gap = np.diff(pos)
    joined = (gap == 1) | ((gap == 2) & (data[pos[:-1] + 1] == 0x20) & ~value_start[pos[1:] - 1])
    joined &= ~value_start[pos[1:]]
    starts = pos[np.concatenate(([True], ~joined))] + lo
    ends = pos[np.concatenate((~joined, [True]))] + 1 + lo
    rows = nonempty[np.searchsorted(values.starts[nonempty], starts, side="right") - 1]
    return Spans(rows, Strings(values.data, starts, ends))


#: Largest scratch buffer a thread keeps from one batch to the next (larger ones are not kept).
SCRATCH_KEEP_BYTES = 32 << 20
_scratch_local = threading.local()


def _scratch(size: int) -> np.ndarray:
    """``size`` bytes of scratch space for this thread, reused from one batch to the next.

    A fresh buffer the size of a batch's text costs more in page faults than the passes made
    over it. The caller must not let a view of it escape (the next call overwrites it).
    """
    if size > SCRATCH_KEEP_BYTES:
        return np.empty(size, dtype=np.uint8)
    buffer = getattr(_scratch_local, "buffer", None)
    if buffer is None or len(buffer) < size:
        buffer = np.empty(min(SCRATCH_KEEP_BYTES, size + size // 4), dtype=np.uint8)
        _scratch_local.buffer = buffer
    return buffer[:size]


def ink_runs(values: Strings) -> Spans:
    """Same result as :func:`ink_runs_sparse` (and ``runs(values, INK, join_single_space=True)``),
    in a few passes that numpy runs with SIMD and without the interpreter lock: a byte mask of
    printable ASCII, its edges (where a run starts or ends) and their positions. Everything after
    that (value boundaries, single-space joins, rows) works on runs, not on bytes.
    """
    empty = np.zeros(0, dtype=np.int64)
    lengths = values.lengths
    nonempty = np.flatnonzero(lengths > 0)
    if len(nonempty) == 0:
        return Spans(empty, Strings(values.data, empty, empty))
    if not np.array_equal(values.starts[1:], values.ends[:-1]):
        raise ValueError("ink_runs needs the values of a whole batch, end to end")
    lo, hi = int(values.starts[0]), int(values.ends[-1])
    data = values.data[lo:hi]
    n = len(data)
    # ink[i + 1]: data[i] is printable ASCII other than space; False on both sides. The edge
    # buffer holds the shifted bytes first. Both live in this thread's scratch space: nothing
    # returned is a view of them.
    space = _scratch(2 * n + 3)
    ink = space[: n + 2].view(bool)
    ink[0] = ink[n + 1] = False
    scratch = space[n + 2 :]
    np.subtract(data, np.uint8(0x21), out=scratch[:n])
    np.less(scratch[:n], np.uint8(0x7F - 0x21), out=ink[1 : n + 1])
    # edge[i]: a run starts or ends at data[i] (they alternate: start, end, start …).
    edge = scratch.view(bool)
    np.not_equal(ink[1:], ink[:-1], out=edge)
    pos = np.flatnonzero(edge)
    if len(pos) == 0:
        return Spans(empty, Strings(values.data, empty, empty))
    run_start, run_end = pos[0::2], pos[1::2]
    value_start = values.starts[nonempty] - lo if lo else values.starts[nonempty]
    row = np.searchsorted(value_start, run_start, side="right") - 1
    # A run goes over the end of a value only where the last byte of one and the first byte of
    # the next are both ink.
    later = value_start[1:]
    if len(later) and (ink[later] & ink[later + 1]).any():
        # A run over the end of one value and the start of the next: one piece per value.
        row_last = np.searchsorted(value_start, run_end - 1, side="right") - 1
        pieces = row_last - row + 1
        run = np.repeat(np.arange(len(row)), pieces)
        first = np.cumsum(pieces) - pieces
        row = row[run] + (np.arange(len(run)) - np.repeat(first, pieces))
        value_end = values.ends[nonempty] - lo
        run_start = np.maximum(run_start[run], value_start[row])
        run_end = np.minimum(run_end[run], value_end[row])
    if len(row) > 1:
        # Runs one space apart in the same value are one run (``+86 138 1234 5678``).
        joined = (run_start[1:] - run_end[:-1] == 1) & (row[1:] == row[:-1])
        joined &= data[np.minimum(run_end[:-1], n - 1)] == 0x20
        if joined.any():
            keep_start = np.concatenate(([True], ~joined))
            keep_end = np.concatenate((~joined, [True]))
            run_start, run_end, row = run_start[keep_start], run_end[keep_end], row[keep_start]
    rows = row if len(nonempty) == len(lengths) else nonempty[row]
    if lo:
        run_start, run_end = run_start + lo, run_end + lo
    return Spans(rows, Strings(values.data, run_start, run_end))


def trimmed(values: Strings) -> Strings:
    """The values without leading and trailing ASCII white space (views, no copy)."""
    starts, ends = values.starts.copy(), values.ends.copy()
    data = values.data
    if len(data) == 0:
        return values
    space = np.zeros(256, dtype=bool)
    space[[0x20, 0x09, 0x0A, 0x0D, 0x0B, 0x0C]] = True
    for _ in range(64):  # bounded: values with more padding than this are rare and harmless
        lead = (ends > starts) & space[data[np.minimum(starts, len(data) - 1)]]
        trail = (ends > starts) & space[data[np.maximum(ends - 1, 0)]]
        if not (lead.any() or trail.any()):
            break
        starts += lead
        ends -= trail & (ends > starts)
    return Strings(data, starts, ends)


def class_bits(spans: Strings) -> np.ndarray:
    """For each span, the OR of its bytes' classes (``DIGIT | DOT`` for ``12.5`` …)."""
    if len(spans) == 0:
        return np.zeros(0, dtype=np.uint8)
    data, offsets = spans.compact()
    classes = BYTE_CLASS[data]
    lengths = np.diff(offsets)
    out = np.zeros(len(lengths), dtype=np.uint8)
    nonempty = lengths > 0
    if nonempty.any():
        out[nonempty] = np.bitwise_or.reduceat(classes, offsets[:-1][nonempty])
    return out


def utf8_key_before(values: Strings, positions: np.ndarray) -> np.ndarray:
    """The three bytes before each position as one integer (-1 where there are fewer)."""
    keys = np.full(len(positions), -1, dtype=np.int64)
    ok = positions >= 3
    p = positions[ok]
    d = values.data
    keys[ok] = (d[p - 3].astype(np.int64) << 16) | (d[p - 2].astype(np.int64) << 8) | d[p - 1]
    return keys


def han_codepoints(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decode rows of three-byte UTF-8 characters (``n x 3k`` bytes) into ``n x k`` code points.

    Returns the code points and a per-row flag: every character is a three-byte sequence whose
    code point lies in the CJK Unified Ideographs blocks (U+3400-U+9FFF).
    """
    n, width = matrix.shape
    m = matrix.reshape(n, width // 3, 3).astype(np.int32)
    lead, mid, tail = m[:, :, 0], m[:, :, 1], m[:, :, 2]
    well_formed = ((lead & 0xF0) == 0xE0) & ((mid & 0xC0) == 0x80) & ((tail & 0xC0) == 0x80)
    cps = ((lead & 0x0F) << 12) | ((mid & 0x3F) << 6) | (tail & 0x3F)
    han = well_formed & (cps >= 0x3400) & (cps <= 0x9FFF)
    return cps, han.all(axis=1)
