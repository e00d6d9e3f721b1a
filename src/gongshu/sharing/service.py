"""Sharing's use cases (Art. 12): the only door to its tables.

This file holds the grant primitives every path uses: issuing a grant (from an approved share
request, or from an approved conditional-opening application, Art. 13), finding, listing and
revoking grants, and the object capability a grant confers on its holder. Requests and their
steps are in ``flows``; delivery in ``delivery``.

Art. 12: what a body receives may be used only in the declared scenario and never passed to a
third party, so a grant is never re-shared: only the provider or the bureau issue grants, and
a holder's rights come from the grant alone.
"""

from __future__ import annotations

import datetime as dt
import statistics
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.orm import Session

from gongshu.core import audit
from gongshu.core.db import as_uuids, fetch, runtime_of, utcnow
from gongshu.core.errors import (
    Collector,
    InvalidState,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from gongshu.core.permissions import Actor, Capability, require
from gongshu.orgs import service as orgs
from gongshu.sharing import calendar as cal
from gongshu.sharing.models import (
    CalendarDay,
    GrantKind,
    GrantPull,
    GrantStatus,
    RequestStatus,
    Scenario,
    ShareGrant,
    ShareRequest,
    ShareRequestStep,
)
from gongshu.sharing.permissions import (
    CALENDAR_MANAGE,
    SHARE_ANSWER,
    SHARE_COORDINATE,
    SHARE_PULL,
    SHARE_REPORT,
    SHARE_REQUEST,
)

TARGET = "share_grant"
#: the capability a grant confers: read its entry's granted items (``library.read_columns``)
READ_GRANTED = "library.read"


def grant_row(db: Session, grant_id: uuid.UUID, *, lock: bool = False) -> ShareGrant:
    """The grant, optionally locked and read afresh, whoever asks (callers check who may
    see it): the one lookup of the sharing room and its delivery."""
    return fetch(db, ShareGrant, grant_id, lock=lock,
                 missing=NotFound("No such grant.", code="grant_not_found"))


def is_holder(actor: Actor, grant: ShareGrant) -> bool:
    """The actor acts for the grant's holder (its body, or the user it was given to)."""
    if actor.is_system:
        return True
    if grant.holder_user_id is not None and actor.user_id == grant.holder_user_id:
        return True
    return grant.holder_org_id is not None and actor.org_id == grant.holder_org_id


def may_manage(actor: Actor, grant: ShareGrant) -> bool:
    """The provider (its answering staff) or a data bureau covering either side."""
    return (actor.can(SHARE_ANSWER, grant.provider_path)
            or actor.can(SHARE_COORDINATE, grant.provider_path)
            or (bool(grant.bureau_path) and actor.can(SHARE_COORDINATE, grant.holder_path)))


def may_see(actor: Actor, grant: ShareGrant) -> bool:
    """The holder, who may manage it, and reporters covering either side (read only)."""
    return (is_holder(actor, grant) or may_manage(actor, grant)
            or actor.can(SHARE_REPORT, grant.provider_path)
            or (bool(grant.holder_path) and actor.can(SHARE_REPORT, grant.holder_path)))


def get_grant(actor: Actor, db: Session, /, grant_id: uuid.UUID) -> ShareGrant:
    """A grant its holder, its provider or a covering bureau may see; others get 404."""
    grant = grant_row(db, grant_id)
    if not may_see(actor, grant):
        raise NotFound("No such grant.", code="grant_not_found")
    return grant


def effective_status(grant: ShareGrant, now: dt.datetime | None = None) -> str:
    """``expired`` once past its expiry even before the sweep has marked it."""
    now = now or utcnow()
    if grant.status == GrantStatus.ACTIVE and grant.expires_at <= now:
        return GrantStatus.EXPIRED.value
    return grant.status


def issue_grant(
    actor: Actor, db: Session, /, *, entry_id: uuid.UUID, resource_code: str,
    provider_org_id: uuid.UUID, provider_path: str, items: Sequence[str],
    expires_at: dt.datetime, holder_org_id: uuid.UUID | None = None, holder_path: str = "",
    holder_user_id: uuid.UUID | None = None, bureau_path: str = "",
    scenario_id: uuid.UUID | None = None, request_id: uuid.UUID | None = None,
    application_id: uuid.UUID | None = None, kind: GrantKind = GrantKind.SHARE,
    clear_items: Sequence[str] = (), row_filter: Sequence[dict[str, Any]] = (),
    starts_at: dt.datetime | None = None, daily_row_limit: int | None = None,
    agreement: str = "",
) -> ShareGrant:
    """Record a grant. Callers (``flows``, opening) decide that it is due and check who may
    give it; this checks its shape and audits it in the caller's transaction."""
    starts = starts_at or utcnow()
    errors = Collector()
    if not items:
        errors.add("items", "required", "A grant gives at least one data item.")
    if holder_org_id is None and holder_user_id is None:
        errors.add("holder", "required", "A grant has a holder.")
    if expires_at <= starts:
        errors.add("expires_at", "out_of_range", "A grant expires after it starts.")
    if not set(clear_items) <= set(items):
        errors.add("clear_items", "invalid", "Items in clear must be granted items.")
    if daily_row_limit is not None and daily_row_limit < 1:
        errors.add("daily_row_limit", "out_of_range", "A daily row limit is at least 1.")
    errors.raise_if_any()
    grant = ShareGrant(
        kind=kind.value, request_id=request_id, application_id=application_id,
        entry_id=entry_id, resource_code=resource_code, provider_org_id=provider_org_id,
        provider_path=provider_path, holder_org_id=holder_org_id, holder_path=holder_path,
        holder_user_id=holder_user_id, bureau_path=bureau_path, scenario_id=scenario_id,
        items=list(items), clear_items=list(clear_items), row_filter=list(row_filter),
        starts_at=starts, expires_at=expires_at, daily_row_limit=daily_row_limit,
        status=GrantStatus.ACTIVE.value, agreement=agreement, created_by=actor.username)
    db.add(grant)
    db.flush()
    audit.record(db, actor, "sharing.grant_issue", target_type=TARGET, target_id=grant.id,
                 org_id=provider_org_id, org_path=provider_path,
                 details={"resource_code": resource_code, "kind": grant.kind,
                          "holder": holder_path or str(holder_user_id), "items": list(items),
                          "expires_at": expires_at.isoformat(),
                          "request_id": str(request_id) if request_id else None,
                          "application_id": str(application_id) if application_id else None})
    return grant


def revoke_grant(actor: Actor, db: Session, /, grant_id: uuid.UUID, *, reason: str) -> ShareGrant:
    """The provider or the bureau ends a grant (Art. 12); the next pull is refused."""
    grant = grant_row(db, grant_id, lock=True)
    if not may_see(actor, grant):
        raise NotFound("No such grant.", code="grant_not_found")
    if not may_manage(actor, grant):
        raise PermissionDenied("Only the provider or the data bureau may revoke a grant.",
                               code="permission_denied", permission=str(SHARE_ANSWER))
    if not reason.strip():
        raise ValidationFailed.single("reason", "required", "Say why the grant is revoked.")
    if grant.status in (GrantStatus.REVOKED, GrantStatus.EXPIRED):
        raise InvalidState(f"The grant is already {grant.status}.", code="grant_not_active")
    grant.status = GrantStatus.REVOKED.value
    grant.revoked_at = utcnow()
    grant.revoked_by = actor.username
    grant.revoke_reason = reason.strip()
    audit.record(db, actor, "sharing.grant_revoke", target_type=TARGET, target_id=grant.id,
                 org_id=grant.provider_org_id, org_path=grant.provider_path,
                 details={"resource_code": grant.resource_code, "reason": grant.revoke_reason,
                          "holder": grant.holder_path})
    return grant


def _grant_clause(actor: Actor) -> Any:
    """SQL twin of :func:`may_see` (plus reporters covering either side)."""
    clauses: list[Any] = []
    if actor.org_id is not None:
        clauses.append(ShareGrant.holder_org_id == actor.org_id)
    if actor.user_id is not None:
        clauses.append(ShareGrant.holder_user_id == actor.user_id)
    for perm in (SHARE_ANSWER, SHARE_COORDINATE, SHARE_REPORT):
        for g in actor.scopes(perm):
            clauses.append(ShareGrant.provider_path.startswith(g.org_path, autoescape=True)
                           if g.subtree else ShareGrant.provider_path == g.org_path)
    for perm in (SHARE_COORDINATE, SHARE_REPORT):
        for g in actor.scopes(perm):
            clauses.append(ShareGrant.holder_path.startswith(g.org_path, autoescape=True)
                           if g.subtree else ShareGrant.holder_path == g.org_path)
            if perm == SHARE_COORDINATE:
                clauses.append(ShareGrant.bureau_path == g.org_path)
    return sa.or_(*clauses) if clauses else sa.false()


def list_grants(actor: Actor, db: Session, /, *, entry_id: uuid.UUID | None = None,
                resource_code: str | None = None, status: str | None = None,
                held: bool = False, holder_org_id: uuid.UUID | None = None,
                limit: int = 200, offset: int = 0) -> list[ShareGrant]:
    """Grants the actor may see: held by its body, given by a body it answers for, or covered
    by its bureau or its reports; the system actor sees all. ``held``: only its body's.
    ``status`` is the effective one (an active grant past its expiry is ``expired``)."""
    stmt = sa.select(ShareGrant)
    if not actor.is_system:
        stmt = stmt.where(_grant_clause(actor))
    if held:
        stmt = stmt.where(ShareGrant.holder_org_id == actor.org_id) if actor.org_id else \
            stmt.where(sa.false())
    if holder_org_id is not None:
        stmt = stmt.where(ShareGrant.holder_org_id == holder_org_id)
    if entry_id is not None:
        stmt = stmt.where(ShareGrant.entry_id == entry_id)
    if resource_code is not None:
        stmt = stmt.where(ShareGrant.resource_code == resource_code)
    now = utcnow()
    if status == GrantStatus.EXPIRED.value:
        stmt = stmt.where(sa.or_(ShareGrant.status == status, sa.and_(
            ShareGrant.status == GrantStatus.ACTIVE.value, ShareGrant.expires_at <= now)))
    elif status == GrantStatus.ACTIVE.value:
        stmt = stmt.where(ShareGrant.status == status, ShareGrant.expires_at > now)
    elif status is not None:
        stmt = stmt.where(ShareGrant.status == status)
    stmt = stmt.order_by(ShareGrant.created_at.desc(), ShareGrant.id).limit(limit).offset(offset)
    return list(db.scalars(stmt))


def capability(grant: ShareGrant) -> Capability:
    """What holding an active grant confers: reading its entry's granted items."""
    return Capability(READ_GRANTED, "catalog_entry", grant.entry_id, via=f"{TARGET}:{grant.id}")


def may_pull(actor: Actor, grant: ShareGrant) -> bool:
    """The holder's staff with ``sharing.pull``, or a token bound to this very grant."""
    if actor.token_object is not None:
        return actor.token_object == (TARGET, grant.id)
    return is_holder(actor, grant) and (actor.is_system or actor.can(SHARE_PULL))


# ================================================================================ requests
# Scenarios, the working-day calendar, request visibility and lists, reports. The steps of a
# request (submit, check, answer, coordinate, dispute, withdraw, escalate) are in ``flows``.

LOOKUP = Actor.system("sharing", via="system")  # reads the directory (everyone may: org.read)
OPEN_STATES = (RequestStatus.BUREAU_CHECK.value, RequestStatus.PROVIDER_REVIEW.value,
               RequestStatus.COORDINATION.value)
REQUEST = "share_request"


@cache
def periods() -> dict[str, Any]:
    """The step periods in working days (``data/periods.yaml``, with its sources)."""
    text = resources.files("gongshu.sharing").joinpath("data", "periods.yaml").read_text(
        encoding="utf-8")
    return yaml.safe_load(text)


@cache
def year_files() -> tuple[cal.YearData, ...]:
    """Every ``data/calendar/<year>.yaml`` shipped with the platform."""
    folder = resources.files("gongshu.sharing").joinpath("data", "calendar")
    out = []
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".yaml"):
            out.append(cal.parse_year(yaml.safe_load(item.read_text(encoding="utf-8"))))
    return tuple(out)


