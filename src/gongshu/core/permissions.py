"""Who may do what, where: roles at organisations, permissions held through objects, scoped
tokens.

A user holds role assignments; each is a role at an organisation, optionally covering that
organisation's whole subtree (Arts. 4-5: the province leads, cities and counties act in their own
areas). A permission is allowed when some assignment holds a role listed for it and the
assignment's scope covers the organisation the action touches. ("Grant" means a share grant,
Art. 12; see GLOSSARY.)

Which roles hold a permission is declared by the module that owns it: the permissions of the
foundation and of the first modules are the ``Perm`` enum below; a newer module declares its own
with ``define()`` in its ``permissions.py`` (as Datasette's plugins declare theirs), and
``roles_for()`` reads both. A permission may also be held through an object (``Capability``: a
share grant lets its holder read one entry's granted items), and an API token may be limited to
some permissions and to one object (``Actor.token_perms`` / ``Actor.token_object``).

Services call ``require(actor, Perm.X, org_path=…)`` before they act. Routes additionally declare
``Perm.X`` so that a caller who holds the permission nowhere is refused before any lookup (and so
the OpenAPI document shows each route's permission).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from gongshu.core.errors import PermissionDenied


class Role(StrEnum):
    ADMIN = "admin"
    BUREAU_REVIEWER = "bureau_reviewer"
    CATALOG_EDITOR = "catalog_editor"
    DATA_STEWARD = "data_steward"
    REQUESTER = "requester"
    OPERATOR = "operator"
    SECURITY_OFFICER = "security_officer"
    AUDITOR = "auditor"
    CDO = "cdo"  # chief data officer (Art. 7)


class Perm(StrEnum):
    ORG_READ = "org.read"
    ORG_MANAGE = "org.manage"
    USER_READ = "user.read"
    USER_MANAGE = "user.manage"
    AUDIT_READ = "audit.read"
    AUDIT_VERIFY = "audit.verify"
    JOB_READ_ALL = "job.read_all"
    JOB_MANAGE = "job.manage"
    DASHBOARD_READ = "dashboard.read"


R = Role
_EVERYONE = frozenset(Role)

PERMISSIONS: dict[Perm, frozenset[Role]] = {
    Perm.ORG_READ: _EVERYONE,
    Perm.ORG_MANAGE: frozenset({R.ADMIN}),
    Perm.USER_READ: frozenset({R.ADMIN, R.CDO, R.AUDITOR}),
    Perm.USER_MANAGE: frozenset({R.ADMIN}),
    # Separation of duties: the audit log is for auditors, not for the administrators it audits.
    Perm.AUDIT_READ: frozenset({R.AUDITOR}),
    Perm.AUDIT_VERIFY: frozenset({R.AUDITOR, R.SECURITY_OFFICER}),
    Perm.JOB_READ_ALL: frozenset({R.ADMIN, R.AUDITOR, R.SECURITY_OFFICER}),
    Perm.JOB_MANAGE: frozenset({R.ADMIN}),
    Perm.DASHBOARD_READ: frozenset({R.ADMIN, R.BUREAU_REVIEWER, R.CDO, R.SECURITY_OFFICER}),
}


class ModulePerm(str):
    """A permission declared by a module with ``define()``; behaves like a ``Perm`` member."""

    @property
    def value(self) -> str:
        return str(self)


_DEFINED: dict[str, frozenset[Role]] = {}
_DOCS: dict[str, str] = {}


def define(name: str, roles: Iterable[Role], doc: str) -> ModulePerm:
    """Declare a module's permission and the roles that hold it (once, at import)."""
    if name in _DEFINED or name in PERMISSIONS:
        raise ValueError(f"permission {name!r} is declared twice")
    _DEFINED[name] = frozenset(roles)
    _DOCS[name] = doc
    return ModulePerm(name)


def _load_declarations() -> None:
    """Import every module's ``permissions`` (they declare theirs at import)."""
    from gongshu import modules  # the registry of rooms; core names no room itself

    modules.submodules("permissions")


