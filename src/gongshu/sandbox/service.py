"""The sandbox's use cases (Art. 14: authorised operation): the only door to its tables.

Art. 14: the data bureau authorises operators and supervises them; raw data does not leave the
platform, it is "usable but not visible". So:

- authorisations are made and changed by a data bureau only, each change audited and made on a
  locked row; an operator sees and queries only what an ACTIVE authorisation of its own
  organisation covers (others' authorisations, queries and results answer 404);
- a query is checked by the release policy (``policy.check``) before anything runs, run on the
  authorised tables only, and recorded in the history whatever the verdict;
- differential-privacy queries spend ε from a budget per operator, dataset and month that can
  never be overspent (one conditional UPDATE, and a CHECK constraint);
- results marked for export, and every result under a ``review_all`` authorisation, wait for
  the bureau's output review before they leave.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import yaml
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gongshu.catalog import service as catalog
from gongshu.core import audit
from gongshu.core.db import fetch, runtime_of, utcnow
from gongshu.core.errors import (
    Collector,
    Conflict,
    InvalidState,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from gongshu.core.i18n import Translator
from gongshu.core.permissions import Actor, Capability, require
from gongshu.grading import service as grading
from gongshu.library import service as library
from gongshu.orgs import service as orgs
from gongshu.orgs.service import OrgKind
from gongshu.sandbox import policy, similar
from gongshu.sandbox.models import (
    Authorization,
    AuthorizationStatus,
    AuthorizedTable,
    Budget,
    ColumnOverride,
    ColumnPolicy,
    ProductCategory,
    Query,
    QueryStatus,
)
from gongshu.sandbox.permissions import SANDBOX_AUTHORISE, SANDBOX_QUERY, SANDBOX_REVIEW
from gongshu.sandbox.policy import ReleaseLevel

__all__ = [
    "Authorization",
    "AuthorizationStatus",
    "ProductCategory",
    "Query",
    "QueryStatus",
]

TARGET = "sandbox_authorization"
QUERY_TARGET = "sandbox_query"
LOOKUP = Actor.system("sandbox", via="system")
SHANGHAI = ZoneInfo("Asia/Shanghai")
#: 《公共数据资源授权运营实施规范(试行)》(发改数据规〔2025〕27号): the term is at most 5 years
MAX_TERM_YEARS = 5
TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
#: the capability an authorisation confers for one query: reading its datasets
READ = "library.read"


def today() -> dt.date:
    return utcnow().astimezone(SHANGHAI).date()


def period_of(when: dt.datetime | None = None) -> str:
    """The budget period (a calendar month in Asia/Shanghai) of a moment: ``2026-12``."""
    return (when or utcnow()).astimezone(SHANGHAI).strftime("%Y-%m")


@cache
def defaults() -> dict[str, Any]:
    """The detection type → release level mapping (``data/defaults.yaml``)."""
    text = resources.files("gongshu.sandbox").joinpath("data", "defaults.yaml").read_text(
        encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


# ============================================================================ authorisations


def effective_status(auth: Authorization, on: dt.date | None = None) -> str:
    """``expired`` once its term has ended, even before the sweep has marked it."""
    on = on or today()
    if auth.status == AuthorizationStatus.ACTIVE and auth.ends_on < on:
        return AuthorizationStatus.EXPIRED.value
    return auth.status


def is_in_force(auth: Authorization, on: dt.date | None = None) -> bool:
    on = on or today()
    return effective_status(auth, on) == AuthorizationStatus.ACTIVE and auth.starts_on <= on


def may_manage(actor: Actor, auth: Authorization) -> bool:
    return actor.can(SANDBOX_AUTHORISE, auth.bureau_path)


def may_review(actor: Actor, auth_bureau_path: str) -> bool:
    return bool(auth_bureau_path) and actor.can(SANDBOX_REVIEW, auth_bureau_path)


def is_operator(actor: Actor, operator_path: str) -> bool:
    """The actor queries for this operator organisation."""
    return not actor.is_system and actor.can(SANDBOX_QUERY, operator_path)


def may_see(actor: Actor, auth: Authorization) -> bool:
    return (actor.is_system or is_operator(actor, auth.operator_path) or may_manage(actor, auth)
            or may_review(actor, auth.bureau_path))


def _covering(actor: Actor, column: Any, *perms: Any) -> Any:
    clauses: list[Any] = []
    for perm in perms:
        for g in actor.scopes(perm):
            clauses.append(column.startswith(g.org_path, autoescape=True) if g.subtree
                           else column == g.org_path)
    return clauses


def _auth_clause(actor: Actor) -> Any:
    clauses = _covering(actor, Authorization.operator_path, SANDBOX_QUERY)
    clauses += _covering(actor, Authorization.bureau_path, SANDBOX_AUTHORISE, SANDBOX_REVIEW)
    return sa.or_(*clauses) if clauses else sa.false()


def _auth(db: Session, auth_id: uuid.UUID, *, lock: bool = False) -> Authorization:
    return fetch(db, Authorization, auth_id, lock=lock,
                 missing=NotFound("No such authorisation.", code="sandbox_authorization_not_found"))


def get_authorization(actor: Actor, db: Session, /, auth_id: uuid.UUID) -> Authorization:
    """An authorisation its operator or its bureau may see; others get 404."""
    auth = _auth(db, auth_id)
    if not may_see(actor, auth):
        raise NotFound("No such authorisation.", code="sandbox_authorization_not_found")
    return auth


def list_authorizations(actor: Actor, db: Session, /, *, status: str | None = None,
                        operator_org_id: uuid.UUID | None = None, limit: int = 200,
                        offset: int = 0) -> list[Authorization]:
    """Authorisations the actor may see: its operator's, or those of a bureau it works for.
    ``status`` is the effective one (an active authorisation past its term is expired)."""
    stmt = sa.select(Authorization)
    if not actor.is_system:
        stmt = stmt.where(_auth_clause(actor))
    if operator_org_id is not None:
        stmt = stmt.where(Authorization.operator_org_id == operator_org_id)
    day = today()
    if status == AuthorizationStatus.EXPIRED.value:
        stmt = stmt.where(sa.or_(Authorization.status == status, sa.and_(
            Authorization.status == AuthorizationStatus.ACTIVE.value,
            Authorization.ends_on < day)))
    elif status == AuthorizationStatus.ACTIVE.value:
        stmt = stmt.where(Authorization.status == status, Authorization.ends_on >= day)
    elif status:
        stmt = stmt.where(Authorization.status == status)
    stmt = stmt.order_by(Authorization.created_at.desc(), Authorization.id)
    return list(db.scalars(stmt.limit(limit).offset(offset)))


def find_authorization(actor: Actor, db: Session, /, ref: str) -> Authorization:
    """An authorisation by its id or its number (SQ-2026-000001)."""
    try:
        return get_authorization(actor, db, uuid.UUID(ref))
    except ValueError:
        pass
    found = db.scalars(sa.select(Authorization).where(Authorization.number == ref.strip())).first()
    if found is None or not may_see(actor, found):
        raise NotFound("No such authorisation.", code="sandbox_authorization_not_found")
    return found


def tables_of(db: Session, /, auth_id: uuid.UUID) -> list[AuthorizedTable]:
    return list(db.scalars(sa.select(AuthorizedTable).where(
        AuthorizedTable.authorization_id == auth_id).order_by(AuthorizedTable.table_name)))


def authorized_tables(actor: Actor, db: Session, /, auth_id: uuid.UUID) -> list[AuthorizedTable]:
    return tables_of(db, get_authorization(actor, db, auth_id).id)


@dataclass
class TableIn:
    """A dataset in an authorisation's scope: its entry, its name in SQL, its ε per month."""

    entry_id: uuid.UUID
    table_name: str
    epsilon_per_month: float = 1.0