CALENDAR_KEY = "sharing.calendar"


def calendar(db: Session, /) -> cal.Calendar:
    """The calendar now: the year files plus the administrators' days (``CalendarDay``), read
    once per session (a change of days in the session drops it)."""
    cached = db.info.get(CALENDAR_KEY)
    if cached is not None:
        return cached
    overrides = {d.day: d.is_working for d in db.scalars(sa.select(CalendarDay))}
    tz = runtime_of(db).settings.display_timezone if db.info.get("runtime") else "Asia/Shanghai"
    found = cal.Calendar(year_files(), overrides, tz=tz)
    db.info[CALENDAR_KEY] = found
    return found


def calendar_years(db: Session, /) -> list[int]:
    """Years the calendar knows (a file or days entered by an administrator)."""
    years = {y.year for y in year_files()}
    years |= {d.day.year for d in db.scalars(sa.select(CalendarDay))}
    return sorted(years)


def deadline(db: Session, /, start: dt.datetime, working_days: int) -> cal.Deadline:
    return calendar(db).deadline(start, working_days)


def deadline_warning(db: Session, /, req: ShareRequest) -> list[int]:
    """Years the current step's period crosses without calendar data (the deadline counted
    weekends only there): pages and the API warn."""
    if req.step_due_at is None:
        return []
    c = calendar(db)
    first, last = c.local_day(req.step_started_at).year, c.local_day(req.step_due_at).year
    return [y for y in range(first, last + 1) if not c.known_year(y)]


