"""Ingest into the library (Art. 11): every format, the column-by-column mismatch report before
anything is stored, types cast to the data items, versions that become visible atomically."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gongshu.core.audit import AuditEvent
from gongshu.core.jobs import Job
from gongshu.library import jobs as library_jobs
from gongshu.library import service
from gongshu.library.models import Dataset, DatasetVersion
from library.data import HEADER, ITEMS, register_rows, write_file

ROWS = register_rows(40)


def stored(runtime: Any, entry: Any) -> tuple[Dataset, DatasetVersion | None, list[dict]]:
    """The dataset, its current version (per the metadata store) and that version's rows."""
    with runtime.db.transaction(write=False) as db:
        dataset = db.scalars(sa.select(Dataset).where(Dataset.entry_id == entry.id)).one()
        version = db.get(DatasetVersion, dataset.current_version_id) \
            if dataset.current_version_id else None
        db.expunge_all()
    rows: list[dict] = []
    if version is not None:
        rows = service.dataset_store(runtime).read(
            dataset.storage_id, version.storage_version).to_pylist()
    return dataset, version, rows


FORMATS = [
    ("people.csv", {}),
    ("people-gbk.csv", {}),
    ("people.xlsx", {}),
    ("people.json", {}),
    ("people.jsonl", {}),
    ("people.parquet", {}),
    ("people.db", {"table": "people"}),
]


def test_ingest_every_format(runtime: Any, entry: Any, people: Any, run_ingest: Any,
                             tmp_path: Path) -> None:
    """Each format becomes the next version of the same dataset, with the same content."""
    for number, (name, options) in enumerate(FORMATS, start=1):
        path = tmp_path / name
        if name == "people-gbk.csv":
            write_file(path, ROWS, encoding="gbk")
        elif name == "people.xlsx":
            write_file(path, ROWS, title="山西省人口基本信息（合成）")
        else:
            write_file(path, ROWS)
        source = f"sqlite:///{path}" if name.endswith(".db") else path
        done = run_ingest(people.steward.actor, entry, source, **options)
        assert done.status == "succeeded", (name, done.error, done.report.get("problems"))
        dataset, version, rows = stored(runtime, entry)
        assert version is not None and version.number == number, name
        assert version.rows == len(ROWS), name
        assert dataset.kind == "base"  # a base information resource feeds the base library
        assert [c["code"] for c in version.columns] == [i["code"] for i in ITEMS]
        first = rows[0]
        assert first["XM"] == ROWS[0][0] and first["GMSFHM"] == ROWS[0][1], name
        assert first["YSR"] == decimal.Decimal(ROWS[0][4]), name
        assert first["CSRQ"] == dt.date.fromisoformat(ROWS[0][5]), name
        assert first["SFZZ"] is (ROWS[0][6] == "是"), name
        if name.endswith(".csv"):
            assert version.source_encoding == ("gb18030" if "gbk" in name else "utf-8")
        if name.endswith(".xlsx"):
            assert version.header_row == 2  # the title row and a blank row were skipped
        assert version.source_format == {"db": "sql", "jsonl": "jsonl"}.get(
            name.rsplit(".", 1)[1], version.source_format), name


def test_columns_match_by_code_and_in_any_order(runtime: Any, entry: Any, people: Any,
                                                run_ingest: Any, tmp_path: Path) -> None:
    header = [i["code"].lower() for i in ITEMS][::-1]
    path = write_file(tmp_path / "codes.csv", [r[::-1] for r in ROWS], header=header)
    done = run_ingest(people.editor.actor, entry, path)
    assert done.status == "succeeded", done.report
    assert {c["by"] for c in done.report["columns"]} == {"code"}
    _, version, rows = stored(runtime, entry)
    assert rows[3]["GMSFHM"] == ROWS[3][1]


