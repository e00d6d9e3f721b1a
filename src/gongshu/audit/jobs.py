"""Job handlers of the audit module."""

from __future__ import annotations

from typing import Any

from gongshu.audit import service
from gongshu.core.jobs import JobContext, handler


@handler("audit.verify")
def verify_chain(ctx: JobContext) -> dict[str, Any]:
    with ctx.runtime.db.transaction(write=False) as db:
        report = service.verify(ctx.actor, db, progress=lambda done, total: ctx.progress(done, total))
    with ctx.runtime.db.transaction() as db:
        service.record_verification(ctx.actor, db, report)
    return report.as_dict()
