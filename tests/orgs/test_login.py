"""Logins: a locked account answers as a wrong password does, every attempt is audited, failures
are throttled per source address as well as per account, passwords follow the policy, and a
password reset or a deactivation ends the user's sessions and API tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, update

from gongshu.core.audit import AuditEvent
from gongshu.core.errors import Unauthenticated, ValidationFailed
from gongshu.orgs import passwords
from gongshu.orgs import service as orgs
from gongshu.orgs.models import ApiToken, LoginThrottle, User, WebSession


def failed_logins(db: Any) -> list[dict[str, Any]]:
    return [e.details_dict for e in db.scalars(select(AuditEvent).where(
        AuditEvent.action == "auth.login_failed").order_by(AuditEvent.seq))]


def attempt(runtime: Any, username: str, password: str, ip: str = "10.0.0.1") -> Any:
    with runtime.db.transaction() as db:
        return orgs.login(db, username=username, password=password, ip=ip)


def test_a_locked_account_answers_as_a_wrong_password_and_is_audited(runtime: Any,
                                                                     make_user: Any) -> None:
    member = make_user("locked.me", "catalog_editor")
    wrong = attempt(runtime, "locked.me", "not the password")
    for _ in range(runtime.settings.login_max_failures - 1):
        attempt(runtime, "locked.me", "not the password")
    locked = attempt(runtime, "locked.me", member.password)  # the right password, but locked
    unknown = attempt(runtime, "no.such.user", "whatever-password")
    assert locked.error is not None and locked.session is None
    for other in (wrong, unknown):
        assert (type(locked.error), locked.error.code, locked.error.detail,
                locked.error.params) == (type(other.error), other.error.code, other.error.detail,
                                         other.error.params)
    with runtime.db.transaction(write=False) as db:
        reasons = [d["reason"] for d in failed_logins(db)]
    limit = runtime.settings.login_max_failures
    assert reasons == ["wrong password"] * limit + ["account locked", "unknown or inactive"]


def test_address_throttling_spans_accounts(runtime: Any, make_user: Any) -> None:
    runtime.settings.login_address_max_failures = 3
    member = make_user("victim", "catalog_editor")
    for name in ("someone", "victim", "another"):  # spraying over accounts from one address
        result = attempt(runtime, name, "guess-guess-guess", ip="203.0.113.9")
        assert result.error is not None and result.error.code == "invalid_credentials"
    blocked = attempt(runtime, "victim", member.password, ip="203.0.113.9")
    assert blocked.error is not None and blocked.error.code == "login_throttled"
    assert blocked.error.status == 429 and blocked.session is None
    # the account itself is not locked: from another address the right password works
    assert attempt(runtime, "victim", member.password, ip="198.51.100.7").error is None
    with runtime.db.transaction(write=False) as db:
        details = failed_logins(db)
    assert details[-1]["reason"] == "address throttled"  # also a refused attempt is audited
    assert "address_locked_until" in details[2]
    # once the lock is over, the address may try again
    with runtime.db.transaction() as db:
        db.execute(update(LoginThrottle).values(
            locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    assert attempt(runtime, "victim", member.password, ip="203.0.113.9").error is None


def test_address_failures_count_within_a_window(runtime: Any, make_user: Any) -> None:
    runtime.settings.login_address_max_failures = 2
    make_user("target", "catalog_editor")
    attempt(runtime, "target", "wrong-wrong-wrong", ip="192.0.2.1")
    with runtime.db.transaction() as db:  # the window has passed
        db.execute(update(LoginThrottle).values(
            window_started_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)))
    attempt(runtime, "target", "wrong-wrong-wrong", ip="192.0.2.1")
    with runtime.db.transaction(write=False) as db:
        row = db.get(LoginThrottle, "192.0.2.1")
        assert row.failures == 1 and row.locked_until is None


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short", "too_short"),
        ("aaaaaaaaaaaa", "too_uniform"),
        ("policy.user", "too_weak"),  # the username
        ("Password123", "too_common"),
        ("QWERTYUIOP", "too_common"),  # case is ignored
        ("woaini1314520", None),
        ("zhuanyi-mima-2024", None),
    ],
)
def test_password_policy(runtime: Any, tree: dict[str, Any], system: Any, password: str,
                         code: str | None) -> None:
    with runtime.db.transaction() as db:
        if code is None:
            orgs.create_user(system, db, username="policy.user", display_name="p",
                             org_id=tree["province.hr"].id, password=password)
            return
        with pytest.raises(ValidationFailed) as exc:
            orgs.create_user(system, db, username="policy.user", display_name="p",
                             org_id=tree["province.hr"].id, password=password)
    assert [(e.field, e.code) for e in exc.value.errors] == [("password", code)]


def test_password_policy_follows_the_settings() -> None:
    relaxed = passwords.Policy(min_length=4, min_distinct_chars=1, reject_common=False)
    assert passwords.problems("aaaa", username="x", policy=relaxed) == []
    assert passwords.problems("password", username="x", policy=relaxed) == []
    strict = passwords.Policy(min_length=4, min_distinct_chars=5, reject_common=True)
    assert [p[0] for p in passwords.problems("abcabc", username="x", policy=strict)] == [
        "too_uniform"]
    assert len(passwords.common_passwords()) > 200  # shipped in the package, no download


def _ways_in(runtime: Any, member: Any) -> tuple[str, str]:
    with runtime.db.transaction() as db:
        session = orgs.login(db, username=member.username, password=member.password).token
        _t, raw = orgs.create_token(member.actor, db, name="sync")
    return session, raw


def _assert_shut(runtime: Any, member: Any, session: str, raw: str) -> None:
    with runtime.db.transaction(write=False) as db:
        assert orgs.authenticate_session(db, session) is None
        assert db.scalars(select(WebSession).where(WebSession.user_id == member.user.id)).all() == []
        tokens = db.scalars(select(ApiToken).where(ApiToken.user_id == member.user.id)).all()
        assert tokens and all(t.revoked_at is not None for t in tokens)
        with pytest.raises(Unauthenticated):
            orgs.authenticate_token(db, raw)


def test_a_password_reset_ends_sessions_and_tokens(runtime: Any, make_user: Any) -> None:
    admin = make_user("adm", "admin", "province", subtree=True)
    member = make_user("forgetful", "requester")
    session, raw = _ways_in(runtime, member)
    with runtime.db.transaction() as db:
        orgs.set_password(admin.actor, db, member.user.id, new_password="a-fresh-secret-42")
    _assert_shut(runtime, member, session, raw)
    with runtime.db.transaction(write=False) as db:
        event = db.scalars(select(AuditEvent).where(AuditEvent.action == "user.password")).one()
        assert event.details_dict == {"reset": True, "sessions_ended": 1, "tokens_revoked": 1}


def test_an_own_password_change_ends_sessions_and_tokens(runtime: Any, make_user: Any) -> None:
    member = make_user("careful", "requester")
    session, raw = _ways_in(runtime, member)
    with runtime.db.transaction() as db:
        orgs.set_password(member.actor, db, member.user.id, new_password="a-fresh-secret-42",
                          current_password=member.password)
    _assert_shut(runtime, member, session, raw)


def test_deactivation_revokes_tokens_for_good(runtime: Any, make_user: Any) -> None:
    admin = make_user("adm", "admin", "province", subtree=True)
    member = make_user("leaver", "requester")
    session, raw = _ways_in(runtime, member)
    with runtime.db.transaction() as db:
        orgs.update_user(admin.actor, db, member.user.id, is_active=False)
    with runtime.db.transaction() as db:  # coming back does not bring the old token back
        orgs.update_user(admin.actor, db, member.user.id, is_active=True)
    _assert_shut(runtime, member, session, raw)
    with runtime.db.transaction(write=False) as db:
        assert db.get(User, member.user.id).is_active


def test_the_login_page_answers_a_locked_account_as_a_wrong_password(client: Any, runtime: Any,
                                                                     make_user: Any) -> None:
    import re

    member = make_user("page.user", "catalog_editor")

    def post(password: str) -> Any:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        return client.post("/login", data={"username": "page.user", "password": password,
                                           "csrf_token": token}, follow_redirects=False)

    wrong = post("not-the-password")
    for _ in range(runtime.settings.login_max_failures - 1):
        post("not-the-password")
    locked = post(member.password)
    assert wrong.status_code == locked.status_code == 401

    def message(r: Any) -> str:
        return re.sub(r'value="[^"]*"', "", r.text)  # the form's fresh tokens differ

    assert message(wrong) == message(locked)
    runtime.settings.login_address_max_failures = 1
    assert post("not-the-password").status_code == 401  # this failure locks the address
    throttled = post(member.password)
    assert throttled.status_code == 429 and "session" not in throttled.cookies


def test_failures_from_one_address_at_once_are_all_counted(runtime: Any, make_user: Any) -> None:
    import threading

    make_user("busy", "catalog_editor")
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def fail() -> None:
        try:
            barrier.wait()
            result = attempt(runtime, "busy", "wrong-wrong-wrong", ip="192.0.2.77")
            assert result.error is not None and result.error.code == "invalid_credentials"
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=fail) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with runtime.db.transaction(write=False) as db:
        assert db.get(LoginThrottle, "192.0.2.77").failures == 4
        assert db.get(User, db.scalars(select(User.id).where(User.username == "busy")).one()
                      ).failed_logins == 4
