"""API shapes built from rows, with names and messages in the reader's language (used by the
API, the pages and the CLI)."""

from __future__ import annotations

from typing import Any

from gongshu.core.permissions import Actor
from gongshu.sandbox import service
from gongshu.sandbox.schemas import (
    AuthorizationPublic,
    ColumnLevelPublic,
    QueryPublic,
    TableLevelsPublic,
    TablePublic,
    WorkspaceColumn,
    WorkspaceTablePublic,
)


def auth_out(db: Any, auth: service.Authorization) -> AuthorizationPublic:
    return AuthorizationPublic(
        id=auth.id, number=auth.number, operator_org_id=auth.operator_org_id,
        operator=service.org_name(db, auth.operator_org_id), bureau_org_id=auth.bureau_org_id,
        bureau=service.org_name(db, auth.bureau_org_id), purpose=auth.purpose,
        scenarios=list(auth.scenarios), starts_on=auth.starts_on, ends_on=auth.ends_on,
        status=service.effective_status(auth), status_reason=auth.status_reason,
        product_categories=list(auth.product_categories), fee_cap=auth.fee_cap, k=auth.k,
        review_all=auth.review_all, agreement_name=auth.agreement_name,
        agreement_sha256=auth.agreement_sha256,
        tables=[TablePublic(table_name=t.table_name, entry_id=t.entry_id,
                            resource_code=t.resource_code,
                            epsilon_per_month=t.epsilon_per_month,
                            overrides=service.overrides_of(db, auth.id, t.entry_id))
                for t in service.tables_of(db, auth.id)],
        created_at=auth.created_at)


def query_out(actor: Actor, query: service.Query, locale: str) -> QueryPublic:
    visible = service.rows_visible(actor, query)
    return QueryPublic(
        id=query.id, status=query.status, code=query.code,
        message=service.message_of(query.code, query.message_params, locale,
                                   default=query.message),
        sql=query.sql, columns=list(query.columns),
        rows=list(query.rows) if visible else [], suppressed_groups=query.suppressed_groups,
        truncated=query.truncated, dp=query.dp, epsilon_spent=query.epsilon,
        export=query.export, username=query.username, created_at=query.created_at,
        reviewed_by=query.reviewed_by, reviewed_at=query.reviewed_at,
        review_reason=query.review_reason)


def workspace_out(tables: list[service.WorkspaceTable]) -> list[WorkspaceTablePublic]:
    return [WorkspaceTablePublic(
        table_name=w.table.table_name, entry_id=w.table.entry_id, entry_name=w.entry_name,
        authorization=w.authorization.number,
        columns=[WorkspaceColumn(**c) for c in w.columns],
        epsilon_per_month=w.epsilon_total, epsilon_spent=w.epsilon_spent) for w in tables]


def levels_out(levels: service.TableLevels) -> TableLevelsPublic:
    return TableLevelsPublic(
        table_name=levels.table_name, entry_id=levels.entry_id,
        columns=[ColumnLevelPublic(column=c.column, name=c.name, default=c.default,
                                   override=c.override, level=c.level)
                 for c in levels.columns])
