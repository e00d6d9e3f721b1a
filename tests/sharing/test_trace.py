"""Leak tracing: among 50 grants of one entry, a copy names the grant it was delivered under,
whatever was done to it (rows cut and re-sorted, columns dropped, renamed or reordered; CSV in
UTF-8 or GBK, XLSX, Parquet); a file no grant delivered names none."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from gongshu.sharing import delivery
from gongshu.sharing import trace as tracing
from library.data import SYSTEM, register_rows, write_file
from sharing.delivery_support import issue, pull, store

ROWS = 4000
ITEMS = ["XM", "GMSFHM", "LXDH", "ZZ", "YSR"]


@pytest.fixture
def fifty(runtime: Any, entry: Any, people: Any, run_ingest: Any, tmp_path: Path) -> Any:
    """50 grants of the same items of one entry (every second one with ID numbers in clear),
    each pulled once."""
    store(run_ingest, people, entry, tmp_path, ROWS)
    grants = [issue(runtime, entry, people.outsider, items=ITEMS,
                    clear_items=["GMSFHM"] if i % 2 else []) for i in range(50)]
    for grant in grants:
        pull(runtime, people.outsider.actor, grant.id, limit=1)
    return grants


def _copy(runtime: Any, grant: Any, tmp_path: Path) -> pa.Table:
    path = tmp_path / f"delivered-{grant.id}.parquet"
    delivery.pull_to_file(SYSTEM, runtime.db, grant.id, path, format="parquet")
    return pq.read_table(path)


def _disguise(table: pa.Table, *, keep: float, seed: int, drop: list[str],
              rename: dict[str, str] | None = None) -> pa.Table:
    rng = random.Random(seed)
    rows = rng.sample(range(table.num_rows), int(table.num_rows * keep))  # cut and re-sorted
    table = table.take(pa.array(rows)).drop_columns(drop)
    names = table.column_names[::-1]  # reordered
    table = table.select(names)
    if rename:
        table = table.rename_columns([rename.get(n, n) for n in table.column_names])
    return table.cast(pa.schema([pa.field(n, pa.string()) for n in table.column_names]))


def _write(table: pa.Table, path: Path) -> Path:
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    elif path.suffix == ".xlsx":
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(table.column_names)
        for row in zip(*(c.to_pylist() for c in table.columns), strict=True):
            ws.append(list(row))
        wb.save(path)
    elif path.name.endswith(".gbk.csv"):
        buffer = pa.BufferOutputStream()
        pacsv.write_csv(table, buffer)
        path.write_bytes(buffer.getvalue().to_pybytes().decode("utf-8").encode("gbk"))
    else:
        pacsv.write_csv(table, path)
    return path


def _trace(runtime: Any, path: Path) -> tracing.TraceResult:
    with runtime.db.transaction() as db:
        return tracing.trace(SYSTEM, db, path)


DISGUISES = [
    ("copy.csv", {"keep": 0.5, "drop": ["GMSFHM", "YSR"]}),
    ("copy.gbk.csv", {"keep": 0.6, "drop": ["YSR"], "rename": {"XM": "name", "LXDH": "phone"}}),
    ("copy.xlsx", {"keep": 0.5, "drop": ["ZZ"]}),
    ("copy.parquet", {"keep": 0.7, "drop": ["XM", "YSR"]}),
]


def test_names_the_grant_in_every_disguise(runtime: Any, fifty: Any, tmp_path: Path) -> None:
    for i, (name, how) in enumerate(DISGUISES):
        leaked = fifty[7 + 9 * i]  # odd and even ones: IDs in clear and masked
        table = _disguise(_copy(runtime, leaked, tmp_path), seed=i, **how)
        found = _trace(runtime, _write(table, tmp_path / name))
        assert found.grant_id == str(leaked.id), (name, found.as_dict())
        assert found.confidence >= 0.999
        assert found.candidates[0].grant_id == str(leaked.id)
        assert all(c.hits < found.candidates[0].hits for c in found.candidates[1:])


def test_a_file_no_grant_delivered_names_none(runtime: Any, fifty: Any, tmp_path: Path) -> None:
    path = write_file(tmp_path / "unrelated.csv", register_rows(3000, seed=99))
    found = _trace(runtime, path)
    assert found.grant_id is None
    assert found.as_dict()["grant_id"] is None


def test_cli_pull_and_trace(runtime: Any, fifty: Any, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    from gongshu.cli.main import build_app

    monkeypatch.setenv("GONGSHU_DATA_DIR", str(runtime.settings.data_dir))
    monkeypatch.setenv("GONGSHU_DATABASE_URL", str(runtime.settings.database_url))
    app = build_app()
    runner = CliRunner()
    leaked = fifty[3]
    out = tmp_path / "pulled.csv"
    result = runner.invoke(app, ["sharing", "pull", str(leaked.id), "-o", str(out),
                                 "--format", "csv"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    table = pacsv.read_csv(out, convert_options=pacsv.ConvertOptions(
        column_types={c: pa.string() for c in ITEMS}))
    assert table.num_rows > ROWS
    cut = _write(_disguise(table, keep=0.5, seed=5, drop=["GMSFHM"]), tmp_path / "cut.csv")
    result = runner.invoke(app, ["sharing", "trace", str(cut), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["grant_id"] == str(leaked.id)
    assert set(doc) == {"grant_id", "confidence", "candidates"}
    assert doc["candidates"][0] == {"grant_id": str(leaked.id), "score": doc["confidence"]}
    unrelated = write_file(tmp_path / "other.csv", register_rows(200, seed=3))
    result = runner.invoke(app, ["sharing", "trace", str(unrelated), "--json"],
                           catch_exceptions=False)
    assert json.loads(result.stdout)["grant_id"] is None
    bad = runner.invoke(app, ["sharing", "pull", "not-a-grant", "-o", str(tmp_path / "x.csv")])
    assert bad.exit_code == 1
