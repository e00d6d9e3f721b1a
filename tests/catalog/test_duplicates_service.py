"""Duplicate collection (Art. 12) against the database: which published entries of other bodies
are named, to whom, and the audit event of a submission with strong matches."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from gongshu.catalog import flows, service
from gongshu.catalog.schemas import DataElementCreate
from gongshu.core.audit import AuditEvent

#: what a body of the province plans to collect: three of four items are in VALID_ENTRY
PLANNED = [{"name": "身份证号码", "data_type": "C"}, {"name": "姓 名", "data_type": "C"},
           {"name": "出生时间", "data_type": "T"}, {"name": "婚姻状况", "data_type": "C"}]


@pytest.fixture
def health(make_user: Any) -> Any:
    """A catalog editor of the provincial health commission (reviewed by the province's bureau)."""
    return make_user("health.editor", "catalog_editor", "province.health")


def _check(ops: Any, actor: Any, items: Any = PLANNED, **kwargs: Any) -> Any:
    kwargs.setdefault("exclude_provider_path", ops.tree["province.hr"].path)
    return ops.read(service.duplicate_candidates, actor, items=items, **kwargs)


def _named(report: Any) -> list[str]:
    return [c.info["name"] for c in report.candidates]


def test_other_bodies_published_entries_are_named(catalog_ops: Any, people: Any,
                                                  health: Any) -> None:
    ops, p = catalog_ops, people
    city = ops.publish(p.city_editor.actor, p.city_reviewer.actor, "taiyuan.hr",
                       name="太原市人口信息")
    ops.publish(p.editor.actor, p.reviewer.actor, "province.hr", name="本厅人口信息")  # own
    ops.create(health.actor, "province.health", name="卫健委草稿人口信息")  # a draft
    ops.publish(health.actor, p.reviewer.actor, "province.health", name="不予共享的人口信息", **{
        "sharing": {"type": "not_shared", "condition": "涉及个人隐私", "legal_basis": "《个人信息保护法》"}})
    ops.publish(health.actor, p.reviewer.actor, "province.health", name="只有姓名", **{
        "items": [{"name": "姓名", "code": "XM", "data_type": "C", "length": 50}]})

    report = _check(ops, p.editor.actor)
    assert _named(report) == ["太原市人口信息"]
    [candidate] = report.strong
    assert candidate.entry_id == city and candidate.share == pytest.approx(3 / 4)
    assert [(m.name, m.matched_name, m.via) for m in candidate.matches] == [
        ("身份证号码", "公民身份号码", "name"), ("姓 名", "姓名", "name"),
        ("出生时间", "出生日期", "name")]
    assert candidate.info["provider_name"] == "太原市人力资源和社会保障局"
    assert candidate.info["resource_code"]
    # weak ones on request: the entry with a name only covers one of four
    weak = _check(ops, p.editor.actor, include_weak=True)
    assert _named(weak) == ["太原市人口信息", "只有姓名"]
    assert [c.strong for c in weak.candidates] == [True, False]
    # the city's own body is excluded when it is the one asking
    assert _named(_check(ops, p.city_editor.actor,
                         exclude_provider_path=ops.tree["taiyuan.hr"].path)) == ["本厅人口信息"]


def test_a_classified_entry_is_named_only_to_those_who_may_see_it(
    catalog_ops: Any, people: Any, health: Any
) -> None:
    ops, p = catalog_ops, people
    ops.publish(health.actor, p.reviewer.actor, "province.health", name="涉密人口信息",
                secrecy="classified")
    assert _named(_check(ops, p.editor.actor)) == []
    assert _named(_check(ops, p.city_editor.actor)) == []
    # its body and its reviewers see it, so they are told
    assert _named(_check(ops, p.reviewer.actor)) == ["涉密人口信息"]
    assert _named(_check(ops, health.actor, exclude_provider_path=None)) == ["涉密人口信息"]


def test_a_withdrawn_entry_and_an_entry_in_revision_count_by_their_published_version(
    catalog_ops: Any, people: Any
) -> None:
    ops, p = catalog_ops, people
    city = ops.publish(p.city_editor.actor, p.city_reviewer.actor, "taiyuan.hr",
                       name="太原市人口信息")
    ops.run(flows.revise, p.city_editor.actor, city)
    ops.run(service.update_entry, p.city_editor.actor, city, {
        **ops.read(lambda a, db: service.version_entry(
            service.get_entry(a, db, city).working_version).model_dump(mode="json"),
            p.city_editor.actor),
        "items": [{"name": "车牌号", "code": "CPH", "data_type": "C", "length": 10}]})
    assert _named(_check(ops, p.editor.actor)) == ["太原市人口信息"]  # still the published one
    ops.run(flows.withdraw, p.city_editor.actor, city, reason="停止提供")
    assert _named(_check(ops, p.editor.actor)) == []


def test_a_data_element_matches_under_another_name(catalog_ops: Any, people: Any,
                                                   system: Any) -> None:
    ops, p = catalog_ops, people
    element = ops.run(service.create_data_element, system, DataElementCreate(
        name="机动车号牌号码", identifier="DE00777", data_type="C", length=10))
    ops.publish(p.city_editor.actor, p.city_reviewer.actor, "taiyuan.hr", name="车辆信息", **{
        "items": [{"name": "号牌", "code": "HP", "data_type": "C", "length": 10,
                   "data_element_id": str(element)}]})
    report = _check(ops, p.editor.actor, items=[
        {"name": "车辆牌照", "data_type": "C", "data_element_id": str(element)}])
    [candidate] = report.strong
    assert candidate.matches[0].via == "element" and candidate.matches[0].matched_name == "号牌"


def test_submitting_with_strong_matches_leaves_an_audit_event(
    catalog_ops: Any, people: Any
) -> None:
    ops, p = catalog_ops, people
    city = ops.publish(p.city_editor.actor, p.city_reviewer.actor, "taiyuan.hr",
                       name="太原市人口信息")
    draft = ops.create(p.editor.actor, "province.hr", name="本厅采集的人口信息")
    # the body sees the warning on its draft, and so does the reviewing bureau once submitted
    assert [c.entry_id for c in ops.read(service.entry_duplicates, p.editor.actor, draft).strong
            ] == [city]
    ops.run(flows.submit, p.editor.actor, draft)
    assert [c.entry_id for c in ops.read(service.entry_duplicates, p.reviewer.actor, draft).strong
            ] == [city]
    with ops.runtime.db.transaction(write=False) as db:
        events = db.scalars(sa.select(AuditEvent).where(
            AuditEvent.target_id == str(draft)).order_by(AuditEvent.seq)).all()
    assert [e.action for e in events] == ["catalog.create", "catalog.submit",
                                          "catalog.duplicate_warning"]
    [match] = events[-1].details_dict["matches"]
    assert match["name"] == "太原市人口信息" and match["items"] == ["公民身份号码", "姓名", "出生日期"]
    # and in the review trail the body and the bureau read
    trail = ops.read(service.review_records, p.reviewer.actor, draft)
    assert [r.action for r in trail] == ["submit", "duplicates"]
    assert trail[-1].comment == f"{match['resource_code']} 太原市人口信息 (3/3)"
    assert [r.action for r in ops.read(service.review_records, p.outsider.actor, city)] == [
        "publish"]
    # the published entry itself has no warning panel (only working versions do)
    assert ops.read(service.entry_duplicates, p.outsider.actor, city) is None


def test_submitting_without_matches_leaves_no_warning(catalog_ops: Any, people: Any) -> None:
    ops, p = catalog_ops, people
    ops.publish(p.editor.actor, p.reviewer.actor, "province.hr", name="本厅人口信息")
    draft = ops.create(p.editor.actor, "province.hr", name="本厅另一份人口信息")
    ops.run(flows.submit, p.editor.actor, draft)  # its own body's entry is no duplicate
    with ops.runtime.db.transaction(write=False) as db:
        actions = db.scalars(sa.select(AuditEvent.action).where(
            AuditEvent.target_id == str(draft))).all()
    assert "catalog.duplicate_warning" not in actions


def test_keys_are_stored_and_rekeyed(catalog_ops: Any, people: Any) -> None:
    from gongshu.catalog.models import DataItem

    ops, p = catalog_ops, people
    ops.create(p.editor.actor, "province.hr")
    with ops.runtime.db.transaction() as db:
        keys = dict(db.execute(sa.select(DataItem.name, DataItem.name_key)).all())
        assert keys == {"公民身份号码": "身份证号", "姓名": "姓名", "出生日期": "出生日期"}
        db.execute(sa.update(DataItem).values(name_key="stale"))
        assert service.rekey_items(db) == 3
        assert service.rekey_items(db) == 0
    with ops.runtime.db.transaction(write=False) as db:
        assert dict(db.execute(sa.select(DataItem.name, DataItem.name_key)).all()) == keys


# ------------------------------------------------------------------------ API and pages


def test_api_check_and_entry_warnings(client: Any, catalog_ops: Any, people: Any,
                                      token_for: Any, health: Any,
                                      valid_entry: dict[str, Any]) -> None:
    ops, p = catalog_ops, people
    city = ops.publish(p.city_editor.actor, p.city_reviewer.actor, "taiyuan.hr",
                       name="太原市人口信息")
    ops.publish(health.actor, p.reviewer.actor, "province.health", name="涉密人口信息",
                secrecy="classified")
    headers = token_for(p.editor)
    answer = client.post("/api/v1/catalog/duplicates/check", headers=headers,
                         json={"items": PLANNED})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["need"] == 2 and body["rationale"]
    [match] = body["matches"]  # the classified entry is not named to this editor
    assert match["entry_id"] == str(city) and match["strong"] and match["share"] == 0.75
    assert match["url"] == f"/catalog/{city}" and match["request_url"] is None
    assert [i["matched_name"] for i in match["items"]] == ["公民身份号码", "姓名", "出生日期"]
    # the body's own entries are not named: the city editor's organisation is excluded
    mine = client.post("/api/v1/catalog/duplicates/check", headers=token_for(p.city_editor),
                       json={"items": PLANNED})
    assert mine.json()["matches"] == []
    bad = client.post("/api/v1/catalog/duplicates/check", headers=headers,
                      json={"items": [{"name": "姓名", "data_type": "Q"}]})
    assert bad.status_code == 422
    # a draft's answers carry the warnings; the published entry's do not
    created = client.post("/api/v1/catalog/entries", headers=headers,
                          json={**valid_entry, "provider": {
                              "org_id": str(ops.tree["province.hr"].id), "name": "x",
                              "code": "SXRST"}})
    assert created.status_code == 201, created.text
    assert [w["entry_id"] for w in created.json()["duplicate_warnings"]] == [str(city)]
    shown = client.get(f"/api/v1/catalog/entries/{created.json()['id']}", headers=headers)
    assert [w["resource_code"] for w in shown.json()["duplicate_warnings"]] == [
        match["resource_code"]]
    published = client.get(f"/api/v1/catalog/entries/{city}", headers=headers)
    assert published.json()["duplicate_warnings"] is None


def test_form_panel_and_review_page(client: Any, catalog_ops: Any, people: Any) -> None:
    from support import csrf_of, web_login

    ops, p = catalog_ops, people
    city = ops.publish(p.city_editor.actor, p.city_reviewer.actor, "taiyuan.hr",
                       name="太原市人口信息")
    draft = ops.create(p.editor.actor, "province.hr", name="本厅采集的人口信息")
    client.cookies.clear()
    web_login(client, p.editor.username, p.editor.password)
    edit = client.get(f"/catalog/{draft}/edit")
    assert edit.status_code == 200 and "可通过共享获取" in edit.text
    assert f'href="/catalog/{city}"' in edit.text
    token = csrf_of(edit.text)
    # as you type: the panel follows the items in the form
    panel = client.post("/catalog/form/duplicates", headers={"HX-Request": "true"}, data={
        "csrf_token": token, "provider.org_id": str(ops.tree["province.hr"].id),
        "items.0.name": "身份证号", "items.0.data_type": "C",
        "items.1.name": "姓名", "items.1.data_type": "C", "items.1.code": "XM"})
    assert panel.status_code == 200 and "太原市人口信息" in panel.text
    assert "覆盖 2 项（100%）" in panel.text
    none = client.post("/catalog/form/duplicates", data={
        "csrf_token": token, "provider.org_id": str(ops.tree["province.hr"].id),
        "items.0.name": "车牌号", "items.0.data_type": "C"})
    assert none.status_code == 200 and "可通过共享获取" not in none.text
    # the reviewing bureau sees the same warning on the submission's page
    ops.run(flows.submit, p.editor.actor, draft)
    client.cookies.clear()
    web_login(client, p.reviewer.username, p.reviewer.password)
    review = client.get(f"/catalog/{draft}")
    assert review.status_code == 200 and "核实是否重复采集" in review.text
    assert "可通过共享获取（重复采集提示）" in review.text  # the step in the review trail
    assert "太原市人口信息" in review.text
    # in English too
    english = client.get(f"/catalog/{draft}", params={"lang": "en"})
    assert "Available through sharing" in english.text
    assert "/sharing/requests/new" not in review.text  # no sharing pages: no request link
    # once the sharing module's request page is there, each match links to it
    client.app.add_api_route("/sharing/requests/new", lambda: {}, methods=["GET"])
    linked = client.get(f"/catalog/{draft}")
    assert f'href="/sharing/requests/new?entry={city}"' in linked.text
    assert "申请共享" in linked.text
