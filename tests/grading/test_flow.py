"""Grading as people use it (Art. 10): a stored version is scanned and a grade proposed with its
reasons; a data steward of the provider confirms it or overrides it with a reason; the grade
lands on the catalog entry; everything is audited; rescans use the scheme in force."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gongshu.catalog import service as catalog
from gongshu.core.audit import AuditEvent
from gongshu.core.errors import NotFound, PermissionDenied, ValidationFailed
from gongshu.core.jobs import Job, Worker
from gongshu.grading import service
from gongshu.grading.models import GradingDecision
from library.data import register_rows, write_file

ROWS = register_rows(60)


@pytest.fixture
def scanned(runtime: Any, entry: Any, people: Any, run_ingest: Any, tmp_path: Path) -> Any:
    done = run_ingest(people.steward.actor, entry, write_file(tmp_path / "people.csv", ROWS))
    assert done.status == "succeeded", done.error
    return entry


def latest(runtime: Any, actor: Any, entry: Any) -> Any:
    with runtime.db.transaction(write=False) as db:
        scan = service.latest_scan(actor, db, entry.id)
        assert scan is not None
        db.expunge_all()
        return scan


def test_the_scan_proposes_a_grade_per_column_and_for_the_entry_with_reasons(
        runtime: Any, scanned: Any, people: Any) -> None:
    scan = latest(runtime, people.steward.actor, scanned)
    assert scan.trigger == "ingest" and scan.rows_scanned == len(ROWS)
    assert scan.scheme == "national" and scan.classification == "基础信息资源/人口"
    # the population classification brings the social-security sector pack along
    assert scan.rule_packs == ["personal_information", "public_sector", "social_security"]
    columns = {c.name: c for c in scan.columns}
    ident = columns["公民身份号码"]
    assert ident.detections[0] == {"type": "cn_id", "count": len(ROWS), "ratio": 1.0}
    assert ident.proposed_grade == "general-4" and ident.code == "GMSFHM"
    assert ident.reasons[0]["rule"] == "pi.cn_id" and ident.reasons[0]["detector"] == "cn_id"
    assert "100.0% of non-empty values" in ident.reasons[0]["text"]
    assert columns["联系电话"].proposed_grade == "general-3"
    assert columns["月收入"].reasons[0]["rule"] == "ss.income_column"
    assert columns["是否在职"].proposed_grade == "general-1"
    assert scan.proposed_grade == "general-4"
    rules = {r["rule"] for r in scan.reasons}
    assert {"pi.identifiable_combination", "ps.population_base"} <= rules


def test_confirm_puts_the_grade_on_the_catalog_entry_and_audits(
        runtime: Any, scanned: Any, people: Any) -> None:
    with runtime.db.transaction() as db:
        decision = service.decide(people.steward.actor, db, scanned.id, grade="general-4")
        assert decision.action == "confirm" and decision.proposed_grade == "general-4"
    with runtime.db.transaction(write=False) as db:
        found = catalog.get_entry(people.steward.actor, db, scanned.id)
        assert found.grade == "general-4" and found.graded_by == "steward"
        texts = [catalog.reason_text(r) for r in found.grade_reasons]
        assert any("pi.cn_id" in t for t in texts)
        # stored with their kinds, so pages say them in the reader's language
        assert {"dataset_column", "classification"} <= {r["kind"] for r in found.grade_reasons}
        actions = db.scalars(sa.select(AuditEvent.action).where(
            AuditEvent.target_id == str(scanned.id))).all()
        assert "grading.confirm" in actions and "catalog.grade" in actions


def test_an_override_needs_a_reason_and_a_level_of_the_scheme(
        runtime: Any, scanned: Any, people: Any) -> None:
    with pytest.raises(ValidationFailed) as no_reason, runtime.db.transaction() as db:
        service.decide(people.steward.actor, db, scanned.id, grade="important", reason=" ")
    assert [e.field for e in no_reason.value.errors] == ["reason"]
    with pytest.raises(ValidationFailed) as unknown, runtime.db.transaction() as db:
        service.decide(people.steward.actor, db, scanned.id, grade="secret", reason="因为规定")
    assert [e.field for e in unknown.value.errors] == ["grade"]
    with runtime.db.transaction() as db:
        decision = service.decide(people.steward.actor, db, scanned.id, grade="important",
                                  reason="覆盖全省户籍人口，按重要数据管理")
        assert decision.action == "override" and decision.previous_grade is None
    with runtime.db.transaction(write=False) as db:
        found = catalog.get_entry(people.steward.actor, db, scanned.id)
        assert found.grade == "important"
        assert [catalog.reason_text(r) for r in found.grade_reasons] == [
            "override of the proposal general-4: 覆盖全省户籍人口，按重要数据管理"]
        assert found.grade_reasons[0]["kind"] == "override"
        event = db.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == "grading.override")).one()
        assert event.details_dict["reason"].startswith("覆盖全省") and \
            event.details_dict["proposed"] == "general-4"
        assert len(service.decisions(people.steward.actor, db, scanned.id)) == 1


def test_only_the_providers_data_steward_decides(runtime: Any, scanned: Any,
                                                 people: Any) -> None:
    for who in ("editor", "other_steward", "reviewer", "outsider"):
        actor = getattr(people, who).actor
        with pytest.raises((PermissionDenied, NotFound)), runtime.db.transaction() as db:
            service.decide(actor, db, scanned.id, grade="general-4")
    with runtime.db.transaction(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(GradingDecision)) == 0


def test_who_sees_the_scan(runtime: Any, scanned: Any, people: Any) -> None:
    for who in ("steward", "editor", "reviewer"):
        assert latest(runtime, getattr(people, who).actor, scanned).proposed_grade
    for who in ("other_steward", "outsider"):
        with pytest.raises((PermissionDenied, NotFound)), \
                runtime.db.transaction(write=False) as db:
            service.latest_scan(getattr(people, who).actor, db, scanned.id)


def test_rescan_uses_the_scheme_in_force(runtime: Any, scanned: Any, people: Any) -> None:
    folder = runtime.settings.resolved_data_dir / "grading"
    (folder / "schemes").mkdir(parents=True)
    (folder / "rules").mkdir()
    (folder / "schemes" / "two_levels.yaml").write_text(
        "id: two_levels\nzh: 两级\nen: Two levels\nlevels:\n"
        "  - {id: open, rank: 1}\n  - {id: restricted, rank: 2}\n"
        "default_level: open\nrule_packs: [ids_only]\n", encoding="utf-8")
    (folder / "rules" / "ids_only.yaml").write_text(
        "pack: ids_only\nrules:\n  - id: ids.cn_id\n    when: {detector: cn_id}\n"
        "    level: restricted\n    reason: 身份证号\n", encoding="utf-8")
    admin, steward = people.admin.actor, people.steward.actor
    with pytest.raises(PermissionDenied), runtime.db.transaction() as db:
        service.set_active_scheme(steward, db, scheme="two_levels")
    with pytest.raises(ValidationFailed), runtime.db.transaction() as db:
        service.set_active_scheme(admin, db, scheme="no_such_scheme")
    with runtime.db.transaction() as db:
        service.set_active_scheme(admin, db, scheme="two_levels")
        job = service.request_rescan(steward, db, scanned.id)
        job_id = job.id
    Worker(runtime).run_pending()
    with runtime.db.transaction(write=False) as db:
        assert db.get(Job, job_id).status == "succeeded"
    scan = latest(runtime, steward, scanned)
    assert scan.trigger == "rescan" and scan.scheme == "two_levels"
    assert scan.rule_packs == ["ids_only"]  # the sector packs do not fit these levels
    assert scan.proposed_grade == "restricted" and scan.rows_scanned == len(ROWS)
    with runtime.db.transaction(write=False) as db:
        assert len(service.list_scans(steward, db, scanned.id)) == 2
    with runtime.db.transaction() as db:  # the steward grades by the new scheme's levels
        assert service.decide(steward, db, scanned.id, grade="restricted").action == "confirm"


def test_overview_lists_pending_and_decided(runtime: Any, scanned: Any, people: Any,
                                            make_entry: Any, run_ingest: Any,
                                            tmp_path: Path) -> None:
    other = make_entry(name="企业登记信息（测试）", category={
        "resource_kind": "base", "subject": "02", "group": "001"}, items=[
        {"name": "单位名称", "code": "DWMC", "data_type": "C", "length": 100}])
    path = tmp_path / "orgs.csv"
    path.write_text("单位名称\n山西省测试局\n太原市测试中心\n", encoding="utf-8")
    assert run_ingest(people.steward.actor, other, path).status == "succeeded"
    steward = people.steward.actor
    with runtime.db.transaction() as db:
        service.decide(steward, db, scanned.id, grade="general-4")
    with runtime.db.transaction(write=False) as db:
        pending, total = service.overview(steward, db, pending=True)
        assert total == 1 and pending[0].entry.id == other.id and not pending[0].decided
        assert pending[0].scan.proposed_grade == "general-1"
        decided, _ = service.overview(steward, db, pending=False)
        assert [o.entry.id for o in decided] == [scanned.id]
        everything, total = service.overview(people.reviewer.actor, db)
        assert total == 2
        nothing, total = service.overview(people.other_steward.actor, db)
        assert total == 0
