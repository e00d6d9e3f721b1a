"""Each role's home page shows its own work (issue 12 item 4): an editor's drafts and returned
entries, a reviewer's queue and what is overdue in it, a steward's ingests and ungraded
datasets, a security officer's and an auditor's watch, a CDO's and a requester's figures; the
grant form proposes the least privileged role; a census past its due date reads as overdue; a
preview is titled for what it is (masked or not)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gongshu.catalog import flows
from gongshu.catalog.census import service as census
from gongshu.catalog.models import CatalogVersion
from library.data import SYSTEM, register_rows, write_file
from support import web_login


def cards(html: str) -> dict[str, str]:
    """The home page's cards: label key → the figure shown."""
    found = re.findall(r'data-card="([^"]+)"><div class="value">(?:<a href="[^"]*">)?([^<]*)',
                       html)
    return dict(found)


def warned(html: str) -> set[str]:
    return set(re.findall(r'class="card stat warn" data-card="([^"]+)"', html))


def home_of(client: Any, member: Any) -> str:
    client.cookies.clear()
    web_login(client, member.username, member.password)
    page = client.get("/")
    assert page.status_code == 200
    return page.text


def _run(runtime: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
    with runtime.db.transaction() as db:
        return fn(*args[:1], db, *args[1:], **kwargs)


def test_an_editor_sees_drafts_and_returned_entries(client: Any, people: Any, runtime: Any,
                                                     make_entry: Any) -> None:
    make_entry(name="待完善的草稿目录")
    returned = make_entry(name="被退回的目录")
    _run(runtime, flows.submit, people.editor.actor, returned.id)
    _run(runtime, flows.return_entry, people.reviewer.actor, returned.id,
         comment="请补充共享条件的法律依据。")
    html = home_of(client, people.editor)
    shown = cards(html)
    assert shown["catalog.card_drafts"] == "1" and shown["catalog.card_returned"] == "1"
    assert "catalog.card_returned" in warned(html)
    assert "待完善的草稿目录" in html and "被退回的目录" in html  # listed, with links
    assert "catalog.card_review" not in shown  # not a reviewer
    assert 'href="/users"' not in html  # the platform's figures are not an editor's


def test_a_reviewer_sees_the_queue_and_what_is_overdue(client: Any, people: Any,
                                                       runtime: Any, make_entry: Any) -> None:
    fresh, old = make_entry(name="刚报送的目录"), make_entry(name="报送已久的目录")
    for e in (fresh, old):
        _run(runtime, flows.submit, people.editor.actor, e.id)
    with runtime.db.transaction() as db:  # submitted 11 days ago (the limit is 10)
        db.execute(sa.update(CatalogVersion).where(CatalogVersion.entry_id == old.id)
                   .values(submitted_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=11)))
    html = home_of(client, people.reviewer)
    shown = cards(html)
    assert shown["catalog.card_review"] == "2" and shown["catalog.card_review_overdue"] == "1"
    assert "catalog.card_review_overdue" in warned(html)
    queue = client.get("/catalog/review?overdue=true").text
    assert "报送已久的目录" in queue and "刚报送的目录" not in queue and "已逾期" in queue


def test_a_steward_sees_ingests_and_ungraded_datasets(client: Any, people: Any, entry: Any,
                                                      run_ingest: Any, tmp_path: Path) -> None:
    done = run_ingest(people.steward.actor, entry,
                      write_file(tmp_path / "p.csv", register_rows(20)))
    assert done.status == "succeeded"
    html = home_of(client, people.steward)
    shown = cards(html)
    assert shown["library.card_ungraded"] == "1" and "library.card_ungraded" in warned(html)
    assert "人口基本信息（测试）" in html  # the dataset, listed
    assert shown["library.card_ingests_open"] == "0"
    assert shown["library.card_ingests_failed"] == "0"
    assert "grading.card_pending" in shown


def test_a_security_officer_watches_failed_logins_and_the_chain(client: Any,
                                                                make_user: Any) -> None:
    officer = make_user("sec.officer", "security_officer", "province", subtree=True)
    web_login(client, "sec.officer", "wrong-password-1")
    html = home_of(client, officer)
    shown = cards(html)
    assert int(shown["audit.card_failed_logins"]) >= 1
    assert "audit.card_failed_logins" in warned(html)
    assert "audit.card_never_verified" in warned(html)
    assert "audit.card_events_24h" not in shown  # reading the log is the auditor's
    assert "24 小时内登录失败" in html