def list_calendar_days(actor: Actor, db: Session, /, *, year: int | None = None) -> list[CalendarDay]:
    require(actor, CALENDAR_MANAGE)
    stmt = sa.select(CalendarDay).order_by(CalendarDay.day)
    if year is not None:
        stmt = stmt.where(CalendarDay.day >= dt.date(year, 1, 1),
                          CalendarDay.day <= dt.date(year, 12, 31))
    return list(db.scalars(stmt))


def set_calendar_day(actor: Actor, db: Session, /, *, day: dt.date, is_working: bool,
                     note: str = "") -> CalendarDay:
    """An administrator marks a day as a working day or a holiday (a year's notice not yet in a
    file, a local arrangement); it overrides the files."""
    require(actor, CALENDAR_MANAGE)
    if len(note) > 200:
        raise ValidationFailed.single("note", "too_long", "At most 200 characters.", max_length=200)
    found = db.scalars(sa.select(CalendarDay).where(CalendarDay.day == day)).first()
    if found is None:
        found = CalendarDay(day=day, is_working=is_working, note=note.strip(),
                            created_by=actor.username)
        db.add(found)
    else:
        found.is_working, found.note = is_working, note.strip()
    db.flush()
    db.info.pop(CALENDAR_KEY, None)
    audit.record(db, actor, "sharing.calendar_set", target_type="share_calendar_day",
                 target_id=found.id, details={"day": day.isoformat(), "is_working": is_working,
                                              "note": note.strip()})
    return found