def test_mismatch_is_reported_column_by_column_before_anything_is_stored(
        runtime: Any, entry: Any, people: Any, run_ingest: Any, tmp_path: Path) -> None:
    header = ["姓名", "身份证", "联系电话", "住址", "月收入", "出生日期", "是否在职", "备注"]
    rows = [r[:7] + ["x"] for r in ROWS]
    rows[1][4] = "一千元"  # not a currency amount
    rows[2][5] = "去年"  # not a date
    path = write_file(tmp_path / "bad.csv", rows, header=header)
    done = run_ingest(people.steward.actor, entry, path)
    assert done.status == "rejected"
    problems = {(p["code"], p["column"] or p["item"]) for p in done.report["problems"]}
    assert ("missing", "公民身份号码") in problems
    assert ("extra", "身份证") in problems and ("extra", "备注") in problems
    assert ("wrong_type", "月收入") in problems and ("wrong_type", "出生日期") in problems
    wrong = next(p for p in done.report["problems"] if p["column"] == "月收入")
    assert wrong["examples"] == [{"row": 2, "value": "一千元"}] and wrong["count"] == 1
    statuses = {c["item"] or c["source"]: c["status"] for c in done.report["columns"]}
    assert statuses["公民身份号码"] == "missing" and statuses["月收入"] == "wrong_type"
    assert statuses["备注"] == "extra" and statuses["姓名"] == "ok"
    dataset, version, _ = stored(runtime, entry)
    assert version is None
    leftovers = service.dataset_store(runtime).location.listing(dataset.storage_id)
    assert not [i.path for i in leftovers if i.path.rsplit("/", 1)[-1].startswith("v")]
    with runtime.db.transaction(write=False) as db:
        job = db.get(Job, done.job_id)
        assert job.status == "failed" and "does not fit" in job.error


def test_extra_columns_can_be_left_out(runtime: Any, entry: Any, people: Any, run_ingest: Any,
                                       tmp_path: Path) -> None:
    path = write_file(tmp_path / "extra.csv", [r + ["备注"] for r in ROWS], header=HEADER_EXTRA)
    done = run_ingest(people.steward.actor, entry, path, drop_extra=True)
    assert done.status == "succeeded"
    assert [w["code"] for w in done.report["warnings"]] == ["extra"]
    _, version, rows = stored(runtime, entry)
    assert "备注" not in rows[0]


HEADER_EXTRA = [i["name"] for i in ITEMS] + ["备注"]


