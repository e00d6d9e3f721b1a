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

Everyone else (any signed-in member with ``catalog.read``) sees the published, unclassified
entries. The local operator (the system actor of the CLI) sees everything. An entry someone
may not see is answered as if it did not exist (``catalog_entry_not_found``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from gongshu.core.permissions import Actor, Perm, Role, RoleAssignment

#: the permissions that make someone part of an entry's body (they see its drafts; Arts. 9, 10)
BODY_PERMS = (Perm.CATALOG_EDIT, Perm.GRADING_CONFIRM, Perm.LIBRARY_INGEST)
#: the secrecy attribute of a classified entry (涉密属性, ``data/secrecy.yaml``)
CLASSIFIED = "classified"


# ---------------------------------------------------------------------------- who is who


def body_grants(actor: Actor) -> set[RoleAssignment]:
    """The grants through which the actor works for bodies (covering their providers)."""
    return {g for perm in BODY_PERMS for g in actor.scopes(perm)}


def review_grants(actor: Actor) -> list[RoleAssignment]:
    """The grants through which the actor reviews (covering data bureaus)."""
    return actor.scopes(Perm.CATALOG_REVIEW)


def admin_grants(actor: Actor) -> list[RoleAssignment]:
    """The administrator grants of the actor (covering organisations they administer)."""
    return [g for g in actor.grants if g.role == Role.ADMIN]


# ------------------------------------------------------------------ one entry, in Python


def is_body(actor: Actor, provider_path: str) -> bool:
    """The actor works for the provider (editor, CDO, data steward)."""
    return any(actor.can(p, provider_path) for p in BODY_PERMS)


def may_review(actor: Actor, bureau_path: str) -> bool:
    """Art. 9: only a reviewer of the provider's same-level data bureau reviews its catalog."""
    return bool(bureau_path) and actor.can(Perm.CATALOG_REVIEW, bureau_path)


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
    "BODY_PERMS",
    "CLASSIFIED",
    "admin_grants",
    "body_grants",
    "classified_clause",
    "covering",
    "is_body",
    "may_review",
    "may_see_classified",
    "may_see_working",
    "privileged_clause",
    "review_grants",
]
