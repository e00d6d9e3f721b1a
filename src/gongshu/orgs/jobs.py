"""orgs' part in jobs: a job's actor is resolved again, as it is now, when the job runs.

Registered with ``core.jobs.set_actor_resolver`` at import (the worker imports every module's
``jobs``); core itself knows no users. A deactivated user, a revoked or expired token stop the
queued work of their actor; role assignments are the current ones, so a revoked role stops the
jobs that need it (``core.jobs.recheck_actor`` checks the handler's declared permission).
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.orm import Session

from gongshu.core import jobs
from gongshu.core.db import utcnow
from gongshu.core.permissions import Actor
from gongshu.orgs.models import ApiToken, User
from gongshu.orgs.service import actor_for_user


def current_actor(db: Session, actor: Actor) -> Actor:
    """``actor`` (a user, maybe through a token) as the database says it is now."""
    assert actor.user_id is not None
    user = db.get(User, actor.user_id, populate_existing=True)
    if user is None:
        raise jobs.ActorGone("user_missing", f"the user {actor.username} no longer exists")
    if not user.is_active:
        raise jobs.ActorGone("user_inactive", f"the user {user.username} is deactivated")
    token_perms: frozenset[str] | None = None
    token_object = None
    if actor.token_id is not None:
        token = db.get(ApiToken, actor.token_id, populate_existing=True)
        if token is None or token.user_id != user.id:
            raise jobs.ActorGone("token_invalid", "the API token it was submitted with is gone")
        if token.revoked_at is not None:
            raise jobs.ActorGone("token_revoked", "the API token it was submitted with is revoked")
        if token.expires_at <= utcnow():
            raise jobs.ActorGone("token_expired", "the API token it was submitted with expired")
        if token.permissions is not None:
            token_perms = frozenset(token.permissions)
        if token.object_type and token.object_id:
            token_object = (token.object_type, token.object_id)
    now = actor_for_user(user, via=actor.via, token_id=actor.token_id)
    return replace(now, token_perms=token_perms, token_object=token_object,
                   capabilities=actor.capabilities)


jobs.set_actor_resolver(current_actor)
