"""REST API of the sandbox (Art. 14): authorisations (the bureau), column release policies,
the operator's queries, history and budget, the bureau's output review, downloads of released
results. A query the policy refuses is answered 200 with ``status`` ``rejected``, its stable
``code`` and the reason in your language: it is recorded like any other."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse

from gongshu.catalog import service as catalog
from gongshu.core.errors import PermissionDenied
from gongshu.core.permissions import Actor
from gongshu.sandbox import service
from gongshu.sandbox.permissions import SANDBOX_AUTHORISE, SANDBOX_QUERY, SANDBOX_REVIEW
from gongshu.sandbox.schemas import (
    AuthorizationCreate,
    AuthorizationPublic,
    AuthorizationUpdate,
    BudgetPublic,
    ColumnLevelIn,
    ColumnPolicyIn,
    ColumnRulePublic,
    DecisionIn,
    QueriesPublic,
    QueryIn,
    QueryPublic,
    ReviewPublic,
    SimilarPublic,
    StatusIn,
    TableLevelsPublic,
    WorkspaceTablePublic,
)
from gongshu.sandbox.views import auth_out, levels_out, query_out, workspace_out
from gongshu.web.deps import ApiActor, Db, guard, locale_of, write_intent

router = APIRouter(prefix="/api/v1/sandbox", tags=["sandbox"])

ANYONE = (SANDBOX_QUERY, SANDBOX_AUTHORISE, SANDBOX_REVIEW)


class _NeedsAny:
    def __init__(self, perms: tuple[Any, ...]) -> None:
        self.perms = perms

    def __call__(self, actor: ApiActor) -> None:
        if not any(actor.can(p) for p in self.perms):
            names = " or ".join(str(p) for p in self.perms)
            raise PermissionDenied(f"You need one of the permissions {names}.",
                                   permission=str(self.perms[0]))


def guard_any(*perms: Any, writes: bool = False) -> dict[str, Any]:
    """Like ``guard`` for a route several roles use (the service scopes what each sees)."""
    return {"dependencies": [*([Depends(write_intent)] if writes else []),
                             Depends(_NeedsAny(perms))],
            "openapi_extra": {"x-permission": " | ".join(str(p) for p in perms)}}


def writing(perm: Any) -> dict[str, Any]:
    """``guard(perm)`` for a read that writes (an audited download, policy defaults)."""
    options = guard(perm)
    options["dependencies"] = [Depends(write_intent), *options["dependencies"]]
    return options


def _entry_id(actor: Actor, db: Any, ref: str) -> uuid.UUID:
    try:
        return catalog.get_entry(service.LOOKUP, db, uuid.UUID(ref)).id
    except ValueError:
        return catalog.get_entry_by_code(service.LOOKUP, db, ref).id


# --------------------------------------------------------------------------- authorisations


@router.get("/authorisations", response_model=list[AuthorizationPublic], **guard_any(*ANYONE))
def list_authorisations(actor: ApiActor, db: Db, status: str | None = Query(None),
                        limit: int = Query(200, ge=1, le=500),
                        offset: int = Query(0, ge=0)) -> list[AuthorizationPublic]:
    """Your operator's authorisations, or those of the data bureau you work for."""
    return [auth_out(db, a) for a in service.list_authorizations(
        actor, db, status=status, limit=limit, offset=offset)]


@router.post("/authorisations", response_model=AuthorizationPublic, status_code=201,
             **guard(SANDBOX_AUTHORISE))
def create_authorisation(actor: ApiActor, db: Db,
                         body: AuthorizationCreate) -> AuthorizationPublic:
    """Authorise an operator (term at most 5 years; the datasets' column policies default
    from their grading)."""
    data = service.AuthorizationIn(
        operator_org_id=body.operator_org_id, bureau_org_id=body.bureau_org_id,
        purpose=body.purpose, scenarios=body.scenarios, starts_on=body.starts_on,
        ends_on=body.ends_on,
        tables=[service.TableIn(_entry_id(actor, db, t.entry), t.table_name,
                                t.epsilon_per_month) for t in body.tables],
        product_categories=list(body.product_categories), fee_cap=body.fee_cap, k=body.k,
        review_all=body.review_all)
    return auth_out(db, service.create_authorization(actor, db, data))


@router.get("/authorisations/{auth_id}", response_model=AuthorizationPublic,
            **guard_any(*ANYONE))
def get_authorisation(actor: ApiActor, db: Db, auth_id: uuid.UUID) -> AuthorizationPublic:
    return auth_out(db, service.get_authorization(actor, db, auth_id))


@router.patch("/authorisations/{auth_id}", response_model=AuthorizationPublic,
              **guard(SANDBOX_AUTHORISE))