def test_a_wrong_type_late_in_the_file_rejects_the_whole_file(
        runtime: Any, entry: Any, people: Any, run_ingest: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # small batches: the good first batches are written before the bad value turns up
    monkeypatch.setattr("gongshu.library.jobs.INGEST_BATCH_ROWS", 8)
    good = write_file(tmp_path / "good.csv", ROWS)
    assert run_ingest(people.steward.actor, entry, good).status == "succeeded"
    rows = [list(r) for r in ROWS]
    rows[30][5] = "1985-13-45"
    bad = write_file(tmp_path / "late-bad.csv", rows)
    done = run_ingest(people.steward.actor, entry, bad)
    assert done.status == "rejected"
    [problem] = done.report["problems"]
    assert problem["code"] == "wrong_type" and problem["examples"][0]["row"] == 31
    _, version, read = stored(runtime, entry)
    assert version.number == 1 and len(read) == len(ROWS)
    assert len(service.dataset_store(runtime).versions(
        stored(runtime, entry)[0].storage_id)) == 1  # the bad version left nothing behind


def test_a_new_version_becomes_current_and_the_old_one_stays(
        runtime: Any, entry: Any, people: Any, run_ingest: Any, tmp_path: Path) -> None:
    run_ingest(people.steward.actor, entry, write_file(tmp_path / "v1.csv", ROWS[:10]))
    run_ingest(people.steward.actor, entry, write_file(tmp_path / "v2.csv", ROWS))
    dataset, version, rows = stored(runtime, entry)
    assert version.number == 2 and len(rows) == len(ROWS)
    with runtime.db.transaction(write=False) as db:
        versions = service.list_versions(people.steward.actor, db, dataset.id)
        assert [(v.number, v.rows) for v in versions] == [(2, 40), (1, 10)]
        old = service.get_version(people.steward.actor, db, dataset.id, 1)
    assert service.dataset_store(runtime).read(
        dataset.storage_id, old.storage_version).num_rows == 10


def test_a_crash_before_the_commit_leaves_the_previous_version_current(
        runtime: Any, entry: Any, people: Any, run_ingest: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    run_ingest(people.steward.actor, entry, write_file(tmp_path / "v1.csv", ROWS[:10]))

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("power cut")

    monkeypatch.setattr(library_jobs.service, "complete_ingest", crash)
    done = run_ingest(people.steward.actor, entry, write_file(tmp_path / "v2.csv", ROWS))
    assert done.status == "failed" and "power cut" in done.error
    dataset, version, rows = stored(runtime, entry)
    assert version.number == 1 and len(rows) == 10
    store = service.dataset_store(runtime)
    assert store.current(dataset.storage_id).version == version.storage_version


def test_a_file_that_breaks_midway_leaves_the_previous_version(
        runtime: Any, entry: Any, people: Any, run_ingest: Any, tmp_path: Path) -> None:
    run_ingest(people.steward.actor, entry, write_file(tmp_path / "v1.csv", ROWS[:10]))
    text = (tmp_path / "v1.csv").read_text(encoding="utf-8")
    broken = tmp_path / "broken.csv"
    broken.write_text(text + "".join(f"{i},x\n" for i in range(3)), encoding="utf-8")
    done = run_ingest(people.steward.actor, entry, broken)
    assert done.status == "failed"
    _, version, rows = stored(runtime, entry)
    assert version.number == 1 and len(rows) == 10


def test_ingest_needs_the_permission_at_the_provider(runtime: Any, entry: Any, people: Any,
                                                     tmp_path: Path) -> None:
    from gongshu.core.errors import GongshuError

    path = write_file(tmp_path / "p.csv", ROWS)
    for member in (people.other_steward, people.reviewer, people.outsider):
        with pytest.raises(GongshuError), runtime.db.transaction() as db:
            service.start_ingest(member.actor, db, entry_id=entry.id, source=str(path))


def test_ingest_is_audited(runtime: Any, entry: Any, people: Any, run_ingest: Any,
                           tmp_path: Path) -> None:
    run_ingest(people.steward.actor, entry, write_file(tmp_path / "p.csv", ROWS))
    with runtime.db.transaction(write=False) as db:
        actions = db.scalars(sa.select(AuditEvent.action).where(
            AuditEvent.actor_name == "steward").order_by(AuditEvent.seq)).all()
    for action in ("library.dataset.create", "library.ingest.start", "grading.scan",
                   "library.version.create"):
        assert action in actions, actions


def test_a_database_url_is_never_stored_in_clear(runtime: Any, entry: Any, people: Any,
                                                 run_ingest: Any, tmp_path: Path) -> None:
    """The job table keeps the URL sealed; the ingest record shows it without its password."""
    import sqlalchemy as sa

    from gongshu.core.jobs import Job

    path = tmp_path / "people.db"
    write_file(path, ROWS)
    url = f"sqlite:///{path}"
    done = run_ingest(people.steward.actor, entry, url, table="people")
    assert done.status == "succeeded", done.error
    with runtime.db.transaction(write=False) as db:
        params = db.scalars(sa.select(Job.params).where(Job.kind == "library.ingest")).one()
    assert "source" not in params and url not in str(params)
    assert params["source_sealed"].startswith("sm4gcm1:")


# ----------------------------------------------------------------------- column mapping


MAPPING_ITEMS = [{"name": "姓名", "code": "XM", "data_type": "C"},
                 {"name": "公民身份号码", "code": "GMSFHM", "data_type": "C"},
                 {"name": "联系电话", "code": "LXDH", "data_type": "C"}]


@pytest.mark.parametrize(
    ("columns", "mapping", "matched", "problems"),
    [
        # a column named unlike any item, mapped by the item's code or by its name
        (["姓名", "身份证", "电话"], {"身份证": "GMSFHM", "电话": "联系电话"},
         {"XM": ("姓名", "name"), "GMSFHM": ("身份证", "mapping"), "LXDH": ("电话", "mapping")},
         set()),
        # names compare as they do for matching: case, spaces, underscores
        (["xm", "ID No", "lxdh"], {"id_no": "gmsfhm"},
         {"XM": ("xm", "code"), "GMSFHM": ("ID No", "mapping"), "LXDH": ("lxdh", "code")},
         set()),
        # the mapping wins over a name: the item it takes is not matched by name again
        (["姓名", "公民身份号码", "证件号", "联系电话"], {"证件号": "GMSFHM"},
         {"XM": ("姓名", "name"), "GMSFHM": ("证件号", "mapping"), "LXDH": ("联系电话", "name")},
         {("extra", "公民身份号码")}),
        # what the mapping names must exist
        (["姓名", "身份证", "联系电话"], {"证件": "GMSFHM", "身份证": "SFZ"},
         {"XM": ("姓名", "name"), "LXDH": ("联系电话", "name")},
         {("unknown_column", "证件"), ("unknown_item", "身份证"), ("extra", "身份证"),
          ("missing", "GMSFHM")}),
        # two columns mapped to one item
        (["姓名", "身份证", "证件号", "联系电话"], {"身份证": "GMSFHM", "证件号": "GMSFHM"},
         {"XM": ("姓名", "name"), "GMSFHM": ("身份证", "mapping"), "LXDH": ("联系电话", "name")},
         {("duplicate", "证件号")}),
    ],
)
def test_a_column_mapping_matches_columns_whose_names_differ(
        columns: list[str], mapping: dict[str, str], matched: dict[str, tuple[str, str]],
        problems: set[tuple[str, str]]) -> None:
    from gongshu.library.ingest import match_columns

    found = match_columns(columns, MAPPING_ITEMS, columns=mapping)
    assert {m.item.code: (m.source, m.by) for m in found.matches} == matched
    assert {(p.code, p.column or p.item_code) for p in found.problems} == problems
    assert found.ok == (not problems)


def test_an_ingest_with_a_column_mapping(runtime: Any, entry: Any, people: Any,
                                         run_ingest: Any, tmp_path: Path) -> None:
    header = ["姓名", "身份证", "电话", *HEADER[3:]]
    path = write_file(tmp_path / "renamed.csv", ROWS, header=header)
    assert run_ingest(people.steward.actor, entry, path).status == "rejected"
    done = run_ingest(people.steward.actor, entry, path,
                      columns={"身份证": "GMSFHM", "电话": "联系电话"})
    assert done.status == "succeeded", done.report
    assert done.options["columns"] == {"身份证": "GMSFHM", "电话": "联系电话"}
    by = {c["code"]: (c["source"], c["by"]) for c in done.report["columns"]}
    assert by["GMSFHM"] == ("身份证", "mapping") and by["LXDH"] == ("电话", "mapping")
    _, _version, rows = stored(runtime, entry)
    assert rows[3]["GMSFHM"] == ROWS[3][1] and rows[3]["LXDH"] == ROWS[3][2]


@pytest.mark.parametrize("columns", [{"身份证": ""}, {"": "GMSFHM"}, {"x" * 201: "GMSFHM"}])
def test_a_malformed_column_mapping_is_refused_before_anything_runs(
        runtime: Any, entry: Any, people: Any, tmp_path: Path, columns: dict[str, str]) -> None:
    from gongshu.core.errors import ValidationFailed
    from gongshu.library import service

    path = write_file(tmp_path / "p.csv", ROWS)
    with pytest.raises(ValidationFailed) as refused, runtime.db.transaction() as db:
        service.start_ingest(people.steward.actor, db, entry_id=entry.id, source=str(path),
                             options=service.IngestOptions(columns=columns))
    assert [e.field for e in refused.value.errors] == ["columns"]
