"""The review workflow (Art. 9) on both backends: the whole journey, the same-level-bureau rule,
no self-review, visibility of drafts and of revisions in review, history and audit."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from gongshu.catalog import flows, service
from gongshu.catalog.models import CatalogEntry, ReviewRecord
from gongshu.catalog.search import service as search
from gongshu.core.audit import AuditEvent
from gongshu.core.errors import InvalidState, NotFound, PermissionDenied, ValidationFailed


def _entry(ops: Any, actor: Any, entry_id: Any) -> CatalogEntry:
    return ops.read(service.get_entry, actor, entry_id)


def _shown(ops: Any, actor: Any, entry_id: Any) -> tuple[int, str, str]:
    with ops.runtime.db.transaction(write=False) as db:
        entry = service.get_entry(actor, db, entry_id)
        version = service.shown_version(actor, entry)
        return version.number, version.status, version.name


def test_the_whole_journey(catalog_ops: Any, people: Any, valid_entry: dict[str, Any]) -> None:
    """compile → submit → return (with a comment) → fix → submit → approve → published →
    revise → the revision is reviewed while v1 stays visible → v2 published, v1 superseded."""
    ops, p = catalog_ops, people
    entry_id = ops.create(p.editor.actor)
    entry = _entry(ops, p.editor.actor, entry_id)
    assert entry.status == "draft" and entry.resource_code == "101001/000001"
    code = entry.resource_code

    ops.run(flows.submit, p.editor.actor, entry_id)
    with pytest.raises(ValidationFailed) as no_reason:
        ops.run(flows.return_entry, p.reviewer.actor, entry_id, comment="  ")
    assert no_reason.value.errors[0].code == "comment_required"
    ops.run(flows.return_entry, p.reviewer.actor, entry_id, comment="请补充出生地信息项。")
    assert _entry(ops, p.editor.actor, entry_id).status == "returned"

    items = [*valid_entry["items"], {"name": "出生地", "code": "CSD", "data_type": "C",
                                     "length": 100}]
    data = {**valid_entry, "items": items}
    ops.run(service.update_entry, p.editor.actor, entry_id, data)
    ops.run(flows.submit, p.editor.actor, entry_id)
    ops.run(flows.approve, p.reviewer.actor, entry_id, comment="同意发布。")
    entry = _entry(ops, p.outsider.actor, entry_id)
    assert entry.status == "published" and entry.resource_code == code
    assert _shown(ops, p.outsider.actor, entry_id) == (1, "published", "常住人口基本信息")

    ops.run(flows.revise, p.editor.actor, entry_id)
    ops.run(service.update_entry, p.editor.actor, entry_id, {**data, "name": "常住人口基本信息（2025版）"})
    ops.run(flows.submit, p.editor.actor, entry_id)
    # while the revision is in review, everyone else still sees version 1
    assert _shown(ops, p.outsider.actor, entry_id) == (1, "published", "常住人口基本信息")
    assert _shown(ops, p.editor.actor, entry_id) == (2, "submitted", "常住人口基本信息（2025版）")
    assert _shown(ops, p.reviewer.actor, entry_id)[0] == 2
    found = ops.read(search.search, p.outsider.actor, q="常住人口")
    assert [(h.version, h.name) for h in found.hits] == [(1, "常住人口基本信息")]

    ops.run(flows.approve, p.reviewer.actor, entry_id)
    entry = _entry(ops, p.outsider.actor, entry_id)
    assert entry.resource_code == code  # stable across versions
    versions = ops.read(service.list_versions, p.editor.actor, entry_id)
    assert [(v.number, v.status) for v in versions] == [(1, "superseded"), (2, "published")]
    diff = ops.read(service.version_diff, p.editor.actor, entry_id, from_number=1, to_number=2)
    assert [(c.path, c.before, c.after) for c in diff] == [
        ("name", "常住人口基本信息", "常住人口基本信息（2025版）")]

    trail = ops.read(service.review_records, p.editor.actor, entry_id)
    assert [r.action for r in trail] == ["submit", "return", "submit", "approve", "publish",
                                         "revise", "submit", "approve", "publish"]
    assert trail[1].comment == "请补充出生地信息项。"
    with ops.runtime.db.transaction(write=False) as db:
        actions = db.scalars(sa.select(AuditEvent.action).where(
            AuditEvent.target_id == str(entry_id)).order_by(AuditEvent.seq)).all()
    assert actions == ["catalog.create", "catalog.submit", "catalog.return", "catalog.update",
                       "catalog.submit", "catalog.approve", "catalog.publish", "catalog.revise",
                       "catalog.update", "catalog.submit", "catalog.approve", "catalog.publish"]


def test_only_the_same_level_bureau_reviews(catalog_ops: Any, people: Any) -> None:
    ops, p = catalog_ops, people
    province = ops.create(p.editor.actor)
    city = ops.create(p.city_editor.actor, "taiyuan.hr")
    county = ops.create(p.county_editor.actor, "xiaodian.hr")
    for entry_id, editor in ((province, p.editor), (city, p.city_editor), (county, p.county_editor)):
        ops.run(flows.submit, editor.actor, entry_id)
    cases = [(province, p.reviewer, [p.city_reviewer, p.county_reviewer]),
             (city, p.city_reviewer, [p.reviewer, p.county_reviewer]),
             (county, p.county_reviewer, [p.reviewer, p.city_reviewer])]
    for entry_id, right, wrong in cases:
        for reviewer in wrong:
            with pytest.raises((PermissionDenied, NotFound)):
                ops.run(flows.approve, reviewer.actor, entry_id)
        ops.run(flows.approve, right.actor, entry_id)
        assert _entry(ops, right.actor, entry_id).status == "published"
    queue, total = ops.read(flows.review_queue, p.city_reviewer.actor)
    assert total == 0 and queue == []


def test_the_review_queue_holds_what_waits_for_the_reviewer(catalog_ops: Any, people: Any) -> None:
    ops, p = catalog_ops, people
    waiting = ops.create(p.editor.actor)
    ops.create(p.editor.actor, name="草稿资源")
    elsewhere = ops.create(p.city_editor.actor, "taiyuan.hr")
    ops.run(flows.submit, p.editor.actor, waiting)
    ops.run(flows.submit, p.city_editor.actor, elsewhere)
    queue, total = ops.read(flows.review_queue, p.reviewer.actor)
    assert total == 1 and [e.id for e in queue] == [waiting]
    with pytest.raises(PermissionDenied):
        ops.read(flows.review_queue, p.editor.actor)


def test_nobody_reviews_their_own_submission(catalog_ops: Any, people: Any, add_role: Any, valid_entry: dict[str, Any]) -> None:
    ops, p = catalog_ops, people
    both = add_role(p.editor, "bureau_reviewer", "province.bureau")
    entry_id = ops.create(both)
    ops.run(flows.submit, both, entry_id)
    for step in (lambda: ops.run(flows.approve, both, entry_id),
                 lambda: ops.run(flows.return_entry, both, entry_id, comment="自己退回")):
        with pytest.raises(PermissionDenied) as refused:
            step()
        assert refused.value.code == "catalog_self_review"
    # someone else's edit makes it theirs too: a reviewer who edited may not approve it
    other = ops.create(p.editor2.actor, name="另一资源")
    ops.run(service.update_entry, both, other, {**valid_entry, "name": "另一资源（改）"})
    ops.run(flows.submit, p.editor2.actor, other)
    with pytest.raises(PermissionDenied):
        ops.run(flows.approve, both, other)
    ops.run(flows.approve, p.reviewer2.actor, entry_id)
    ops.run(flows.approve, p.reviewer2.actor, other)


def test_drafts_are_seen_only_by_their_body_and_reviewers(catalog_ops: Any, people: Any) -> None:
    ops, p = catalog_ops, people
    entry_id = ops.create(p.editor.actor, name="社保缴费明细")
    for member in (p.editor, p.editor2, p.steward, p.reviewer):
        assert _entry(ops, member.actor, entry_id).id == entry_id
        assert ops.read(search.search, member.actor, q="社保").count == 1
    for member in (p.outsider, p.city_editor, p.city_reviewer):
        with pytest.raises(NotFound):
            _entry(ops, member.actor, entry_id)
        assert ops.read(search.search, member.actor, q="社保").count == 0
        entries, total = ops.read(service.list_entries, member.actor)
        assert total == 0 and entries == []
    # the outsider sees versions and trail of a published entry, not its drafts or comments
    published = ops.publish(p.editor.actor, p.reviewer.actor, name="公开资源")
    ops.run(flows.revise, p.editor.actor, published)
    assert [v.number for v in ops.read(service.list_versions, p.outsider.actor, published)] == [1]
    assert [v.number for v in ops.read(service.list_versions, p.editor.actor, published)] == [1, 2]
    assert {r.action for r in ops.read(service.review_records, p.outsider.actor, published)} == {
        "publish"}


def test_editing_is_for_the_body_and_only_while_editable(catalog_ops: Any, people: Any, valid_entry: dict[str, Any]) -> None:
    ops, p = catalog_ops, people
    entry_id = ops.create(p.editor.actor)
    with pytest.raises(NotFound):  # another body does not know of the draft at all
        ops.run(service.update_entry, p.city_editor.actor, entry_id, valid_entry)
    with pytest.raises(PermissionDenied):
        ops.create(p.city_editor.actor, "province.hr")
    ops.run(flows.submit, p.editor.actor, entry_id)
    with pytest.raises(InvalidState) as locked:
        ops.run(service.update_entry, p.editor.actor, entry_id, valid_entry)
    assert locked.value.code == "catalog_not_editable"
    ops.run(flows.recall, p.editor.actor, entry_id)
    ops.run(service.update_entry, p.editor.actor, entry_id, {**valid_entry, "name": "改名"})
    with pytest.raises(InvalidState):
        ops.run(flows.revise, p.editor.actor, entry_id)  # nothing published to revise


def test_art_12_rules_are_enforced_on_save_with_field_errors(catalog_ops: Any, people: Any) -> None:
    with pytest.raises(ValidationFailed) as failed:
        catalog_ops.create(people.editor.actor, **{
            "sharing": {"type": "not_shared", "method_class": "platform"},
            "opening": {"type": "open"}})
    fields = {(e.field, e.code) for e in failed.value.errors}
    assert {("sharing.condition", "sharing_reason_required"),
            ("sharing.legal_basis", "legal_basis_required"),
            ("opening.type", "not_shared_opened")} <= fields
    with catalog_ops.runtime.db.transaction(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(CatalogEntry)) == 0


def test_data_items_follow_their_data_elements(catalog_ops: Any, people: Any, system: Any) -> None:
    from gongshu.catalog.schemas import DataElementCreate

    element_id = catalog_ops.run(service.create_data_element, system, DataElementCreate(
        name="公民身份号码", identifier="DE00001", data_type="C", length=18))
    suggestions = catalog_ops.read(lambda _a, db: service.suggest_data_elements(db, "身份号码"), None)
    assert [e.id for e in suggestions] == [element_id]
    with pytest.raises(ValidationFailed) as failed:
        catalog_ops.create(people.editor.actor, **{
            "items.0.data_element_id": str(element_id), "items.0.data_type": "N",
            "items.1.data_element_id": "00000000-0000-0000-0000-000000000009"})
    assert {(e.field, e.code) for e in failed.value.errors} == {
        ("items.0.data_type", "element_type_mismatch"),
        ("items.1.data_element_id", "unknown_data_element")}
    entry_id = catalog_ops.create(people.editor.actor, **{"items.0.data_element_id": str(element_id)})
    with catalog_ops.runtime.db.transaction(write=False) as db:
        items = service.entry_items(db, entry_id)
    assert [i.code for i in items] == ["GMSFHM", "XM", "CSRQ"]
    assert items[0].data_element_id == element_id


def test_grade_is_set_by_a_data_steward_of_the_provider(catalog_ops: Any, people: Any) -> None:
    ops, p = catalog_ops, people
    entry_id = ops.publish(p.editor.actor, p.reviewer.actor)
    with pytest.raises(PermissionDenied):
        ops.run(service.set_grade, p.editor.actor, entry_id, grade="重要数据", reasons=[])
    ops.run(service.set_grade, p.steward.actor, entry_id, grade="一般数据",
            reasons=["含个人信息：公民身份号码"])
    entry = ops.read(service.get_entry_by_code, p.outsider.actor, "101001／1")
    assert entry.id == entry_id and entry.grade == "一般数据"
    assert entry.grade_reasons == ["含个人信息：公民身份号码"]
    found = ops.read(search.search, p.outsider.actor, q="人口")
    assert [(f.value, f.count) for f in found.facets["grade"]] == [("一般数据", 1)]
    with ops.runtime.db.transaction(write=False) as db:
        event = db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "catalog.grade")).one()
    assert event.details_dict["grade"] == "一般数据"


def test_withdraw_and_bring_back(catalog_ops: Any, people: Any) -> None:
    ops, p = catalog_ops, people
    entry_id = ops.publish(p.editor.actor, p.reviewer.actor)
    with pytest.raises(PermissionDenied):
        ops.run(flows.withdraw, p.outsider.actor, entry_id, reason="x")
    with pytest.raises(ValidationFailed):
        ops.run(flows.withdraw, p.editor.actor, entry_id, reason="")
    ops.run(flows.withdraw, p.editor.actor, entry_id, reason="系统停用，数据不再更新。")
    with pytest.raises(NotFound):
        _entry(ops, p.outsider.actor, entry_id)
    assert _entry(ops, p.editor.actor, entry_id).status == "withdrawn"
    assert ops.read(search.search, p.editor.actor, q="人口").count == 0
    ops.run(flows.revise, p.editor.actor, entry_id)
    ops.run(flows.submit, p.editor.actor, entry_id)
    ops.run(flows.approve, p.reviewer.actor, entry_id)
    assert _entry(ops, p.outsider.actor, entry_id).status == "published"


def test_discarding_a_never_published_draft_deletes_the_entry(catalog_ops: Any, people: Any) -> None:
    ops, p = catalog_ops, people
    first = ops.create(p.editor.actor)
    assert ops.run(service.discard_working, p.editor.actor, first) is None
    with pytest.raises(NotFound):
        _entry(ops, p.editor.actor, first)
    second = ops.create(p.editor.actor)
    assert _entry(ops, p.editor.actor, second).resource_code == "101001/000002"  # never reused
    ops.run(flows.submit, p.editor.actor, second)
    ops.run(flows.approve, p.reviewer.actor, second)
    ops.run(flows.revise, p.editor.actor, second)
    ops.run(service.discard_working, p.editor.actor, second)
    with ops.runtime.db.transaction(write=False) as db:
        entry = service.get_entry(p.editor.actor, db, second)
        assert entry.status == "published" and entry.working_version is None
    assert ops.read(search.search, p.editor.actor, q="人口").hits[0].scope == "published"


def test_resource_codes_are_unique_under_concurrent_compilation(runtime: Any) -> None:
    """Many writers allocating in the same front segment at once get distinct numbers."""
    got: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def allocate() -> None:
        try:
            barrier.wait()
            for _ in range(5):
                with runtime.db.transaction() as db:
                    got.append(service._next_seq(db, "203005"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=allocate) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(got) == list(range(1, 31))


def test_review_records_follow_the_entry(catalog_ops: Any, people: Any) -> None:
    ops, p = catalog_ops, people
    entry_id = ops.create(p.editor.actor)
    ops.run(flows.submit, p.editor.actor, entry_id)
    ops.run(flows.recall, p.editor.actor, entry_id)
    with ops.runtime.db.transaction(write=False) as db:
        rows = db.scalars(sa.select(ReviewRecord).where(ReviewRecord.entry_id == entry_id)).all()
    assert [(r.action, r.version_number, r.actor_name) for r in rows] == [
        ("submit", 1, "editor"), ("recall", 1, "editor")]
