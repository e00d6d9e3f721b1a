"""The census of information systems and public data (Art. 9), with the Art. 30 cloud check.

A data bureau opens a campaign for a period; every public body of its area (below the bureau's
government, so a city census reaches the county bodies too) gets a response to fill in: its
information systems (name, purpose, on the government cloud or not, classified or not, the
catalog entries whose data each holds) and the confirmation that its catalog is complete. The
bureau follows completion per body and per region, reminds the bodies that have not answered
(a reminder record they see on the platform, and an audit event), and reads a summary: the
systems not on the government cloud (Art. 30 asks non-classified systems to move there) and the
bodies without a reviewed (published) catalog.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gongshu.catalog import service as catalog
from gongshu.catalog.models import (
    CatalogEntry,
    Census,
    CensusReminder,
    CensusResponse,
    InfoSystem,
)
from gongshu.catalog.permissions import CENSUS_MANAGE, CENSUS_RESPOND
from gongshu.catalog.schemas import InfoSystemIn
from gongshu.catalog.search.service import covering
from gongshu.core import audit
from gongshu.core.db import runtime_of, utcnow
from gongshu.core.errors import Collector, InvalidState, NotFound
from gongshu.core.permissions import Actor, require
from gongshu.orgs import service as orgs
from gongshu.orgs.regions import region_by_code
from gongshu.orgs.service import Organization, OrgKind

SYSTEMS_MAX = 200


def _record(db: Session, actor: Actor, action: str, census: Census, *,
            org: Organization | None = None, target: object | None = None,
            **details: object) -> None:
    audit.record(db, actor, f"census.{action}", target_type="census",
                 target_id=target or census.id,
                 org_id=org.id if org else census.bureau_org_id,
                 org_path=org.path if org else census.bureau_path,
                 details={"census": census.title, **details})


def _census(db: Session, census_id: uuid.UUID) -> Census:
    census = db.get(Census, census_id)
    if census is None:
        raise NotFound("No such census.", code="census_not_found")
    return census


def _manages(actor: Actor, census: Census) -> bool:
    return actor.can(CENSUS_MANAGE, census.bureau_path)


def _responds(actor: Actor, response: CensusResponse) -> bool:
    return actor.can(CENSUS_RESPOND, response.org_path)


def open_census(actor: Actor, db: Session, /, *, bureau_org_id: uuid.UUID, title: str,
                period_start: dt.date, period_end: dt.date, due_date: dt.date,
                description: str = "") -> Census:
    """Open a census for every public body of the bureau's area (Art. 9)."""
    bureau = orgs.org_by_id(db, bureau_org_id)
    if bureau is None or bureau.kind != OrgKind.DATA_BUREAU or bureau.parent_id is None:
        raise NotFound("No such data bureau.", code="org_not_found")
    require(actor, CENSUS_MANAGE, bureau.path)
    errors = Collector()
    title = title.strip()
    if not 1 <= len(title) <= 200:
        errors.add("title", "required", "Give the census a title (at most 200 characters).")
    if period_end < period_start:
        errors.add("period_end", "period_order", "The period ends before it starts.")
    if due_date < period_start:
        errors.add("due_date", "period_order", "The due date is before the period starts.")
    errors.raise_if_any()
    government = orgs.org_by_id(db, bureau.parent_id)
    assert government is not None
    census = Census(title=title, bureau_org_id=bureau.id, bureau_path=bureau.path,
                    area_path=government.path, period_start=period_start,
                    period_end=period_end, due_date=due_date, description=description.strip(),
                    status="open", created_by=actor.username)
    db.add(census)
    bodies = orgs.active_public_bodies(db, under_path=government.path)
    for body in bodies:
        census.responses.append(CensusResponse(
            org_id=body.id, org_path=body.path, org_name=body.name, region_code=body.region_code,
            status="pending", catalog_confirmed=False))
    db.flush()
    _record(db, actor, "open", census, bodies=len(bodies),
            period=f"{period_start.isoformat()}/{period_end.isoformat()}")
    return census


