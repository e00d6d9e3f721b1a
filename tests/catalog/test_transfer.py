"""Import (all or nothing, every error with its row and column) and export (xlsx, CSV, DCAT)
through the service, on both backends."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from gongshu.catalog import flows, service
from gongshu.catalog.models import CatalogEntry
from gongshu.catalog.transfer import xlsx
from gongshu.core.errors import ValidationFailed


def _book(entries: list[Any]) -> Any:
    return load_workbook(io.BytesIO(xlsx.export_xlsx(entries)))


def _set(book: Any, sheet: str, row: int, header: str, value: Any) -> None:
    ws = book[sheet]
    names = [str(c.value).rstrip("*") for c in ws[1]]
    ws.cell(row=row, column=names.index(header) + 1).value = value  # (cell(value=None) keeps it)


def _bytes(book: Any) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _for(sample_entries: list[Any], tree: dict[str, Any]) -> list[Any]:
    """The samples as the province's HR department's entries (provider by credit code)."""
    org = tree["province.hr"]
    out = []
    for entry in sample_entries:
        provider = {"name": org.name, "code": org.uscc, "org_id": None}
        items = [i.model_copy(update={"data_element_id": None}) for i in entry.items]
        out.append(entry.model_copy(update={
            "provider": entry.provider.model_copy(update=provider), "items": items}))
    return out


def _count(runtime: Any) -> int:
    with runtime.db.transaction(write=False) as db:
        return db.scalar(sa.select(sa.func.count()).select_from(CatalogEntry)) or 0


def test_an_import_with_errors_in_several_rows_is_rejected_whole(
    catalog_ops: Any, people: Any, sample_entries: list[Any], tree: dict[str, Any]
) -> None:
    book = _book(_for(sample_entries, tree))
    _set(book, "信息资源", 3, "共享依据", None)  # Art. 12: a conditional entry needs its basis
    _set(book, "信息资源", 4, "资源属性", "卫星资源")  # not a resource kind
    _set(book, "信息资源", 2, "提供方代码", "NOSUCHBODY")  # fine alone; found by name then
    _set(book, "信息资源", 2, "信息资源提供方", "不存在的机构")  # ... not found at all
    _set(book, "信息项", 3, "数据类型", "X")  # not a data type
    with pytest.raises(ValidationFailed) as failed:
        catalog_ops.run(service.import_entries, people.editor.actor, _bytes(book),
                        filename="catalog.xlsx")
    assert failed.value.code == "catalog_import_failed"
    found = {(e.params.get("sheet"), e.row, e.field, e.code) for e in failed.value.errors}
    assert found == {
        ("信息资源", 3, "共享依据", "legal_basis_required"),
        ("信息资源", 4, "资源属性", "not_in_list"),
        ("信息项", 3, "数据类型", "not_in_list"),
    }, found
    assert _count(catalog_ops.runtime) == 0
    # with the cell errors fixed, the unknown provider of row 2 is reported (still nothing in)
    book = _book(_for(sample_entries, tree))
    _set(book, "信息资源", 2, "提供方代码", "NOSUCHBODY")
    _set(book, "信息资源", 2, "信息资源提供方", "不存在的机构")
    _set(book, "信息资源", 3, "提供方代码", tree["taiyuan.hr"].uscc)  # not the editor's body
    with pytest.raises(ValidationFailed) as failed:
        catalog_ops.run(service.import_entries, people.editor.actor, _bytes(book),
                        filename="catalog.xlsx")
    assert {(e.row, e.field, e.code) for e in failed.value.errors} == {
        (2, "提供方代码", "provider_not_found"), (3, "提供方代码", "provider_not_permitted")}
    messages = {e.code: e.message for e in failed.value.errors}
    assert "NOSUCHBODY" in messages["provider_not_found"]
    assert "太原市人力资源和社会保障局" in messages["provider_not_permitted"]
    assert _count(catalog_ops.runtime) == 0


def test_platform_checks_name_the_row_of_the_item(
    catalog_ops: Any, people: Any, sample_entries: list[Any], tree: dict[str, Any]
) -> None:
    book = _book(_for(sample_entries, tree))
    _set(book, "信息项", 6, "数据元ID", "5d3c1b2a-9e8f-4a7b-8c6d-1e2f3a4b5c6d")  # no such element
    with pytest.raises(ValidationFailed) as failed:
        catalog_ops.run(service.import_entries, people.editor.actor, _bytes(book),
                        filename="catalog.xlsx")
    assert [(e.params["sheet"], e.row, e.field, e.code) for e in failed.value.errors] == [
        ("信息项", 6, "数据元ID", "unknown_data_element")]


def test_import_creates_drafts_and_submits_them_for_review(
    catalog_ops: Any, people: Any, sample_entries: list[Any], tree: dict[str, Any]
) -> None:
    data = xlsx.export_xlsx(_for(sample_entries, tree))
    with catalog_ops.runtime.db.transaction() as db:
        outcome = service.import_entries(people.editor.actor, db, data, filename="c.xlsx",
                                         submit=True)
        created = [(row, e.resource_code, e.status) for row, e in outcome.rows]
    assert [row for row, _c, _s in created] == [2, 3, 4]
    assert {s for _r, _c, s in created} == {"submitted"}
    assert [c for _r, c, _s in created] == ["101001/000001", "2030030201/000001", "307120/000001"]
    queue, total = catalog_ops.read(flows.review_queue, people.reviewer.actor)
    assert total == 3


def test_export_then_import_again_updates_the_same_entries(
    catalog_ops: Any, people: Any, sample_entries: list[Any], tree: dict[str, Any]
) -> None:
    ops, p = catalog_ops, people
    with ops.runtime.db.transaction() as db:
        service.import_entries(p.editor.actor, db, xlsx.export_xlsx(_for(sample_entries, tree)),
                               filename="c.xlsx", submit=True)
    queue, _ = ops.read(flows.review_queue, p.reviewer.actor)
    for entry in queue:
        ops.run(flows.approve, p.reviewer.actor, entry.id)
    exported, media_type, ext = ops.read(service.export_entries, p.outsider.actor, fmt="xlsx")
    assert ext == "xlsx" and media_type == xlsx.XLSX_MEDIA_TYPE
    parsed = xlsx.parse_workbook(exported)
    assert parsed.ok and len(parsed.entries) == 3
    assert [e.resource_code for e in parsed.entries] == ["101001/000001", "2030030201/000001",
                                                        "307120/000001"]
    # the body changes one name in Excel and imports the file again: a new version of the entry
    book = load_workbook(io.BytesIO(exported))
    _set(book, "信息资源", 2, "信息资源名称", "常住人口基本信息（修订）")
    with ops.runtime.db.transaction() as db:
        outcome = service.import_entries(p.editor.actor, db, _bytes(book), filename="again.xlsx")
        assert len(outcome.updated) == 3 and not outcome.created
    assert _count(ops.runtime) == 3
    entry = ops.read(service.get_entry_by_code, p.editor.actor, "101001/000001")
    diff = ops.read(service.version_diff, p.editor.actor, entry.id, from_number=1, to_number=2)
    assert [(c.path, c.after) for c in diff] == [("name", "常住人口基本信息（修订）")]
    # the others' revisions are unchanged copies
    other = ops.read(service.get_entry_by_code, p.editor.actor, "2030030201/000001")
    assert ops.read(service.version_diff, p.editor.actor, other.id, from_number=1, to_number=2) == []


def test_csv_and_dcat_exports(catalog_ops: Any, people: Any) -> None:
    ops, p = catalog_ops, people
    ops.publish(p.editor.actor, p.reviewer.actor)
    ops.create(p.editor.actor, name="草稿不导出")
    body, media_type, _ = ops.read(service.export_entries, p.outsider.actor, fmt="csv")
    assert media_type.startswith("text/csv") and body.startswith(b"\xef\xbb\xbf")
    parsed = xlsx.parse_csv(body)
    assert parsed.ok and [e.entry.name for e in parsed.entries] == ["常住人口基本信息"]
    with_drafts, _, _ = ops.read(service.export_entries, p.editor.actor, fmt="csv",
                                 include_working=True)
    assert "草稿不导出" in with_drafts.decode("utf-8-sig")
    jsonld, media_type, _ = ops.read(service.export_entries, p.editor.actor, fmt="dcat-jsonld",
                                     include_working=True)
    graph = json.loads(jsonld)
    text = json.dumps(graph, ensure_ascii=False)
    assert media_type == "application/ld+json"
    assert "常住人口基本信息" in text and "草稿不导出" not in text
    ttl, _, ext = ops.read(service.export_entries, p.outsider.actor, fmt="dcat-ttl")
    assert ext == "ttl" and b"dcat:Dataset" in ttl and b"101001/000001" in ttl
    with pytest.raises(ValidationFailed):
        ops.read(service.export_entries, p.outsider.actor, fmt="pdf")
