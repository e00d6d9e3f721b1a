"""Who sees which catalog entries (Arts. 9, 12): the rules in one place, as Python predicates
for one entry and as SQL conditions for lists, search, facets and exports.

Two rules, each written once below and used by ``service.py`` (detail, lists, versions,
export), ``search.py`` (hits, counts and facets, on both backends) and through them by the API,
the pages and the CLI:

- **Working versions** (a draft, or a revision in review) and entries never published: the
  entry's *body* (catalog editors, CDO and data stewards of the provider: ``BODY_PERMS``) and
  its *reviewers* (``catalog.review`` covering the provider's same-level data bureau). Art. 9:
  a body compiles its catalog and the bureau of its level reviews it; nobody else sees the
  work in progress.
- **Classified (涉密) entries**: an entry whose *published* version has the secrecy attribute
  涉密 (``secrecy = classified``, the compilation guide's 涉密属性, ``data/secrecy.yaml``) is seen
  only by its body, its reviewers and the administrators whose grant covers the provider.
  Art. 12 makes a body state what it shares and on which basis, and Art. 9 has the same-level
  bureau review it; classified data is neither shared nor opened through the platform
  (保守国家秘密法, see ``rules.classified_not_opened``), and even that it exists is not shown to
  other requesters. DCAT exports leave classified entries out for everyone (``dcat.py``).

Everyone else of public administration (a signed-in member with ``catalog.read`` whose
organisation is a government, a data bureau, an e-government office or a public body) sees the
published, unclassified entries. The local operator (the system actor of the CLI) sees
everything.

**The public** never sees the internal catalog (Art. 13: public data is opened to society by
grade; Art. 14: operators work on what they are authorised for, not on the catalog): an
anonymous visitor of the portal, a member of an operator (``OrgKind.OPERATOR``), an enterprise,
a data merchant or a resource centre, or anyone holding only the ``operator`` role, sees only
the entries *open to the public*: published, not classified, whose opening type is ``open`` or
``conditional_open`` (``OPEN_TYPES``) and whose grade the active grading scheme says may be
opened (``openable`` levels, read through ``grading.service.openable_levels``; an ungraded
entry is not open). Lists, search hits, counts, facets, detail, exports and DCAT all apply it
(``is_public``, ``may_see_open`` and their SQL twin ``open_clause``).

An entry someone may not see is answered as if it did not exist (``catalog_entry_not_found``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gongshu.catalog.permissions import CATALOG_EDIT, CATALOG_READ, CATALOG_REVIEW
from gongshu.core.permissions import Actor, Role, RoleAssignment, require
from gongshu.grading.permissions import GRADING_CONFIRM
from gongshu.library.permissions import LIBRARY_INGEST
from gongshu.orgs.service import Organization, OrgKind

#: the permissions that make someone part of an entry's body (they see its drafts; Arts. 9, 10)
BODY_PERMS = (CATALOG_EDIT, GRADING_CONFIRM, LIBRARY_INGEST)
#: the secrecy attribute of a classified entry (涉密属性, ``data/secrecy.yaml``)
CLASSIFIED = "classified"
#: Art. 13: the opening types of entries the public may know of (``open``: its data is
#: downloadable on the portal; ``conditional_open``: on an approved application)
OPEN_TYPES = ("open", "conditional_open")
#: organisations of public administration: their members see the internal catalog
INTERNAL_KINDS = frozenset({OrgKind.GOVERNMENT, OrgKind.DATA_BUREAU, OrgKind.EGOV_OFFICE,
                            OrgKind.PUBLIC_BODY})
#: the anonymous visitor of the portal (no organisation, no role)
ANONYMOUS = Actor(username="anonymous", display_name="公众", via="portal")
_KINDS_KEY = "gongshu.catalog.org_kinds"


# ---------------------------------------------------------------------------- who is who


def body_grants(actor: Actor) -> set[RoleAssignment]:
    """The grants through which the actor works for bodies (covering their providers)."""
    return {g for perm in BODY_PERMS for g in actor.scopes(perm)}


def review_grants(actor: Actor) -> list[RoleAssignment]:
    """The grants through which the actor reviews (covering data bureaus)."""
    return actor.scopes(CATALOG_REVIEW)


def admin_grants(actor: Actor) -> list[RoleAssignment]:
    """The administrator grants of the actor (covering organisations they administer)."""
    return [g for g in actor.grants if g.role == Role.ADMIN]


def _org_kind(db: Session, org_id: Any) -> str | None:
    """The kind of an organisation, remembered for the session (it does not change)."""
    cache: dict[Any, str | None] = db.info.setdefault(_KINDS_KEY, {})
    if org_id not in cache:
        cache[org_id] = db.scalar(sa.select(Organization.kind).where(Organization.id == org_id))
    return cache[org_id]


def is_public(actor: Actor, db: Session) -> bool:
    """The actor sees only what is open to the public (module doc): anonymous, of an
    organisation outside public administration (an operator …), or holding only the operator
    role."""
    if actor.is_system:
        return False
    if actor.grants and all(g.role == Role.OPERATOR for g in actor.grants):
        return True
    if actor.org_id is None:
        return True
    return _org_kind(db, actor.org_id) not in INTERNAL_KINDS


def require_read(actor: Actor, db: Session) -> bool:
    """Reading the catalog: the public may read what is open to it (no permission needed),
    everyone else needs ``catalog.read``. Returns whether the actor is of the public."""
    if is_public(actor, db):
        return True
    require(actor, CATALOG_READ)
    return False


def open_grades(db: Session) -> frozenset[str]:
    """The grades whose entries may be opened (the active scheme's ``openable`` levels)."""
    from gongshu.grading import service as grading  # grading builds on the catalog

    return frozenset(grading.openable_levels(db))


# ------------------------------------------------------------------ one entry, in Python


def may_see_open(db: Session, *, published: bool, secrecy: str | None, opening_type: str | None,
                 grade: str | None) -> bool:
    """Art. 13: an entry (its published version) is open to the public: published, not
    classified, opened (``OPEN_TYPES``) and of an openable grade."""
    return (published and secrecy != CLASSIFIED and opening_type in OPEN_TYPES
            and grade is not None and grade in open_grades(db))


def is_body(actor: Actor, provider_path: str) -> bool:
    """The actor works for the provider (editor, CDO, data steward)."""
    return any(actor.can(p, provider_path) for p in BODY_PERMS)


def may_review(actor: Actor, bureau_path: str) -> bool:
    """Art. 9: only a reviewer of the provider's same-level data bureau reviews its catalog."""
    return bool(bureau_path) and actor.can(CATALOG_REVIEW, bureau_path)


def may_see_working(actor: Actor, provider_path: str, bureau_path: str) -> bool:
    """Working versions and never-published entries: the body and its reviewers (Art. 9)."""
    return actor.is_system or is_body(actor, provider_path) or may_review(actor, bureau_path)


def may_see_classified(actor: Actor, provider_path: str, bureau_path: str) -> bool:
    """Classified (涉密) entries: the body, its reviewers, administrators covering the provider
    (Arts. 9, 12; see the module doc)."""
    return (may_see_working(actor, provider_path, bureau_path)
            or any(g.covers(provider_path) for g in admin_grants(actor)))


# ------------------------------------------------------------------- many entries, in SQL


def covering(path_col: Any, grants: Iterable[RoleAssignment]) -> list[Any]:
    """SQL conditions: ``path_col`` is an organisation one of ``grants`` covers (its own org, or
    its subtree for a subtree grant); OR them together."""
    return [path_col.startswith(g.org_path) if g.subtree
            else path_col == g.org_path for g in grants]


def open_clause(db: Session, *, opening_type: Any, grade: Any, secrecy: Any) -> Any:
    """SQL twin of :func:`may_see_open` over the columns of a published version (the caller
    adds "published")."""
    grades = sorted(open_grades(db))
    if not grades:
        return sa.false()
    return sa.and_(opening_type.in_(OPEN_TYPES), grade.in_(grades),
                   sa.or_(secrecy.is_(None), secrecy != CLASSIFIED))


def _any(conds: list[Any]) -> Any:
    return sa.or_(*conds) if conds else sa.false()


def privileged_clause(actor: Actor, provider_path: Any, bureau_path: Any) -> Any:
    """SQL twin of :func:`may_see_working`: the actor is of the entry's body (provider path) or
    one of its reviewers (bureau path), and so sees its working version."""
    if actor.is_system:
        return sa.true()
    return _any(covering(provider_path, body_grants(actor))
                + covering(bureau_path, review_grants(actor)))


def classified_clause(actor: Actor, provider_path: Any, bureau_path: Any) -> Any:
    """SQL twin of :func:`may_see_classified`."""
    if actor.is_system:
        return sa.true()
    return _any(covering(provider_path, body_grants(actor))
                + covering(bureau_path, review_grants(actor))
                + covering(provider_path, admin_grants(actor)))


__all__ = [
    "ANONYMOUS",
    "BODY_PERMS",
    "CLASSIFIED",
    "INTERNAL_KINDS",
    "OPEN_TYPES",
    "admin_grants",
    "body_grants",
    "classified_clause",
    "covering",
    "is_body",
    "is_public",
    "may_see_open",
    "open_clause",
    "open_grades",
    "require_read",
    "may_review",
    "may_see_classified",
    "may_see_working",
    "privileged_clause",
    "review_grants",
]
