"""Masked previews (Arts. 10, 16): each type masked as documented, and what each role sees —
unmasked for the provider's data steward, masked for its other staff, columns above the
clearance hidden for the reviewing bureau, nothing for others. Previews are audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from gongshu.core.audit import AuditEvent
from gongshu.core.errors import NotFound
from gongshu.deid import masks as previews
from gongshu.engine.duckdb import DuckDBEngine
from gongshu.library import service
from gongshu.library.models import Dataset
from library.data import register_rows, write_file

MASKED = [
    ("cn_id", "110105198507090028", "110105********0028"),
    ("cn_id", "身份证11010519850709002X，请核对", "身份证110105********002X，请核对"),
    ("cn_id", "110105850709002", "110105******002"),
    ("cn_mobile", "13812345678", "138****5678"),
    ("cn_mobile", "+86 138-1234-5678", "+86 138****5678"),
    ("cn_mobile", "电话13812345678或13912345678", "电话138****5678或139****5678"),
    ("cn_landline", "0351-7654321", "0351-****4321"),
    ("bank_card", "6222021234567890123", "6222********0123"),
    ("email", "zhang.san@example.cn", "z***@example.cn"),
    ("passport", "E12345678", "E*****78"),
    ("license_plate", "晋A12345", "晋A***45"),
    ("ip", "192.168.10.20", "192.168.*.*"),
    ("geo", "37.870591,112.548963", "37.87,112.54"),
    ("person_name", "张三丰", "张**"),
    ("person_name", "李四", "李*"),
    ("person_name", "联系人：王小明，电话", "联系人：王**，电话"),
    ("address", "山西省太原市小店区体育路123号", "山西省太原市小店区****"),
    ("address", "体育路123号院5号楼", "体育路123****"),
]


@pytest.mark.parametrize(("kind", "value", "shown"), MASKED)
def test_each_type_is_masked(tmp_path: Path, kind: str, value: str, shown: str) -> None:
    with DuckDBEngine(tmp_path) as engine:
        engine.register("t", pa.table({"c": [value, None]}))
        x = previews.MASKS[kind]("c")
        assert engine.query(f"SELECT {x} AS m FROM t").column("m").to_pylist() == [shown, None]


@pytest.fixture
def stored(runtime: Any, entry: Any, people: Any, run_ingest: Any, tmp_path: Path) -> Any:
    rows = register_rows(120)
    assert run_ingest(people.steward.actor, entry,
                      write_file(tmp_path / "p.csv", rows)).status == "succeeded"
    with runtime.db.transaction(write=False) as db:
        dataset = db.scalars(sa.select(Dataset).where(Dataset.entry_id == entry.id)).one()
        return dataset.id, rows


def look(runtime: Any, actor: Any, dataset_id: Any, **kw: Any) -> service.Preview:
    with runtime.db.transaction() as db:
        found = service.preview(actor, db, dataset_id, **kw)
        db.expunge_all()
        return found


def test_the_providers_data_steward_sees_everything(runtime: Any, stored: Any,
                                                    people: Any) -> None:
    dataset_id, rows = stored
    found = look(runtime, people.steward.actor, dataset_id, limit=5)
    assert found.policy.unmasked and not found.hidden and not found.masked
    assert [r["GMSFHM"] for r in found.rows] == [r[1] for r in rows[:5]]
    assert found.rows[0]["XM"] == rows[0][0]


def test_other_staff_of_the_provider_see_masked_values(runtime: Any, stored: Any,
                                                       people: Any) -> None:
    dataset_id, rows = stored
    found = look(runtime, people.editor.actor, dataset_id, limit=3, offset=2)
    assert not found.policy.unmasked and not found.hidden
    assert found.masked["GMSFHM"] == ["cn_id"] and "cn_mobile" in found.masked["LXDH"]
    source = rows[2:5]
    for row, raw in zip(found.rows, source, strict=True):
        assert row["GMSFHM"] == raw[1][:6] + "*" * 8 + raw[1][-4:]
        assert row["LXDH"] == raw[2][:3] + "****" + raw[2][-4:]
        assert row["XM"] == raw[0][0] + "*" * (len(raw[0]) - 1)
        assert row["ZZ"] == "山西省太原市小店区****"
        assert row["SFZZ"] == (raw[6] == "是")  # nothing sensitive: shown as it is


def test_the_reviewing_bureau_does_not_see_columns_above_its_clearance(
        runtime: Any, stored: Any, people: Any) -> None:
    dataset_id, _ = stored
    found = look(runtime, people.reviewer.actor, dataset_id, limit=2)
    hidden = {c.code: c.level for c in found.hidden}
    assert hidden == {"GMSFHM": "general-4", "YSR": "general-4"}
    assert set(found.rows[0]) == {"XM", "LXDH", "ZZ", "CSRQ", "SFZZ"}
    assert found.rows[0]["XM"].endswith("*")


@pytest.mark.parametrize("who", ["outsider", "other_steward"])
def test_others_see_nothing(runtime: Any, stored: Any, people: Any, who: str) -> None:
    dataset_id, _ = stored
    with pytest.raises(NotFound):
        look(runtime, getattr(people, who).actor, dataset_id)


def test_a_preview_reads_a_page_and_is_audited(runtime: Any, stored: Any, people: Any) -> None:
    dataset_id, rows = stored
    found = look(runtime, people.editor.actor, dataset_id, limit=1000, offset=100)
    assert found.limit == runtime.settings.preview_max_rows and len(found.rows) == len(rows) - 100
    with runtime.db.transaction(write=False) as db:
        event = db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "library.preview")
                           .order_by(AuditEvent.seq.desc()).limit(1)).one()
        assert event.actor_name == "editor" and event.details_dict["unmasked"] is False
        assert event.details_dict["offset"] == 100
