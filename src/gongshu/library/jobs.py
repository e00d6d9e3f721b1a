"""Job handlers of the library: ingest (Art. 11) and quality evaluation.

``library.ingest`` runs in steps, each in its own short transaction, never holding a write
transaction while it works or reports progress (SQLite would wait on its own lock):

1. read the plan (the entry's data items, options) and mark the ingest running;
2. open the source and match its columns to the data items (no data read yet);
3. read the source once: stream it through the cast into a new Parquet version, scanning it as
   it passes. A column mismatch, or a value anywhere that does not cast, rejects the ingest with
   a column-by-column report of every problem; nothing is published (the temporary version is
   dropped);
4. evaluate the quality rules over the new version;
5. in one transaction: the version becomes current, with its scan and quality report.

If step 5 fails (or the process dies before it), the metadata store still names the previous
version as current, so readers never see the new one; the storage pointer is set back too (by
the job, or by the sweep when the process died, which also removes the unrecorded version).

A job that ends outside its handler (its worker killed, its actor refused, cancelled while
queued) settles its ingest as failed with the reason (``on_lost``: ``service.settle_lost_ingest``).
A worker that drains hands the job back (``JobHandedBack``): the ingest stays running, its upload
stays, and the job runs again from the start.

``library.sweep_uploads`` runs every 15 minutes (a scheduled job) and removes what failed or lost
work left behind (``service.sweep_leftovers``): kept uploads whose time is up
(``GONGSHU_UPLOAD_KEEP_HOURS``), uploads no live ingest reads, temporary versions and DuckDB
spill directories of work no longer running.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gongshu.core.errors import GongshuError, InvalidState, ValidationFailed
from gongshu.core.jobs import JobCancelled, JobContext, JobHandedBack, handler, schedule
from gongshu.engine import Engine
from gongshu.engine.duckdb import DuckDBEngine
from gongshu.engine.readers import SourceReader, open_source
from gongshu.library import ingest as pipeline
from gongshu.library import quality, service, uploads
from gongshu.library.permissions import LIBRARY_INGEST, QUALITY_MANAGE

log = logging.getLogger("gongshu.library")

#: Rows per batch read, cast, written and scanned (the detectors' preferred batch size).
INGEST_BATCH_ROWS = pipeline.SCAN_BATCH_ROWS
@contextlib.contextmanager
def quality_engine(runtime: Any, job_id: uuid.UUID | None = None) -> Iterator[Engine]:
    """A DuckDB engine of its own for one job's quality rules, memory-capped
    (``GONGSHU_QUALITY_MEMORY_LIMIT``), spilling to disk under ``<data_dir>/tmp/duckdb/<job>``:
    a uniqueness check over tens of millions of values would otherwise take gigabytes, and an
    ingest stays within about 1 GB whatever the file's size. The directory goes with the job
    (or, if its process dies, with the sweep)."""
    spill = runtime.settings.resolved_data_dir / "tmp" / "duckdb"
    if job_id is not None:
        spill = spill / str(job_id)
    spill.mkdir(parents=True, exist_ok=True)
    engine = DuckDBEngine(runtime.settings.parquet_dir, memory_limit=runtime.settings.quality_memory_limit,
                          threads=runtime.settings.duckdb_threads, temp_directory=spill)
    try:
        yield engine
    finally:
        engine.close()
        if job_id is not None:
            shutil.rmtree(spill, ignore_errors=True)


class _Progress:
    """Rows done against an estimate of the total: exact for Parquet; for text files, the file
    size over the bytes per row of the first batch (no second read of the file)."""

    def __init__(self, ctx: JobContext, path: Path | None, reader: SourceReader) -> None:
        self.ctx = ctx
        self.path = path
        self.reader = reader
        self.estimate: int | None = None
        if path is not None and reader.format == "parquet":
            try:
                self.estimate = int(pq.ParquetFile(path).metadata.num_rows)
            except Exception:
                self.estimate = None

    def _guess(self, rows: int, batch: pa.RecordBatch) -> int | None:
        if self.path is None or self.reader.format not in ("csv", "json", "jsonl"):
            return None
        text = sum(int(pc.sum(pc.binary_length(c)).as_py() or 0) for c in batch.columns
                   if pa.types.is_string(c.type) or pa.types.is_large_string(c.type))
        per_row = text / max(batch.num_rows, 1) + batch.num_columns
        if (self.reader.encoding or "").startswith("gb"):
            per_row *= 0.7  # Chinese text takes 2 bytes in GB 18030, 3 in UTF-8
        return max(rows, int(self.path.stat().st_size / max(per_row, 1.0)))

    def __call__(self, rows: int, batch: pa.RecordBatch) -> None:
        if self.estimate is None:
            self.estimate = self._guess(rows, batch)
        total = None
        if self.estimate is not None:
            # never claim to be done before the end (a final report would end the throttling)
            total = max(self.estimate, int(rows * 1.02) + 1)
        self.ctx.progress(rows, total, f"{rows:,} rows stored and scanned",
                          key="library_rows", rows=rows)


def _source_info(reader: SourceReader, plan: service.IngestPlan) -> dict[str, Any]:
    return {"format": reader.format, "encoding": reader.encoding,
            "header_row": reader.header_row, "sheet": getattr(reader, "sheet", None),
            "delimiter": getattr(reader, "delimiter", None), "name": plan.source_name}


#: how often the leftovers of failed or lost work are removed
SWEEP_UPLOADS_EVERY = dt.timedelta(minutes=15)


@handler("library.sweep_uploads")
def sweep_uploads(ctx: JobContext) -> dict[str, Any]:
    """Remove what failed or lost work left behind (a scheduled job, see ``schedule`` below):
    kept uploads whose time is up, uploads of no live ingest, temporary versions, spill files."""
    with ctx.runtime.db.transaction() as db:
        swept = service.sweep_leftovers(ctx.actor, db)
    return {"removed": swept.kept_uploads, **swept.as_dict()}


schedule("library.sweep_uploads", every=SWEEP_UPLOADS_EVERY)


@handler("library.ingest", queue="ingest", perm=LIBRARY_INGEST,
         on_lost=service.settle_lost_ingest)
def ingest(ctx: JobContext) -> dict[str, Any]:
    ingest_id = uuid.UUID(ctx.params["ingest_id"])
    runtime = ctx.runtime
    upload = service.job_upload(runtime.settings, ctx.params)
    if upload is None:
        return _ingest(ctx, ingest_id, service.job_source(runtime.keys, ctx.params))
    # an upload: read from the upload area (in place, or copied from the object store)
    area = service.upload_area(runtime.settings)
    scratch = runtime.settings.resolved_data_dir / "tmp"
    handed_back = False
    try:
        with contextlib.ExitStack() as stack:
            try:
                path = stack.enter_context(uploads.local_file(area, upload, scratch))
            except Exception as exc:  # gone from the storage, or the storage unreachable
                _fail(ctx, ingest_id, f"the upload could not be read from the storage: {exc}",
                      None)
                raise
            return _ingest(ctx, ingest_id, str(path), upload=upload)
    except JobHandedBack:
        handed_back = True  # it runs again: its upload stays
        raise
    finally:
        # an upload is read once, unless it was rejected and is kept to be mapped (``_reject``)
        if not handed_back and not service.is_kept(runtime.settings, upload):
            service.discard_upload(area, upload)


def _ingest(ctx: JobContext, ingest_id: uuid.UUID, source: str, *,
            upload: str | None = None) -> dict[str, Any]:
    runtime = ctx.runtime
    with runtime.db.transaction() as db:
        plan = service.begin_ingest(ctx.actor, db, ingest_id, job_id=ctx.job_id)
    started = time.monotonic()
    report: dict[str, Any] = {}
    try:
        opts = plan.options
        reader = open_source(source, sheet=opts.sheet, table=opts.table, format=opts.format,
                             encoding=opts.encoding, delimiter=opts.delimiter)
    except GongshuError as exc:
        _fail(ctx, ingest_id, exc.detail, {"errors": _errors_of(exc)})
        raise
    with reader:
        try:
            ctx.progress(0, None, "checking the columns against the catalog entry",
                         key="library_columns")
            info = _source_info(reader, plan)
            mapping = pipeline.match_columns(reader.schema.names, plan.items,
                                             drop_extra=opts.drop_extra, columns=opts.columns)
            report = {**mapping.report(), "source": info}
            path = Path(source) if plan.source_kind != "database" else None
            store = service.dataset_store(runtime)
            try:
                result = pipeline.ingest_stream(
                    reader, mapping, engine=runtime.data_engine, store=store,
                    storage_id=plan.storage_id, progress=_Progress(ctx, path, reader),
                    batch_rows=INGEST_BATCH_ROWS,
                    metadata={"ingest_id": str(ingest_id), "source": plan.source_name,
                              "resource_code": plan.resource_code})
            except pipeline.IngestRejected as exc:
                report["problems"] = [p.as_dict() for p in exc.problems]
                report["ok"] = False
                report["rows"] = exc.rows
                _mark_statuses(report, exc.problems)
                _reject(ctx, ingest_id, report, exc.problems, upload=upload)
        except JobHandedBack:
            raise  # not a failure: the ingest stays running and runs again
        except GongshuError as exc:
            if not isinstance(exc, _Rejected):
                _fail(ctx, ingest_id, exc.detail, {**report, "errors": _errors_of(exc)})
            raise
        except JobCancelled:
            _fail(ctx, ingest_id, "cancelled on request; nothing was stored", report)
            raise
        except Exception as exc:
            _fail(ctx, ingest_id, f"internal error: {exc}", report)
            raise
    try:
        ctx.progress(result.rows, result.rows, "evaluating the quality rules",
                     key="library_quality")
        report["rows"] = result.rows
        report["warnings"] = [w.as_dict() for w in result.warnings]
        report["seconds"] = round(time.monotonic() - started, 3)
        report["bytes_stored"] = result.version.bytes
        q_started = time.monotonic()
        pa.default_memory_pool().release_unused()  # the stream's buffers, before DuckDB's turn
        outcome = _quality(ctx, plan, result)
        q_seconds = time.monotonic() - q_started
        with runtime.db.transaction() as db:
            version = service.complete_ingest(
                ctx.actor, db, ingest_id, result=result, report=report, source=info,
                quality_outcome=outcome, quality_seconds=q_seconds, job_id=ctx.job_id)
            answer = {"ingest_id": str(ingest_id), "dataset_id": str(plan.dataset_id),
                      "entry_id": str(plan.entry_id), "version": version.number,
                      "rows": result.rows, "bytes": result.version.bytes,
                      "quality_score": outcome.score if outcome else None,
                      "seconds": report["seconds"], "href": f"/library/ingests/{ingest_id}"}
    except InvalidState as exc:
        if exc.code != "ingest_finished":
            _restore_storage(runtime, plan)
            _fail(ctx, ingest_id, exc.detail, report)
            raise
        # another run of this ingest finished it first: the version it recorded stays current
        _point_at_recorded(runtime, plan)
        raise
    except BaseException as exc:
        # The new version never became current in the metadata store; point storage back too.
        _restore_storage(runtime, plan)
        if isinstance(exc, Exception) and not isinstance(exc, JobHandedBack):
            _fail(ctx, ingest_id, exc.detail if isinstance(exc, GongshuError)
                  else f"internal error: {exc}", report)
        raise
    # too late to cancel or hand back: the version is current
    with contextlib.suppress(JobCancelled, JobHandedBack):
        ctx.progress(result.rows, result.rows, key="library_stored", version=answer["version"],
                     rows=result.rows, message=f"version {answer['version']} stored: "
                     f"{result.rows:,} rows")
    return answer


class _Rejected(ValidationFailed):
    """The source does not fit the entry (the job fails with this; the ingest is rejected)."""


#: problems a column mapping can solve: the upload is kept to be ingested again with one
MAPPABLE = frozenset({"missing", "extra", "duplicate", "unknown_column", "unknown_item"})


def _reject(ctx: JobContext, ingest_id: uuid.UUID, report: dict[str, Any],
            problems: list[pipeline.Problem], *, upload: str | None) -> None:
    blocking = [p for p in problems if p.blocking]
    message = (f"The file does not fit the catalog entry: {len(blocking)} problem(s), e.g. "
               + "; ".join(p.message for p in blocking[:3]))
    if upload is not None and any(p.code in MAPPABLE for p in blocking):
        retry = service.keep_upload(ctx.runtime.settings, upload)
        if retry is not None:
            report["retry"] = retry
    with ctx.runtime.db.transaction() as db:
        service.reject_ingest(ctx.actor, db, ingest_id, report=report, message=message)
    from gongshu.core.errors import FieldError

    raise _Rejected(message, code="ingest_rejected", errors=[
        FieldError(p.column or p.item or "file", p.code, p.message) for p in blocking])


def _mark_statuses(report: dict[str, Any], problems: list[pipeline.Problem]) -> None:
    """Put type problems found while reading on the column rows of the report."""
    by_code = {p.item_code: p for p in problems if p.item_code and p.blocking}
    for row in report.get("columns", []):
        found = by_code.get(row.get("code"))
        if found is not None:
            row["status"] = found.code


def _errors_of(exc: GongshuError) -> list[dict[str, Any]]:
    return [e.as_dict() for e in getattr(exc, "errors", [])]


def _fail(ctx: JobContext, ingest_id: uuid.UUID, message: str,
          report: dict[str, Any] | None) -> None:
    try:
        with ctx.runtime.db.transaction() as db:
            service.fail_ingest(ctx.actor, db, ingest_id, message=message, report=report)
    except Exception:  # the job's own failure record still says what happened
        log.exception("could not record the failure of ingest %s", ingest_id)


def _point_at_recorded(runtime: Any, plan: service.IngestPlan) -> None:
    try:
        with runtime.db.transaction() as db:
            version = service.current_storage_version(db, plan.dataset_id)
        if version is not None:
            service.dataset_store(runtime).set_current(plan.storage_id, version)
    except Exception:
        log.exception("could not point dataset %s at its recorded version", plan.storage_id)


def _restore_storage(runtime: Any, plan: service.IngestPlan) -> None:
    if plan.previous_storage_version is None:
        return  # nothing was current before; the metadata store names no version either
    try:
        service.dataset_store(runtime).set_current(plan.storage_id,
                                                   plan.previous_storage_version)
    except Exception:
        log.exception("could not point dataset %s back at its previous version", plan.storage_id)


def _quality(ctx: JobContext, plan: service.IngestPlan,
             result: pipeline.IngestResult) -> quality.Outcome | None:
    if not plan.rules:
        return None
    columns = {i.code: quality.ColumnInfo(i.code, i.name, i.data_type) for i in plan.items}
    import datetime as dt

    with ctx.runtime.db.transaction(write=False) as db:
        from gongshu.library.models import Dataset

        dataset = db.get(Dataset, plan.dataset_id)
        assert dataset is not None
        with quality_engine(ctx.runtime, ctx.job_id) as engine:
            return service.evaluate_version(
                db, dataset, None, files=result.version.engine_source(), columns=columns,
                rules=plan.rules, created_at=dt.datetime.now(dt.UTC),
                update_cycle=plan.update_cycle, engine=engine)


@handler("library.quality", queue="scan", perm=QUALITY_MANAGE)
def evaluate(ctx: JobContext) -> dict[str, Any]:
    """Evaluate a dataset's quality rules over its current version and keep the report.

    The evaluation reads Parquet with DuckDB; the report is written in one short transaction
    afterwards (on SQLite a write transaction must not stay open while the engine works)."""
    dataset_id = uuid.UUID(ctx.params["dataset_id"])
    ctx.progress(0, 1, "evaluating the quality rules", key="library_quality")
    with (ctx.runtime.db.transaction(write=False) as db,
          quality_engine(ctx.runtime, ctx.job_id) as engine):
        evaluation = service.evaluate_quality(ctx.actor, db, dataset_id, engine=engine)
    with ctx.runtime.db.transaction() as db:
        report = service.record_quality(ctx.actor, db, evaluation)
        return {"dataset_id": str(dataset_id), "score": report.score,
                "rules": len(report.results), "href": f"/library/datasets/{dataset_id}"}