def _visible_census(actor: Actor, db: Session, census: Census) -> Census:
    if actor.is_system or _manages(actor, census):
        return census
    if any(_responds(actor, r) for r in _responses_of(actor, db, census)):
        return census
    raise NotFound("No such census.", code="census_not_found")


def _responses_of(actor: Actor, db: Session, census: Census) -> list[CensusResponse]:
    scopes = actor.scopes(CENSUS_RESPOND)
    if not scopes:
        return []
    cover = covering(CensusResponse.org_path, scopes)
    return list(db.scalars(sa.select(CensusResponse).where(
        CensusResponse.census_id == census.id, sa.or_(*cover)).order_by(CensusResponse.org_path)))


def get_census(actor: Actor, db: Session, /, census_id: uuid.UUID) -> Census:
    """A census its bureau manages or one of the actor's bodies answers."""
    return _visible_census(actor, db, _census(db, census_id))


def list_censuses(actor: Actor, db: Session, /) -> list[Census]:
    """Campaigns the actor manages or answers, newest first."""
    conds = []
    if not actor.is_system:
        manage = covering(Census.bureau_path, actor.scopes(CENSUS_MANAGE))
        respond = covering(CensusResponse.org_path, actor.scopes(CENSUS_RESPOND))
        if not manage and not respond:
            return []
        answered = sa.select(CensusResponse.census_id).where(sa.or_(*respond)) if respond else None
        conds.append(sa.or_(*manage, *([Census.id.in_(answered)] if answered is not None else [])))
    return list(db.scalars(sa.select(Census).where(*conds).order_by(Census.created_at.desc())))


def today(db: Session, /) -> dt.date:
    """Today's date where the platform is (``display_timezone``): a census is due by the end of
    its due date there."""
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(runtime_of(db).settings.display_timezone)).date()


def is_overdue(census: Census, today: dt.date) -> bool:
    """An open census past its due date (Art. 9: the census has a deadline)."""
    return census.status == "open" and census.due_date < today


def my_responses(actor: Actor, db: Session, /, census_id: uuid.UUID) -> list[CensusResponse]:
    """The responses the actor fills in (those of its bodies)."""
    return _responses_of(actor, db, _census(db, census_id))


def get_response(actor: Actor, db: Session, /, census_id: uuid.UUID,
                 org_id: uuid.UUID) -> CensusResponse:
    census = _census(db, census_id)
    response = db.scalars(sa.select(CensusResponse).where(
        CensusResponse.census_id == census.id, CensusResponse.org_id == org_id)).first()
    if response is None or not (actor.is_system or _manages(actor, census)
                                or _responds(actor, response)):
        raise NotFound("This body takes no part in the census.", code="census_response_not_found")
    return response


def _locked_response(actor: Actor, db: Session, census_id: uuid.UUID,
                     org_id: uuid.UUID) -> CensusResponse:
    """The response, its row locked until the transaction ends and read afresh: concurrent
    answers of one body run one after another (the census row is locked too, so a closing
    census and an answer do not cross)."""
    response = get_response(actor, db, census_id, org_id)
    db.flush()
    db.get(Census, response.census_id, with_for_update=True, populate_existing=True)
    locked = db.get(CensusResponse, response.id, with_for_update=True, populate_existing=True)
    assert locked is not None
    db.expire(locked, ["systems"])
    return locked


def _open(census: Census) -> None:
    if census.status != "open":
        raise InvalidState("The census is closed.", code="census_closed")