@dataclass
class AuthorizationIn:
    operator_org_id: uuid.UUID
    purpose: str
    starts_on: dt.date
    ends_on: dt.date
    tables: list[TableIn]
    scenarios: list[str] = field(default_factory=list)
    product_categories: list[str] = field(
        default_factory=lambda: [ProductCategory.PUBLIC_INTEREST.value])
    fee_cap: Decimal | None = None
    k: int = 10
    review_all: bool = False
    bureau_org_id: uuid.UUID | None = None


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _bureau(actor: Actor, db: Session, bureau_org_id: uuid.UUID | None) -> Any:
    """The data bureau that authorises: the one named, else the actor's own organisation if
    it is one, else the highest data bureau the actor authorises for (an administrator)."""
    org = None
    if bureau_org_id is not None:
        org = orgs.org_by_id(db, bureau_org_id)
    elif actor.is_system:  # the local operator: the province's data bureau
        org = db.scalars(sa.select(orgs.Organization).where(
            orgs.Organization.kind == OrgKind.DATA_BUREAU.value).order_by(
            sa.func.length(orgs.Organization.path))).first()
    elif actor.org_id is not None:
        org = orgs.org_by_id(db, actor.org_id)
        if org is not None and org.kind != OrgKind.DATA_BUREAU:
            org = None
        if org is None:
            for g in actor.scopes(SANDBOX_AUTHORISE):
                org = db.scalars(sa.select(orgs.Organization).where(
                    orgs.Organization.kind == OrgKind.DATA_BUREAU.value,
                    orgs.Organization.path.startswith(g.org_path, autoescape=True)).order_by(
                    sa.func.length(orgs.Organization.path))).first()
                if org is not None:
                    break
    if org is None or org.kind != OrgKind.DATA_BUREAU:
        raise ValidationFailed.single("bureau_org_id", "invalid",
                                      "An authorisation is given by a data bureau.")
    return org


def _check(db: Session, data: AuthorizationIn, errors: Collector) -> Any:
    operator = orgs.org_by_id(db, data.operator_org_id)
    if operator is None or operator.kind != OrgKind.OPERATOR:
        errors.add("operator_org_id", "invalid", "Choose an organisation of kind operator.")
    if not data.purpose.strip():
        errors.add("purpose", "required", "Say what the data is used for.")
    if data.ends_on < data.starts_on:
        errors.add("ends_on", "out_of_range", "The term ends after it starts.")
    elif data.ends_on > _add_years(data.starts_on, MAX_TERM_YEARS):
        errors.add("ends_on", "term_too_long",
                   f"The term is at most {MAX_TERM_YEARS} years.", years=MAX_TERM_YEARS)
    cats = set(data.product_categories)
    if not cats or not cats <= {c.value for c in ProductCategory}:
        errors.add("product_categories", "invalid",
                   "Choose public_interest, industry or both.")
    if data.fee_cap is not None and data.fee_cap < 0:
        errors.add("fee_cap", "out_of_range", "A fee cap is not negative.")
    if not 2 <= data.k <= 10_000:
        errors.add("k", "out_of_range", "The minimum group size is between 2 and 10000.")
    if not data.tables:
        errors.add("tables", "required", "Authorise at least one dataset.")
    names: set[str] = set()
    entries: set[uuid.UUID] = set()
    for i, t in enumerate(data.tables):
        if not TABLE_NAME.match(t.table_name):
            errors.add(f"tables.{i}.table_name", "invalid",
                       "A table name is lower-case letters, digits and _, starting with a letter.")
        if t.table_name in names:
            errors.add(f"tables.{i}.table_name", "duplicate", "Each table has its own name.")
        if t.entry_id in entries:
            errors.add(f"tables.{i}.entry_id", "duplicate", "Each dataset once.")
        names.add(t.table_name)
        entries.add(t.entry_id)
        if not (t.epsilon_per_month >= 0 and math.isfinite(t.epsilon_per_month)):
            errors.add(f"tables.{i}.epsilon_per_month", "out_of_range",
                       "The ε budget is a number of at least 0.")
        try:
            catalog.get_entry(LOOKUP, db, t.entry_id)
        except NotFound:
            errors.add(f"tables.{i}.entry_id", "invalid", "No such catalog entry.")
            continue
        if library.dataset_for_entry(LOOKUP, db, t.entry_id) is None:
            errors.add(f"tables.{i}.entry_id", "no_dataset",
                       "The entry has no dataset in the library.")
    return operator


def _number(db: Session) -> str:
    year = today().year
    prefix = f"SQ-{year}-"
    last = db.scalar(sa.select(sa.func.max(Authorization.number)).where(
        Authorization.number.startswith(prefix)))
    seq = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{seq:06d}"


def create_authorization(actor: Actor, db: Session, /, data: AuthorizationIn) -> Authorization:
    """A data bureau authorises an operator (Art. 14). The datasets' column policies are
    defaulted from grading where the bureau has not set them yet."""
    # Art. 14: the data bureau sets up authorised operation; only it authorises
    require(actor, SANDBOX_AUTHORISE)
    bureau = _bureau(actor, db, data.bureau_org_id)
    require(actor, SANDBOX_AUTHORISE, bureau.path)
    errors = Collector()
    operator = _check(db, data, errors)
    errors.raise_if_any()
    auth = Authorization(
        number=_number(db), operator_org_id=operator.id, operator_path=operator.path,
        bureau_org_id=bureau.id, bureau_path=bureau.path, purpose=data.purpose.strip(),
        scenarios=[s.strip() for s in data.scenarios if s.strip()],
        starts_on=data.starts_on, ends_on=data.ends_on,
        product_categories=sorted(set(data.product_categories)), fee_cap=data.fee_cap,
        k=data.k, review_all=data.review_all, status=AuthorizationStatus.ACTIVE.value,
        created_by=actor.username)
    db.add(auth)
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError:
        raise Conflict("Another authorisation took this number; try again.",
                       code="sandbox_number_taken") from None
    for t in data.tables:
        entry = catalog.get_entry(LOOKUP, db, t.entry_id)
        db.add(AuthorizedTable(authorization_id=auth.id, entry_id=t.entry_id,
                               resource_code=entry.resource_code, table_name=t.table_name,
                               epsilon_per_month=float(t.epsilon_per_month)))
        ensure_policy(db, t.entry_id)
    db.flush()
    audit.record(db, actor, "sandbox.authorise", target_type=TARGET, target_id=auth.id,
                 org_id=bureau.id, org_path=bureau.path,
                 details={"number": auth.number, "operator": operator.name,
                          "tables": {t.table_name: str(t.entry_id) for t in data.tables},
                          "starts_on": data.starts_on.isoformat(),
                          "ends_on": data.ends_on.isoformat(), "k": data.k,
                          "review_all": data.review_all,
                          "product_categories": auth.product_categories})
    return auth


