"""Who may do what, where: the one permission table of the platform.

A user holds role grants; each grant is a role at an organisation, optionally covering that
organisation's whole subtree (Arts. 4-5: the province leads, cities and counties act in their own
areas). A permission is allowed when some grant holds a role listed for it in ``PERMISSIONS`` and
the grant's scope covers the organisation the action touches.

Services call ``require(actor, Perm.X, org_path=…)`` before they act. Routes additionally declare
``Perm.X`` so that a caller who holds the permission nowhere is refused before any lookup (and so
the OpenAPI document shows each route's permission).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
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
    # catalog (Arts. 9, 12, 47)
    CATALOG_READ = "catalog.read"
    CATALOG_EDIT = "catalog.edit"
    CATALOG_REVIEW = "catalog.review"
    DATA_ELEMENT_MANAGE = "data_element.manage"
    CENSUS_MANAGE = "census.manage"
    CENSUS_RESPOND = "census.respond"
    # library and grading (Arts. 10, 11)
    LIBRARY_READ = "library.read"
    LIBRARY_INGEST = "library.ingest"
    GRADING_CONFIRM = "grading.confirm"
    GRADING_MANAGE = "grading.manage"
    QUALITY_MANAGE = "quality.manage"


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
    Perm.CATALOG_READ: _EVERYONE,
    Perm.CATALOG_EDIT: frozenset({R.CATALOG_EDITOR, R.CDO}),
    Perm.CATALOG_REVIEW: frozenset({R.BUREAU_REVIEWER}),
    Perm.DATA_ELEMENT_MANAGE: frozenset({R.BUREAU_REVIEWER, R.ADMIN}),
    Perm.CENSUS_MANAGE: frozenset({R.BUREAU_REVIEWER}),
    Perm.CENSUS_RESPOND: frozenset({R.CATALOG_EDITOR, R.CDO, R.DATA_STEWARD}),
    Perm.LIBRARY_READ: frozenset({R.DATA_STEWARD, R.CATALOG_EDITOR, R.CDO, R.BUREAU_REVIEWER}),
    Perm.LIBRARY_INGEST: frozenset({R.DATA_STEWARD, R.CATALOG_EDITOR}),
    Perm.GRADING_CONFIRM: frozenset({R.DATA_STEWARD}),
    Perm.GRADING_MANAGE: frozenset({R.BUREAU_REVIEWER, R.ADMIN}),
    Perm.QUALITY_MANAGE: frozenset({R.DATA_STEWARD}),
}


@dataclass(frozen=True, slots=True)
class Grant:
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
    grants: tuple[Grant, ...] = field(default_factory=tuple)
    via: str = "web"  # web | api | cli | job | system
    token_id: uuid.UUID | None = None
    is_system: bool = False

    @classmethod
    def system(cls, name: str = "system", *, via: str = "cli") -> Actor:
        """The local operator with access to the data directory (CLI, demo, migrations)."""
        return cls(username=name, display_name=name, via=via, is_system=True)

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(g.role for g in self.grants)

    def has_role(self, role: Role) -> bool:
        return role in self.roles

    def can(self, perm: Perm, org_path: str | None = None) -> bool:
        """True if the actor may ``perm`` at ``org_path`` (anywhere when ``org_path`` is None)."""
        if self.is_system:
            return True
        allowed = PERMISSIONS[perm]
        return any(
            g.role in allowed and (org_path is None or g.covers(org_path)) for g in self.grants
        )

    def scopes(self, perm: Perm) -> list[Grant]:
        """The grants through which the actor holds ``perm``: use them to filter lists."""
        allowed = PERMISSIONS[perm]
        return [g for g in self.grants if g.role in allowed]


def require(actor: Actor, perm: Perm, org_path: str | None = None) -> None:
    """Raise ``PermissionDenied`` unless ``actor`` may ``perm`` at ``org_path``."""
    if not actor.can(perm, org_path):
        raise PermissionDenied(
            f"You do not have the permission {perm.value} here.",
            code="permission_denied",
            permission=perm.value,
        )
