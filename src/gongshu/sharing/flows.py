"""The share request workflow (Art. 12), by the entry's sharing type (STANDARDS.md §3)::

    submit ──▶ bureau_check ──nonconform (reasons)──▶ refused
                   │ conform
                   ├── unconditional ──▶ granted
                   ├── conditional ──▶ provider_review ──approve──▶ granted
                   │                        │ └──refuse (reasons)──▶ refused
                   │                        └──(overdue, escalated) take over──▶ coordination
                   └── not_shared ──▶ refused with the entry's stated basis
                        └──coordinate──▶ coordination ──approve──▶ granted
                                                  └──refuse (reasons)──▶ refused
    refused ──dispute (once, reasons)──▶ coordination (the bureau decides)
    any open step ──withdraw──▶ withdrawn

Rules kept here, each in one place:

- the requester's same-level data bureau checks conformity within 2 working days; a
  conditional entry's provider answers within 5 working days if the entry's data is already on
  the platform (a dataset with a current version), 10 if not; the periods are data
  (``data/periods.yaml``) and the calendar is ``calendar.py``: ``_enter``;
- a refusal always says why (Art. 12; 国发〔2016〕51号): ``_reason``;
- only the provider's staff (``sharing.answer``) answer, only the bureau (``sharing.coordinate``)
  checks and coordinates, only the requesting body (``sharing.request``) disputes or withdraws;
- grants are issued here only, by the provider or the bureau: a holder has no path to give data
  on (Art. 12: never passed to a third party);
- every change locks the request row (``FOR UPDATE`` on PostgreSQL), checks the version a client
  saw (``expected_version``), and adds a timeline step whose ``(request_id, seq)`` is unique, so
  two decisions on one step cannot both succeed: the loser gets 409.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from gongshu.catalog import service as catalog
from gongshu.core import audit
from gongshu.core.db import utcnow
from gongshu.core.errors import (
    Collector,
    Conflict,
    InvalidState,
    PermissionDenied,
    ValidationFailed,
)
from gongshu.core.permissions import Actor, require
from gongshu.library import service as library
from gongshu.orgs import service as orgs
from gongshu.sharing import service
from gongshu.sharing.models import RequestStatus, ShareRequest, ShareRequestStep
from gongshu.sharing.permissions import SHARE_ANSWER, SHARE_COORDINATE, SHARE_REQUEST

S = RequestStatus
REASON_MAX = 4000
ROW_FILTER_OPS = ("=", "!=", "<", "<=", ">", ">=", "in")


@dataclass
class GrantTerms:
    """What an approval grants; every field defaults from the request and its scenario."""

    items: Sequence[str] | None = None  # a subset of the requested items (default: all)
    row_filter: Sequence[dict[str, Any]] = ()
    starts_on: dt.date | None = None
    expires_on: dt.date | None = None
    daily_row_limit: int | None = None
    clear_items: Sequence[str] = field(default_factory=tuple)


# ---------------------------------------------------------------------------------- helpers


def _reason(text: str | None, *, required: bool, field_name: str = "comment") -> str:
    text = (text or "").strip()
    if required and not text:
        raise ValidationFailed.single(field_name, "reason_required",
                                      "Say why (a refusal or a dispute gives its reasons).")
    if len(text) > REASON_MAX:
        raise ValidationFailed.single(field_name, "too_long", f"At most {REASON_MAX} characters.",
                                      max_length=REASON_MAX)
    return text


def _locked(db: Session, request_id: uuid.UUID, actor: Actor,
            expected_version: int | None) -> ShareRequest:
    req = service._request(db, request_id, lock=True)
    if not service.may_see_request(actor, req):
        raise service.NotFound("No such share request.", code="share_request_not_found")
    if expected_version is not None and expected_version != req.version:
        raise Conflict("The request changed since you loaded it; reload and decide again.",
                       code="conflict", version=req.version)
    return req


def _in(req: ShareRequest, *states: S) -> None:
    if req.status not in {s.value for s in states}:
        raise InvalidState(
            f"This step needs a request that is {' or '.join(s.value for s in states)}.",
            code="share_request_wrong_state", status=req.status)


def _next_seq(db: Session, req: ShareRequest) -> int:
    last = db.scalar(sa.select(sa.func.max(ShareRequestStep.seq))
                     .where(ShareRequestStep.request_id == req.id))
    return (last or 0) + 1


def _step(db: Session, actor: Actor, req: ShareRequest, action: str, comment: str = "",
          org_path: str = "", **details: Any) -> None:
    """Add the timeline step and the audit event, then write now: a concurrent decision on
    the same step loses here (unique seq, version) with 409, never 500."""
    db.add(ShareRequestStep(request_id=req.id, seq=_next_seq(db, req), step=req.status,
                            action=action, actor=actor.username,
                            org_path=org_path or (actor.org_path or ""), comment=comment,
                            due_at=req.step_due_at))
    req.updated_at = utcnow()
    _flush(db)
    audit.record(db, actor, f"sharing.request_{action}", target_type=service.REQUEST,
                 target_id=req.id, org_id=req.requester_org_id, org_path=req.requester_path,
                 details={"number": req.number, "resource_code": req.resource_code,
                          "status": req.status, **({"comment": comment} if comment else {}),
                          **details})


def _flush(db: Session) -> None:
    try:
        with db.begin_nested():
            db.flush()
    except (StaleDataError, IntegrityError) as exc:
        raise Conflict("Someone else decided this step at the same moment; reload.",
                       code="conflict") from exc


def _enter(db: Session, req: ShareRequest, status: S, working_days: int | None) -> None:
    """Move to ``status``; an open step gets its deadline from the working-day calendar."""
    now = utcnow()
    req.status = status.value
    req.step_started_at = now
    req.escalated_to_path = ""
    req.escalation_level = 0
    req.escalated_at = None
    if working_days is None:
        req.step_due_at = None
        req.decided_at = now
    else:
        req.step_due_at = service.deadline(db, now, working_days).due_at


def _period(name: str) -> int:
    return int(service.periods()["steps"][name])


def on_platform(db: Session, entry_id: uuid.UUID) -> bool:
    """The entry's data is already on the platform: its dataset has a current version."""
    dataset = library.dataset_for_entry(service.LOOKUP, db, entry_id)
    return dataset is not None and dataset.current_version_id is not None


