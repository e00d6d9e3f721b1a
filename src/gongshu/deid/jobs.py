"""Job handlers of de-identification (Art. 16).

``deid.release`` makes a release of a large dataset off the request: it reads, transforms and
measures in a read transaction (writing the output under a pending name), then records the
release in one short write transaction (SQLite must not hold its write lock while the work
runs). A failure leaves no row and no file.
"""

from __future__ import annotations

import uuid
from typing import Any

from gongshu.core.jobs import JobContext, handler
from gongshu.deid import service
from gongshu.deid.permissions import DEID_MANAGE


@handler("deid.release", perm=DEID_MANAGE)
def make_release(ctx: JobContext) -> dict[str, Any]:
    entry_id = uuid.UUID(ctx.params["entry_id"])
    profile_id = uuid.UUID(ctx.params["profile_id"])
    version = ctx.params.get("version")
    ctx.progress(0, 2, "de-identifying and measuring", key="deid_release_prepare")
    with ctx.runtime.db.transaction(write=False) as db:
        prepared = service.prepare_release(ctx.actor, db, entry_id=entry_id,
                                           profile_id=profile_id,
                                           version=int(version) if version else None)
    ctx.progress(1, 2, "recording the release", key="deid_release_record")
    try:
        with ctx.runtime.db.transaction() as db:
            made = service.record_release(ctx.actor, db, prepared)
            result = {"release_id": str(made.id), "status": made.status,
                      "k": prepared.assessment.k, "reasons": made.reasons,
                      "href": f"/deid/releases/{made.id}"}
    except BaseException:
        prepared.discard()
        raise
    return result