def roles_for(perm: str) -> frozenset[Role]:
    """The roles that hold ``perm``, wherever it was declared."""
    found = PERMISSIONS.get(perm)  # type: ignore[call-overload]
    if found is None:
        found = _DEFINED.get(str(perm))
    if found is None:
        _load_declarations()
        found = _DEFINED.get(str(perm))
    if found is None:
        raise KeyError(f"unknown permission {perm!r}")
    return found


def all_permissions() -> dict[str, frozenset[Role]]:
    """Every permission with its roles: the core table and the modules' declarations."""
    _load_declarations()
    return {**{p.value: r for p, r in PERMISSIONS.items()}, **_DEFINED}


@dataclass(frozen=True, slots=True)
class Capability:
    """A permission held through an object rather than through a role: ``perm`` on the object
    ``(object_type, object_id)``, conferred by ``via`` (e.g. ``share_grant:<id>``)."""

    perm: str
    object_type: str
    object_id: uuid.UUID
    via: str = ""


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    role: Role
    org_id: uuid.UUID
    org_path: str
    subtree: bool = False

    def covers(self, org_path: str) -> bool:
        if self.subtree:
            return org_path.startswith(self.org_path)
        return org_path == self.org_path


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a user (through the web, the API or a job), or the local system (CLI)."""

    username: str
    display_name: str = ""
    user_id: uuid.UUID | None = None
    org_id: uuid.UUID | None = None
    org_path: str | None = None
    grants: tuple[RoleAssignment, ...] = field(default_factory=tuple)
    via: str = "web"  # web | api | cli | job | system
    token_id: uuid.UUID | None = None
    is_system: bool = False
    #: permissions held through objects (share grants, authorisations), not through roles
    capabilities: tuple[Capability, ...] = field(default_factory=tuple)
    #: a scoped API token allows only these permissions (None: all the user holds)
    token_perms: frozenset[str] | None = None
    #: a token bound to one object, e.g. ``("share_grant", id)``: usable only for that object
    token_object: tuple[str, uuid.UUID] | None = None

    @classmethod
    def system(cls, name: str = "system", *, via: str = "cli") -> Actor:
        """The local operator with access to the data directory (CLI, demo, migrations)."""
        return cls(username=name, display_name=name, via=via, is_system=True)

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(g.role for g in self.grants)

    def has_role(self, role: Role) -> bool:
        return role in self.roles

    def token_allows(self, perm: str) -> bool:
        """False when a scoped token leaves ``perm`` out (a session or plain token allows all)."""
        return self.token_perms is None or str(perm) in self.token_perms

    def can(self, perm: Perm | str, org_path: str | None = None) -> bool:
        """True if the actor may ``perm`` at ``org_path`` (anywhere when ``org_path`` is None)
        through a role. A token bound to one object holds no role permission outside it."""
        if self.is_system:
            return True
        if not self.token_allows(perm):
            return False
        allowed = roles_for(perm)
        return any(
            g.role in allowed and (org_path is None or g.covers(org_path)) for g in self.grants
        )

    def holds(self, perm: Perm | str, object_type: str, object_id: uuid.UUID) -> bool:
        """True if the actor holds ``perm`` on one object through a capability."""
        if self.is_system:
            return True
        if not self.token_allows(perm):
            return False
        if self.token_object is not None and self.token_object != (object_type, object_id):
            return False
        return any(c.perm == str(perm) and c.object_type == object_type
                   and c.object_id == object_id for c in self.capabilities)

    def with_capabilities(self, *caps: Capability) -> Actor:
        """The same actor also holding ``caps`` (granted by a service after its own check)."""
        return replace(self, capabilities=self.capabilities + caps)

    def scopes(self, perm: Perm | str) -> list[RoleAssignment]:
        """The assignments through which the actor holds ``perm``: use them to filter lists."""
        if not self.is_system and not self.token_allows(perm):
            return []
        allowed = roles_for(perm)
        return [g for g in self.grants if g.role in allowed]


def require(actor: Actor, perm: Perm | str, org_path: str | None = None) -> None:
    """Raise ``PermissionDenied`` unless ``actor`` may ``perm`` at ``org_path``."""
    if not actor.can(perm, org_path):
        raise PermissionDenied(
            f"You do not have the permission {perm} here.",
            code="permission_denied",
            permission=str(perm),
        )