def delete_calendar_day(actor: Actor, db: Session, /, *, day: dt.date) -> None:
    require(actor, CALENDAR_MANAGE)
    found = db.scalars(sa.select(CalendarDay).where(CalendarDay.day == day)).first()
    if found is None:
        raise NotFound("No such calendar day.", code="calendar_day_not_found")
    db.delete(found)
    db.info.pop(CALENDAR_KEY, None)
    audit.record(db, actor, "sharing.calendar_delete", target_type="share_calendar_day",
                 target_id=found.id, details={"day": day.isoformat()})


# ------------------------------------------------------------------------------ scenarios


@dataclass
class ScenarioIn:
    name: str
    description: str = ""
    legal_basis: str = ""
    expected_volume: str = ""
    period_start: dt.date | None = None
    period_end: dt.date | None = None


def _scenario_errors(errors: Collector, data: ScenarioIn, prefix: str = "scenario.") -> None:
    if not data.name.strip():
        errors.add(prefix + "name", "required", "Name the scenario.")
    elif len(data.name) > 200:
        errors.add(prefix + "name", "too_long", "At most 200 characters.", max_length=200)
    if not data.description.strip():
        errors.add(prefix + "description", "required", "Describe what the data is used for.")
    if not data.legal_basis.strip():
        errors.add(prefix + "legal_basis", "required",
                   "Cite the law or duty the use serves (Art. 12).")
    if len(data.expected_volume) > 200:
        errors.add(prefix + "expected_volume", "too_long", "At most 200 characters.",
                   max_length=200)
    if data.period_start and data.period_end and data.period_end < data.period_start:
        errors.add(prefix + "period_end", "out_of_range", "The period ends after it starts.")