def _entry_items(db: Session, entry: Any) -> list[str]:
    version = entry.published_version
    return [i.code for i in version.items] if version is not None else []


def _not_shared_basis(entry: Any) -> str:
    version = entry.published_version
    sharing = (version.content or {}).get("sharing") or {} if version is not None else {}
    return str(sharing.get("legal_basis") or sharing.get("condition") or "")


# ----------------------------------------------------------------------------------- submit


def submit(actor: Actor, db: Session, /, *, entry_id: uuid.UUID, items: Sequence[str],
           scenario_id: uuid.UUID | None = None, scenario: service.ScenarioIn | None = None,
           contact_name: str = "", contact_phone: str = "") -> ShareRequest:
    """The actor's own body asks for some data items of a published entry under a scenario.
    There is no way to ask on behalf of another body: the requester is the actor's body."""
    if actor.org_id is None or actor.org_path is None:
        raise PermissionDenied("Only a member of a public body can ask for shared data.",
                               code="permission_denied", permission=str(SHARE_REQUEST))
    require(actor, SHARE_REQUEST, actor.org_path)
    entry = catalog.get_entry(actor, db, entry_id)
    version = entry.published_version
    if version is None:
        raise InvalidState("Only a published catalog entry can be asked for.",
                           code="entry_not_published")
    if entry.provider_org_id == actor.org_id:
        raise InvalidState("This is your own body's entry; no request is needed.",
                           code="own_entry")
    errors = Collector()
    wanted = [str(i).strip() for i in items if str(i).strip()]
    known = _entry_items(db, entry)
    if not wanted:
        errors.add("items", "required", "Choose at least one data item.")
    unknown = [i for i in wanted if i not in known]
    if unknown:
        errors.add("items", "unknown_item", f"Not data items of the entry: {', '.join(unknown)}.",
                   unknown=unknown)
    if len(set(wanted)) != len(wanted):
        errors.add("items", "duplicate", "Each data item once.")
    if not contact_name.strip():
        errors.add("contact_name", "required", "Name a contact person.")
    if not contact_phone.strip():
        errors.add("contact_phone", "required", "Give the contact's phone number.")
    elif len(contact_phone.strip()) > 32:
        errors.add("contact_phone", "too_long", "At most 32 characters.", max_length=32)
    if len(contact_name.strip()) > 64:
        errors.add("contact_name", "too_long", "At most 64 characters.", max_length=64)
    found = service.resolve_scenario(actor, db, org_id=actor.org_id, org_path=actor.org_path,
                                     scenario_id=scenario_id, scenario=scenario, errors=errors)
    requester = orgs.get_organization(service.LOOKUP, db, actor.org_id)
    bureau = orgs.same_level_bureau(db, requester)
    errors.raise_if_any()
    if bureau is None:
        raise InvalidState("Your region has no data bureau to check the request.",
                           code="sharing_no_bureau")
    assert found is not None
    if found not in db:
        found, created = _save_scenario(db, found)
        if created:
            audit.record(db, actor, "sharing.scenario_create", target_type="share_scenario",
                         target_id=found.id, org_id=actor.org_id, org_path=actor.org_path,
                         details={"name": found.name})
    req = ShareRequest(
        number="", requester_org_id=actor.org_id, requester_path=actor.org_path,
        bureau_path=bureau.path, entry_id=entry.id, resource_code=entry.resource_code,
        provider_org_id=entry.provider_org_id, provider_path=entry.provider_path,
        share_type=version.sharing_type, items=wanted, scenario_id=found.id,
        contact_name=contact_name.strip(), contact_phone=contact_phone.strip(),
        status=S.BUREAU_CHECK.value, submitted_by=actor.username)
    _enter(db, req, S.BUREAU_CHECK, _period("bureau_check"))
    _numbered(db, req)
    _step(db, actor, req, "submit", items=wanted, scenario=found.name,
          share_type=req.share_type)
    return req


