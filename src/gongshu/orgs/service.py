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
from sqlalchemy.orm import Session

from gongshu.core import audit
from gongshu.core.db import new_id, runtime_of, utcnow
from gongshu.core.errors import (
    Collector,
    Conflict,
    InvalidState,
    NotFound,
    PermissionDenied,
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
from gongshu.orgs.models import (
    GOVERNMENTAL_KINDS,
    ApiToken,
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


def _check_password(errors: Collector, password: str, username: str, min_length: int) -> None:
    if len(password) < min_length:
        errors.add("password", "too_short", f"Password must have at least {min_length} characters.",
                   min_length=min_length)
    elif password.lower() == username.lower():
        errors.add("password", "too_weak", "Password must differ from the username.")


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
    _check_password(errors, password, username, runtime_of(db).settings.password_min_length)
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
) -> User:
    user = _user(db, user_id)
    is_self = user.id == actor.user_id
    if not is_self or is_active is not None:
        require(actor, Perm.USER_MANAGE, user.org.path)
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
        _end_sessions(db, user.id)
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
    errors = Collector()
    _check_password(errors, new_password, user.username, runtime_of(db).settings.password_min_length)
    errors.raise_if_any()
    user.password_hash = hash_password(new_password)
    user.failed_logins = 0
    user.locked_until = None
    _end_sessions(db, user.id)
    audit.record(db, actor, "user.password", target_type="user", target_id=user.id,
                 org_id=user.org_id, org_path=user.org.path)


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
    existing = db.scalars(select(RoleGrant).where(RoleGrant.user_id == user.id,
                                                  RoleGrant.role == role_value,
                                                  RoleGrant.org_id == org.id)).first()
    if existing is not None:
        if existing.subtree == subtree:
            raise Conflict("The user already has this role here.", code="grant_exists")
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


def revoke_grant(actor: Actor, db: Session, /, grant_id: uuid.UUID) -> None:
    grant = db.get(RoleGrant, grant_id)
    if grant is None:
        raise NotFound("No such role grant.", code="grant_not_found")
    require(actor, Perm.USER_MANAGE, grant.org.path)
    audit.record(db, actor, "user.revoke", target_type="user", target_id=grant.user_id,
                 org_id=grant.org_id, org_path=grant.org.path,
                 details={"role": grant.role, "org": grant.org.name, "subtree": grant.subtree})
    db.delete(grant)
    db.flush()


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
    error: Unauthenticated | None = None


def _anonymous(username: str) -> Actor:
    return Actor(username=username[:64] or "-", via="web")


def login(db: Session, /, *, username: str, password: str, ip: str = "",
          user_agent: str = "") -> LoginResult:
    """Check a password; on success open a web session (the cookie gets ``token``)."""
    settings = runtime_of(db).settings
    now = utcnow()
    user = find_user(db, username)
    if user is None or not user.is_active:
        verify_password(DUMMY_PASSWORD_HASH, password)  # same cost as a real check
        audit.record(db, _anonymous(username), "auth.login_failed",
                     details={"username": username[:64], "reason": "unknown or inactive", "ip": ip})
        return LoginResult(error=Unauthenticated("Wrong username or password.",
                                                 code="invalid_credentials"))
    if user.locked_until is not None and user.locked_until > now:
        return LoginResult(error=Unauthenticated(
            "Too many failed logins; the account is locked for a while.", code="account_locked",
            until=user.locked_until.isoformat()))
    if not verify_password(user.password_hash, password):
        user.failed_logins += 1
        details: dict[str, object] = {"username": user.username, "reason": "wrong password", "ip": ip}
        if user.failed_logins >= settings.login_max_failures:
            user.locked_until = now + dt.timedelta(minutes=settings.login_lockout_minutes)
            user.failed_logins = 0
            details["locked_until"] = user.locked_until.isoformat()
        audit.record(db, _anonymous(user.username), "auth.login_failed", target_type="user",
                     target_id=user.id, org_id=user.org_id, org_path=user.org.path, details=details)
        return LoginResult(error=Unauthenticated("Wrong username or password.",
                                                 code="invalid_credentials"))
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


def _end_sessions(db: Session, user_id: uuid.UUID) -> None:
    for s in db.scalars(select(WebSession).where(WebSession.user_id == user_id)):
        db.delete(s)


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
