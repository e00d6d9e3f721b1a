"""The language is the platform's, not the browser's (issue 12 item 3): pages speak
``default_locale`` (zh-CN) to every visitor whatever Accept-Language says; a chosen language is
remembered by a cookie and, for a signed-in user, on the profile; the API still negotiates."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gongshu.core.runtime import Runtime
from gongshu.orgs import service as orgs
from gongshu.web.app import create_app
from support import web_login

ENGLISH_BROWSER = {"Accept-Language": "en-US,en;q=0.9"}


@pytest.mark.parametrize("accept", ["en-US,en;q=0.9", "en", "fr-FR,en;q=0.5", "", "zh-TW"])
def test_every_visitor_reads_zh_cn_whatever_the_browser_says(client: Any, accept: str) -> None:
    page = client.get("/login", headers={"Accept-Language": accept})
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text and "登录" in page.text


def test_a_signed_in_user_without_a_choice_reads_zh_cn(client: Any, make_user: Any) -> None:
    member = make_user("lang.default", "requester")
    web_login(client, member.username, member.password)
    home = client.get("/", headers=ENGLISH_BROWSER)
    assert '<html lang="zh-CN">' in home.text and "组织机构" in home.text


def test_the_chosen_language_is_remembered_by_a_cookie(client: Any) -> None:
    switched = client.get("/lang/en?next=/login", headers=ENGLISH_BROWSER)
    assert switched.status_code == 200 and '<html lang="en">' in switched.text
    assert client.cookies.get("gongshu_lang") == "en"
    assert '<html lang="en">' in client.get("/login").text
    back = client.get("/lang/zh-CN?next=/login", headers=ENGLISH_BROWSER)
    assert '<html lang="zh-CN">' in back.text


def test_a_signed_in_users_choice_is_kept_on_the_profile(client: Any, make_user: Any,
                                                         runtime: Any, app: Any) -> None:
    member = make_user("lang.profile", "requester")
    web_login(client, member.username, member.password)
    client.get("/lang/en?next=/")
    with runtime.db.transaction() as db:
        assert orgs.find_user(db, "lang.profile").locale == "en"
    # another browser (no language cookie) of the same user speaks English after signing in
    with TestClient(app) as other:
        web_login(other, member.username, member.password)
        assert other.cookies.get("gongshu_lang") is None
        assert '<html lang="en">' in other.get("/").text


def test_the_default_is_a_setting(runtime: Any) -> None:
    english = Runtime(runtime.settings.model_copy(update={"default_locale": "en"}))
    try:
        with TestClient(create_app(english, start_worker=False)) as c:
            page = c.get("/login", headers={"Accept-Language": "zh-CN"})
            assert '<html lang="en">' in page.text
    finally:
        english.close()


def test_the_api_still_follows_accept_language(client: Any) -> None:
    zh = client.get("/api/v1/catalog/entries/not-a-uuid", headers={"Accept-Language": "zh-CN"})
    en = client.get("/api/v1/catalog/entries/not-a-uuid", headers=ENGLISH_BROWSER)
    assert zh.json()["title"] != en.json()["title"]
