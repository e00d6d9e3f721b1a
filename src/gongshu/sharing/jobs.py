"""Sharing's periodic work: ``sharing.sweep`` escalates overdue request steps to the next-level
data bureau and marks expired grants (the lead's schedule queues it, e.g. hourly)."""

from __future__ import annotations

from typing import Any

from gongshu.core.jobs import JobContext, handler
from gongshu.sharing import flows


@handler("sharing.sweep")
def sweep(ctx: JobContext) -> dict[str, Any]:
    with ctx.runtime.db.transaction() as db:
        outcome = flows.sweep(ctx.actor, db)
    ctx.progress(1, 1, f"{outcome['escalated']} steps escalated, {outcome['expired']} grants expired",
                 key="sharing_swept", **outcome)
    return outcome