@dataclass
class AuthorizationChange:
    purpose: str | None = None
    scenarios: list[str] | None = None
    ends_on: dt.date | None = None
    product_categories: list[str] | None = None
    fee_cap: Decimal | None = None
    k: int | None = None
    review_all: bool | None = None


def update_authorization(actor: Actor, db: Session, /, auth_id: uuid.UUID,
                         change: AuthorizationChange) -> Authorization:
    """The bureau changes an authorisation's terms (not its operator or datasets)."""
    auth = _auth(db, auth_id, lock=True)
    if not may_see(actor, auth):
        raise NotFound("No such authorisation.", code="sandbox_authorization_not_found")
    require(actor, SANDBOX_AUTHORISE, auth.bureau_path)
    if auth.status in (AuthorizationStatus.REVOKED, AuthorizationStatus.EXPIRED):
        raise InvalidState(f"The authorisation is {auth.status}.",
                           code="sandbox_authorization_ended")
    data = AuthorizationIn(
        operator_org_id=auth.operator_org_id,
        purpose=change.purpose if change.purpose is not None else auth.purpose,
        starts_on=auth.starts_on, ends_on=change.ends_on or auth.ends_on,
        tables=[TableIn(t.entry_id, t.table_name, t.epsilon_per_month)
                for t in tables_of(db, auth.id)],
        product_categories=change.product_categories or list(auth.product_categories),
        fee_cap=change.fee_cap if change.fee_cap is not None else auth.fee_cap,
        k=change.k if change.k is not None else auth.k)
    errors = Collector()
    _check(db, data, errors)
    errors.raise_if_any()
    before = {"purpose": auth.purpose, "ends_on": auth.ends_on.isoformat(), "k": auth.k,
              "review_all": auth.review_all, "product_categories": auth.product_categories,
              "fee_cap": str(auth.fee_cap) if auth.fee_cap is not None else None}
    auth.purpose = data.purpose.strip()
    if change.scenarios is not None:
        auth.scenarios = [s.strip() for s in change.scenarios if s.strip()]
    auth.ends_on = data.ends_on
    auth.product_categories = sorted(set(data.product_categories))
    auth.fee_cap = data.fee_cap
    auth.k = data.k
    if change.review_all is not None:
        auth.review_all = change.review_all
    auth.updated_at = utcnow()
    audit.record(db, actor, "sandbox.authorisation_update", target_type=TARGET,
                 target_id=auth.id, org_id=auth.bureau_org_id, org_path=auth.bureau_path,
                 details={"number": auth.number, "before": before})
    return auth


#: status → the states it may be reached from
TRANSITIONS = {
    AuthorizationStatus.SUSPENDED: {AuthorizationStatus.ACTIVE},
    AuthorizationStatus.ACTIVE: {AuthorizationStatus.SUSPENDED},
    AuthorizationStatus.REVOKED: {AuthorizationStatus.ACTIVE, AuthorizationStatus.SUSPENDED},
}


def set_status(actor: Actor, db: Session, /, auth_id: uuid.UUID, *, status: str,
               reason: str) -> Authorization:
    """Suspend, resume (``active``) or revoke an authorisation; one change per state."""
    try:
        target = AuthorizationStatus(status)
    except ValueError:
        raise ValidationFailed.single("status", "invalid",
                                      "suspended, active or revoked.") from None
    if target not in TRANSITIONS:
        raise ValidationFailed.single("status", "invalid", "suspended, active or revoked.")
    auth = _auth(db, auth_id, lock=True)
    if not may_see(actor, auth):
        raise NotFound("No such authorisation.", code="sandbox_authorization_not_found")
    require(actor, SANDBOX_AUTHORISE, auth.bureau_path)
    if not reason.strip():
        raise ValidationFailed.single("reason", "required", "Say why.")
    current = AuthorizationStatus(effective_status(auth))
    if current not in TRANSITIONS[target]:
        raise InvalidState(f"An authorisation that is {current.value} cannot become "
                           f"{target.value}.", code="sandbox_authorization_wrong_state")
    auth.status = target.value
    auth.status_reason = reason.strip()
    auth.status_changed_at = utcnow()
    auth.status_changed_by = actor.username
    auth.updated_at = utcnow()
    audit.record(db, actor,
                 "sandbox.authorisation_revoke" if target == AuthorizationStatus.REVOKED else
                 "sandbox.authorisation_suspend" if target == AuthorizationStatus.SUSPENDED else
                 "sandbox.authorisation_resume", target_type=TARGET,
                 target_id=auth.id, org_id=auth.bureau_org_id, org_path=auth.bureau_path,
                 details={"number": auth.number, "from": current.value,
                          "reason": auth.status_reason})
    return auth


def sweep(actor: Actor, db: Session, /) -> dict[str, int]:
    """Mark authorisations past their term as expired (the scheduled ``sandbox.sweep``)."""
    day = today()
    due = list(db.scalars(sa.select(Authorization).where(
        Authorization.status.in_([AuthorizationStatus.ACTIVE.value,
                                  AuthorizationStatus.SUSPENDED.value]),
        Authorization.ends_on < day).with_for_update(skip_locked=True)))
    for auth in due:
        previous = auth.status
        auth.status = AuthorizationStatus.EXPIRED.value
        auth.status_changed_at = utcnow()
        auth.status_changed_by = actor.username
        audit.record(db, actor, "sandbox.authorisation_expire", target_type=TARGET,
                     target_id=auth.id, org_id=auth.bureau_org_id, org_path=auth.bureau_path,
                     details={"number": auth.number, "from": previous,
                              "ends_on": auth.ends_on.isoformat()})
    return {"expired": len(due)}


def agreements_dir(db: Session) -> Path:
    return runtime_of(db).settings.resolved_data_dir / "sandbox" / "agreements"


MAX_AGREEMENT_BYTES = 50 * 1024 * 1024


def attach_agreement(actor: Actor, db: Session, /, auth_id: uuid.UUID, *, name: str,
                     content: bytes) -> Authorization:
    """Keep the signed agreement under the data directory, named by its SHA-256."""
    auth = _auth(db, auth_id, lock=True)
    if not may_see(actor, auth):
        raise NotFound("No such authorisation.", code="sandbox_authorization_not_found")
    require(actor, SANDBOX_AUTHORISE, auth.bureau_path)
    name = os.path.basename(name.replace("\\", "/")).strip()[:255]
    if not name or not content:
        raise ValidationFailed.single("agreement", "required", "Choose the agreement's file.")
    if len(content) > MAX_AGREEMENT_BYTES:
        raise ValidationFailed.single("agreement", "too_large", "At most 50 MB.")
    digest = hashlib.sha256(content).hexdigest()
    folder = agreements_dir(db)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / digest
    if not path.exists():
        tmp = folder / f".{digest}.{uuid.uuid4().hex}"
        tmp.write_bytes(content)
        os.replace(tmp, path)
    auth.agreement_name = name
    auth.agreement_sha256 = digest
    auth.agreement_size = len(content)
    auth.updated_at = utcnow()
    audit.record(db, actor, "sandbox.agreement_attach", target_type=TARGET, target_id=auth.id,
                 org_id=auth.bureau_org_id, org_path=auth.bureau_path,
                 details={"number": auth.number, "name": name, "sha256": digest,
                          "size": len(content)})
    return auth


