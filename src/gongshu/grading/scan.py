"""Scan a file without storing it: read it with the library readers, run every detector over every
column, and propose grades (Art. 10). ``gongshu scan PATH --json`` prints :meth:`ScanReport.to_json`,
whose shape is a stable contract (issue 4 §6) used by external checks.

The work is split into (column, batch) pieces run on a thread pool: numpy and Arrow release the
GIL, so the scan uses every core while the main thread reads the next batch.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from gongshu.core.errors import BadRequest
from gongshu.engine.readers import open_source
from gongshu.grading.detectors import (
    DETECTOR_TYPES,
    BatchCounts,
    ColumnDetections,
    ColumnScanner,
    count_batch,
)
from gongshu.grading.proposal import DatasetProposal, Scheme, load_scheme, propose
from gongshu.grading.vocab import load_vocab

__all__ = ["ColumnReport", "ScanReport", "scan_batches", "scan_file"]

#: Rows per batch handed to one detector task: big enough to amortise the per-call overhead of
#: numpy and Arrow, small enough to keep a batch of text in a few tens of megabytes.
SCAN_BATCH_ROWS = 131_072
#: Digits kept in ``ratio`` (stable output across runs and encodings).
RATIO_DIGITS = 6


@dataclass(frozen=True)
class ColumnReport:
    name: str
    detections: ColumnDetections
    grade: str
    reasons: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "detections": [
                {"type": d.type, "ratio": round(d.ratio, RATIO_DIGITS), "count": d.count}
                for d in self.detections.detections
            ],
            "suggested_grade": self.grade,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class ScanReport:
    """What a scan found. ``to_json`` is the CLI contract; the rest is for the service layer."""

    file: str
    rows_scanned: int
    grade: str
    reasons: list[str]
    columns: list[ColumnReport]
    proposal: DatasetProposal
    format: str | None = None
    encoding: str | None = None
    header_row: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Exactly ``{file, rows_scanned, suggested_grade, columns: [{name, detections: [{type,
        ratio, count}], suggested_grade, reasons}]}`` (issue 4 §6)."""
        return {
            "file": self.file,
            "rows_scanned": self.rows_scanned,
            "suggested_grade": self.grade,
            "columns": [c.to_json() for c in self.columns],
        }


def scan_batches(batches: Iterable[pa.RecordBatch], names: Sequence[str], *,
                 limit: int | None = None, types: Sequence[str] = DETECTOR_TYPES,
                 threads: int | None = None) -> tuple[int, list[ColumnDetections]]:
    """Run the detectors over a stream of batches (at most ``limit`` rows).

    Returns the rows scanned and each column's detections. Useful beyond files: an ingest that
    stores batches can scan the same batches as they pass.
    """
    vocab = load_vocab()
    scanners = [ColumnScanner(name, types=types, vocab=vocab) for name in names]
    workers = threads or min(4, os.cpu_count() or 1)
    rows = 0
    pending: deque[tuple[int, Future[BatchCounts]]] = deque()

    def drain(keep: int) -> None:
        while len(pending) > keep:
            index, future = pending.popleft()
            scanners[index].merge(future.result())

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scan") as pool:
        for batch in batches:
            if limit is not None and rows + batch.num_rows > limit:
                batch = batch.slice(0, limit - rows)
            if batch.num_rows == 0:
                break
            rows += batch.num_rows
            for index, name in enumerate(names):
                column = batch.column(index)
                pending.append((index, pool.submit(count_batch, column, header=name,
                                                   types=types, vocab=vocab)))
            # Bound the batches in flight (memory) while keeping every worker busy.
            drain(keep=2 * workers * max(1, len(names)))
            if limit is not None and rows >= limit:
                break
        drain(keep=0)
    return rows, [s.result() for s in scanners]


def scan_file(path: str | os.PathLike[str], *, sheet: str | None = None,
              sample: int | None = None, scheme: Scheme | None = None,
              classification: str | None = None, threads: int | None = None,
              batch_rows: int = SCAN_BATCH_ROWS) -> ScanReport:
    """Scan a file (or the first ``sample`` rows of it) and propose grades.

    The same data gives the same report whatever the container: UTF-8 or GBK CSV, or a
    spreadsheet with a title row above the header.
    """
    if sample is not None and sample < 1:
        raise BadRequest("--sample must be a positive number of rows.", code="bad_sample")
    scheme = scheme or load_scheme()
    with open_source(path, sheet=sheet) as reader:
        names = reader.schema.names
        step = min(batch_rows, sample) if sample else batch_rows
        rows, columns = scan_batches(reader.batches(batch_rows=step), names, limit=sample,
                                     threads=threads)
        proposal = propose(columns, rows=rows, scheme=scheme, classification=classification)
        reports = [ColumnReport(p.name, c, p.level.id, p.reason_texts)
                   for p, c in zip(proposal.columns, columns, strict=True)]
        return ScanReport(file=os.fspath(path), rows_scanned=rows, grade=proposal.level.id,
                          reasons=proposal.reason_texts, columns=reports, proposal=proposal,
                          format=reader.format, encoding=reader.encoding,
                          header_row=reader.header_row)

