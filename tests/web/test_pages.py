"""The web pages as a person uses them: sign in, look around, fill forms, see errors."""

from __future__ import annotations

from typing import Any

import pytest

from support import csrf_of, web_login


def test_pages_need_a_login(client: Any) -> None:
    for path in ("/", "/orgs", "/users", "/audit", "/jobs", "/me"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


def test_login_form_rejects_a_forged_post(client: Any, make_user: Any) -> None:
    member = make_user("forge", "requester")
    client.get("/login")
    response = client.post("/login", data={"username": "forge", "password": member.password,
                                           "csrf_token": "made-up", "next": "/"})
    assert response.status_code == 403
    assert "gongshu_session" not in client.cookies


def test_wrong_password_shows_an_error_in_chinese(client: Any, make_user: Any) -> None:
    make_user("wrongpw", "requester")
    response = web_login(client, "wrongpw", "not the password")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text


def test_login_redirects_only_within_the_site(client: Any, make_user: Any) -> None:
    member = make_user("redir", "requester")
    page = client.get("/login?next=https://evil.example/")
    response = client.post("/login", data={"username": "redir", "password": member.password,
                                           "csrf_token": csrf_of(page.text),
                                           "next": "https://evil.example/"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"


@pytest.mark.parametrize(
    ("role", "org", "subtree", "visible", "hidden"),
    [
        ("admin", "province", True, ["/orgs", "/users"], ["/audit"]),
        ("auditor", "province", True, ["/audit", "/orgs"], ["/orgs/new"]),
        ("requester", "province.health", False, ["/orgs", "/jobs"], ["/users", "/audit"]),
    ],
)
def test_each_role_sees_its_pages(client: Any, make_user: Any, role: str, org: str, subtree: bool,
                                  visible: list[str], hidden: list[str]) -> None:
    member = make_user(f"u.{role}", role, org, subtree=subtree)
    home = web_login(client, member.username, member.password)
    assert home.status_code == 200 and member.username in home.text
    for path in visible:
        response = client.get(path)
        assert response.status_code == 200, path
        assert 'name="csrf_token" value=""' not in response.text, f"empty CSRF token on {path}"
    for path in hidden:
        assert client.get(path).status_code == 403, path


def test_create_organisation_through_the_form(client: Any, make_user: Any, tree: dict[str, Any]) -> None:
    admin = make_user("formadmin", "admin", "province", subtree=True)
    web_login(client, admin.username, admin.password)
    form = client.get("/orgs/new")
    token = csrf_of(form.text)
    bad = client.post("/orgs/new", data={"csrf_token": token, "name": "山西省测试局", "kind": "public_body",
                                         "parent_id": str(tree["province"].id),
                                         "uscc": "111400000000000000"})
    assert bad.status_code == 422
    assert "GB 32100" in bad.text  # the field's error, in place
    good = client.post("/orgs/new", data={"csrf_token": token, "name": "山西省测试局", "kind": "public_body",
                                          "parent_id": str(tree["province"].id)})
    assert good.status_code == 200 and "山西省测试局" in good.text and "组织机构已创建" in good.text


def test_form_post_without_csrf_is_refused(client: Any, make_user: Any, tree: dict[str, Any]) -> None:
    admin = make_user("csrfadmin", "admin", "province", subtree=True)
    web_login(client, admin.username, admin.password)
    response = client.post("/orgs/new", data={"name": "x", "kind": "public_body",
                                              "parent_id": str(tree["province"].id)})
    assert response.status_code == 403


def test_language_switch(client: Any, make_user: Any) -> None:
    member = make_user("bilingual", "requester")
    web_login(client, member.username, member.password)
    assert "组织机构" in client.get("/").text
    english = client.get("/lang/en?next=/")
    assert english.status_code == 200 and "Organisations" in english.text
    assert "Organisations" in client.get("/orgs").text


def test_create_and_revoke_a_token_on_the_profile_page(client: Any, make_user: Any) -> None:
    member = make_user("tok.page", "requester")
    web_login(client, member.username, member.password)
    page = client.get("/me")
    created = client.post("/me/tokens", data={"csrf_token": csrf_of(page.text), "name": "etl"})
    assert created.status_code == 200
    secret = created.text.split('id="new-token">')[1].split("<")[0]
    assert secret.startswith("gs_")
    api = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).json()
    assert api["username"] == "tok.page" and api["via"] == "api"


def test_audit_page_and_verification_job(client: Any, make_user: Any, runtime: Any) -> None:
    from gongshu.core.jobs import Worker

    auditor = make_user("aud.page", "auditor", "province", subtree=True)
    web_login(client, auditor.username, auditor.password)
    page = client.get("/audit")
    assert page.status_code == 200 and "user.create" in page.text or "新建用户" in page.text
    filtered = client.get("/audit?action=auth.")
    assert "auth.login" in filtered.text or "登录" in filtered.text
    started = client.post("/audit/verify", data={"csrf_token": csrf_of(page.text)})
    assert started.status_code == 200 and "/progress" in started.text
    Worker(runtime).run_pending()
    job_url = str(started.url)
    progress = client.get(job_url + "/progress")
    assert "哈希链完整" in progress.text
    assert progress.headers.get("HX-Trigger") == "job-finished"


def test_error_pages_are_html_and_api_errors_are_problems(client: Any, make_user: Any) -> None:
    member = make_user("errs", "requester")
    web_login(client, member.username, member.password)
    page = client.get("/orgs/00000000-0000-0000-0000-000000000001")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    api = client.get("/api/v1/orgs/00000000-0000-0000-0000-000000000001")
    assert api.status_code == 404 and api.json()["code"] == "org_not_found"


def test_security_headers(client: Any) -> None:
    response = client.get("/login")
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in response.headers["content-security-policy"]


def test_the_jobs_page_shows_the_queues_to_those_who_see_all_jobs(client: Any, make_user: Any,
                                                                 runtime: Any) -> None:
    runtime.settings.job_queue_limits = {"ingest": 3}
    auditor = make_user("aud.queues", "auditor", "province", subtree=True)
    web_login(client, auditor.username, auditor.password)
    page = client.get("/jobs")
    assert page.status_code == 200 and 'id="job-queues"' in page.text
    row = page.text.split("<td>入库队列</td>")[1].split("</tr>")[0]  # the queue by its label
    assert row.startswith("<td>3</td>")
    requester = make_user("req.queues", "requester")
    client.cookies.clear()
    web_login(client, requester.username, requester.password)
    assert 'id="job-queues"' not in client.get("/jobs").text