def agreement_file(actor: Actor, db: Session, /, auth_id: uuid.UUID) -> tuple[str, Path]:
    auth = get_authorization(actor, db, auth_id)
    if not auth.agreement_sha256:
        raise NotFound("The authorisation has no agreement file.",
                       code="sandbox_agreement_not_found")
    path = agreements_dir(db) / auth.agreement_sha256
    if not path.exists():
        raise NotFound("The agreement file is missing.", code="sandbox_agreement_not_found")
    return auth.agreement_name, path


def operators(db: Session, /) -> list[Any]:
    """Organisations of kind operator (for the authorisation form)."""
    return list(db.scalars(sa.select(orgs.Organization).where(
        orgs.Organization.kind == OrgKind.OPERATOR.value).order_by(orgs.Organization.name)))


# ============================================================================ column policy


def _default_level(detected: list[str], data_type: str, length: int | None) -> str:
    d = defaults()
    levels = [d["detected"][t] for t in detected if t in d["detected"]]
    if levels:
        order = list(ReleaseLevel)
        return max(levels, key=lambda lv: order.index(ReleaseLevel(lv)))
    by_type = d["by_type"].get((data_type or "C").upper())
    if by_type:
        return str(by_type)
    if length is not None and length <= int(d["short_text_length"]):
        return str(d["short_text"])
    return str(d["long_text"])


def default_policy(db: Session, /, entry_id: uuid.UUID) -> list[dict[str, Any]]:
    """Each stored column's default level from the grading scan (``data/defaults.yaml``)."""
    d = defaults()
    scan = grading.column_grades(db, entry_id)
    items = {i.code: i for i in catalog.entry_items(db, entry_id)}
    dataset = library.dataset_for_entry(LOOKUP, db, entry_id)
    columns: list[dict[str, Any]] = []
    if dataset is not None and dataset.current_version_id is not None:
        version = library.get_version(LOOKUP, db, dataset.id, None)
        columns = list(version.columns) if version is not None else []
    if not columns:
        columns = [{"code": c, "data_type": i.data_type} for c, i in items.items()]
    out = []
    contributor_found = False
    for col in columns:
        code = col["code"]
        scanned = scan.get(code)
        detected = [str(x["type"]) for x in (scanned.detections if scanned else [])
                    if float(x.get("ratio", 0)) >= float(d["min_ratio"])]
        item = items.get(code)
        level = _default_level(detected, str(col.get("data_type") or
                                              (item.data_type if item else "C")),
                               item.length if item is not None else None)
        contributor = (not contributor_found and level == ReleaseLevel.JOIN
                       and any(t in d["contributor"] for t in detected))
        contributor_found = contributor_found or contributor
        out.append({"column": code, "level": level, "lo": None, "hi": None,
                    "contributor": contributor})
    return out


def ensure_policy(db: Session, /, entry_id: uuid.UUID) -> list[ColumnPolicy]:
    """The entry's column policy, defaulted from grading for columns that have none yet."""
    rows = {p.column: p for p in db.scalars(sa.select(ColumnPolicy).where(
        ColumnPolicy.entry_id == entry_id))}
    for spec in default_policy(db, entry_id):
        if spec["column"] not in rows:
            row = ColumnPolicy(entry_id=entry_id, column=spec["column"], level=spec["level"],
                               contributor=spec["contributor"], source="grading")
            try:
                with db.begin_nested():
                    db.add(row)
                    db.flush()
            except IntegrityError:  # another transaction defaulted it first
                continue
            rows[row.column] = row
    return sorted(rows.values(), key=lambda p: p.column)


def column_policy(db: Session, /, entry_id: uuid.UUID) -> list[ColumnPolicy]:
    return list(db.scalars(sa.select(ColumnPolicy).where(
        ColumnPolicy.entry_id == entry_id).order_by(ColumnPolicy.column)))


def get_column_policy(actor: Actor, db: Session, /, entry_id: uuid.UUID) -> list[ColumnPolicy]:
    """The release policy of a dataset: the bureau, or an operator authorised for it."""
    if not actor.can(SANDBOX_AUTHORISE) and not actor.can(SANDBOX_REVIEW):
        require(actor, SANDBOX_QUERY)
        if entry_id not in {t.entry_id for _, t in _active_tables(actor, db)}:
            raise NotFound("No such dataset.", code="dataset_not_found")
        return column_policy(db, entry_id)
    catalog.get_entry(LOOKUP, db, entry_id)
    return ensure_policy(db, entry_id)


@dataclass
class ColumnRule:
    column: str
    level: str
    lo: float | None = None
    hi: float | None = None
    contributor: bool = False


def set_column_policy(actor: Actor, db: Session, /, entry_id: uuid.UUID,
                      rules: Sequence[ColumnRule]) -> list[ColumnPolicy]:
    """The bureau sets how columns of a dataset may leave (audited, before and after): the
    entry's own data bureau, or a bureau that authorised an operator for it."""
    require(actor, SANDBOX_AUTHORISE)
    entry = catalog.get_entry(LOOKUP, db, entry_id)
    authorising = db.scalars(sa.select(Authorization.bureau_path).join(
        AuthorizedTable, AuthorizedTable.authorization_id == Authorization.id).where(
        AuthorizedTable.entry_id == entry_id)).all()
    paths = [p for p in (entry.bureau_path, *authorising) if p]
    if not any(actor.can(SANDBOX_AUTHORISE, p) for p in paths) and not actor.is_system:
        raise PermissionDenied("Only the dataset's data bureau, or one that authorised it, "
                               "sets its release levels.", permission=str(SANDBOX_AUTHORISE))
    current = {p.column: p for p in ensure_policy(db, entry_id)}
    errors = Collector()
    contributors = [r.column for r in rules if r.contributor]
    for i, r in enumerate(rules):
        if r.column not in current:
            errors.add(f"rules.{i}.column", "unknown_column", f"No column {r.column!r}.")
        try:
            ReleaseLevel(r.level)
        except ValueError:
            errors.add(f"rules.{i}.level", "invalid", "An unknown release level.")
        if (r.lo is None) != (r.hi is None):
            errors.add(f"rules.{i}.hi", "required", "Give both bounds or neither.")
        elif r.lo is not None and r.hi is not None and not (
                math.isfinite(r.lo) and math.isfinite(r.hi) and r.lo < r.hi):
            errors.add(f"rules.{i}.hi", "out_of_range", "The lower bound is below the upper.")
    others = [c for c, p in current.items() if p.contributor and c not in
              {r.column for r in rules}]
    if len(contributors) + len(others) > 1:
        errors.add("contributor", "invalid", "At most one column names the contributor.")
    errors.raise_if_any()
    changed = []
    for r in rules:
        row = current[r.column]
        before = (row.level, row.lo, row.hi, row.contributor)
        after = (r.level, r.lo, r.hi, r.contributor)
        if before == after:
            continue
        row.level, row.lo, row.hi, row.contributor = after
        row.source = actor.username
        row.updated_at = utcnow()
        changed.append({"column": r.column, "before": list(before), "after": list(after)})
    if changed:
        audit.record(db, actor, "sandbox.policy_set", target_type="catalog_entry",
                     target_id=entry_id, org_id=entry.provider_org_id,
                     org_path=entry.provider_path,
                     details={"resource_code": entry.resource_code, "changes": changed})
    return sorted(current.values(), key=lambda p: p.column)


