"""The password policy (pure: no database; reads only the list shipped in the package).

A password is refused when it is shorter than ``password_min_length``, when it has fewer
distinct characters than ``password_min_distinct_chars`` (``aaaaaaaaaa``), when it is the
username, or (``password_reject_common``) when it is one of the common passwords of
``data/common_passwords.txt``, ignoring case. Each rule is a setting (``core.config``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True, slots=True)
class Policy:
    min_length: int = 10
    min_distinct_chars: int = 2
    reject_common: bool = True

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        return cls(min_length=settings.password_min_length,
                   min_distinct_chars=settings.password_min_distinct_chars,
                   reject_common=settings.password_reject_common)


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower case."""
    text = resources.files("gongshu.orgs").joinpath("data", "common_passwords.txt").read_text(
        encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def problems(password: str, *, username: str, policy: Policy) -> list[tuple[str, str, dict[str, Any]]]:
    """What is wrong with ``password``: (code, English message, message values); empty if
    nothing. Only the first problem is given: one thing to fix at a time."""
    if len(password) < policy.min_length:
        return [("too_short", f"Password must have at least {policy.min_length} characters.",
                 {"min_length": policy.min_length})]
    if len(set(password)) < policy.min_distinct_chars:
        return [("too_uniform", "Password must not repeat one character "
                 f"(at least {policy.min_distinct_chars} different characters).",
                 {"min_distinct": policy.min_distinct_chars})]
    if password.lower() == username.lower():
        return [("too_weak", "Password must differ from the username.", {})]
    if policy.reject_common and password.strip().lower() in common_passwords():
        return [("too_common", "This password is among the most common ones; choose another.", {})]
    return []