def test_an_auditor_sees_the_events_and_the_watch(client: Any, make_user: Any) -> None:
    auditor = make_user("the.auditor", "auditor", "province", subtree=True)
    shown = cards(home_of(client, auditor))
    assert int(shown["audit.card_events_24h"]) >= 1
    assert "audit.card_failed_logins" in shown
    assert "catalog.card_drafts" not in shown


def test_a_cdo_sees_the_bodys_work_and_the_platform(client: Any, make_user: Any,
                                                   make_entry: Any) -> None:
    cdo = make_user("the.cdo", "cdo", "province.hr")
    make_entry(name="首席数据官单位的草稿")
    html = home_of(client, cdo)
    shown = cards(html)
    assert shown["catalog.card_drafts"] == "1" and "首席数据官单位的草稿" in html
    assert "library.card_datasets" in shown
    assert 'href="/users"' in html  # the CDO reads the users


def test_a_requester_sees_requests_and_grants_not_the_platform(client: Any,
                                                               make_user: Any) -> None:
    requester = make_user("the.requester", "requester", "province.health")
    html = home_of(client, requester)
    shown = cards(html)
    assert {"sharing.card_my_open", "sharing.card_my_grants", "catalog.card_entries"} <= set(shown)
    assert not {"catalog.card_drafts", "catalog.card_review", "library.card_ungraded"} & set(shown)
    assert 'href="/users"' not in html and "/jobs?status=running" not in html


def test_an_administrator_sees_the_platform_figures(client: Any, people: Any) -> None:
    html = home_of(client, people.admin)
    assert 'href="/orgs"' in html and 'href="/users"' in html and "/jobs?status=running" in html


def test_the_grant_form_proposes_the_least_privileged_role(client: Any, people: Any) -> None:
    web_login(client, people.admin.username, people.admin.password)
    page = client.get(f"/users/{people.editor.user.id}").text
    select = page.split('id="f-role"')[1].split("</select>")[0]
    options = re.findall(r'<option value="([^"]+)"( selected)?', select)
    assert options[0] == ("requester", " selected")
    assert [o for o, s in options if s] == ["requester"]
    assert options[-1][0] == "admin"


def test_a_census_past_its_due_date_is_overdue(client: Any, people: Any, runtime: Any,
                                               tree: dict[str, Any]) -> None:
    today = dt.date.today()
    opened = _run(runtime, census.open_census, SYSTEM, bureau_org_id=tree["province.bureau"].id,
                  title="上季度普查", period_start=today - dt.timedelta(days=60),
                  period_end=today - dt.timedelta(days=30), due_date=today - dt.timedelta(days=2))
    _run(runtime, census.open_census, SYSTEM, bureau_org_id=tree["province.bureau"].id,
         title="本季度普查", period_start=today, period_end=today + dt.timedelta(days=30),
         due_date=today + dt.timedelta(days=40))
    web_login(client, people.reviewer.username, people.reviewer.password)
    index = client.get("/catalog/census").text
    rows = {title: row for row in index.split("<tr>")
            for title in ("上季度普查", "本季度普查") if title in row}
    assert "已逾期" in rows["上季度普查"] and "已逾期" not in rows["本季度普查"]
    assert "已逾期" in client.get(f"/catalog/census/{opened.id}").text
    shown = cards(client.get("/").text)
    assert shown["catalog.card_census_overdue"] == "1"


@pytest.mark.parametrize(("who", "title"), [("steward", "数据预览（未脱敏）"),
                                            ("editor", "脱敏预览")])
def test_a_preview_is_titled_for_what_it_is(client: Any, people: Any, entry: Any,
                                            run_ingest: Any, tmp_path: Path, runtime: Any,
                                            who: str, title: str) -> None:
    run_ingest(people.steward.actor, entry, write_file(tmp_path / "p.csv", register_rows(5)))
    from gongshu.library import service as library

    with runtime.db.transaction(write=False) as db:
        dataset = library.dataset_for_entry(SYSTEM, db, entry.id)
        assert dataset is not None
        dataset_id = dataset.id
    member = getattr(people, who)
    web_login(client, member.username, member.password)
    page = client.get(f"/library/datasets/{dataset_id}/preview")
    assert page.status_code == 200
    assert f'<h1 id="preview-title">{title}</h1>' in page.text