def table_policy(db: Session, /, table_name: str, entry_id: uuid.UUID,
                 overrides: Mapping[str, str] | None = None) -> policy.TablePolicy:
    """The policy a query runs under: the dataset's levels, bounds and contributor column,
    with ``overrides`` (one authorisation's levels, ``overrides_of``) winning over the levels."""
    rows = column_policy(db, entry_id) or ensure_policy(db, entry_id)
    contributor = next((p.column for p in rows if p.contributor), None)
    return policy.TablePolicy(
        name=table_name,
        columns=policy.effective_levels({p.column: p.level for p in rows}, overrides or {}),
        contributor=contributor,
        bounds={p.column: (float(p.lo), float(p.hi)) for p in rows
                if p.lo is not None and p.hi is not None})


# ============================================================ column release levels per operator
#
# SANDBOX.md: levels are "per dataset column, per operator or default". The dataset's level
# (``ColumnPolicy``) is the default; the bureau may give one authorisation (one operator's
# authorised use of the dataset) its own level for a column (``ColumnOverride``), which wins
# for that authorisation's queries only. Bounds and the contributor column stay dataset-level.
# Setting a column to its dataset default clears the override (no row is kept): the
# authorisation then follows the default when the bureau changes it later.


def overrides_of(db: Session, /, auth_id: uuid.UUID, entry_id: uuid.UUID) -> dict[str, str]:
    """One authorisation's own levels for one dataset's columns: {column: level}."""
    return {o.column: o.level for o in db.scalars(sa.select(ColumnOverride).where(
        ColumnOverride.authorization_id == auth_id, ColumnOverride.entry_id == entry_id))}


def _default_levels(db: Session, entry_id: uuid.UUID) -> dict[str, str]:
    """The dataset's levels, without writing: the stored policy, else the grading default."""
    rows = column_policy(db, entry_id)
    if rows:
        return {p.column: p.level for p in rows}
    return {spec["column"]: spec["level"] for spec in default_policy(db, entry_id)}


@dataclass
class ColumnLevel:
    column: str
    name: str
    default: str  # the dataset's level
    override: str | None  # this authorisation's own level; None: it follows the default

    @property
    def level(self) -> str:
        """The level this authorisation's queries run under."""
        return self.override or self.default


@dataclass
class TableLevels:
    table_name: str
    entry_id: uuid.UUID
    columns: list[ColumnLevel]


def _table_levels(db: Session, auth_id: uuid.UUID, table: AuthorizedTable) -> TableLevels:
    names = {i.code: i.name for i in catalog.entry_items(db, table.entry_id)}
    defaults_ = _default_levels(db, table.entry_id)
    own = overrides_of(db, auth_id, table.entry_id)
    return TableLevels(table.table_name, table.entry_id, [
        ColumnLevel(column, names.get(column, column), level, own.get(column))
        for column, level in defaults_.items()])


def column_levels(actor: Actor, db: Session, /, auth_id: uuid.UUID) -> list[TableLevels]:
    """Each authorised table's columns: the dataset default, this authorisation's own level
    and the effective one. Its operator, its bureau and the bureau's reviewers; others 404."""
    auth = get_authorization(actor, db, auth_id)
    return [_table_levels(db, auth.id, t) for t in tables_of(db, auth.id)]


@dataclass
class OwnLevels:
    """An authorisation's own levels (those differing from the dataset's) of one table."""

    number: str
    authorization_id: uuid.UUID
    levels: TableLevels


def own_levels_of_query(actor: Actor, db: Session, /, query_id: uuid.UUID) -> list[OwnLevels]:
    """For the output review: the current own levels of the authorisations a query ran under,
    on the tables it read (the ``sandbox.column_override_*`` audit events date each change)."""
    query = get_query(actor, db, query_id)
    out = []
    for ref in query.authorization_ids:
        auth = db.get(Authorization, uuid.UUID(str(ref)))
        if auth is None:
            continue
        for t in tables_of(db, auth.id):
            if t.table_name not in query.tables:
                continue
            levels = _table_levels(db, auth.id, t)
            levels.columns = [c for c in levels.columns if c.override is not None]
            if levels.columns:
                out.append(OwnLevels(auth.number, auth.id, levels))
    return out


def set_column_levels(actor: Actor, db: Session, /, auth_id: uuid.UUID, *, table: str,
                      levels: Mapping[str, str | None]) -> TableLevels:
    """The bureau sets (a level) or clears (``None``, or the dataset default) the levels of
    columns of one authorised table for this authorisation only (Art. 14: the data bureau
    sets the rules of authorised operation). Each change is audited; bad input writes
    nothing. The authorisation's row is locked, so concurrent changes apply one after the
    other; a revoked or expired authorisation can no longer be changed."""
    auth = _auth(db, auth_id, lock=True)
    if not may_see(actor, auth):
        raise NotFound("No such authorisation.", code="sandbox_authorization_not_found")
    require(actor, SANDBOX_AUTHORISE, auth.bureau_path)
    status = effective_status(auth)
    if status in (AuthorizationStatus.REVOKED, AuthorizationStatus.EXPIRED):
        raise InvalidState(f"The authorisation is {status}.", code="sandbox_authorization_ended")
    found = next((t for t in tables_of(db, auth.id) if t.table_name == table), None)
    if found is None:
        raise ValidationFailed.single("table", "unknown_table",
                                      f"The authorisation has no table {table!r}.")
    defaults_ = {p.column: p.level for p in ensure_policy(db, found.entry_id)}
    errors = Collector()
    for column, level in levels.items():
        if column not in defaults_:
            errors.add("column", "unknown_column", f"No column {column!r}.")
        if level is not None:
            try:
                ReleaseLevel(level)
            except ValueError:
                errors.add("level", "invalid", "An unknown release level.")
    errors.raise_if_any()
    current = {o.column: o for o in db.scalars(sa.select(ColumnOverride).where(
        ColumnOverride.authorization_id == auth.id, ColumnOverride.entry_id == found.entry_id))}
    for column, level in levels.items():
        default = defaults_[column]
        target = None if level is None or level == default else level
        row = current.get(column)
        before = row.level if row is not None else None
        if target == before:
            continue
        if target is None:
            assert row is not None
            db.delete(row)
        elif row is None:
            row = ColumnOverride(authorization_id=auth.id, entry_id=found.entry_id,
                                 column=column, level=target, set_by=actor.username)
            try:
                with db.begin_nested():
                    db.add(row)
                    db.flush()
            except IntegrityError:  # only without the lock (it is held): another set it first
                raise Conflict("Another change of this column's level came first; try again.",
                               code="sandbox_override_conflict") from None
        else:
            row.level = target
            row.set_by = actor.username
            row.updated_at = utcnow()
        audit.record(db, actor, "sandbox.column_override_set" if target else
                     "sandbox.column_override_cleared", target_type=TARGET, target_id=auth.id,
                     org_id=auth.bureau_org_id, org_path=auth.bureau_path,
                     details={"number": auth.number, "table": table, "column": column,
                              "entry_id": str(found.entry_id), "default": default,
                              "before": before, "after": target})
    db.flush()
    return _table_levels(db, auth.id, found)


def set_column_override(actor: Actor, db: Session, /, auth_id: uuid.UUID, *, table: str,
                        column: str, level: str) -> TableLevels:
    """One column's level for this authorisation (its dataset default clears it)."""
    return set_column_levels(actor, db, auth_id, table=table, levels={column: level})