def save_response(actor: Actor, db: Session, /, census_id: uuid.UUID, org_id: uuid.UUID, *,
                  systems: Sequence[InfoSystemIn], catalog_confirmed: bool,
                  note: str = "") -> CensusResponse:
    """Record a body's information systems and whether it confirms its catalog."""
    response = _locked_response(actor, db, census_id, org_id)
    require(actor, CENSUS_RESPOND, response.org_path)
    _open(response.census)
    errors = Collector()
    if len(systems) > SYSTEMS_MAX:
        errors.add("systems", "too_many", f"At most {SYSTEMS_MAX} systems.",
                   max_length=SYSTEMS_MAX)
    wanted = {e for s in systems for e in s.entry_ids}
    own = set(db.scalars(sa.select(CatalogEntry.id).where(
        CatalogEntry.id.in_(wanted), CatalogEntry.provider_org_id == response.org_id))) if wanted else set()
    for i, system in enumerate(systems):
        for j, entry_id in enumerate(system.entry_ids):
            if entry_id not in own:
                errors.add(f"systems.{i}.entry_ids.{j}", "census_entry_not_own",
                           "Not a catalog entry of this body.", value=str(entry_id))
    errors.raise_if_any()
    if response.systems:
        # the old systems go first: (response, position) is unique, and the unit of work
        # would insert the new ones before deleting the old
        response.systems.clear()
        db.flush()
    response.systems = [
        InfoSystem(position=i, name=s.name, purpose=s.purpose,
                   on_government_cloud=s.on_government_cloud, classified=s.classified,
                   entry_ids=[str(e) for e in dict.fromkeys(s.entry_ids)])
        for i, s in enumerate(systems)
    ]
    response.catalog_confirmed = catalog_confirmed
    response.note = note.strip()
    response.updated_at = utcnow()
    db.flush()
    org = orgs.org_by_id(db, response.org_id)
    _record(db, actor, "respond", response.census, org=org, target=response.id,
            systems=len(systems), catalog_confirmed=catalog_confirmed)
    return response


def submit_response(actor: Actor, db: Session, /, census_id: uuid.UUID,
                    org_id: uuid.UUID) -> CensusResponse:
    """Hand in the response; the body must have confirmed its catalog."""
    response = _locked_response(actor, db, census_id, org_id)
    require(actor, CENSUS_RESPOND, response.org_path)
    _open(response.census)
    if not response.catalog_confirmed:
        errors = Collector()
        errors.add("catalog_confirmed", "census_catalog_unconfirmed",
                   "Confirm the body's catalog before handing in the census.")
        errors.raise_if_any()
    response.status = "submitted"
    response.submitted_at = utcnow()
    response.submitted_by = actor.username
    org = orgs.org_by_id(db, response.org_id)
    _record(db, actor, "submit", response.census, org=org, target=response.id,
            systems=len(response.systems))
    return response


def close_census(actor: Actor, db: Session, /, census_id: uuid.UUID) -> Census:
    census = _census(db, census_id)
    require(actor, CENSUS_MANAGE, census.bureau_path)
    db.refresh(census, with_for_update=True)
    _open(census)
    census.status = "closed"
    census.closed_at = utcnow()
    pending = sum(1 for r in census.responses if r.status != "submitted")
    _record(db, actor, "close", census, pending=pending)
    return census


def remind(actor: Actor, db: Session, /, census_id: uuid.UUID, *,
           org_ids: Sequence[uuid.UUID] | None = None, message: str = "") -> int:
    """Remind the bodies that have not handed in (all of them, or those named); returns how
    many were reminded. Each gets a reminder it sees on the platform, and an audit event."""
    census = _census(db, census_id)
    require(actor, CENSUS_MANAGE, census.bureau_path)
    _open(census)
    text = message.strip() or f"请于 {census.due_date.isoformat()} 前完成“{census.title}”的填报。"
    count = 0
    for response in census.responses:
        if response.status == "submitted" or (org_ids is not None and response.org_id not in org_ids):
            continue
        response.reminders.append(CensusReminder(message=text, sent_by=actor.username))
        audit.record(db, actor, "census.remind", target_type="census_response",
                     target_id=response.id, org_id=response.org_id, org_path=response.org_path,
                     details={"census": census.title, "body": response.org_name})
        count += 1
    db.flush()
    return count