def list_scenarios(actor: Actor, db: Session, /, *, org_id: uuid.UUID | None = None) -> list[Scenario]:
    """The scenarios of the actor's body (to reuse them in a new request)."""
    org = org_id or actor.org_id
    if org is None:
        return []
    return list(db.scalars(sa.select(Scenario).where(Scenario.org_id == org)
                           .order_by(Scenario.name)))


def get_scenario(db: Session, /, scenario_id: uuid.UUID | None) -> Scenario | None:
    return db.get(Scenario, scenario_id) if scenario_id else None


def resolve_scenario(actor: Actor, db: Session, /, *, org_id: uuid.UUID, org_path: str,
                     scenario_id: uuid.UUID | None, scenario: ScenarioIn | None,
                     errors: Collector) -> Scenario | None:
    """The body's scenario by id, or by name (reused), or a new one from ``scenario``."""
    if scenario_id is not None:
        found = db.get(Scenario, scenario_id)
        if found is None or found.org_id != org_id:
            errors.add("scenario_id", "not_found", "No such scenario of your body.")
            return None
        return found
    if scenario is None:
        errors.add("scenario.name", "required", "Name the scenario.")
        return None
    existing = db.scalars(sa.select(Scenario).where(
        Scenario.org_id == org_id, Scenario.name == scenario.name.strip())).first()
    if existing is not None:
        return existing
    _scenario_errors(errors, scenario)
    if errors.errors:
        return None
    created = Scenario(org_id=org_id, org_path=org_path, name=scenario.name.strip(),
                       description=scenario.description.strip(),
                       legal_basis=scenario.legal_basis.strip(),
                       expected_volume=scenario.expected_volume.strip(),
                       period_start=scenario.period_start, period_end=scenario.period_end,
                       created_by=actor.username)
    return created


# ---------------------------------------------------------------------- request visibility


def _covering(column: Any, actor: Actor, perm: Any) -> list[Any]:
    return [column.startswith(g.org_path, autoescape=True) if g.subtree
            else column == g.org_path for g in actor.scopes(perm)]


def is_requester(actor: Actor, req: ShareRequest) -> bool:
    return actor.can(SHARE_REQUEST, req.requester_path)


def is_provider(actor: Actor, req: ShareRequest) -> bool:
    return actor.can(SHARE_ANSWER, req.provider_path)


def is_bureau(actor: Actor, req: ShareRequest) -> bool:
    """The requester's data bureau, or the bureau an overdue step was escalated to."""
    return (actor.can(SHARE_COORDINATE, req.bureau_path)
            or (bool(req.escalated_to_path) and actor.can(SHARE_COORDINATE, req.escalated_to_path)))


def may_see_request(actor: Actor, req: ShareRequest) -> bool:
    return (actor.is_system or actor.org_id == req.requester_org_id or is_requester(actor, req)
            or is_provider(actor, req) or is_bureau(actor, req)
            or actor.can(SHARE_REPORT, req.requester_path)
            or actor.can(SHARE_REPORT, req.provider_path))


def _request(db: Session, request_id: uuid.UUID, *, lock: bool = False) -> ShareRequest:
    return fetch(db, ShareRequest, request_id, lock=lock,
                 missing=NotFound("No such share request.", code="share_request_not_found"))


def get_request(actor: Actor, db: Session, /, request_id: uuid.UUID) -> ShareRequest:
    req = _request(db, request_id)
    if not may_see_request(actor, req):
        raise NotFound("No such share request.", code="share_request_not_found")
    return req


def get_request_by_number(actor: Actor, db: Session, /, number: str) -> ShareRequest:
    req = db.scalars(sa.select(ShareRequest).where(ShareRequest.number == number.strip())).first()
    if req is None or not may_see_request(actor, req):
        raise NotFound("No such share request.", code="share_request_not_found")
    return req


def request_steps(actor: Actor, db: Session, /, request_id: uuid.UUID) -> list[ShareRequestStep]:
    get_request(actor, db, request_id)
    return list(db.scalars(sa.select(ShareRequestStep).where(
        ShareRequestStep.request_id == request_id).order_by(ShareRequestStep.seq)))


def is_overdue(req: ShareRequest, now: dt.datetime | None = None) -> bool:
    return (req.status in OPEN_STATES and req.step_due_at is not None
            and req.step_due_at < (now or utcnow()))


