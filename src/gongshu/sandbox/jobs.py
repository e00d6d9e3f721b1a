"""The sandbox's periodic work: ``sandbox.sweep`` marks authorisations past their term as
expired, every hour (a scheduled job: one run per period however many workers there are).
Queries refuse an authorisation past its term even before the sweep has marked it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gongshu.core.jobs import JobContext, handler, schedule
from gongshu.sandbox import service


@handler("sandbox.sweep")
def sweep(ctx: JobContext) -> dict[str, Any]:
    with ctx.runtime.db.transaction() as db:
        outcome = service.sweep(ctx.actor, db)
    ctx.progress(1, 1, f"{outcome['expired']} authorisations expired", key="sandbox_swept",
                 **outcome)
    return outcome


schedule("sandbox.sweep", every=dt.timedelta(hours=1),
         title="运营授权到期处理")  # job titles are shown as they are: in the platform's language