def clear_column_override(actor: Actor, db: Session, /, auth_id: uuid.UUID, *, table: str,
                          column: str) -> TableLevels:
    """Back to the dataset default (nothing to clear: nothing changes, nothing audited)."""
    return set_column_levels(actor, db, auth_id, table=table, levels={column: None})


# ============================================================================ the workspace


def _operator_org(actor: Actor) -> tuple[uuid.UUID, str] | None:
    for g in actor.scopes(SANDBOX_QUERY):
        return g.org_id, g.org_path
    return None


def _active_tables(actor: Actor, db: Session) -> list[tuple[Authorization, AuthorizedTable]]:
    """(authorisation, table) of every authorisation in force for the actor's operator."""
    if actor.is_system or not actor.can(SANDBOX_QUERY):
        return []
    clauses = _covering(actor, Authorization.operator_path, SANDBOX_QUERY)
    day = today()
    rows = db.execute(sa.select(Authorization, AuthorizedTable).join(
        AuthorizedTable, AuthorizedTable.authorization_id == Authorization.id).where(
        sa.or_(*clauses), Authorization.status == AuthorizationStatus.ACTIVE.value,
        Authorization.starts_on <= day, Authorization.ends_on >= day).order_by(
        Authorization.created_at, AuthorizedTable.table_name)).all()
    return [(a, t) for a, t in rows]


@dataclass
class WorkspaceTable:
    authorization: Authorization
    table: AuthorizedTable
    entry_name: str
    columns: list[dict[str, Any]]  # {code, name, data_type, level, lo, hi, contributor}
    epsilon_total: float
    epsilon_spent: float


def workspace(actor: Actor, db: Session, /) -> list[WorkspaceTable]:
    """The tables an operator may query now, with their schemas, levels and budget left."""
    require(actor, SANDBOX_QUERY)
    out = []
    seen: set[str] = set()
    period = period_of()
    owner = _operator_org(actor)
    for auth, table in _active_tables(actor, db):
        if table.table_name in seen:
            continue
        seen.add(table.table_name)
        entry = catalog.get_entry(LOOKUP, db, table.entry_id)
        version = entry.published_version or entry.current_version
        names = {i.code: i for i in catalog.entry_items(db, table.entry_id)}
        cols = []
        rows = column_policy(db, table.entry_id) or ensure_policy(db, table.entry_id)
        # this authorisation's own levels win over the dataset's (never another's)
        levels = policy.effective_levels({p.column: p.level for p in rows},
                                         overrides_of(db, auth.id, table.entry_id))
        for p in rows:
            item = names.get(p.column)
            cols.append({"code": p.column, "name": item.name if item else p.column,
                         "data_type": item.data_type if item else "",
                         "level": levels[p.column].value, "default_level": p.level,
                         "lo": p.lo, "hi": p.hi, "contributor": p.contributor})
        spent = 0.0
        if owner is not None:
            budget = db.scalars(sa.select(Budget).where(
                Budget.operator_org_id == auth.operator_org_id,
                Budget.entry_id == table.entry_id, Budget.period == period)).first()
            spent = budget.spent if budget is not None else 0.0
        out.append(WorkspaceTable(auth, table, version.name if version else entry.resource_code,
                                  cols, table.epsilon_per_month, spent))
    return out


# ============================================================================ privacy budget


def _budget(db: Session, operator_org_id: uuid.UUID, entry_id: uuid.UUID, period: str,
            total: float) -> Budget:
    stmt = sa.select(Budget).where(Budget.operator_org_id == operator_org_id,
                                   Budget.entry_id == entry_id, Budget.period == period)
    found = db.scalars(stmt).first()
    if found is not None:
        return found
    try:
        with db.begin_nested():
            row = Budget(operator_org_id=operator_org_id, entry_id=entry_id, period=period,
                         total=total, spent=0.0)
            db.add(row)
            db.flush()
            return row
    except IntegrityError:  # another query made it first
        found = db.scalars(stmt).first()
        assert found is not None
        return found