BOXES = ("all", "mine", "inbox", "queue")


def _box_clause(actor: Actor, box: str) -> Any:
    """``mine``: the actor's body asked; ``inbox``: its body provides; ``queue``: its bureau
    checks or coordinates (or an overdue step was escalated to it); ``all``: any of these, and
    the reporters' view."""
    r = ShareRequest
    parts: dict[str, list[Any]] = {
        "mine": ([r.requester_org_id == actor.org_id] if actor.org_id else [])
        + _covering(r.requester_path, actor, SHARE_REQUEST),
        "inbox": _covering(r.provider_path, actor, SHARE_ANSWER),
        "queue": _covering(r.bureau_path, actor, SHARE_COORDINATE)
        + _covering(r.escalated_to_path, actor, SHARE_COORDINATE),
    }
    if box == "all":
        clauses = parts["mine"] + parts["inbox"] + parts["queue"] \
            + _covering(r.requester_path, actor, SHARE_REPORT) \
            + _covering(r.provider_path, actor, SHARE_REPORT)
    else:
        clauses = parts[box]
    return sa.or_(*clauses) if clauses else sa.false()


def list_requests(actor: Actor, db: Session, /, *, box: str = "all", status: str | None = None,
                  open_only: bool = False, overdue: bool | None = None,
                  entry_id: uuid.UUID | None = None, limit: int = 50,
                  offset: int = 0) -> tuple[list[ShareRequest], int]:
    """Requests the actor may see in one box, overdue first, then newest."""
    if box not in BOXES:
        raise ValidationFailed.single("box", "invalid", f"One of {', '.join(BOXES)}.")
    conds: list[Any] = [] if actor.is_system else [_box_clause(actor, box)]
    if status:
        conds.append(ShareRequest.status == status)
    if open_only:
        conds.append(ShareRequest.status.in_(OPEN_STATES))
    now = utcnow()
    late = sa.and_(ShareRequest.status.in_(OPEN_STATES), ShareRequest.step_due_at < now)
    if overdue is True:
        conds.append(late)
    elif overdue is False:
        conds.append(sa.not_(late))
    if entry_id is not None:
        conds.append(ShareRequest.entry_id == entry_id)
    total = db.scalar(sa.select(sa.func.count()).select_from(ShareRequest).where(*conds)) or 0
    rows = db.scalars(sa.select(ShareRequest).where(*conds).order_by(
        sa.case((late, 0), else_=1), ShareRequest.updated_at.desc(), ShareRequest.id)
        .limit(limit).offset(offset)).all()
    return list(rows), total


