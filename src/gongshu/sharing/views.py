"""API shapes built from rows, with the names and flags they show (used by the API and CLI)."""

from __future__ import annotations

from typing import Any

from gongshu.sharing import service
from gongshu.sharing.schemas import GrantPublic, ShareRequestPublic, grant_public, request_public


def request_out(db: Any, req: Any, *, steps: list[Any] | None = None) -> ShareRequestPublic:
    names = service.org_names(db, [req.requester_org_id, req.provider_org_id])
    escalated = service.org_of_path(db, req.escalated_to_path) if req.escalated_to_path else None
    return request_public(req, names=names, scenario=service.get_scenario(db, req.scenario_id),
                          overdue=service.is_overdue(req),
                          warning=service.deadline_warning(db, req),
                          escalated_to=escalated.name if escalated else "", steps=steps)


def grants_out(db: Any, uses: list[service.GrantUsage]) -> list[GrantPublic]:
    names = service.org_names(db, [u.grant.holder_org_id for u in uses]
                              + [u.grant.provider_org_id for u in uses])
    scenarios: dict[Any, str] = {}
    for u in uses:
        if u.grant.scenario_id and u.grant.scenario_id not in scenarios:
            found = service.get_scenario(db, u.grant.scenario_id)
            scenarios[u.grant.scenario_id] = found.name if found else ""
    return [grant_public(u.grant, status=u.status, names=names,
                         scenario=scenarios.get(u.grant.scenario_id, ""), pulls=u.pulls,
                         rows=u.rows, last_pull=u.last_pull) for u in uses]
