"""Quality rules (Art. 11) as a table of cases over a small stored version, then the service:
rules checked when added, scores kept per version, evaluation as a job."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from gongshu.core.errors import PermissionDenied, ValidationFailed
from gongshu.core.jobs import Worker
from gongshu.engine.duckdb import DuckDBEngine
from gongshu.library import quality, service
from gongshu.library.models import Dataset, QualityReport
from library.data import cn_id, register_rows, write_file

NOW = dt.datetime(2024, 7, 1, 12, tzinfo=dt.UTC)
GOOD_ID = cn_id("140105", dt.date(1985, 7, 9), 123)
BAD_ID = GOOD_ID[:-1] + ("0" if GOOD_ID[-1] != "0" else "1")

COLUMNS = {
    "ID": quality.ColumnInfo("ID", "公民身份号码", "C"),
    "CODE": quality.ColumnInfo("CODE", "编号", "C"),
    "AGE": quality.ColumnInfo("AGE", "年龄", "I"),
    "DAY": quality.ColumnInfo("DAY", "登记日期", "D"),
    "SEX": quality.ColumnInfo("SEX", "性别", "C"),
}
TABLE = pa.table({
    "ID": [GOOD_ID, BAD_ID, None, GOOD_ID],
    "CODE": ["A1", "A2", "A2", "B9"],
    "AGE": pa.array([30, 150, None, 45], pa.int64()),
    "DAY": pa.array([dt.date(2024, 6, 30), dt.date(2024, 5, 1), None, dt.date(2023, 1, 1)]),
    "SEX": ["男", "女", "未知", None],
})
OTHER = pa.table({"CODE": ["A1", "A2"]})


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("quality")
    pq.write_table(TABLE, root / "t.parquet")
    pq.write_table(OTHER, root / "o.parquet")
    eng = DuckDBEngine(root)
    eng.root = root  # type: ignore[attr-defined]
    yield eng
    eng.close()


def run(engine: Any, rule: quality.Rule, *, cycle: str | None = "monthly",
        created: dt.datetime = NOW - dt.timedelta(days=3)) -> quality.RuleResult:
    ctx = quality.Context(created_at=created, update_cycle=cycle, now=NOW,
                          resolve=lambda code: ([engine.root / "o.parquet"], {"CODE"})
                          if code == "101001/000001" else None)
    outcome = quality.evaluate(engine, [engine.root / "t.parquet"], [rule], columns=COLUMNS,
                               context=ctx)
    return outcome.results[0]


CASES = [
    # (kind, column, params, checked, passed, score)
    ("not_null", "ID", {}, 4, 3, 0.75),
    ("not_null", "CODE", {}, 4, 4, 1.0),
    ("unique", "CODE", {}, 4, 2, 0.5),  # A2 twice
    ("unique", "ID", {}, 3, 1, 1 / 3),
    ("pattern", "CODE", {"regex": "[A-Z][0-9]"}, 4, 4, 1.0),
    ("pattern", "CODE", {"regex": "A[0-9]"}, 4, 3, 0.75),
    ("detector", "ID", {"detector": "cn_id"}, 3, 2, 2 / 3),  # the wrong check character fails
    ("range", "AGE", {"min": 0, "max": 120}, 3, 2, 2 / 3),
    ("range", "AGE", {"max": 40}, 3, 1, 1 / 3),
    ("range", "DAY", {"min": "2024-01-01"}, 3, 2, 2 / 3),
    ("allowed_values", "SEX", {"values": ["男", "女"]}, 3, 2, 2 / 3),
    ("reference", "CODE", {"dataset": "101001/000001", "column": "CODE"}, 4, 3, 0.75),
]


@pytest.mark.parametrize(("kind", "column", "params", "checked", "passed", "score"), CASES)
def test_rule_scores(engine: Any, kind: str, column: str, params: dict[str, Any], checked: int,
                     passed: int, score: float) -> None:
    result = run(engine, quality.Rule("r", kind, column, params))
    assert result.error is None, result.error
    assert (result.checked, result.passed) == (checked, passed)
    assert result.score == pytest.approx(score)


@pytest.mark.parametrize(("cycle", "age_days", "score"), [
    ("monthly", 3, 1.0),
    ("monthly", 64, 0.5),  # twice the 32 days allowed
    ("daily", 1, 1.0),
    ("daily", 4, 0.5),
    ("yearly", 300, 1.0),
    ("irregular", 900, None),  # no deadline: not scored
    ("on_demand", 10, None),
])
def test_freshness_against_the_update_cycle(engine: Any, cycle: str, age_days: int,
                                            score: float | None) -> None:
    result = run(engine, quality.Rule("f", "freshness"), cycle=cycle,
                 created=NOW - dt.timedelta(days=age_days))
    assert result.score == (pytest.approx(score) if score is not None else None)


def test_freshness_by_a_date_column(engine: Any) -> None:
    result = run(engine, quality.Rule("f", "freshness", "DAY"), cycle="weekly")
    assert result.score == 1.0  # newest date 2024-06-30, a day before NOW
    assert "8 allowed" in result.detail


def test_reference_to_a_dataset_without_data_is_an_error_not_a_score(engine: Any) -> None:
    result = run(engine, quality.Rule("r", "reference", "CODE",
                                      {"dataset": "999999/000001", "column": "CODE"}))
    assert result.score is None and "no stored version" in (result.error or "")


def test_overall_score_is_the_weighted_mean_of_scored_rules(engine: Any) -> None:
    ctx = quality.Context(created_at=NOW, update_cycle="irregular", now=NOW)
    outcome = quality.evaluate(engine, [engine.root / "t.parquet"], [
        quality.Rule("a", "not_null", "ID", weight=3),  # 0.75
        quality.Rule("b", "unique", "CODE", weight=1),  # 0.5
        quality.Rule("c", "freshness"),  # not scored
    ], columns=COLUMNS, context=ctx)
    assert outcome.score == pytest.approx((0.75 * 3 + 0.5) / 4)


@pytest.mark.parametrize(("kind", "column", "params", "field"), [
    ("nonsense", "ID", {}, "kind"),
    ("not_null", None, {}, "column"),
    ("not_null", "NOPE", {}, "column"),
    ("pattern", "CODE", {}, "params.regex"),
    ("detector", "ID", {"detector": "dna"}, "params.detector"),
    ("range", "SEX", {"min": 1}, "column"),
    ("range", "AGE", {}, "params.min"),
    ("range", "AGE", {"min": "ten"}, "params.min"),
    ("range", "DAY", {"max": "yesterday"}, "params.max"),
    ("allowed_values", "SEX", {"values": []}, "params.values"),
    ("reference", "CODE", {"column": "CODE"}, "params.dataset"),
    ("freshness", "SEX", {}, "column"),
])
def test_bad_rules_are_refused_with_the_field(kind: str, column: str | None,
                                              params: dict[str, Any], field: str) -> None:
    errors = quality.check_rule(kind, column, params, columns=COLUMNS)
    assert field in {e.field for e in errors}, errors


# --------------------------------------------------------------------------- the service


def test_rules_are_evaluated_per_version_and_kept(runtime: Any, entry: Any, people: Any,
                                                  run_ingest: Any, tmp_path: Path) -> None:
    rows = register_rows(30)
    editor = people.editor.actor  # made before the transaction below (a user is a write)
    run_ingest(people.steward.actor, entry, write_file(tmp_path / "v1.csv", rows))
    with runtime.db.transaction() as db:
        dataset = db.scalars(sa.select(Dataset).where(Dataset.entry_id == entry.id)).one()
        dataset_id = dataset.id
        service.add_rule(people.steward.actor, db, dataset_id, kind="detector",
                         column="公民身份号码", params={"detector": "cn_id"})
        service.add_rule(people.steward.actor, db, dataset_id, kind="range", column="YSR",
                         params={"min": 0, "max": 20000}, weight=2)
        service.add_rule(people.steward.actor, db, dataset_id, kind="allowed_values",
                         column="XM", params={"values": "张三，李四"})
        with pytest.raises(ValidationFailed) as bad:
            service.add_rule(people.steward.actor, db, dataset_id, kind="pattern", column="XM",
                             params={"regex": "(["})
        assert bad.value.errors[0].field == "params.regex"
        with pytest.raises(PermissionDenied):
            service.add_rule(editor, db, dataset_id, kind="not_null", column="XM")
        job = service.request_quality(people.steward.actor, db, dataset_id)
        job_id = job.id
    Worker(runtime).run_pending()
    with runtime.db.transaction(write=False) as db:
        report = service.latest_quality(people.steward.actor, db, dataset_id)
        assert report is not None and report.note == "evaluate"
        by_kind = {r["kind"]: r for r in report.results}
        assert by_kind["freshness"]["score"] == 1.0  # seeded with every dataset
        assert by_kind["detector"]["score"] == 1.0  # every synthetic ID is valid
        assert by_kind["allowed_values"]["params"]["values"] == ["张三", "李四"]
        income = [float(r[4]) for r in rows]
        in_range = sum(1 for v in income if v <= 20000) / len(income)
        assert by_kind["range"]["score"] == pytest.approx(in_range)
        version = service.get_version(people.steward.actor, db, dataset_id)
        assert version.quality_score == pytest.approx(report.score)
        assert db.scalar(sa.select(sa.func.count()).select_from(QualityReport)) == 2
        from gongshu.core.jobs import Job

        assert db.get(Job, job_id).status == "succeeded"
    # a new version gets its own report at ingest; the first version keeps its own
    run_ingest(people.steward.actor, entry, write_file(tmp_path / "v2.csv", rows[:5]))
    with runtime.db.transaction(write=False) as db:
        current = service.latest_quality(people.steward.actor, db, dataset_id)
        first = service.get_version(people.steward.actor, db, dataset_id, 1)
        old = service.latest_quality(people.steward.actor, db, dataset_id, first.id)
        assert current.version_id != old.version_id and old.note == "evaluate"
        assert current.note == "ingest" and len(current.results) == 4


def test_a_reference_needs_a_dataset_the_steward_may_read(
        runtime: Any, make_entry: Any, people: Any, run_ingest: Any, tmp_path: Path) -> None:
    rows = register_rows(10)
    own = make_entry()
    theirs = make_entry(org="taiyuan.hr", name="太原市人口信息（测试）")
    steward, other = people.steward.actor, people.other_steward.actor
    run_ingest(steward, own, write_file(tmp_path / "own.csv", rows))
    run_ingest(other, theirs, write_file(tmp_path / "theirs.csv", rows))
    with runtime.db.transaction() as db:
        dataset = db.scalars(sa.select(Dataset).where(Dataset.entry_id == own.id)).one()
        with pytest.raises(ValidationFailed) as refused:
            service.add_rule(steward, db, dataset.id, kind="reference", column="GMSFHM",
                             params={"dataset": theirs.resource_code, "column": "GMSFHM"})
        assert refused.value.errors[0].field == "params.dataset"
        rule = service.add_rule(steward, db, dataset.id, kind="reference", column="GMSFHM",
                                params={"dataset": own.resource_code, "column": "GMSFHM"})
        assert rule.params["dataset"] == own.resource_code