def _save_scenario(db: Session, scenario: Any) -> tuple[Any, bool]:
    """Insert a new scenario; if a concurrent request of the same body has just created one of
    that name, reuse it."""
    try:
        with db.begin_nested():
            db.add(scenario)
            db.flush()
        return scenario, True
    except IntegrityError:
        found = db.scalars(sa.select(service.Scenario).where(
            service.Scenario.org_id == scenario.org_id,
            service.Scenario.name == scenario.name)).first()
        if found is None:
            raise Conflict("Could not save the scenario; try again.", code="conflict") from None
        return found, False


def _numbered(db: Session, req: ShareRequest) -> None:
    """Give the request the year's next readable number (GX-2026-000001); a number taken by a
    concurrent request is retried."""
    year = service.calendar(db).local_day(utcnow()).year
    prefix = f"GX-{year}-"
    for _ in range(8):
        last = db.scalar(sa.select(sa.func.max(ShareRequest.number))
                         .where(ShareRequest.number.like(prefix + "%")))
        seq = int(last.rsplit("-", 1)[1]) + 1 if last else 1
        req.number = f"{prefix}{seq:06d}"
        try:
            with db.begin_nested():
                db.add(req)
                db.flush()
            return
        except IntegrityError:
            db.expunge(req) if req in db else None
    raise Conflict("Could not number the request; try again.", code="conflict")


# ------------------------------------------------------------------------------- decisions


