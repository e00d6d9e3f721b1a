"""Job handlers of grading: rescans of stored dataset versions (Art. 10: at any time)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pyarrow as pa

from gongshu.core.jobs import JobContext, handler
from gongshu.engine import dataset_store_of
from gongshu.grading import service
from gongshu.grading.permissions import GRADING_CONFIRM
from gongshu.grading.scan import SCAN_BATCH_ROWS, scan_batches
from gongshu.library.permissions import LIBRARY_INGEST


@handler("grading.rescan", queue="scan", perm=(GRADING_CONFIRM, LIBRARY_INGEST))
def rescan(ctx: JobContext) -> dict[str, Any]:
    """Run the detectors again over the entry's latest scanned version, under the scheme and
    rule packs in force now, and store the new proposal."""
    entry_id = uuid.UUID(ctx.params["entry_id"])
    with ctx.runtime.db.transaction(write=False) as db:
        target = service.rescan_target(ctx.actor, db, entry_id)
    store = dataset_store_of(ctx.runtime.settings)  # a local directory or an object store
    stored = store.get(target.storage_id, target.storage_version)
    codes = [code for _name, code in target.columns]
    names = [name for name, _code in target.columns]
    started = time.monotonic()
    done = [0]

    def batches() -> Any:
        dataset = stored.arrow_dataset()
        for batch in dataset.to_batches(columns=codes, batch_size=SCAN_BATCH_ROWS):
            done[0] += batch.num_rows
            ctx.progress(done[0], stored.rows, "scanning", key="grading_scanning")
            yield pa.RecordBatch.from_arrays(batch.columns, names=names)

    rows, detections = scan_batches(batches(), names)
    with ctx.runtime.db.transaction() as db:
        scan = service.record_scan(
            ctx.actor, db, entry_id=target.entry_id, dataset_id=target.dataset_id,
            dataset_version_id=target.dataset_version_id, storage_id=target.storage_id,
            storage_version=target.storage_version, rows=rows,
            columns=[service.ScannedColumn(n, c, d) for (n, c), d in
                     zip(target.columns, detections, strict=True)],
            trigger="rescan", job_id=ctx.job_id, seconds=time.monotonic() - started)
        return {"scan_id": str(scan.id), "entry_id": str(entry_id), "rows": rows,
                "proposed_grade": scan.proposed_grade, "href": f"/grading/entries/{entry_id}"}
