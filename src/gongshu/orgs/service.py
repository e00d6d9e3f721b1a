"""Organisations, users, role grants, logins and tokens (Arts. 4-7).

The only door to this module's tables. Every function that changes state takes the acting
``Actor`` first, checks its permission, and records an audit event in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gongshu.core import audit
from gongshu.core.db import as_uuids, new_id, runtime_of, utcnow
from gongshu.core.errors import (
    Collector,
    Conflict,
    InvalidState,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    Unauthenticated,
    ValidationFailed,
)
from gongshu.core.identifiers import is_valid_uscc
from gongshu.core.permissions import Actor, Perm, Role, RoleAssignment, all_permissions, require
from gongshu.core.security import (
    DUMMY_PASSWORD_HASH,
    constant_time_equal,
    hash_password,
    new_token,
    password_needs_rehash,
    split_token,
    token_hash,
    verify_password,
)
from gongshu.orgs import passwords
from gongshu.orgs.models import (
    GOVERNMENTAL_KINDS,
    ApiToken,
    LoginThrottle,
    Organization,
    OrgKind,
    RoleGrant,
    User,
    WebSession,
)
from gongshu.orgs.regions import Level, region_by_code

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# ------------------------------------------------------------------------------- organisations


def _path(parent: Organization | None, org_id: uuid.UUID) -> str:
    return (parent.path if parent else "/") + org_id.hex + "/"


def get_organization(actor: Actor, db: Session, /, org_id: uuid.UUID) -> Organization:
    require(actor, Perm.ORG_READ)
    org = db.get(Organization, org_id)
    if org is None:
        raise NotFound("No such organisation.", code="org_not_found")
    return org


def org_by_id(db: Session, /, org_id: uuid.UUID) -> Organization | None:
    """An organisation by id, for other rooms' own checks (organisations are public facts)."""
    return db.get(Organization, org_id)


def active_public_bodies(db: Session, /, *, under_path: str) -> list[Organization]:
    """The active public bodies at or below ``under_path``, in tree order (Art. 9 census)."""
    return list(db.scalars(select(Organization).where(
        Organization.kind == OrgKind.PUBLIC_BODY, Organization.is_active.is_(True),
        Organization.path.startswith(under_path, autoescape=True)).order_by(Organization.path)))


def counts(db: Session, /) -> dict[str, int]:
    """How many organisations and users there are (the home page's figures)."""
    return {"orgs": db.scalar(select(func.count()).select_from(Organization)) or 0,
            "users": db.scalar(select(func.count()).select_from(User)) or 0}


def user_by_id(db: Session, /, user_id: uuid.UUID) -> User | None:
    return db.get(User, user_id)


def find_organization(db: Session, /, *, name: str | None = None, uscc: str | None = None,
                      code: str | None = None) -> Organization | None:
    """Look an organisation up by exact name, credit code or provider code (no permission: ids only)."""
    stmt = select(Organization)
    if name is not None:
        stmt = stmt.where(Organization.name == name)
    if uscc is not None:
        stmt = stmt.where(Organization.uscc == uscc.upper())
    if code is not None:
        stmt = stmt.where(Organization.code == code)
    return db.scalars(stmt.limit(1)).first()