def _grant(actor: Actor, db: Session, req: ShareRequest, terms: GrantTerms | None) -> Any:
    terms = terms or GrantTerms()
    errors = Collector()
    items = list(terms.items) if terms.items else list(req.items)
    extra = [i for i in items if i not in req.items]
    if extra:
        errors.add("items", "not_requested", f"Not asked for: {', '.join(extra)}.", unknown=extra)
    for n, cond in enumerate(terms.row_filter):
        if not isinstance(cond, dict) or cond.get("item") not in req.items + _entry_items(
                db, catalog.get_entry(service.LOOKUP, db, req.entry_id)):
            errors.add(f"row_filter.{n}.item", "unknown_item", "Filter on a data item of the entry.")
        elif cond.get("op") not in ROW_FILTER_OPS:
            errors.add(f"row_filter.{n}.op", "invalid", f"One of {' '.join(ROW_FILTER_OPS)}.")
    scenario = service.get_scenario(db, req.scenario_id)
    today = service.calendar(db).local_day(utcnow())
    scenario_start = scenario.period_start if scenario and scenario.period_start else today
    starts_on = terms.starts_on or max(today, scenario_start)
    default_end = (scenario.period_end if scenario and scenario.period_end else
                   starts_on + dt.timedelta(days=int(service.periods()["default_grant_days"])))
    expires_on = terms.expires_on or default_end
    if expires_on <= starts_on:
        errors.add("expires_on", "out_of_range", "A grant expires after it starts.")
    errors.raise_if_any()
    tz = service.calendar(db).tz
    starts_at = (utcnow() if starts_on <= today else
                 dt.datetime.combine(starts_on, dt.time(0), tzinfo=tz).astimezone(dt.UTC))
    expires_at = dt.datetime.combine(expires_on, dt.time(23, 59, 59), tzinfo=tz).astimezone(dt.UTC)
    grant = service.issue_grant(
        actor, db, entry_id=req.entry_id, resource_code=req.resource_code,
        provider_org_id=req.provider_org_id, provider_path=req.provider_path, items=items,
        expires_at=expires_at, starts_at=starts_at, holder_org_id=req.requester_org_id,
        holder_path=req.requester_path, bureau_path=req.bureau_path,
        scenario_id=req.scenario_id, request_id=req.id, clear_items=list(terms.clear_items),
        row_filter=list(terms.row_filter), daily_row_limit=terms.daily_row_limit)
    req.grant_id = grant.id
    return grant


def check(actor: Actor, db: Session, /, request_id: uuid.UUID, *, decision: str,
          comment: str = "", terms: GrantTerms | None = None,
          expected_version: int | None = None) -> ShareRequest:
    """The requester's data bureau checks conformity (2 working days): ``conform`` lets the
    request go on by the entry's sharing type; ``nonconform`` refuses it (reasons);
    ``coordinate`` takes a not-shared entry into coordination with its provider."""
    require(actor, SHARE_COORDINATE)
    req = _locked(db, request_id, actor, expected_version)
    if not service.is_bureau(actor, req):
        raise PermissionDenied("Only the requester's data bureau checks this request.",
                               code="sharing_not_bureau")
    _in(req, S.BUREAU_CHECK)
    if decision == "nonconform":
        comment = _reason(comment, required=True)
        req.refusal_reason = comment
        _enter(db, req, S.REFUSED, None)
        _step(db, actor, req, "nonconform", comment)
        return req
    if decision not in ("conform", "coordinate"):
        raise ValidationFailed.single("decision", "invalid",
                                      "One of conform, nonconform, coordinate.")
    comment = _reason(comment, required=False)
    if decision == "coordinate":
        if req.share_type != "not_shared":
            raise InvalidState("Only a not-shared entry goes to coordination at this step.",
                               code="share_request_wrong_state", status=req.status)
        _enter(db, req, S.COORDINATION, _period("coordination"))
        _step(db, actor, req, "coordinate", comment)
        return req
    if req.share_type == "unconditional":
        grant = _grant(actor, db, req, terms)
        _enter(db, req, S.GRANTED, None)
        _step(db, actor, req, "conform", comment, grant_id=str(grant.id))
    elif req.share_type == "conditional":
        days = _period("provider_review_on_platform" if on_platform(db, req.entry_id)
                       else "provider_review_not_on_platform")
        _enter(db, req, S.PROVIDER_REVIEW, days)
        _step(db, actor, req, "conform", comment, provider_days=days)
    else:  # not shared: refused with the entry's stated basis (Art. 12)
        basis = _not_shared_basis(
            catalog.get_entry(service.LOOKUP, db, req.entry_id)) or "不予共享"
        req.refusal_reason = basis
        _enter(db, req, S.REFUSED, None)
        _step(db, actor, req, "conform", comment, refused_with=basis)
    return req


def answer(actor: Actor, db: Session, /, request_id: uuid.UUID, *, approve: bool,
           comment: str = "", terms: GrantTerms | None = None,
           expected_version: int | None = None) -> ShareRequest:
    """The provider answers a conditional request: a grant, or a refusal with reasons."""
    require(actor, SHARE_ANSWER)
    req = _locked(db, request_id, actor, expected_version)
    if not service.is_provider(actor, req):
        raise PermissionDenied("Only the provider's staff answer this request.",
                               code="sharing_not_provider")
    _in(req, S.PROVIDER_REVIEW)
    comment = _reason(comment, required=not approve)
    if approve:
        grant = _grant(actor, db, req, terms)
        _enter(db, req, S.GRANTED, None)
        _step(db, actor, req, "approve", comment, grant_id=str(grant.id))
    else:
        req.refusal_reason = comment
        _enter(db, req, S.REFUSED, None)
        _step(db, actor, req, "refuse", comment)
    return req