def notices(actor: Actor, db: Session, /) -> list[CensusReminder]:
    """Reminders for the actor's bodies in open censuses they have not handed in, newest first."""
    scopes = actor.scopes(CENSUS_RESPOND)
    if not scopes:
        return []
    cover = covering(CensusResponse.org_path, scopes)
    return list(db.scalars(
        sa.select(CensusReminder).join(CensusResponse).join(Census)
        .where(Census.status == "open", CensusResponse.status != "submitted", sa.or_(*cover))
        .order_by(CensusReminder.created_at.desc()).limit(20)))


@dataclass
class RegionProgress:
    region_code: str
    region_name: str
    bodies: int
    submitted: int

    @property
    def fraction(self) -> float:
        return self.submitted / self.bodies if self.bodies else 0.0


@dataclass
class BodyProgress:
    response: CensusResponse
    systems: int
    published_entries: int
    reminders: int


@dataclass
class CensusProgress:
    census: Census
    bodies: list[BodyProgress]
    regions: list[RegionProgress]

    @property
    def submitted(self) -> int:
        return sum(1 for b in self.bodies if b.response.status == "submitted")

    @property
    def fraction(self) -> float:
        return self.submitted / len(self.bodies) if self.bodies else 0.0


def progress(actor: Actor, db: Session, /, census_id: uuid.UUID) -> CensusProgress:
    """Completion per body and per region (for the bureau)."""
    census = _census(db, census_id)
    require(actor, CENSUS_MANAGE, census.bureau_path)
    responses = list(db.scalars(sa.select(CensusResponse).where(
        CensusResponse.census_id == census.id).order_by(CensusResponse.region_code,
                                                        CensusResponse.org_path)))
    published = catalog.published_count(db, [r.org_id for r in responses])
    reminder_counts = dict(db.execute(
        sa.select(CensusReminder.response_id, sa.func.count())
        .where(CensusReminder.response_id.in_([r.id for r in responses]))
        .group_by(CensusReminder.response_id)).all()) if responses else {}
    bodies = [BodyProgress(r, len(r.systems), published.get(r.org_id, 0),
                           reminder_counts.get(r.id, 0)) for r in responses]
    province = runtime_of(db).settings.province_code
    regions: dict[str, RegionProgress] = {}
    for r in responses:
        code = r.region_code or ""
        region = regions.get(code)
        if region is None:
            found = region_by_code(code, province) if code else None
            region = regions[code] = RegionProgress(code, found.name if found else code, 0, 0)
        region.bodies += 1
        region.submitted += r.status == "submitted"
    return CensusProgress(census, bodies, sorted(regions.values(), key=lambda g: g.region_code))


@dataclass
class OffCloudSystem:
    body: str
    org_id: uuid.UUID
    name: str
    classified: bool


@dataclass
class CensusSummary:
    bodies: int
    submitted: int
    systems: int
    on_cloud: int
    off_cloud: list[OffCloudSystem] = field(default_factory=list)
    #: Art. 30: non-classified systems off the government cloud (they should move there)
    should_migrate: int = 0
    without_catalog: list[CensusResponse] = field(default_factory=list)


def summary(actor: Actor, db: Session, /, census_id: uuid.UUID) -> CensusSummary:
    """What the census found: systems off the government cloud (Art. 30) and bodies without a
    reviewed catalog (Art. 9)."""
    report = progress(actor, db, census_id)
    systems = [(b.response, s) for b in report.bodies for s in b.response.systems]
    off = [OffCloudSystem(r.org_name, r.org_id, s.name, s.classified)
           for r, s in systems if not s.on_government_cloud]
    return CensusSummary(
        bodies=len(report.bodies), submitted=report.submitted, systems=len(systems),
        on_cloud=len(systems) - len(off), off_cloud=off,
        should_migrate=sum(1 for s in off if not s.classified),
        without_catalog=[b.response for b in report.bodies if b.published_entries == 0],
    )