def list_organizations(
    actor: Actor,
    db: Session,
    /,
    *,
    kind: str | None = None,
    parent_id: uuid.UUID | None = None,
    under: uuid.UUID | None = None,
    q: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> tuple[list[Organization], int]:
    """Organisations in tree order (by path), filtered; the directory is visible to all members."""
    require(actor, Perm.ORG_READ)
    conds = []
    if kind:
        conds.append(Organization.kind == kind)
    if parent_id:
        conds.append(Organization.parent_id == parent_id)
    if under:
        root = db.get(Organization, under)
        if root is None:
            raise NotFound("No such organisation.", code="org_not_found")
        conds.append(Organization.path.startswith(root.path))
    if q:
        like = f"%{q.strip()}%"
        conds.append(
            or_(Organization.name.like(like), Organization.short_name.like(like),
                Organization.uscc == q.strip().upper())
        )
    total = db.scalar(select(func.count()).select_from(Organization).where(*conds)) or 0
    rows = db.scalars(
        select(Organization).where(*conds).order_by(Organization.depth, Organization.region_code,
                                                    Organization.kind, Organization.name)
        .limit(limit).offset(offset)
    ).all()
    return list(rows), total


@dataclass
class OrgNode:
    org: Organization
    children: list[OrgNode] = field(default_factory=list)


def org_tree(actor: Actor, db: Session, /, *, root_id: uuid.UUID | None = None) -> list[OrgNode]:
    """The organisation tree (or one subtree) as nested nodes, children sorted by kind and name."""
    orgs, _ = list_organizations(actor, db, under=root_id, limit=100_000)
    nodes = {o.id: OrgNode(o) for o in orgs}
    roots: list[OrgNode] = []
    for node in nodes.values():
        parent = nodes.get(node.org.parent_id) if node.org.parent_id else None
        (parent.children if parent else roots).append(node)
    order = {k: i for i, k in enumerate(OrgKind)}

    def sort(ns: list[OrgNode]) -> None:
        ns.sort(key=lambda n: (order.get(OrgKind(n.org.kind), 99), n.org.region_code or "",
                               n.org.name))
        for n in ns:
            sort(n.children)

    sort(roots)
    return roots


def ancestors(db: Session, /, org: Organization) -> list[Organization]:
    """From the root down to ``org``'s parent."""
    ids = [uuid.UUID(hex=h) for h in org.path.strip("/").split("/")[:-1]]
    if not ids:
        return []
    found = {o.id: o for o in db.scalars(select(Organization).where(Organization.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def government_of(db: Session, /, org: Organization) -> Organization | None:
    """The people's government whose area ``org`` belongs to (``org`` itself if it is one)."""
    if org.kind == OrgKind.GOVERNMENT:
        return org
    for anc in reversed(ancestors(db, org)):
        if anc.kind == OrgKind.GOVERNMENT:
            return anc
    return None


def same_level_bureau(db: Session, /, org: Organization) -> Organization | None:
    """The data bureau of the same level as ``org`` (Art. 9: a body submits to it for review)."""
    gov = government_of(db, org)
    if gov is None:
        return None
    return db.scalars(
        select(Organization).where(
            Organization.parent_id == gov.id, Organization.kind == OrgKind.DATA_BUREAU,
            Organization.is_active.is_(True),
        ).limit(1)
    ).first()


def province_root(db: Session, /) -> Organization | None:
    """The root of the organisation tree: the province's people's government (Arts. 4-5)."""
    return db.scalars(select(Organization).where(Organization.parent_id.is_(None))
                      .order_by((Organization.kind != OrgKind.GOVERNMENT), Organization.created_at)
                      .limit(1)).first()


def holds_province_wide(actor: Actor, db: Session, /, perm: Perm | str) -> bool:
    """True if ``actor`` holds ``perm`` for the whole province: through an assignment covering
    the root's subtree, or at the province's own data bureau, which leads data work across the
    province (Arts. 4-5). Province-level objects (the active grading scheme, data elements
    without a narrower owner) are changed only so; a city bureau's reviewer holds ``perm`` for
    its city only."""
    if actor.is_system:
        return True
    root = province_root(db)
    if root is None:
        return False
    bureau = same_level_bureau(db, root)
    return any((g.subtree and root.path.startswith(g.org_path))
               or (bureau is not None and g.org_id == bureau.id) for g in actor.scopes(perm))


def require_province_wide(actor: Actor, db: Session, /, perm: Perm | str) -> None:
    if not holds_province_wide(actor, db, perm):
        raise PermissionDenied(
            f"Only a holder of {perm} for the whole province (at the province with its subtree, "
            "or at the provincial data bureau) may change this.", code="province_wide_only",
            permission=str(perm))


def _check_org_fields(
    errors: Collector,
    *,
    name: str | None,
    kind: str | None,
    level: str | None,
    region_code: str | None,
    uscc: str | None,
    province_code: str,
) -> None:
    if name is not None and not (1 <= len(name.strip()) <= 200):
        errors.add("name", "required", "Name is required (at most 200 characters).")
    if kind is not None and kind not in {k.value for k in OrgKind}:
        errors.add("kind", "invalid_choice", f"Unknown organisation kind {kind!r}.")
    if level is not None and level not in {lv.value for lv in Level}:
        errors.add("level", "invalid_choice", f"Unknown level {level!r}.")
    if kind in GOVERNMENTAL_KINDS and level is None:
        errors.add("level", "required", "Governmental organisations have a level (province, city, county).")
    if region_code is not None and region_by_code(region_code, province_code) is None:
        errors.add("region_code", "unknown_region", f"{region_code} is not a current division of this province.")
    if uscc is not None and uscc != "" and not is_valid_uscc(uscc):
        errors.add("uscc", "invalid_uscc",
                   "Not a valid unified social credit code (GB 32100 check character).")


def create_organization(
    actor: Actor,
    db: Session,
    /,
    *,
    name: str,
    kind: str,
    parent_id: uuid.UUID | None = None,
    level: str | None = None,
    region_code: str | None = None,
    uscc: str | None = None,
    code: str | None = None,
    short_name: str = "",
    description: str = "",
) -> Organization:
    parent = None
    if parent_id is not None:
        parent = db.get(Organization, parent_id)
        if parent is None:
            raise NotFound("No such parent organisation.", code="org_not_found")
        require(actor, Perm.ORG_MANAGE, parent.path)
    elif not actor.is_system:
        raise PermissionDenied("Only the platform operator can create a root organisation.")
    if parent is not None:
        level = level or (parent.level if kind != OrgKind.GOVERNMENT else None)
        region_code = region_code or parent.region_code
    errors = Collector()
    _check_org_fields(errors, name=name, kind=kind, level=level, region_code=region_code,
                      uscc=uscc, province_code=runtime_of(db).settings.province_code)
    errors.raise_if_any()
    uscc = uscc.strip().upper() if uscc else None
    name = name.strip()
    _ensure_unique(db, parent_id=parent_id, name=name, uscc=uscc, code=code or uscc)
    org_id = new_id()
    org = Organization(
        id=org_id, name=name, short_name=short_name.strip(), kind=kind, level=level,
        region_code=region_code, parent_id=parent_id, path=_path(parent, org_id),
        depth=(parent.depth + 1) if parent else 0, uscc=uscc, code=code or uscc,
        description=description,
    )
    db.add(org)
    db.flush()
    audit.record(db, actor, "org.create", target_type="organization", target_id=org.id,
                 org_id=org.id, org_path=org.path,
                 details={"name": name, "kind": kind, "level": level, "region_code": region_code,
                          "uscc": uscc})
    return org


def _ensure_unique(db: Session, *, parent_id: uuid.UUID | None, name: str | None,
                   uscc: str | None, code: str | None, exclude: uuid.UUID | None = None) -> None:
    errors = Collector()

    def taken(*conds: object) -> bool:
        stmt = select(Organization.id).where(*conds)  # type: ignore[arg-type]
        if exclude is not None:
            stmt = stmt.where(Organization.id != exclude)
        return db.scalar(stmt.limit(1)) is not None

    if name is not None and taken(Organization.parent_id == parent_id, Organization.name == name):
        errors.add("name", "duplicate", "An organisation with this name already exists here.")
    if uscc and taken(Organization.uscc == uscc):
        errors.add("uscc", "duplicate", "Another organisation has this credit code.")
    if code and code != uscc and taken(Organization.code == code):
        errors.add("code", "duplicate", "Another organisation has this provider code.")
    errors.raise_if_any("The organisation clashes with an existing one.")


def update_organization(
    actor: Actor,
    db: Session,
    /,
    org_id: uuid.UUID,
    *,
    name: str | None = None,
    short_name: str | None = None,
    uscc: str | None = None,
    code: str | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> Organization:
    org = get_organization(actor, db, org_id)
    require(actor, Perm.ORG_MANAGE, org.path)
    errors = Collector()
    _check_org_fields(errors, name=name, kind=None, level=None, region_code=None, uscc=uscc,
                      province_code=runtime_of(db).settings.province_code)
    errors.raise_if_any()
    new_uscc = uscc.strip().upper() if uscc else None
    _ensure_unique(db, parent_id=org.parent_id, name=name.strip() if name else None,
                   uscc=new_uscc, code=code, exclude=org.id)
    changes: dict[str, object] = {}
    for attr, value in (("name", name.strip() if name else None), ("short_name", short_name),
                        ("uscc", new_uscc), ("code", code), ("description", description),
                        ("is_active", is_active)):
        if value is not None and getattr(org, attr) != value:
            changes[attr] = [getattr(org, attr), value]
            setattr(org, attr, value)
    if changes:
        audit.record(db, actor, "org.update", target_type="organization", target_id=org.id,
                     org_id=org.id, org_path=org.path, details=changes)
    return org


# ------------------------------------------------------------------------------------- users


def _check_password(errors: Collector, password: str, username: str, settings: Any) -> None:
    """The password policy (``orgs.passwords``; each rule a setting)."""
    for code, message, params in passwords.problems(password, username=username,
                                                    policy=passwords.Policy.from_settings(settings)):
        errors.add("password", code, message, **params)


def create_user(
    actor: Actor,
    db: Session,
    /,
    *,
    username: str,
    display_name: str,
    org_id: uuid.UUID,
    password: str,
    email: str | None = None,
) -> User:
    org = db.get(Organization, org_id)
    if org is None:
        raise NotFound("No such organisation.", code="org_not_found")
    require(actor, Perm.USER_MANAGE, org.path)
    username = username.strip().lower()
    errors = Collector()
    if not USERNAME.match(username):
        errors.add("username", "invalid_username",
                   "Username: 2-64 lowercase letters, digits, '.', '_' or '-'.")
    if not display_name.strip():
        errors.add("display_name", "required", "Display name is required.")
    if email and not EMAIL.match(email):
        errors.add("email", "invalid_email", "Not a valid e-mail address.")
    _check_password(errors, password, username, runtime_of(db).settings)
    errors.raise_if_any()
    if db.scalar(select(User.id).where(User.username == username)) is not None:
        raise ValidationFailed.single("username", "duplicate", "This username is taken.")
    user = User(username=username, display_name=display_name.strip(), org_id=org.id,
                email=email or None, password_hash=hash_password(password))
    db.add(user)
    db.flush()
    audit.record(db, actor, "user.create", target_type="user", target_id=user.id, org_id=org.id,
                 org_path=org.path, details={"username": username, "org": org.name})
    return user


def _user(db: Session, user_id: uuid.UUID) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotFound("No such user.", code="user_not_found")
    return user


def get_user(actor: Actor, db: Session, /, user_id: uuid.UUID) -> User:
    user = _user(db, user_id)
    if user.id != actor.user_id:
        require(actor, Perm.USER_READ, user.org.path)
    return user


def find_user(db: Session, /, username: str) -> User | None:
    return db.scalars(select(User).where(User.username == username.strip().lower())).first()


def list_users(
    actor: Actor,
    db: Session,
    /,
    *,
    org_id: uuid.UUID | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[User], int]:
    """Users in the organisations where the actor may read users."""
    require(actor, Perm.USER_READ)
    conds = []
    if not actor.is_system:
        scopes = actor.scopes(Perm.USER_READ)
        conds.append(or_(*[
            Organization.path.startswith(g.org_path) if g.subtree else Organization.path == g.org_path
            for g in scopes
        ]))
    if org_id:
        conds.append(User.org_id == org_id)
    if q:
        like = f"%{q.strip()}%"
        conds.append(or_(User.username.like(like), User.display_name.like(like)))
    base = select(User).join(Organization, User.org_id == Organization.id).where(*conds)
    total = db.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = db.scalars(base.order_by(Organization.path, User.username).limit(limit).offset(offset)).all()
    return list(rows), total


def update_user(
    actor: Actor,
    db: Session,
    /,
    user_id: uuid.UUID,
    *,
    display_name: str | None = None,
    email: str | None = None,
    is_active: bool | None = None,
    locale: str | None = None,
    recovery: bool = False,
) -> User:
    """Change a user. Deactivating keeps the last administrator of an organisation (unless the
    platform operator recovers: ``gongshu user deactivate --recovery``) and, against an
    administrator, the last auditor."""
    user = _user(db, user_id)
    is_self = user.id == actor.user_id
    if not is_self or is_active is not None:
        require(actor, Perm.USER_MANAGE, user.org.path)
    if is_active is False and user.is_active:
        if _orphans_admin(db, list(user.grants)) and not (actor.is_system and recovery):
            raise Conflict("The user is the last administrator of an organisation; grant "
                           "administration to someone else first.", code="last_admin")
        if not actor.is_system and _last_auditor(db, user):
            raise Conflict("The user is the last auditor; an administrator may not deactivate "
                           "it.", code="last_auditor")
    if email and not EMAIL.match(email):
        raise ValidationFailed.single("email", "invalid_email", "Not a valid e-mail address.")
    if locale is not None and locale not in ("zh-CN", "en"):
        raise ValidationFailed.single("locale", "invalid_choice", "Locale is zh-CN or en.")
    if display_name is not None:
        display_name = display_name.strip()
        if not display_name:  # as create_user: a user always has a name people see
            raise ValidationFailed.single("display_name", "required", "Display name is required.")
    changes: dict[str, object] = {}
    for attr, value in (("display_name", display_name), ("email", email),
                        ("is_active", is_active), ("locale", locale)):
        if value is not None and getattr(user, attr) != value:
            changes[attr] = [getattr(user, attr), value]
            setattr(user, attr, value)
    if is_active is False:
        changes.update(_end_access(db, user.id))
        if recovery and actor.is_system:
            changes["recovery"] = True
    if changes:
        audit.record(db, actor, "user.update", target_type="user", target_id=user.id,
                     org_id=user.org_id, org_path=user.org.path, details=changes)
    return user


def set_password(
    actor: Actor,
    db: Session,
    /,
    user_id: uuid.UUID,
    *,
    new_password: str,
    current_password: str | None = None,
) -> None:
    """Change a password: one's own (with the current one) or, as an administrator, anyone's."""
    user = _user(db, user_id)
    if user.id == actor.user_id and not actor.is_system:
        if current_password is None or not verify_password(user.password_hash, current_password):
            raise ValidationFailed.single("current_password", "wrong_password",
                                          "The current password is wrong.")
    else:
        require(actor, Perm.USER_MANAGE, user.org.path)
        _protect_auditor(actor, user, "reset the password")
    errors = Collector()
    _check_password(errors, new_password, user.username, runtime_of(db).settings)
    errors.raise_if_any()
    user.password_hash = hash_password(new_password)
    user.failed_logins = 0
    user.locked_until = None
    ended = _end_access(db, user.id)
    audit.record(db, actor, "user.password", target_type="user", target_id=user.id,
                 org_id=user.org_id, org_path=user.org.path,
                 details={"reset": user.id != actor.user_id, **ended})


# Separation of duties (Arts. 41-44 need an auditor the administrators cannot silence):
# - no user holds administration and auditing at once;
# - no one but the user and the platform operator (the CLI) sets an auditor's password or
#   makes an API token for an auditor, and no administrator removes the last auditor;
# - no organisation loses its last administrator (revoking or deactivating), except through the
#   CLI's recovery (``gongshu user revoke … --recovery``, docs/operations.md), audited as such.
_APART = {Role.ADMIN: Role.AUDITOR, Role.AUDITOR: Role.ADMIN}


def _holds(user: User, role: Role) -> bool:
    return any(g.role == role for g in user.grants)


def _live_grants(db: Session, role: Role) -> list[RoleGrant]:
    """The grants of ``role`` held by active users, locked until the transaction ends, so that
    two removals at once cannot both leave the other as the last (PostgreSQL)."""
    return list(db.scalars(
        select(RoleGrant).join(User, RoleGrant.user_id == User.id)
        .where(RoleGrant.role == role, User.is_active.is_(True))
        .order_by(RoleGrant.id).with_for_update(of=RoleGrant)))


def _covers_all(other: tuple[str, bool], removed: tuple[str, bool]) -> bool:
    """A scope ``(org path, subtree)`` covers every organisation another one covered."""
    (path, subtree), (gone_path, gone_subtree) = other, removed
    if subtree:
        return gone_path.startswith(path)
    return not gone_subtree and path == gone_path


def _orphans_admin(db: Session, removed: Sequence[RoleGrant], *,
                   narrowed: bool = False) -> bool:
    """True when taking the admin grants of ``removed`` away (or, with ``narrowed``, taking
    their subtree away) would leave an organisation they covered without any administrator."""
    gone = [g for g in removed if g.role == Role.ADMIN]
    if not gone:
        return False
    gone_ids = {g.id for g in gone}
    others = [(g.org.path, g.subtree) for g in _live_grants(db, Role.ADMIN)
              if g.id not in gone_ids]
    for grant in gone:
        rest = others + ([(grant.org.path, False)] if narrowed else [])
        if not any(_covers_all(o, (grant.org.path, grant.subtree)) for o in rest):
            return True
    return False


def _last_auditor(db: Session, user: User) -> bool:
    """True when ``user`` is the only active user holding the auditor role."""
    return _holds(user, Role.AUDITOR) and all(
        g.user_id == user.id for g in _live_grants(db, Role.AUDITOR))


def _protect_auditor(actor: Actor, user: User, what: str) -> None:
    if user.id != actor.user_id and not actor.is_system and _holds(user, Role.AUDITOR):
        raise PermissionDenied(
            f"An administrator may not {what} of an auditor; the auditor does it, or the platform "
            "operator with the gongshu command.", code="auditor_protected")


def grant_role(
    actor: Actor,
    db: Session,
    /,
    *,
    user_id: uuid.UUID,
    role: str,
    org_id: uuid.UUID,
    subtree: bool = False,
) -> RoleGrant:
    """Give ``user`` a role at ``org`` (and, with ``subtree``, everything below it)."""
    user = _user(db, user_id)
    org = db.get(Organization, org_id)
    if org is None:
        raise NotFound("No such organisation.", code="org_not_found")
    try:
        role_value = Role(role)
    except ValueError:
        raise ValidationFailed.single("role", "invalid_choice", f"Unknown role {role!r}.") from None
    require(actor, Perm.USER_MANAGE, org.path)
    if role_value == Role.ADMIN and not actor.is_system and not actor.can(Perm.ORG_MANAGE, org.path):
        raise PermissionDenied("Only an administrator of that scope may grant administration.")
    # lock the user: two grants at once (admin here, auditor there) cannot both pass the check
    db.scalars(select(User.id).where(User.id == user.id).with_for_update()).first()
    db.refresh(user, ["grants"])
    apart = _APART.get(role_value)
    if apart is not None and _holds(user, apart):
        raise Conflict(f"Separation of duties: {user.username} holds the {apart.value} role, "
                       f"and no one holds both administration and auditing.",
                       code="duties_conflict", role=role_value.value, held=apart.value)
    existing = db.scalars(select(RoleGrant).where(RoleGrant.user_id == user.id,
                                                  RoleGrant.role == role_value,
                                                  RoleGrant.org_id == org.id)).first()
    if existing is not None:
        if existing.subtree == subtree:
            raise Conflict("The user already has this role here.", code="grant_exists")
        if not subtree and _orphans_admin(db, [existing], narrowed=True):
            raise Conflict("This would leave organisations below without an administrator.",
                           code="last_admin")
        existing.subtree = subtree
        grant = existing
    else:
        grant = RoleGrant(user_id=user.id, role=role_value, org_id=org.id, subtree=subtree,
                          granted_by=actor.username)
        db.add(grant)
    db.flush()
    audit.record(db, actor, "user.grant", target_type="user", target_id=user.id, org_id=org.id,
                 org_path=org.path, details={"role": role_value.value, "org": org.name,
                                             "subtree": subtree, "username": user.username})
    return grant


def revoke_grant(actor: Actor, db: Session, /, grant_id: uuid.UUID, *, recovery: bool = False,
                 reason: str = "") -> None:
    """Take a role grant away. The last administrator of an organisation and the last auditor
    stay; ``recovery`` (the platform operator only: ``gongshu user revoke --recovery``) takes
    even those, with a reason, audited as a recovery."""
    grant = db.get(RoleGrant, grant_id)
    if grant is None:
        raise NotFound("No such role grant.", code="grant_not_found")
    require(actor, Perm.USER_MANAGE, grant.org.path)
    if recovery and not actor.is_system:
        raise PermissionDenied("Only the platform operator recovers (gongshu user revoke "
                               "--recovery).", code="recovery_cli_only")
    if recovery and not reason.strip():
        raise ValidationFailed.single("reason", "required", "A recovery says why.")
    if not recovery:
        if _orphans_admin(db, [grant]):
            raise Conflict("This is the last administrator grant covering this organisation; "
                           "grant administration to someone else first, or recover with "
                           "gongshu user revoke --recovery.", code="last_admin")
        if (grant.role == Role.AUDITOR and not actor.is_system
                and all(g.id == grant.id for g in _live_grants(db, Role.AUDITOR))):
            raise Conflict("This is the last auditor; an administrator may not remove it.",
                           code="last_auditor")
    details: dict[str, Any] = {"role": grant.role, "org": grant.org.name, "subtree": grant.subtree,
                               "username": grant.user.username}
    if recovery:
        details.update(recovery=True, reason=reason.strip())
    audit.record(db, actor, "user.recovery" if recovery else "user.revoke", target_type="user",
                 target_id=grant.user_id, org_id=grant.org_id, org_path=grant.org.path,
                 details=details)
    db.delete(grant)
    db.flush()


def find_grant(db: Session, /, *, user_id: uuid.UUID, role: str, org_id: uuid.UUID) -> RoleGrant | None:
    """A user's grant of ``role`` at ``org`` (no permission: ids only; the CLI resolves names)."""
    return db.scalars(select(RoleGrant).where(RoleGrant.user_id == user_id, RoleGrant.role == role,
                                              RoleGrant.org_id == org_id)).first()


# ----------------------------------------------------------------------------- authentication


def actor_for_user(user: User, *, via: str = "web", token_id: uuid.UUID | None = None) -> Actor:
    grants = tuple(RoleAssignment(Role(g.role), g.org_id, g.org.path, g.subtree) for g in user.grants)
    return Actor(username=user.username, display_name=user.display_name, user_id=user.id,
                 org_id=user.org_id, org_path=user.org.path, grants=grants, via=via,
                 token_id=token_id)


@dataclass
class LoginResult:
    """A login's outcome; failures are returned, not raised, so their bookkeeping commits."""

    user: User | None = None
    session: WebSession | None = None
    token: str | None = None
    error: Unauthenticated | TooManyRequests | None = None


def _anonymous(username: str) -> Actor:
    return Actor(username=username[:64] or "-", via="web")


def _address_locked(db: Session, address: str, now: dt.datetime) -> dt.datetime | None:
    """Until when ``address`` may not try (a plain read: the logins of many people behind one
    address must not wait on each other; only a failure locks the row to count)."""
    row = db.get(LoginThrottle, address)
    return row.locked_until if row is not None and row.locked_until and row.locked_until > now \
        else None


def _count_address_failure(db: Session, address: str, now: dt.datetime,
                           settings: Any) -> dt.datetime | None:
    """Count a failed login from ``address``; returns when the address is locked until, if this
    failure locked it. The row is locked while it changes (PostgreSQL), and a first failure
    from two requests at once inserts it once (the loser counts on the winner's row)."""
    window = dt.timedelta(minutes=settings.login_address_window_minutes)
    row = db.get(LoginThrottle, address, with_for_update=True)
    if row is None:
        try:
            with db.begin_nested():
                row = LoginThrottle(address=address, failures=0, window_started_at=now)
                db.add(row)
                db.flush()
        except IntegrityError:
            row = db.get(LoginThrottle, address, with_for_update=True, populate_existing=True)
            assert row is not None
    if now - row.window_started_at > window:
        row.failures, row.window_started_at = 0, now
    row.failures += 1
    if row.failures >= settings.login_address_max_failures:
        row.locked_until = now + dt.timedelta(minutes=settings.login_lockout_minutes)
        row.failures, row.window_started_at = 0, now
        return row.locked_until
    return None


_WRONG = "Wrong username or password."


def login(db: Session, /, *, username: str, password: str, ip: str = "",
          user_agent: str = "") -> LoginResult:
    """Check a password; on success open a web session (the cookie gets ``token``).

    Throttled per account (``login_max_failures`` in a row lock it) and per source address
    (``login_address_max_failures`` within a window lock the address: 429). A locked account
    answers exactly as a wrong password does, after the same work, so that an attacker learns
    nothing from it. Every attempt is audited, also one on a locked account or address."""
    settings = runtime_of(db).settings
    now = utcnow()
    address = (ip or "-")[:64]
    details: dict[str, object] = {"username": username[:64], "ip": ip}
    address_until = _address_locked(db, address, now)
    if address_until is not None:
        audit.record(db, _anonymous(username), "auth.login_failed",
                     details={**details, "reason": "address throttled",
                              "address_locked_until": address_until.isoformat()})
        return LoginResult(error=TooManyRequests(
            "Too many failed sign-ins from this address; try again later.",
            code="login_throttled"))
    user = db.scalars(select(User).where(User.username == username.strip().lower())
                      .with_for_update(of=User)).first()
    if user is None or not user.is_active:
        verify_password(DUMMY_PASSWORD_HASH, password)  # same cost as a real check
        details["reason"] = "unknown or inactive"
        target: dict[str, Any] = {}
    elif user.locked_until is not None and user.locked_until > now:
        verify_password(DUMMY_PASSWORD_HASH, password)  # same cost, same answer as a wrong one
        details.update(username=user.username, reason="account locked",
                       locked_until=user.locked_until.isoformat())
        target = {"target_type": "user", "target_id": user.id, "org_id": user.org_id,
                  "org_path": user.org.path}
    elif not verify_password(user.password_hash, password):
        user.failed_logins += 1
        details.update(username=user.username, reason="wrong password")
        if user.failed_logins >= settings.login_max_failures:
            user.locked_until = now + dt.timedelta(minutes=settings.login_lockout_minutes)
            user.failed_logins = 0
            details["locked_until"] = user.locked_until.isoformat()
        target = {"target_type": "user", "target_id": user.id, "org_id": user.org_id,
                  "org_path": user.org.path}
    else:
        return _open_session(db, user, now=now, password=password, ip=ip,
                             user_agent=user_agent, settings=settings)
    locked = _count_address_failure(db, address, now, settings)
    if locked is not None:
        details["address_locked_until"] = locked.isoformat()
    audit.record(db, _anonymous(user.username if user is not None else username),
                 "auth.login_failed", details=details, **target)
    return LoginResult(error=Unauthenticated(_WRONG, code="invalid_credentials"))


def _open_session(db: Session, user: User, *, now: dt.datetime, password: str, ip: str,
                  user_agent: str, settings: Any) -> LoginResult:
    if password_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    raw, _prefix, digest = new_token("gs")
    session = WebSession(user_id=user.id, token_hash=digest, csrf_token=secrets.token_urlsafe(32),
                         expires_at=now + dt.timedelta(hours=settings.session_hours),
                         last_seen_at=now, ip=ip[:64], user_agent=user_agent[:256])
    db.add(session)
    db.flush()
    audit.record(db, actor_for_user(user), "auth.login", target_type="user", target_id=user.id,
                 org_id=user.org_id, org_path=user.org.path, details={"ip": ip})
    return LoginResult(user=user, session=session, token=raw)


def authenticate_session(db: Session, /, raw_token: str) -> tuple[Actor, WebSession] | None:
    """The actor behind a session cookie, or None if the session is unknown or over."""
    session = db.scalars(select(WebSession).where(WebSession.token_hash == token_hash(raw_token))).first()
    if session is None or session.expires_at <= utcnow():
        return None
    user = session.user
    if not user.is_active:
        return None
    return actor_for_user(user, via="web"), session


def logout(db: Session, /, raw_token: str) -> None:
    session = db.scalars(select(WebSession).where(WebSession.token_hash == token_hash(raw_token))).first()
    if session is None:
        return
    user = session.user
    audit.record(db, actor_for_user(user), "auth.logout", target_type="user", target_id=user.id,
                 org_id=user.org_id, org_path=user.org.path)
    db.delete(session)


def _end_access(db: Session, user_id: uuid.UUID) -> dict[str, int]:
    """End every way in of a user: delete the web sessions and revoke the live API tokens
    (a password reset or a deactivation must not leave a door open). Counts for the audit."""
    now = utcnow()
    sessions = list(db.scalars(select(WebSession).where(WebSession.user_id == user_id)))
    for s in sessions:
        db.delete(s)
    tokens = list(db.scalars(select(ApiToken).where(ApiToken.user_id == user_id,
                                                    ApiToken.revoked_at.is_(None),
                                                    ApiToken.expires_at > now)))
    for t in tokens:
        t.revoked_at = now
    return {"sessions_ended": len(sessions), "tokens_revoked": len(tokens)}


def create_token(actor: Actor, db: Session, /, *, name: str, days: int | None = None,
                 user_id: uuid.UUID | None = None, permissions: Sequence[str] | None = None,
                 bound_to: tuple[str, uuid.UUID] | None = None) -> tuple[ApiToken, str]:
    """A new API token for the actor (or, for an administrator, another user): shown once.

    ``permissions`` limits what the token may do to those permissions (each must exist);
    ``bound_to`` (object type, id) makes it usable for that one object only — the service that
    owns the object checks that the user may hold such a token before calling this."""
    settings = runtime_of(db).settings
    owner_id = user_id or actor.user_id
    if owner_id is None:
        raise ValidationFailed.single("user", "required", "A token belongs to a user.")
    owner = _user(db, owner_id)
    if owner.id != actor.user_id:
        require(actor, Perm.USER_MANAGE, owner.org.path)
        _protect_auditor(actor, owner, "make an API token")
    days = settings.token_default_days if days is None else days
    errors = Collector()
    if not name.strip() or len(name) > 100:
        errors.add("name", "required", "Give the token a name (at most 100 characters).")
    if not 1 <= days <= settings.token_max_days:
        errors.add("days", "out_of_range", f"A token lives 1 to {settings.token_max_days} days.",
                   max=settings.token_max_days)
    known = all_permissions()
    if permissions is not None:
        unknown = sorted(set(permissions) - set(known))
        if unknown or not permissions:
            errors.add("permissions", "invalid", "Name at least one permission, each one that "
                       f"exists (unknown: {', '.join(unknown) or '-'}).", unknown=unknown)
    errors.raise_if_any()
    raw, prefix, digest = new_token("gs")
    token = ApiToken(user_id=owner.id, name=name.strip(), prefix=prefix, token_hash=digest,
                     expires_at=utcnow() + dt.timedelta(days=days),
                     permissions=sorted(set(permissions)) if permissions is not None else None,
                     object_type=bound_to[0] if bound_to else None,
                     object_id=bound_to[1] if bound_to else None)
    db.add(token)
    db.flush()
    details: dict[str, Any] = {"name": token.name, "user": owner.username, "days": days}
    if token.permissions is not None:
        details["permissions"] = token.permissions
    if bound_to is not None:
        details["bound_to"] = f"{bound_to[0]}:{bound_to[1]}"
    audit.record(db, actor, "token.create", target_type="api_token", target_id=token.id,
                 org_id=owner.org_id, org_path=owner.org.path, details=details)
    return token, raw


def list_tokens(actor: Actor, db: Session, /, *, user_id: uuid.UUID | None = None) -> list[ApiToken]:
    owner = _user(db, user_id or actor.user_id) if (user_id or actor.user_id) else None
    if owner is None:
        return []
    if owner.id != actor.user_id:
        require(actor, Perm.USER_MANAGE, owner.org.path)
    return list(db.scalars(select(ApiToken).where(ApiToken.user_id == owner.id)
                           .order_by(ApiToken.created_at.desc())))


def revoke_token(actor: Actor, db: Session, /, token_id: uuid.UUID) -> ApiToken:
    token = db.get(ApiToken, token_id)
    if token is None:
        raise NotFound("No such token.", code="token_not_found")
    if token.user_id != actor.user_id:
        require(actor, Perm.USER_MANAGE, token.user.org.path)
    if token.revoked_at is not None:
        raise InvalidState("The token is already revoked.", code="token_revoked")
    token.revoked_at = utcnow()
    audit.record(db, actor, "token.revoke", target_type="api_token", target_id=token.id,
                 org_id=token.user.org_id, org_path=token.user.org.path, details={"name": token.name})
    return token


def authenticate_token(db: Session, /, raw_token: str) -> Actor:
    """The actor behind a bearer token; raises ``Unauthenticated`` with the precise reason."""
    prefix = split_token(raw_token)
    token = db.scalars(select(ApiToken).where(ApiToken.prefix == prefix)).first() if prefix else None
    if token is None or not constant_time_equal(token.token_hash, token_hash(raw_token)):
        raise Unauthenticated("The token is not valid.", code="token_invalid")
    if token.revoked_at is not None:
        raise Unauthenticated("The token has been revoked.", code="token_revoked")
    if token.expires_at <= utcnow():
        raise Unauthenticated("The token has expired.", code="token_expired")
    user = token.user
    if not user.is_active:
        raise Unauthenticated("The token's user is deactivated.", code="user_inactive")
    actor = actor_for_user(user, via="api", token_id=token.id)
    if token.permissions is not None or token.object_type is not None:
        actor = replace(actor,
                        token_perms=frozenset(token.permissions)
                        if token.permissions is not None else None,
                        token_object=(token.object_type, token.object_id)
                        if token.object_type and token.object_id else None)
    return actor


#: how often a token's last use is written at most (a read request does not write for it)
TOKEN_TOUCH_EVERY = dt.timedelta(minutes=1)


def token_touch_due(db: Session, /, token_id: uuid.UUID) -> bool:
    """Whether the token's last use is older than ``TOKEN_TOUCH_EVERY`` (a read: the row is in
    the session already after ``authenticate_token``)."""
    token = db.get(ApiToken, token_id)
    return token is not None and (token.last_used_at is None
                                  or utcnow() - token.last_used_at > TOKEN_TOUCH_EVERY)


def touch_token(db: Session, /, token_id: uuid.UUID) -> None:
    """Note when a token was last used, at most once a minute. It writes, so it needs a write
    session: the request's own when it writes, else a short one of its own after the response
    (``web.deps``); in a read session the change would be rolled back with it."""
    if token_touch_due(db, token_id):
        token = db.get(ApiToken, token_id)
        assert token is not None
        token.last_used_at = utcnow()


def audit_labels(db: Session, /, ids: Sequence[str], *, kind: str = "user") -> dict[str, str]:
    """Users ("display name (username)"), organisations (name) or API tokens (name) as the
    audit log names them, in one query."""
    keys = as_uuids(ids)
    if kind == "organization":
        return {str(i): name for i, name in db.execute(
            select(Organization.id, Organization.name).where(Organization.id.in_(keys)))}
    if kind == "api_token":
        return {str(i): name for i, name in db.execute(
            select(ApiToken.id, ApiToken.name).where(ApiToken.id.in_(keys)))}
    return {str(i): f"{display} ({username})" for i, username, display in db.execute(
        select(User.id, User.username, User.display_name).where(User.id.in_(keys)))}


def audit_find(db: Session, /, text: str, *, kind: str = "user", limit: int = 200) -> list[str]:
    like = f"%{text}%"
    if kind == "organization":
        query = select(Organization.id).where(or_(Organization.name.ilike(like),
                                                  Organization.short_name.ilike(like)))
    elif kind == "api_token":
        query = select(ApiToken.id).where(ApiToken.name.ilike(like))
    else:
        query = select(User.id).where(or_(User.username.ilike(like),
                                          User.display_name.ilike(like)))
    return [str(i) for i in db.scalars(query.limit(limit))]
