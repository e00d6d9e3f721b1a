"""Helpers shared by tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import re
from typing import Any


def web_login(client: Any, username: str, password: str) -> Any:
    """Sign in through the real login form; returns the response after redirect."""
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token, "next": "/"})


def csrf_of(html: str) -> str:
    assert 'name="csrf_token" value=""' not in html, "a form on this page has an empty CSRF token"
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(browser: Any, server: dict[str, Any], username: str) -> Any:
    """End-to-end: a new browser context signed in as a demo login; returns its page (the
    context is ``page.context``)."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.goto(server["url"] + "/login")
    page.fill("#username", username)
    page.fill("#password", server["logins"][username])
    page.click("button[type=submit]")
    page.wait_for_url(server["url"] + "/")
    return page