def spend(db: Session, /, *, operator_org_id: uuid.UUID, entry_id: uuid.UUID, epsilon: float,
          total: float, period: str | None = None) -> bool:
    """Spend ε from the month's budget, atomically: one conditional UPDATE that can never
    take ``spent`` past ``total`` (and a CHECK constraint behind it). False: not enough left."""
    row = _budget(db, operator_org_id, entry_id, period or period_of(), total)
    # the total follows the authorisation's current figure (the bureau may change it)
    result = db.execute(sa.update(Budget).where(
        Budget.id == row.id, Budget.spent + epsilon <= total).values(
        spent=Budget.spent + epsilon, total=total).execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    db.expire(row)
    return True


@dataclass
class BudgetLine:
    table_name: str
    entry_id: uuid.UUID
    period: str
    total: float
    spent: float

    @property
    def left(self) -> float:
        return max(0.0, self.total - self.spent)


def budgets(actor: Actor, db: Session, /) -> list[BudgetLine]:
    """The operator's ε budget this month for each authorised table."""
    return [BudgetLine(w.table.table_name, w.table.entry_id, period_of(), w.epsilon_total,
                       w.epsilon_spent) for w in workspace(actor, db)]


# ============================================================================ queries


def message_of(code: str | None, params: Mapping[str, Any], locale: str,
               default: str = "") -> str:
    """A refusal's message in the reader's language (``sandbox.reason.<CODE>``)."""
    if not code:
        return default
    return Translator(locale)(f"sandbox.reason.{code}", default=default or code, **params)


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _limits(settings: Any) -> Any:
    from gongshu.sandbox import runner

    return runner.Limits.from_settings(settings)


#: the most rows one contributor has, per dataset version (its files) and contributor column.
#: Versions never change, so a measure holds for the life of the process.
_ROWS_PER_CONTRIBUTOR: dict[tuple[str, tuple[str, ...]], int] = {}


def _keyed(policies: dict[str, policy.TablePolicy], opened: Mapping[str, Any], *,
           settings: Any) -> bool:
    """Declare ``rows_per_contributor = 1`` on the tables whose contributor column is a key
    (measured once per version): a one-table query then counts its groups' rows instead of
    their distinct contributors — the same figure, without the cost of COUNT(DISTINCT) (the
    sandbox benchmark: ~5× raw DuckDB with it, ~1× without). Other tables keep COUNT(DISTINCT).
    True when a policy changed."""
    from gongshu.sandbox import runner

    changed = False
    for name, (_, source) in opened.items():
        table = policies.get(name)
        if table is None or table.contributor is None or table.rows_per_contributor is not None:
            continue
        key = (table.contributor, tuple(str(f) for f in source.files))
        if key not in _ROWS_PER_CONTRIBUTOR:
            _ROWS_PER_CONTRIBUTOR[key] = runner.rows_per_contributor(
                source, table.contributor, _limits(settings))
        if _ROWS_PER_CONTRIBUTOR[key] == 1:
            policies[name] = dataclasses.replace(table, rows_per_contributor=1)
            changed = True
    return changed


def _run(checked: policy.Checked, tables: Mapping[str, Any], *, settings: Any,
         dp: bool, epsilon: float | None) -> Any:
    """Run an accepted query with the configured engine (``sandbox_engine``)."""
    from gongshu.sandbox import runner

    limits = _limits(settings)
    if dp:
        return runner.run_dp(checked, {n: ds for n, (_, ds) in tables.items()},
                             epsilon=float(epsilon or 0), delta=1e-6, limits=limits)
    if getattr(settings, "sandbox_engine", "duckdb") == "spark":
        from gongshu.sandbox import spark

        return spark.run_spark(checked, {n: list(ds.files) for n, (_, ds) in tables.items()},
                               limits=limits,
                               memory=getattr(settings, "sandbox_spark_memory", "1g"))
    return runner.run(checked, {n: ds for n, (_, ds) in tables.items()}, limits=limits)


def _record(db: Session, actor: Actor, query: Query) -> Query:
    db.add(query)
    db.flush()
    details = {"status": query.status, "code": query.code, "tables": query.tables,
               "dp": query.dp, "epsilon": query.epsilon, "export": query.export,
               "rows": len(query.rows), "suppressed_groups": query.suppressed_groups,
               "sql": query.sql[:2000]}
    audit.record(db, actor, "sandbox.query", target_type=QUERY_TARGET, target_id=query.id,
                 org_id=query.operator_org_id, org_path=query.operator_path or None,
                 details=details)
    return query


def run_query(actor: Actor, db: Session, /, *, sql: str, dp: bool = False,
              epsilon: float | None = None, export: bool = False) -> Query:
    """Check, run and record an operator's query (Art. 14). Always returns the recorded query:
    ``status`` ``rejected`` with a stable ``code`` when the policy, the budget or the limits
    refuse it; ``pending_review`` when it must be reviewed before release; else ``ok``."""
    require(actor, SANDBOX_QUERY)
    if not sql.strip():
        raise ValidationFailed.single("sql", "required", "Write a query.")
    if len(sql) > 20_000:
        raise ValidationFailed.single("sql", "too_long", "At most 20000 characters.")
    if dp and (epsilon is None or not math.isfinite(epsilon) or not 0 < epsilon <= 10):
        raise ValidationFailed.single("epsilon", "out_of_range",
                                      "In DP mode ε is a number above 0 and at most 10.")
    owner = _operator_org(actor)
    if owner is None:
        raise PermissionDenied("Only an operator's staff query the sandbox.",
                               permission=str(SANDBOX_QUERY))
    query = Query(operator_org_id=owner[0], operator_path=owner[1], user_id=actor.user_id,
                  username=actor.username, sql=sql, normalised=similar.normalise(sql), dp=dp,
                  epsilon=None, export=export, status=QueryStatus.REJECTED.value)
    active = _active_tables(actor, db)
    if not active:
        query.code = policy.Reason.NOT_AUTHORISED.value
        query.message = "No active authorisation covers your organisation."
        query.message_params = {"fragment": ""}
        return _record(db, actor, query)
    by_name: dict[str, tuple[Authorization, AuthorizedTable]] = {}
    for auth, table in active:
        by_name.setdefault(table.table_name, (auth, table))
    # each table under the levels of the authorisation that covers it (its own overrides)
    own = {name: overrides_of(db, a.id, t.entry_id) for name, (a, t) in by_name.items()}
    policies = {name: table_policy(db, name, t.entry_id, own[name])
                for name, (_, t) in by_name.items()}
    k = max(a.k for a, _ in by_name.values())
    try:
        checked = policy.check(sql, policies, k=k, dp=dp)
    except policy.Rejected as exc:
        query.code = exc.code.value
        query.message = exc.message
        query.message_params = {k_: _json_value(v) for k_, v in exc.params.items()}
        return _record(db, actor, query)
    used = [by_name[name] for name in checked.tables if name in by_name]
    query.tables = list(checked.tables)
    query.authorization_ids = sorted({str(a.id) for a, _ in used})
    query.bureau_path = used[0][0].bureau_path if used else ""
    settings = runtime_of(db).settings
    spark = not dp and getattr(settings, "sandbox_engine", "duckdb") == "spark"
    opened: dict[str, tuple[list[dict[str, Any]], Any]] = {}
    for auth, table in used:
        reader = actor.with_capabilities(Capability(READ, "catalog_entry", table.entry_id,
                                                    via=f"{TARGET}:{auth.id}"))
        # Spark opens files itself: local ones (from an object store, this machine's copy)
        opened[table.table_name] = library.open_dataset(reader, db, entry_id=table.entry_id,
                                                        local=spark)
    try:
        if _keyed(policies, opened, settings=settings):
            checked = policy.check(sql, policies, k=k, dp=dp)
        result = _run(checked, opened, settings=settings, dp=dp, epsilon=epsilon)
    except policy.Rejected as exc:
        query.code = exc.code.value
        query.message = exc.message
        query.message_params = {k_: _json_value(v) for k_, v in exc.params.items()}
        return _record(db, actor, query)
    if dp:
        auth, table = by_name[checked.dp.table] if checked.dp is not None else used[0]
        if not spend(db, operator_org_id=owner[0], entry_id=table.entry_id,
                     epsilon=float(epsilon or 0), total=table.epsilon_per_month):
            query.code = policy.Reason.BUDGET_EXHAUSTED.value
            query.message = "The privacy budget of this dataset for this month is spent."
            query.message_params = {"fragment": table.table_name, "table": table.table_name}
            return _record(db, actor, query)
        query.epsilon = float(epsilon or 0)
    query.columns = list(result.columns)
    query.rows = [[_json_value(v) for v in row] for row in result.rows]
    query.suppressed_groups = int(result.suppressed_groups)
    query.truncated = bool(result.truncated)
    query.seconds = float(result.seconds)
    # Art. 14: what leaves as a product (or everything, under review_all) is reviewed first
    review = export or any(a.review_all for a, _ in used)
    query.status = (QueryStatus.PENDING_REVIEW if review else QueryStatus.OK).value
    return _record(db, actor, query)


def _query(db: Session, query_id: uuid.UUID, *, lock: bool = False) -> Query:
    return fetch(db, Query, query_id, lock=lock,
                 missing=NotFound("No such query.", code="sandbox_query_not_found"))


def is_own(actor: Actor, query: Query) -> bool:
    return not actor.is_system and bool(query.operator_path) and actor.can(
        SANDBOX_QUERY, query.operator_path)


def may_see_query(actor: Actor, query: Query) -> bool:
    return actor.is_system or is_own(actor, query) or may_review(actor, query.bureau_path)


def rows_visible(actor: Actor, query: Query) -> bool:
    """An operator sees rows of its accepted results, except under a ``review_all``
    authorisation before release; the reviewing bureau sees them all."""
    if query.status == QueryStatus.REJECTED or query.status == QueryStatus.REFUSED:
        return may_review(actor, query.bureau_path) or actor.is_system
    if query.status == QueryStatus.PENDING_REVIEW and not query.export:
        return may_review(actor, query.bureau_path) or actor.is_system
    return True


def get_query(actor: Actor, db: Session, /, query_id: uuid.UUID) -> Query:
    query = _query(db, query_id)
    if not may_see_query(actor, query):
        raise NotFound("No such query.", code="sandbox_query_not_found")
    return query


def list_queries(actor: Actor, db: Session, /, *, status: str | None = None,
                 limit: int = 50, offset: int = 0) -> tuple[list[Query], int]:
    """The operator's history (its organisation's queries), newest first."""
    require(actor, SANDBOX_QUERY)
    clauses = _covering(actor, Query.operator_path, SANDBOX_QUERY)
    stmt = sa.select(Query).where(sa.or_(*clauses))
    if status:
        stmt = stmt.where(Query.status == status)
    total = db.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    rows = db.scalars(stmt.order_by(Query.created_at.desc(), Query.id.desc())
                      .limit(limit).offset(offset))
    return list(rows), total


def review_queue(actor: Actor, db: Session, /, *, status: str = QueryStatus.PENDING_REVIEW.value,
                 limit: int = 50, offset: int = 0) -> tuple[list[Query], int]:
    """Results waiting for (or done with) the bureau's output review, oldest first."""
    require(actor, SANDBOX_REVIEW)
    clauses = _covering(actor, Query.bureau_path, SANDBOX_REVIEW)
    stmt = sa.select(Query).where(sa.or_(*clauses), Query.status == status)
    total = db.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    order = Query.created_at if status == QueryStatus.PENDING_REVIEW else Query.reviewed_at.desc()
    rows = db.scalars(stmt.order_by(order, Query.id).limit(limit).offset(offset))
    return list(rows), total


def similar_queries(actor: Actor, db: Session, /, query_id: uuid.UUID, *,
                    limit: int = 5) -> list[tuple[float, Query]]:
    """The operator's earlier queries most like this one (differencing shows up here)."""
    query = get_query(actor, db, query_id)
    earlier = db.scalars(sa.select(Query).where(
        Query.operator_org_id == query.operator_org_id, Query.id != query.id,
        Query.created_at <= query.created_at).order_by(Query.created_at.desc()).limit(500))
    return similar.rank(query.normalised, ((q.normalised, q) for q in earlier), limit=limit)


def mark_export(actor: Actor, db: Session, /, query_id: uuid.UUID) -> Query:
    """The operator asks for an accepted result to leave the platform: it waits for review."""
    query = _query(db, query_id, lock=True)
    if not is_own(actor, query):
        raise NotFound("No such query.", code="sandbox_query_not_found")
    if query.status != QueryStatus.OK:
        raise InvalidState("Only an accepted result can be marked for export.",
                           code="sandbox_query_wrong_state")
    query.export = True
    query.status = QueryStatus.PENDING_REVIEW.value
    audit.record(db, actor, "sandbox.export_request", target_type=QUERY_TARGET,
                 target_id=query.id, org_id=query.operator_org_id, org_path=query.operator_path,
                 details={"tables": query.tables, "rows": len(query.rows)})
    return query


def decide(actor: Actor, db: Session, /, query_id: uuid.UUID, *, release: bool,
           reason: str = "") -> Query:
    """The bureau releases or refuses a result waiting for review (one decision per result)."""
    query = _query(db, query_id, lock=True)
    if not may_see_query(actor, query):
        raise NotFound("No such query.", code="sandbox_query_not_found")
    require(actor, SANDBOX_REVIEW, query.bureau_path or None)
    if not may_review(actor, query.bureau_path):
        raise NotFound("No such query.", code="sandbox_query_not_found")
    if query.status != QueryStatus.PENDING_REVIEW:
        raise InvalidState("The result is not waiting for review.",
                           code="sandbox_query_already_decided")
    if not release and not reason.strip():
        raise ValidationFailed.single("reason", "required", "Say why the result is refused.")
    query.status = (QueryStatus.RELEASED if release else QueryStatus.REFUSED).value
    query.reviewed_by = actor.username
    query.reviewed_at = utcnow()
    query.review_reason = reason.strip()
    audit.record(db, actor, "sandbox.release" if release else "sandbox.refuse",
                 target_type=QUERY_TARGET, target_id=query.id, org_id=query.operator_org_id,
                 org_path=query.operator_path,
                 details={"reason": query.review_reason, "tables": query.tables,
                          "rows": len(query.rows)})
    return query


def download(actor: Actor, db: Session, /, query_id: uuid.UUID, *,
             fmt: str = "csv") -> tuple[str, bytes, str]:
    """A released result as CSV or XLSX (``core.exports``): (file name, bytes, media type)."""
    from gongshu.core import exports

    query = get_query(actor, db, query_id)
    if not (is_own(actor, query) or actor.is_system):
        raise NotFound("No such query.", code="sandbox_query_not_found")
    if query.status != QueryStatus.RELEASED:
        raise InvalidState("Only a released result can be downloaded.",
                           code="sandbox_query_not_released")
    stem = f"sandbox-{query.created_at.astimezone(SHANGHAI):%Y%m%d-%H%M%S}-{str(query.id)[:8]}"
    if fmt == "csv":
        data = exports.write_csv(query.columns, query.rows)
        name, media = f"{stem}.csv", "text/csv; charset=utf-8"
    elif fmt == "xlsx":
        import io

        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("result")
        exports.xlsx_append(ws, query.columns)
        for row in query.rows:
            exports.xlsx_append(ws, row)
        out = io.BytesIO()
        wb.save(out)
        data = out.getvalue()
        name = f"{stem}.xlsx"
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        raise ValidationFailed.single("format", "invalid", "csv or xlsx.")
    audit.record(db, actor, "sandbox.download", target_type=QUERY_TARGET, target_id=query.id,
                 org_id=query.operator_org_id, org_path=query.operator_path,
                 details={"format": fmt, "rows": len(query.rows)})
    return name, data, media


# ============================================================================ dashboard


@dataclass
class Counts:
    authorizations: int = 0
    queries_this_month: int = 0
    awaiting_review: int = 0
    to_review: int = 0
    expiring: int = 0


def counts(actor: Actor, db: Session, /) -> Counts:
    out = Counts()
    if actor.can(SANDBOX_QUERY) and not actor.is_system:
        out.authorizations = len({a.id for a, _ in _active_tables(actor, db)})
        mine = sa.or_(*_covering(actor, Query.operator_path, SANDBOX_QUERY))
        start = utcnow().astimezone(SHANGHAI).replace(day=1, hour=0, minute=0, second=0,
                                                      microsecond=0)
        out.queries_this_month = db.scalar(sa.select(sa.func.count()).select_from(Query).where(
            mine, Query.created_at >= start)) or 0
        out.awaiting_review = db.scalar(sa.select(sa.func.count()).select_from(Query).where(
            mine, Query.status == QueryStatus.PENDING_REVIEW.value)) or 0
    if actor.can(SANDBOX_REVIEW):
        _, out.to_review = review_queue(actor, db, limit=1)
    if actor.can(SANDBOX_AUTHORISE) or actor.can(SANDBOX_REVIEW):
        day = today()
        clause = sa.or_(*_covering(actor, Authorization.bureau_path, SANDBOX_AUTHORISE,
                                   SANDBOX_REVIEW))
        out.expiring = db.scalar(sa.select(sa.func.count()).select_from(Authorization).where(
            clause, Authorization.status == AuthorizationStatus.ACTIVE.value,
            Authorization.ends_on >= day,
            Authorization.ends_on <= day + dt.timedelta(days=30))) or 0
    return out


def entry_label(db: Session, /, entry_id: uuid.UUID) -> str:
    entry = catalog.get_entry(LOOKUP, db, entry_id)
    version = entry.published_version or entry.current_version
    return version.name if version is not None else entry.resource_code


def org_name(db: Session, /, org_id: uuid.UUID | None) -> str:
    org = orgs.org_by_id(db, org_id) if org_id is not None else None
    return org.name if org is not None else ""


def as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
