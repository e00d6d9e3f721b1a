"""REST API of delivery (Art. 12): a grant's holder pulls the granted data, page by page, and
makes a token bound to the grant for its machines.

The routes carry their full paths (``/api/v1/grants/…``): include this router in one without a
prefix (``sharing.api``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from gongshu.sharing import delivery
from gongshu.sharing.permissions import SHARE_PULL
from gongshu.web.deps import ApiActor, Db, RuntimeDep, guard

router = APIRouter(prefix="/api/v1/grants", tags=["sharing"])


class GrantTokenCreate(BaseModel):
    name: str = Field(..., max_length=100)
    days: int | None = Field(None, ge=1, description="At most until the grant expires.")


class GrantTokenPublic(BaseModel):
    id: uuid.UUID
    grant_id: uuid.UUID
    name: str
    token: str = Field(..., description="Shown once.")
    permissions: list[str]
    expires_at: dt.datetime


@router.get("/{grant_id}/data", response_class=StreamingResponse, **guard(SHARE_PULL),
            responses={200: {"content": {t: {} for t in delivery.MEDIA_TYPES.values()},
                             "description": "A page of the granted data; the next page's "
                             "cursor is in X-Next-Cursor (and, for json, in next_cursor)."}})
def pull(
    actor: ApiActor,
    db: Db,
    runtime: RuntimeDep,
    grant_id: uuid.UUID,
    format: Literal["json", "ndjson", "csv", "parquet", "xlsx"] = Query("json"),
    cursor: str | None = Query(None, description="The X-Next-Cursor of the previous page."),
    limit: int = Query(delivery.PAGE_ROWS, ge=1, le=delivery.MAX_PAGE_ROWS),
    download: bool = Query(False, description="Answer as a file to save."),
) -> StreamingResponse:
    """The granted items of the rows the grant allows, masked unless granted in clear; each
    pull is audited once (who, grant, scenario, rows, bytes) and counts against the day's row
    limit (429 ``daily_row_limit``)."""
    prepared = delivery.prepare_pull(actor, db, grant_id, format=format, cursor=cursor,
                                     limit=limit, via="api")
    # The request's read ends here, so that a request never holds two pooled connections at
    # once (32 concurrent pulls would otherwise wait on each other for the pool).
    db.commit()
    try:
        with runtime.db.transaction() as wdb:
            delivery.record_pull(actor, wdb, prepared)
    except BaseException:
        prepared.close()
        raise
    headers = {"X-Rows": str(prepared.rows), "X-Offset": str(prepared.offset),
               "Content-Length": str(prepared.bytes)}
    if prepared.next_cursor:
        headers["X-Next-Cursor"] = prepared.next_cursor
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{prepared.filename}"'
    return StreamingResponse(prepared.chunks(), media_type=prepared.media_type, headers=headers)


@router.post("/{grant_id}/tokens", response_model=GrantTokenPublic, status_code=201,
             **guard(SHARE_PULL))
def create_token(actor: ApiActor, db: Db, grant_id: uuid.UUID,
                 body: GrantTokenCreate) -> GrantTokenPublic:
    """A token that may only pull this grant (shown once)."""
    token, raw = delivery.create_grant_token(actor, db, grant_id, name=body.name, days=body.days)
    return GrantTokenPublic(id=token.id, grant_id=grant_id, name=token.name, token=raw,
                            permissions=list(token.permissions or []),
                            expires_at=token.expires_at)