def update_authorisation(actor: ApiActor, db: Db, auth_id: uuid.UUID,
                         body: AuthorizationUpdate) -> AuthorizationPublic:
    change = service.AuthorizationChange(**body.model_dump(exclude_unset=True))
    return auth_out(db, service.update_authorization(actor, db, auth_id, change))


@router.post("/authorisations/{auth_id}/status", response_model=AuthorizationPublic,
             **guard(SANDBOX_AUTHORISE))
def set_status(actor: ApiActor, db: Db, auth_id: uuid.UUID,
               body: StatusIn) -> AuthorizationPublic:
    """Suspend, resume (``active``) or revoke; 409 when the current status does not allow it."""
    return auth_out(db, service.set_status(actor, db, auth_id, status=body.status,
                                           reason=body.reason))


@router.put("/authorisations/{auth_id}/agreement", response_model=AuthorizationPublic,
            **guard(SANDBOX_AUTHORISE))
async def attach_agreement(
    actor: ApiActor, db: Db, auth_id: uuid.UUID,
    file: Annotated[UploadFile, File(description="The signed agreement (PDF or other file)")],
) -> AuthorizationPublic:
    content = await file.read(service.MAX_AGREEMENT_BYTES + 1)
    return auth_out(db, service.attach_agreement(actor, db, auth_id,
                                                 name=file.filename or "agreement",
                                                 content=content))


@router.get("/authorisations/{auth_id}/agreement", **guard_any(*ANYONE),
            responses={200: {"content": {"application/octet-stream": {}}}})
def get_agreement(actor: ApiActor, db: Db, auth_id: uuid.UUID) -> Response:
    name, path = service.agreement_file(actor, db, auth_id)
    return FileResponse(path, filename=name, media_type="application/octet-stream")


@router.get("/authorisations/{auth_id}/levels", response_model=list[TableLevelsPublic],
            **guard_any(*ANYONE))
def column_levels(actor: ApiActor, db: Db, auth_id: uuid.UUID) -> list[TableLevelsPublic]:
    """Each authorised table's columns: the dataset's default level, this authorisation's
    own level (``override``) and the one its queries run under (``level``)."""
    return [levels_out(t) for t in service.column_levels(actor, db, auth_id)]


@router.put("/authorisations/{auth_id}/levels/{table}/{column}",
            response_model=TableLevelsPublic, **guard(SANDBOX_AUTHORISE))
def set_column_level(actor: ApiActor, db: Db, auth_id: uuid.UUID, table: str, column: str,
                     body: ColumnLevelIn) -> TableLevelsPublic:
    """Give this authorisation (this operator) its own level for a column of an authorised
    table; the dataset's default level clears it. 409 once the authorisation has ended."""
    return levels_out(service.set_column_override(actor, db, auth_id, table=table,
                                                  column=column, level=body.level))


@router.delete("/authorisations/{auth_id}/levels/{table}/{column}",
               response_model=TableLevelsPublic, **guard(SANDBOX_AUTHORISE))
def clear_column_level(actor: ApiActor, db: Db, auth_id: uuid.UUID, table: str,
                       column: str) -> TableLevelsPublic:
    """Back to the dataset's default level for this authorisation."""
    return levels_out(service.clear_column_override(actor, db, auth_id, table=table,
                                                    column=column))


# --------------------------------------------------------------------------- column policy


@router.get("/policies/{entry:path}", response_model=list[ColumnRulePublic],
            **guard_any(*ANYONE, writes=True))
def get_policy(actor: ApiActor, db: Db, entry: str) -> list[ColumnRulePublic]:
    """How each column of a dataset may leave the sandbox (entry id or resource code)."""
    rows = service.get_column_policy(actor, db, _entry_id(actor, db, entry))
    return [ColumnRulePublic.model_validate(p) for p in rows]


@router.put("/policies/{entry:path}", response_model=list[ColumnRulePublic],
            **guard(SANDBOX_AUTHORISE))
def set_policy(actor: ApiActor, db: Db, entry: str,
               body: ColumnPolicyIn) -> list[ColumnRulePublic]:
    rules = [service.ColumnRule(r.column, r.level, r.lo, r.hi, r.contributor)
             for r in body.rules]
    rows = service.set_column_policy(actor, db, _entry_id(actor, db, entry), rules)
    return [ColumnRulePublic.model_validate(p) for p in rows]


# --------------------------------------------------------------------------- workspace


@router.get("/tables", response_model=list[WorkspaceTablePublic], **writing(SANDBOX_QUERY))
def tables(actor: ApiActor, db: Db) -> list[WorkspaceTablePublic]:
    """The tables you may query now, their columns with release levels, and ε left."""
    return workspace_out(service.workspace(actor, db))


