"""The census (Art. 9): a bureau opens it for its area, bodies answer, the bureau follows
completion per body and region, reminds, and reads the Art. 30 summary."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from gongshu.catalog.census import service as census
from gongshu.catalog.schemas import InfoSystemIn
from gongshu.core.audit import AuditEvent
from gongshu.core.errors import InvalidState, NotFound, PermissionDenied, ValidationFailed

PERIOD = {"period_start": dt.date(2025, 1, 1), "period_end": dt.date(2025, 3, 31),
          "due_date": dt.date(2025, 3, 31)}


@pytest.fixture
def city_census(catalog_ops: Any, people: Any, tree: dict[str, Any]) -> Any:
    """Taiyuan's bureau opens a census: its area holds Taiyuan's HR bureau and Xiaodian's."""
    return catalog_ops.run(census.open_census, people.city_reviewer.actor,
                           bureau_org_id=tree["taiyuan.bureau"].id, title="2025年一季度普查",
                           **PERIOD)


def test_a_census_reaches_every_body_of_the_area(catalog_ops: Any, people: Any,
                                                 tree: dict[str, Any], city_census: Any) -> None:
    report = catalog_ops.read(census.progress, people.city_reviewer.actor, city_census)
    assert [b.response.org_name for b in report.bodies] == [
        "太原市人力资源和社会保障局", "太原市小店区人力资源和社会保障局"]
    assert [(r.region_code, r.region_name, r.bodies, r.submitted) for r in report.regions] == [
        ("140100", "太原市", 1, 0), ("140105", "小店区", 1, 0)]
    with pytest.raises(PermissionDenied):
        catalog_ops.run(census.open_census, people.city_reviewer.actor,
                        bureau_org_id=tree["province.bureau"].id, title="越权", **PERIOD)
    with pytest.raises(ValidationFailed):
        catalog_ops.run(census.open_census, people.city_reviewer.actor,
                        bureau_org_id=tree["taiyuan.bureau"].id, title="倒序",
                        period_start=dt.date(2025, 3, 1), period_end=dt.date(2025, 1, 1),
                        due_date=dt.date(2025, 3, 1))


def test_bodies_answer_and_the_bureau_sees_completion_and_the_summary(
    catalog_ops: Any, people: Any, tree: dict[str, Any], city_census: Any
) -> None:
    ops, p = catalog_ops, people
    entry_id = ops.publish(p.city_editor.actor, p.city_reviewer.actor, "taiyuan.hr")
    body = tree["taiyuan.hr"].id
    assert [c.id for c in ops.read(census.list_censuses, p.city_editor.actor)] == [city_census]
    assert ops.read(census.list_censuses, p.editor.actor) == []
    systems = [
        InfoSystemIn(name="社保业务系统", purpose="参保登记与缴费", on_government_cloud=True,
                     entry_ids=[entry_id]),
        InfoSystemIn(name="档案管理系统", purpose="人事档案", on_government_cloud=False),
        InfoSystemIn(name="涉密办公系统", classified=True),
    ]
    with pytest.raises(ValidationFailed) as foreign:
        ops.run(census.save_response, p.city_editor.actor, city_census, body,
                systems=[InfoSystemIn(name="x", entry_ids=[ops.create(p.editor.actor)])],
                catalog_confirmed=True)
    assert foreign.value.errors[0].code == "census_entry_not_own"
    ops.run(census.save_response, p.city_editor.actor, city_census, body, systems=systems,
            catalog_confirmed=False)
    with pytest.raises(ValidationFailed) as unconfirmed:
        ops.run(census.submit_response, p.city_editor.actor, city_census, body)
    assert unconfirmed.value.errors[0].field == "catalog_confirmed"
    ops.run(census.save_response, p.city_editor.actor, city_census, body, systems=systems,
            catalog_confirmed=True)
    ops.run(census.submit_response, p.city_editor.actor, city_census, body)
    with pytest.raises((PermissionDenied, NotFound)):
        ops.run(census.submit_response, p.editor.actor, city_census, body)

    report = ops.read(census.progress, p.city_reviewer.actor, city_census)
    assert report.submitted == 1 and report.fraction == 0.5
    assert [(r.region_code, r.submitted) for r in report.regions] == [("140100", 1), ("140105", 0)]
    summary = ops.read(census.summary, p.city_reviewer.actor, city_census)
    assert (summary.bodies, summary.submitted, summary.systems, summary.on_cloud) == (2, 1, 3, 1)
    assert [(s.name, s.classified) for s in summary.off_cloud] == [("档案管理系统", False),
                                                                   ("涉密办公系统", True)]
    assert summary.should_migrate == 1  # Art. 30: the classified one stays off the cloud
    assert [r.org_name for r in summary.without_catalog] == ["太原市小店区人力资源和社会保障局"]


def test_reminders_go_to_bodies_that_have_not_answered(catalog_ops: Any, people: Any,
                                                       tree: dict[str, Any],
                                                       city_census: Any) -> None:
    ops, p = catalog_ops, people
    ops.run(census.save_response, p.city_editor.actor, city_census, tree["taiyuan.hr"].id,
            systems=[], catalog_confirmed=True)
    ops.run(census.submit_response, p.city_editor.actor, city_census, tree["taiyuan.hr"].id)
    with pytest.raises(PermissionDenied):
        ops.run(census.remind, p.city_editor.actor, city_census)
    assert ops.run(census.remind, p.city_reviewer.actor, city_census) == 1
    notices = ops.read(census.notices, p.county_editor.actor)
    assert len(notices) == 1 and "2025年一季度普查" in notices[0].message
    assert ops.read(census.notices, p.city_editor.actor) == []
    report = ops.read(census.progress, p.city_reviewer.actor, city_census)
    assert [b.reminders for b in report.bodies] == [0, 1]
    with ops.runtime.db.transaction(write=False) as db:
        reminded = db.scalars(sa.select(AuditEvent.org_path).where(
            AuditEvent.action == "census.remind")).all()
    assert reminded == [tree["xiaodian.hr"].path]
    ops.run(census.close_census, p.city_reviewer.actor, city_census)
    with pytest.raises(InvalidState):
        ops.run(census.remind, p.city_reviewer.actor, city_census)
    with pytest.raises(InvalidState):
        ops.run(census.save_response, p.county_editor.actor, city_census, tree["xiaodian.hr"].id,
                systems=[], catalog_confirmed=True)
    assert ops.read(census.notices, p.county_editor.actor) == []  # closed: nothing to answer