def coordinate(actor: Actor, db: Session, /, request_id: uuid.UUID, *, approve: bool,
               comment: str = "", terms: GrantTerms | None = None,
               expected_version: int | None = None) -> ShareRequest:
    """The bureau decides a request in coordination (a dispute, a not-shared entry, a step
    taken over): a grant, or a final refusal with reasons."""
    require(actor, SHARE_COORDINATE)
    req = _locked(db, request_id, actor, expected_version)
    if not service.is_bureau(actor, req):
        raise PermissionDenied("Only the data bureau coordinates this request.",
                               code="sharing_not_bureau")
    _in(req, S.COORDINATION)
    comment = _reason(comment, required=True)
    if approve:
        grant = _grant(actor, db, req, terms)
        req.refusal_reason = ""
        _enter(db, req, S.GRANTED, None)
        _step(db, actor, req, "coordinate_grant", comment, grant_id=str(grant.id))
    else:
        req.refusal_reason = comment
        _enter(db, req, S.REFUSED, None)
        _step(db, actor, req, "coordinate_refuse", comment)
    return req


def take_over(actor: Actor, db: Session, /, request_id: uuid.UUID, *, comment: str = "",
              expected_version: int | None = None) -> ShareRequest:
    """A bureau takes an overdue provider step into coordination."""
    require(actor, SHARE_COORDINATE)
    req = _locked(db, request_id, actor, expected_version)
    if not service.is_bureau(actor, req):
        raise PermissionDenied("Only the data bureau coordinates this request.",
                               code="sharing_not_bureau")
    _in(req, S.PROVIDER_REVIEW)
    if not service.is_overdue(req):
        raise InvalidState("The provider's answer is not overdue yet.", code="not_overdue")
    comment = _reason(comment, required=True)
    _enter(db, req, S.COORDINATION, _period("coordination"))
    _step(db, actor, req, "take_over", comment)
    return req


def dispute(actor: Actor, db: Session, /, request_id: uuid.UUID, *, reason: str,
            expected_version: int | None = None) -> ShareRequest:
    """The requester disputes a refusal (once): the bureau coordinates and decides."""
    require(actor, SHARE_REQUEST)
    req = _locked(db, request_id, actor, expected_version)
    if not service.is_requester(actor, req):
        raise PermissionDenied("Only the requesting body disputes its refusal.",
                               code="sharing_not_requester")
    _in(req, S.REFUSED)
    reason = _reason(reason, required=True, field_name="reason")
    disputed = db.scalar(sa.select(sa.func.count()).select_from(ShareRequestStep).where(
        ShareRequestStep.request_id == req.id, ShareRequestStep.action == "dispute")) or 0
    if disputed:
        raise InvalidState("A refusal is disputed once; the bureau's decision is final.",
                           code="already_disputed")
    req.decided_at = None
    _enter(db, req, S.COORDINATION, _period("coordination"))
    _step(db, actor, req, "dispute", reason)
    return req


def withdraw(actor: Actor, db: Session, /, request_id: uuid.UUID, *, comment: str = "",
             expected_version: int | None = None) -> ShareRequest:
    require(actor, SHARE_REQUEST)
    req = _locked(db, request_id, actor, expected_version)
    if not service.is_requester(actor, req):
        raise PermissionDenied("Only the requesting body withdraws its request.",
                               code="sharing_not_requester")
    _in(req, S.BUREAU_CHECK, S.PROVIDER_REVIEW, S.COORDINATION)
    comment = _reason(comment, required=False)
    _enter(db, req, S.WITHDRAWN, None)
    _step(db, actor, req, "withdraw", comment)
    return req


# ------------------------------------------------------------------------------ escalation


def _responsible_path(req: ShareRequest) -> str:
    if req.escalated_to_path:
        return req.escalated_to_path
    return req.provider_path if req.status == S.PROVIDER_REVIEW else req.bureau_path