@router.post("/queries", response_model=QueryPublic, status_code=201, **guard(SANDBOX_QUERY))
def run_query(request: Request, actor: ApiActor, db: Db, body: QueryIn) -> QueryPublic:
    """Run a query in the sandbox. Accepted: ``ok`` (or ``pending_review``); refused:
    ``rejected`` with ``code`` and ``message``. Recorded either way."""
    found = service.run_query(actor, db, sql=body.sql, dp=body.dp, epsilon=body.epsilon,
                              export=body.export)
    return query_out(actor, found, locale_of(request))


@router.get("/queries", response_model=QueriesPublic, **guard(SANDBOX_QUERY))
def history(request: Request, actor: ApiActor, db: Db, status: str | None = Query(None),
            limit: int = Query(50, ge=1, le=500),
            offset: int = Query(0, ge=0)) -> QueriesPublic:
    """Your organisation's queries, newest first."""
    rows, total = service.list_queries(actor, db, status=status, limit=limit, offset=offset)
    locale = locale_of(request)
    return QueriesPublic(items=[query_out(actor, q, locale) for q in rows], total=total)


@router.get("/queries/{query_id}", response_model=QueryPublic,
            **guard_any(SANDBOX_QUERY, SANDBOX_REVIEW))
def get_query(request: Request, actor: ApiActor, db: Db, query_id: uuid.UUID) -> QueryPublic:
    return query_out(actor, service.get_query(actor, db, query_id), locale_of(request))


@router.post("/queries/{query_id}/export", response_model=QueryPublic, **guard(SANDBOX_QUERY))
def mark_export(request: Request, actor: ApiActor, db: Db, query_id: uuid.UUID) -> QueryPublic:
    """Ask for an accepted result to leave the platform: it waits for the bureau's review."""
    return query_out(actor, service.mark_export(actor, db, query_id), locale_of(request))


@router.get("/queries/{query_id}/download", **writing(SANDBOX_QUERY),
            responses={200: {"content": {"text/csv": {}, "application/vnd.openxmlformats-"
                                         "officedocument.spreadsheetml.sheet": {}}}})
def download(actor: ApiActor, db: Db, query_id: uuid.UUID,
             format: str = Query("csv", pattern="^(csv|xlsx)$")) -> Response:  # noqa: A002
    """A released result as CSV or XLSX."""
    name, data, media = service.download(actor, db, query_id, fmt=format)
    return Response(content=data, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/budget", response_model=list[BudgetPublic], **writing(SANDBOX_QUERY))
def budget(actor: ApiActor, db: Db) -> list[BudgetPublic]:
    """ε per authorised table this month: total, spent, left."""
    return [BudgetPublic(table_name=b.table_name, entry_id=b.entry_id, period=b.period,
                         total=b.total, spent=b.spent, left=b.left)
            for b in service.budgets(actor, db)]


# --------------------------------------------------------------------------- output review


def review_out(actor: Actor, db: Any, query: service.Query, locale: str) -> ReviewPublic:
    return ReviewPublic(
        query=query_out(actor, query, locale),
        operator=service.org_name(db, query.operator_org_id),
        similar=[SimilarPublic(score=round(score, 3), query=query_out(actor, q, locale))
                 for score, q in service.similar_queries(actor, db, query.id)])


@router.get("/reviews", response_model=list[ReviewPublic], **guard(SANDBOX_REVIEW))
def reviews(request: Request, actor: ApiActor, db: Db,
            status: str = Query("pending_review", pattern="^(pending_review|released|refused)$"),
            limit: int = Query(50, ge=1, le=200),
            offset: int = Query(0, ge=0)) -> list[ReviewPublic]:
    """Results waiting for review (oldest first), each with the operator's similar queries."""
    rows, _ = service.review_queue(actor, db, status=status, limit=limit, offset=offset)
    locale = locale_of(request)
    return [review_out(actor, db, q, locale) for q in rows]


@router.post("/reviews/{query_id}", response_model=QueryPublic, **guard(SANDBOX_REVIEW))
def decide(request: Request, actor: ApiActor, db: Db, query_id: uuid.UUID,
           body: DecisionIn) -> QueryPublic:
    """Release or refuse (with a reason); 409 once decided."""
    found = service.decide(actor, db, query_id, release=body.release, reason=body.reason)
    return query_out(actor, found, locale_of(request))


# data products, the revenue ledger and supervision (``products_api``)
from gongshu.sandbox import products_api  # noqa: E402

router.include_router(products_api.router)
