"""Job handlers of the audit module."""

from __future__ import annotations

from typing import Any

from gongshu.audit import service
from gongshu.core.jobs import JobContext, handler
from gongshu.core.permissions import Perm


@handler("audit.verify", perm=Perm.AUDIT_VERIFY, anywhere=True)
def verify_chain(ctx: JobContext) -> dict[str, Any]:
    with ctx.runtime.db.transaction(write=False) as db:
        report = service.verify(ctx.actor, db, progress=lambda done, total: ctx.progress(done, total))
    with ctx.runtime.db.transaction() as db:
        service.record_verification(ctx.actor, db, report)
    return report.as_dict()
