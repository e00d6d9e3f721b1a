"""Job handlers of the audit module."""

from __future__ import annotations

import logging
from typing import Any

from gongshu.audit import service
from gongshu.core.jobs import JobContext, handler
from gongshu.core.permissions import Perm

log = logging.getLogger("gongshu.audit")


@handler("audit.verify", perm=Perm.AUDIT_VERIFY, anywhere=True)
def verify_chain(ctx: JobContext) -> dict[str, Any]:
    """The verdict is the job's result; recording the verification in the chain comes after
    it and cannot take the verdict away (a broken chain may refuse the event)."""
    with ctx.runtime.db.transaction(write=False) as db:
        report = service.verify(ctx.actor, db, progress=lambda done, total: ctx.progress(done, total))
    result = report.as_dict()
    try:
        with ctx.runtime.db.transaction() as db:
            service.record_verification(ctx.actor, db, report)
    except Exception as exc:
        log.warning("the verification could not be recorded in the audit chain: %s", exc)
        result["recorded"] = False
    return result
