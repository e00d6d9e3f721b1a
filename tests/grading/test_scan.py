"""scan_file and the CLI contract (issue 4 §6): same data, same result, whatever the container."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from faker import Faker
from typer.testing import CliRunner

from gongshu.core.errors import BadRequest
from gongshu.grading.cli import scan
from gongshu.grading.scan import scan_file

from . import synth

HEADER = ["姓名", "身份证号", "联系电话", "金额", "备注", "住址"]


def population(n: int = 300, seed: int = 11) -> list[list[str]]:
    """A synthetic population register: Faker zh_CN names and addresses, generated IDs."""
    fake = Faker("zh_CN")
    Faker.seed(seed)
    rng = random.Random(seed)
    ids = synth.random_ids(n, seed=seed)
    rows = []
    for i in range(n):
        phone = rng.choice(["138", "159", "186", "199"]) + f"{rng.randrange(10**8):08d}"
        if i % 7 == 0:
            phone = "+86 " + phone[:3] + " " + phone[3:7] + " " + phone[7:]
        note = rng.choice([f"市民来电，联系电话{phone.replace(' ', '')}，已转办",
                           "材料齐全，已办结", f"申请人身份证{ids[(i + 1) % n]}", ""])
        rows.append([fake.name(), ids[i] if i % 10 else "", phone,
                     f"{rng.randrange(100000) / 100:.2f}", note, fake.address().split(" ")[0]])
    return rows


def write_csv(path: Path, rows: list[list[str]], encoding: str, *, title: bool = False,
              delimiter: str = ",") -> Path:
    buffer = io.StringIO()
    if title:
        buffer.write("2024年人口登记表\n\n")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, rows: list[list[str]]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "登记表"
    ws.append(["2024年人口登记表"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))
    ws.append([])
    ws.append(HEADER)
    for row in rows:
        ws.append([c if c else None for c in row])
    wb.save(path)
    return path


@pytest.fixture(scope="module")
def rows() -> list[list[str]]:
    return population()


def without_file(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "file"}


def test_same_result_for_utf8_gbk_bom_xlsx_jsonl_parquet(tmp_path: Path,
                                                          rows: list[list[str]]) -> None:
    sources = [
        write_csv(tmp_path / "utf8.csv", rows, "utf-8"),
        write_csv(tmp_path / "gbk.csv", rows, "gbk"),
        write_csv(tmp_path / "bom.csv", rows, "utf-8-sig", title=True),
        write_csv(tmp_path / "semicolon.csv", rows, "gbk", delimiter=";"),
        write_xlsx(tmp_path / "title.xlsx", rows),
    ]
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text("\n".join(json.dumps(dict(zip(HEADER, r, strict=True)), ensure_ascii=False)
                               for r in rows), encoding="utf-8")
    parquet = tmp_path / "rows.parquet"
    pq.write_table(pa.table({h: [r[i] for r in rows] for i, h in enumerate(HEADER)}), parquet)
    sources += [jsonl, parquet]
    reports = [scan_file(p).to_json() for p in sources]
    first = without_file(reports[0])
    for path, report in zip(sources, reports, strict=True):
        assert without_file(report) == first, path.name
    assert scan_file(sources[1]).encoding == "gb18030"
    assert scan_file(sources[4]).header_row == 2


def test_contract_shape(tmp_path: Path, rows: list[list[str]]) -> None:
    path = write_csv(tmp_path / "p.csv", rows, "utf-8")
    report = scan_file(path).to_json()
    assert list(report) == ["file", "rows_scanned", "suggested_grade", "columns"]
    assert report["file"] == str(path)
    assert report["rows_scanned"] == len(rows)
    assert report["suggested_grade"] == "general-4"
    by_name = {c["name"]: c for c in report["columns"]}
    assert list(by_name) == HEADER
    for col in report["columns"]:
        assert list(col) == ["name", "detections", "suggested_grade", "reasons"]
        ratios = [d["ratio"] for d in col["detections"]]
        assert ratios == sorted(ratios, reverse=True)
        for d in col["detections"]:
            assert list(d) == ["type", "ratio", "count"]
            assert isinstance(d["ratio"], float) and isinstance(d["count"], int)
        assert col["reasons"]
    top = {c: by_name[c]["detections"][0]["type"] for c in ("姓名", "身份证号", "联系电话", "住址")}
    assert top == {"姓名": "person_name", "身份证号": "cn_id", "联系电话": "cn_mobile",
                   "住址": "address"}
    assert by_name["身份证号"]["detections"][0]["ratio"] == 1.0  # empty cells don't count
    assert by_name["身份证号"]["detections"][0]["count"] == len([r for r in rows if r[1]])
    assert {d["type"] for d in by_name["备注"]["detections"]} >= {"cn_id", "cn_mobile"}
    assert by_name["金额"]["detections"] == []
    assert by_name["金额"]["suggested_grade"] == "general-1"


def test_sample_limits_rows(tmp_path: Path, rows: list[list[str]]) -> None:
    path = write_csv(tmp_path / "p.csv", rows, "utf-8")
    assert scan_file(path, sample=50).rows_scanned == 50
    assert scan_file(path, sample=10_000).rows_scanned == len(rows)
    with pytest.raises(BadRequest):
        scan_file(path, sample=0)


def test_scan_uses_small_batches_the_same(tmp_path: Path, rows: list[list[str]]) -> None:
    path = write_csv(tmp_path / "p.csv", rows, "utf-8")
    assert scan_file(path, batch_rows=17, threads=2).to_json() == scan_file(path).to_json()


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("scan")(scan)

    @app.callback()
    def main() -> None:
        """gongshu (test mount)"""

    return app


def test_cli_json(tmp_path: Path, rows: list[list[str]], cli: typer.Typer) -> None:
    path = write_xlsx(tmp_path / "t.xlsx", rows)
    result = CliRunner().invoke(cli, ["scan", str(path), "--sheet", "登记表", "--sample", "100",
                                      "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows_scanned"] == 100
    assert "身份证号" in result.stdout  # not escaped (ensure_ascii=False)


def test_cli_table(tmp_path: Path, rows: list[list[str]], cli: typer.Typer) -> None:
    path = write_csv(tmp_path / "p.csv", rows, "gbk")
    result = CliRunner().invoke(cli, ["scan", str(path)])
    assert result.exit_code == 0, result.output
    assert "身份证号" in result.stdout and "general-4" in result.stdout


def _file(name: str, content: bytes | None):
    def make(folder: Path) -> Path:
        path = folder / name
        if content is not None:
            path.write_bytes(content)
        return path
    return make


@pytest.mark.parametrize(("make", "message"), [
    (_file("missing.csv", None), "no such file"),
    (_file("empty.csv", b""), "empty"),
    (_file("binary.csv", b"\x00\x01\x02\x03" * 100), "binary"),
    (_file("bad.xlsx", b"PK\x03\x04garbage"), "xlsx"),
    (_file("old.xls", b"\xd0\xcf\x11\xe0"), ".xls"),
])
def test_cli_bad_input(tmp_path: Path, cli: typer.Typer, make, message: str) -> None:
    result = CliRunner().invoke(cli, ["scan", str(make(tmp_path)), "--json"])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_cli_unknown_sheet(tmp_path: Path, rows: list[list[str]], cli: typer.Typer) -> None:
    path = write_xlsx(tmp_path / "t.xlsx", rows)
    result = CliRunner().invoke(cli, ["scan", str(path), "--sheet", "nope", "--json"])
    assert result.exit_code != 0 and "登记表" in result.output