def org_names(db: Session, /, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    """Names of organisations (remembered for the session: a page names the same few often)."""
    known: dict[uuid.UUID, str] = db.info.setdefault("sharing.org_names", {})
    out: dict[uuid.UUID, str] = {}
    for org_id in {i for i in ids if i is not None}:
        if org_id not in known:
            try:
                known[org_id] = orgs.get_organization(LOOKUP, db, org_id).name
            except NotFound:
                known[org_id] = str(org_id)
        out[org_id] = known[org_id]
    return out


def org_of_path(db: Session, /, path: str) -> Any:
    """The organisation a materialised path ends with (``/<root>/…/<id>/``), or None."""
    last = path.strip("/").rsplit("/", 1)[-1] if path.strip("/") else ""
    try:
        org_id = uuid.UUID(hex=last)
    except ValueError:
        return None
    try:
        return orgs.get_organization(LOOKUP, db, org_id)
    except NotFound:
        return None


def expire_grants(actor: Actor, db: Session, /, *, now: dt.datetime | None = None) -> list[ShareGrant]:
    """Mark active grants past their expiry as expired (audited); the next pull is refused
    either way (``effective_status``)."""
    now = now or utcnow()
    rows = list(db.scalars(sa.select(ShareGrant).where(
        ShareGrant.status == GrantStatus.ACTIVE.value, ShareGrant.expires_at <= now)
        .with_for_update()))
    for grant in rows:
        grant.status = GrantStatus.EXPIRED.value
        audit.record(db, actor, "sharing.grant_expire", target_type=TARGET, target_id=grant.id,
                     org_id=grant.provider_org_id, org_path=grant.provider_path,
                     details={"resource_code": grant.resource_code, "holder": grant.holder_path,
                              "expires_at": grant.expires_at.isoformat()})
    return rows


# -------------------------------------------------------------------------------- reports


@dataclass
class GrantUsage:
    grant: ShareGrant
    status: str
    pulls: int
    rows: int
    last_pull: dt.datetime | None

    @property
    def unused(self) -> bool:
        return self.pulls == 0


def usage_by_grant(actor: Actor, db: Session, /, *, entry_id: uuid.UUID | None = None,
                   holder_org_id: uuid.UUID | None = None, held: bool = False,
                   limit: int = 1000) -> list[GrantUsage]:
    """Per grant the actor may see: pulls, rows delivered and the last use (``GrantPull``)."""
    grants = list_grants(actor, db, entry_id=entry_id, holder_org_id=holder_org_id, held=held,
                         limit=limit)
    if not grants:
        return []
    ids = [g.id for g in grants]
    stats = {row[0]: row[1:] for row in db.execute(
        sa.select(GrantPull.grant_id, sa.func.count(), sa.func.coalesce(sa.func.sum(GrantPull.rows), 0),
                  sa.func.max(GrantPull.created_at))
        .where(GrantPull.grant_id.in_(ids)).group_by(GrantPull.grant_id))}
    now = utcnow()
    out = []
    for g in grants:
        pulls, rows, last = stats.get(g.id, (0, 0, None))
        out.append(GrantUsage(g, effective_status(g, now), int(pulls), int(rows), last))
    return out


@dataclass
class BodyUsage:
    org_id: uuid.UUID
    name: str
    grants: int
    active: int
    unused: int
    pulls: int
    rows: int
    last_pull: dt.datetime | None


def usage_by_body(actor: Actor, db: Session, /, *, entry_id: uuid.UUID | None = None) -> list[BodyUsage]:
    """Per holding body: its grants, how many are active and unused, pulls, rows, last use."""
    by: dict[uuid.UUID, list[GrantUsage]] = {}
    for u in usage_by_grant(actor, db, entry_id=entry_id):
        if u.grant.holder_org_id is not None:
            by.setdefault(u.grant.holder_org_id, []).append(u)
    names = org_names(db, by)
    out = []
    for org_id, uses in by.items():
        lasts = [u.last_pull for u in uses if u.last_pull]
        out.append(BodyUsage(org_id, names.get(org_id, ""), len(uses),
                             sum(u.status == "active" for u in uses),
                             sum(u.unused and u.status == "active" for u in uses),
                             sum(u.pulls for u in uses), sum(u.rows for u in uses),
                             max(lasts) if lasts else None))
    return sorted(out, key=lambda b: (-b.rows, b.name))


@dataclass
class EntryUsage:
    entry_id: uuid.UUID
    resource_code: str
    holders: int
    active: int
    pulls: int
    rows: int


def usage_by_entry(actor: Actor, db: Session, /) -> list[EntryUsage]:
    """Per catalog entry: how many bodies hold grants on it and how much was pulled."""
    by: dict[uuid.UUID, list[GrantUsage]] = {}
    for u in usage_by_grant(actor, db, limit=5000):
        by.setdefault(u.grant.entry_id, []).append(u)
    out = [EntryUsage(entry_id, uses[0].grant.resource_code,
                      len({u.grant.holder_org_id for u in uses}),
                      sum(u.status == "active" for u in uses), sum(u.pulls for u in uses),
                      sum(u.rows for u in uses)) for entry_id, uses in by.items()]
    return sorted(out, key=lambda e: (-e.active, e.resource_code))


def daily_pulls(actor: Actor, db: Session, /, *, days: int = 30,
                entry_id: uuid.UUID | None = None, holder_org_id: uuid.UUID | None = None,
                grant_id: uuid.UUID | None = None) -> list[tuple[dt.date, int, int]]:
    """(day, pulls, rows) for the last ``days`` days over the grants the actor may see."""
    if grant_id is not None:
        ids = [get_grant(actor, db, grant_id).id]
    else:
        ids = [g.id for g in list_grants(actor, db, entry_id=entry_id,
                                         holder_org_id=holder_org_id, limit=5000)]
    today = calendar(db).local_day(utcnow())
    first = today - dt.timedelta(days=days - 1)
    found = {row[0]: (int(row[1]), int(row[2])) for row in db.execute(
        sa.select(GrantPull.day, sa.func.count(), sa.func.coalesce(sa.func.sum(GrantPull.rows), 0))
        .where(GrantPull.grant_id.in_(ids), GrantPull.day >= first)
        .group_by(GrantPull.day))} if ids else {}
    return [(first + dt.timedelta(days=i), *found.get(first + dt.timedelta(days=i), (0, 0)))
            for i in range(days)]


@dataclass
class BureauReport:
    by_status: dict[str, int]
    overdue: dict[str, int]
    escalated: int
    median_hours: float | None  # from submission to the final answer
    answered: int
    by_type: dict[str, int]


def bureau_report(actor: Actor, db: Session, /) -> BureauReport:
    """The requests the actor may see (its queue, inbox, own, or reports): by state, overdue per
    step, escalated, the median time from submission to the final answer."""
    rows, _ = list_requests(actor, db, box="all", limit=100_000)
    now = utcnow()
    by_status: dict[str, int] = {}
    by_type: dict[str, int] = {}
    overdue: dict[str, int] = {}
    hours = []
    escalated = 0
    for r in rows:
        by_status[r.status] = by_status.get(r.status, 0) + 1
        by_type[r.share_type] = by_type.get(r.share_type, 0) + 1
        if is_overdue(r, now):
            overdue[r.status] = overdue.get(r.status, 0) + 1
        if r.escalation_level:
            escalated += 1
        if r.decided_at is not None and r.status in (RequestStatus.GRANTED, RequestStatus.REFUSED):
            hours.append((r.decided_at - r.created_at).total_seconds() / 3600)
    median = statistics.median(hours) if hours else None
    return BureauReport(by_status, overdue, escalated, median, len(hours), by_type)


def record_demo_pulls(actor: Actor, db: Session, /, grant_id: uuid.UUID, *,
                      pulls: Sequence[tuple[dt.date, int]]) -> int:
    """Usage history for the demo: pulls on past days under a grant, recorded as such in the
    audit log (``sharing.demo_usage``). Only the local operator (the demo builder) may."""
    if not actor.is_system:
        raise PermissionDenied("Only the demo builder records usage history.",
                               code="permission_denied")
    grant = grant_row(db, grant_id)
    tz = calendar(db).tz
    last = None
    for day, rows in pulls:
        at = dt.datetime.combine(day, dt.time(10, 0), tzinfo=tz).astimezone(dt.UTC)
        db.add(GrantPull(grant_id=grant.id, day=day, rows=rows, bytes=rows * 120, format="json",
                         actor="demo", via="demo", holder_org_id=grant.holder_org_id,
                         created_at=at))
        last = max(last, at) if last else at
    if last is not None:
        grant.last_pulled_at = max(grant.last_pulled_at or last, last)
    audit.record(db, actor, "sharing.demo_usage", target_type=TARGET, target_id=grant.id,
                 org_id=grant.provider_org_id, org_path=grant.provider_path,
                 details={"pulls": len(pulls), "rows": sum(r for _, r in pulls), "demo": True})
    return len(pulls)


def audit_labels(db: Session, /, ids: Sequence[str], *, kind: str = TARGET) -> dict[str, str]:
    """Share requests (by number) or grants (by resource code and holder) as the audit log
    names them, in one query."""
    if kind == REQUEST:
        rows = db.execute(sa.select(ShareRequest.id, ShareRequest.number, ShareRequest.resource_code)
                          .where(ShareRequest.id.in_(as_uuids(ids))))
        return {str(i): f"{number} ({code})" for i, number, code in rows}
    rows = db.execute(sa.select(ShareGrant.id, ShareGrant.resource_code, ShareGrant.holder_path)
                      .where(ShareGrant.id.in_(as_uuids(ids))))
    return {str(i): f"{code} → {holder or '-'}" for i, code, holder in rows}


def audit_find(db: Session, /, text: str, *, kind: str = TARGET, limit: int = 200) -> list[str]:
    like = f"%{text}%"
    if kind == REQUEST:
        query = sa.select(ShareRequest.id).where(sa.or_(ShareRequest.number.ilike(like),
                                                        ShareRequest.resource_code.ilike(like)))
    else:
        query = sa.select(ShareGrant.id).where(ShareGrant.resource_code.ilike(like))
    return [str(i) for i in db.scalars(query.limit(limit))]
