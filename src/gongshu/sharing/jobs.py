"""Sharing's periodic work: ``sharing.sweep`` escalates overdue request steps to the next-level
data bureau and marks expired grants, every 15 minutes (a scheduled job: one run per period
however many workers there are)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gongshu.core.jobs import JobContext, handler, schedule
from gongshu.sharing import flows


@handler("sharing.sweep")
def sweep(ctx: JobContext) -> dict[str, Any]:
    with ctx.runtime.db.transaction() as db:
        outcome = flows.sweep(ctx.actor, db)
    ctx.progress(1, 1, f"{outcome['escalated']} steps escalated, {outcome['expired']} grants expired",
                 key="sharing_swept", **outcome)
    return outcome


schedule("sharing.sweep", every=dt.timedelta(minutes=15), title="共享申请超期升级与授权到期")