def escalation_target(db: Session, req: ShareRequest) -> Any:
    """The next level up from who must act now: for the provider, the requester's bureau if it
    has not escalated yet, else that bureau; for a bureau, the data bureau of the government
    above its own."""
    if req.status == S.PROVIDER_REVIEW and not req.escalated_to_path:
        return service.org_of_path(db, req.bureau_path)
    current = service.org_of_path(db, _responsible_path(req))
    if current is None:
        return None
    gov = orgs.government_of(db, current)
    if gov is None or gov.parent_id is None:
        return None
    parent_gov = orgs.government_of(db, orgs.get_organization(service.LOOKUP, db, gov.parent_id))
    return orgs.same_level_bureau(db, parent_gov) if parent_gov is not None else None


def escalate_overdue(actor: Actor, db: Session, /, *, now: dt.datetime | None = None) -> list[ShareRequest]:
    """Escalate every overdue open step to the next level (an audit event and a timeline step
    each); a step still unanswered ``escalate_again_after`` working days after its last
    escalation goes one level further up, as far as the province."""
    now = now or utcnow()
    again = int(service.periods()["escalate_again_after"])
    ids = list(db.scalars(sa.select(ShareRequest.id).where(
        ShareRequest.status.in_(service.OPEN_STATES), ShareRequest.step_due_at < now)))
    done = []
    for request_id in ids:
        req = service._request(db, request_id, lock=True)
        if not service.is_overdue(req, now):
            continue
        if req.escalated_at is not None and \
                service.deadline(db, req.escalated_at, again).due_at >= now:
            continue
        target = escalation_target(db, req)
        if target is None or target.path == req.escalated_to_path:
            continue
        req.escalation_level += 1
        req.escalated_at = now
        req.escalated_to_path = target.path
        _step(db, actor, req, "escalate", "", org_path=target.path, to=target.name,
              level=req.escalation_level,
              due_at=req.step_due_at.isoformat() if req.step_due_at else None)
        done.append(req)
    return done


def sweep(actor: Actor, db: Session, /, *, now: dt.datetime | None = None) -> dict[str, int]:
    """The periodic sweep (``jobs.sharing.sweep``): escalate overdue steps, expire grants."""
    escalated = escalate_overdue(actor, db, now=now)
    expired = service.expire_grants(actor, db, now=now)
    return {"escalated": len(escalated), "expired": len(expired)}


# ------------------------------------------------------------------------------------ demo


def step_period(db: Session, req: ShareRequest) -> int | None:
    """The working days of the request's current step (None once settled)."""
    if req.status == S.BUREAU_CHECK:
        return _period("bureau_check")
    if req.status == S.PROVIDER_REVIEW:
        return _period("provider_review_on_platform" if on_platform(db, req.entry_id)
                       else "provider_review_not_on_platform")
    if req.status == S.COORDINATION:
        return _period("coordination")
    return None


def demo_backdate(actor: Actor, db: Session, /, request_id: uuid.UUID, *, days: float) -> ShareRequest:
    """Move everything that happened to a request (and its grant) ``days`` into the past, and
    count the current step's deadline again from its shifted start: the demo's history and its
    overdue requests. Only the local operator (the demo builder) may; audited as demo."""
    if not actor.is_system:
        raise PermissionDenied("Only the demo builder rewrites history.", code="permission_denied")
    shift = dt.timedelta(days=days)
    req = service._request(db, request_id, lock=True)
    for name in ("created_at", "step_started_at", "updated_at", "decided_at", "escalated_at"):
        value = getattr(req, name)
        if value is not None:
            setattr(req, name, value - shift)
    working_days = step_period(db, req)
    if working_days is not None:
        req.step_due_at = service.deadline(db, req.step_started_at, working_days).due_at
    for step in db.scalars(sa.select(ShareRequestStep).where(ShareRequestStep.request_id == req.id)):
        step.created_at -= shift
        if step.due_at is not None:
            step.due_at -= shift
    if req.grant_id is not None:
        grant = service.grant_row(db, req.grant_id)
        grant.created_at -= shift
        grant.starts_at -= shift
    audit.record(db, actor, "sharing.demo_backdate", target_type=service.REQUEST, target_id=req.id,
                 details={"number": req.number, "days": days, "demo": True})
    return req
