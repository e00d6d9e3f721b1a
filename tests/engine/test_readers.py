"""Streaming readers: every format and encoding, title rows, sniffed delimiters and quoting,
bounded batches of one schema, and clear errors on bad files (synthetic data only)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gongshu.core.errors import BadRequest, ValidationFailed
from gongshu.engine.readers import detect_encoding, find_header_row, open_source, sniff_csv

HEADER = ["姓名", "身份证号", "联系电话", "备注"]
ROWS = [
    ["张三", "11010519491231002X", "13812345678", "住太原市小店区体育路12号"],
    ["李四", "", "+86 139 1234 5678", "含,逗号"],
    ["王五", "140105198507091237", "0351-7654321", '含"引号"'],
]


def csv_text(delimiter: str = ",", title: str | None = None, blank: int = 0) -> str:
    def cell(c: str) -> str:
        if delimiter in c or '"' in c or "\n" in c:
            return '"' + c.replace('"', '""') + '"'
        return c

    lines = ([title] if title else []) + [""] * blank
    lines += [delimiter.join(cell(c) for c in r) for r in [HEADER, *ROWS]]
    return "\n".join(lines) + "\n"


def rows_of(path: Path, **kwargs) -> list[list[str | None]]:
    table = open_source(path, **kwargs).sample(100)
    return [list(r.values()) for r in table.to_pylist()]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(csv_text().encode(encoding))
    reader = open_source(path)
    assert reader.format == "csv"
    assert reader.encoding == {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig"}.get(encoding,
                                                                            "gb18030")
    assert reader.schema.names == HEADER
    assert rows_of(path) == ROWS


@pytest.mark.parametrize("delimiter", [",", "\t", ";", "|"])
def test_sniffed_delimiters(tmp_path: Path, delimiter: str) -> None:
    path = tmp_path / "people.txt"
    path.write_text(csv_text(delimiter), encoding="utf-8")
    reader = open_source(path)
    assert reader.delimiter == delimiter
    assert rows_of(path) == ROWS


def test_title_and_blank_rows_above_the_header(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(csv_text(title="2024年人口登记表", blank=2).encode("gbk"))
    reader = open_source(path)
    assert reader.header_row == 3
    assert reader.schema.names == HEADER
    assert rows_of(path) == ROWS


def test_quoted_newlines_and_single_quotes(tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    path.write_text('a,b\n1,"第一行\n第二行"\n2,x\n', encoding="utf-8")
    assert rows_of(path) == [["1", "第一行\n第二行"], ["2", "x"]]
    dialect, _ = sniff_csv("a;b\n'1;2';x\n'3';y\n")
    assert dialect.quote_char == "'" and dialect.delimiter == ";"


def test_duplicate_and_empty_headers(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("姓名,,姓名\n张三,1,李四\n", encoding="utf-8")
    assert open_source(path).schema.names == ["姓名", "column_2", "姓名_2"]


def test_batches_are_bounded_and_share_one_schema(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    lines = ["id,name"] + [f"{i},名{i}" for i in range(1000)]
    path.write_text("\n".join(lines) + "\n", encoding="gbk")
    reader = open_source(path)
    batches = list(reader.batches(batch_rows=300))
    assert [b.num_rows for b in batches] == [300, 300, 300, 100]
    assert all(b.schema == reader.schema for b in batches)
    assert reader.schema.field("id").type == pa.string()  # text, leading zeros kept
    assert batches[-1].column(1)[-1].as_py() == "名999"
    assert reader.sample(5).num_rows == 5


def test_leading_zeros_kept(tmp_path: Path) -> None:
    path = tmp_path / "zeros.csv"
    path.write_text("区号,电话\n0351,03517654321\n", encoding="utf-8")
    assert rows_of(path) == [["0351", "03517654321"]]


def write_xlsx(path: Path, *, title: bool, sheets: tuple[str, ...] = ("人口",)) -> Path:
    wb = openpyxl.Workbook()
    for i, name in enumerate(sheets):
        ws = wb.active if i == 0 else wb.create_sheet()
        ws.title = name
        if title:
            ws.append([f"{name}登记表"])
            ws.append([])
        ws.append(HEADER)
        for row in ROWS:
            ws.append([c or None for c in row])
        ws.append([None, None, None, None])
    wb.save(path)
    return path


def test_xlsx_first_sheet_with_title_row(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "book.xlsx", title=True, sheets=("人口", "其他"))
    reader = open_source(path)
    assert reader.format == "xlsx" and reader.sheet == "人口" and reader.header_row == 2
    assert reader.schema.names == HEADER
    assert rows_of(path) == [[c or None for c in r] for r in ROWS]


def test_xlsx_chosen_sheet_and_numbers(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "first"
    ws = wb.create_sheet("数据")
    ws.append(["电话", "金额", "日期"])
    import datetime as dt
    ws.append([13812345678, 12.5, dt.date(2024, 1, 2)])
    wb.save(path)
    assert rows_of(path, sheet="数据") == [["13812345678", "12.5", "2024-01-02"]]
    with pytest.raises(BadRequest, match="数据"):
        open_source(path, sheet="nope")


def test_json_array_and_lines(tmp_path: Path) -> None:
    records = [dict(zip(HEADER, r, strict=True)) for r in ROWS]
    array = tmp_path / "rows.json"
    array.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    lines = tmp_path / "rows.jsonl"
    lines.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), "utf-8")
    for path, kind in ((array, "json"), (lines, "jsonl")):
        reader = open_source(path)
        assert reader.format == kind
        assert reader.schema.names == HEADER
        assert rows_of(path) == ROWS


def test_json_types_kept_on_request(tmp_path: Path) -> None:
    path = tmp_path / "typed.jsonl"
    path.write_text('{"n": 1, "x": {"a": 2}}\n{"n": 2, "x": null}\n', encoding="utf-8")
    assert open_source(path, as_text=False).schema.field("n").type == pa.int64()
    assert rows_of(path)[0][0] == "1"


def test_parquet(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"id": pa.array([1, 2], pa.int64()), "名": ["甲", None]}), path)
    assert rows_of(path) == [["1", "甲"], ["2", None]]
    assert open_source(path, as_text=False).schema.field("id").type == pa.int64()


def test_database_table(tmp_path: Path) -> None:
    db = tmp_path / "src.db"
    with sqlite3.connect(db) as con:
        con.execute("create table people (name text, age integer, phone text)")
        con.executemany("insert into people values (?, ?, ?)",
                        [("张三", 30, "13812345678"), ("李四", None, None)])
    url = f"sqlite:///{db}"
    reader = open_source(url, table="people")
    assert reader.format == "sql"
    assert rows_of(url, table="people") == [["张三", "30", "13812345678"], ["李四", None, None]]
    assert open_source(url, table="people", as_text=False).schema.field("age").type == pa.int64()
    with pytest.raises(BadRequest, match="no table|No table"):
        open_source(url, table="missing")
    with pytest.raises(BadRequest):
        open_source(url)


@pytest.mark.parametrize(("name", "content", "error"), [
    ("missing.csv", None, BadRequest),
    ("empty.csv", b"  \n", ValidationFailed),
    ("binary.csv", b"\x00\x01\x02" * 50, ValidationFailed),
    ("bad.xlsx", b"PK\x03\x04not really", ValidationFailed),
    ("bad.parquet", b"PAR1 not really", ValidationFailed),
    ("bad.json", b"[{not json", ValidationFailed),
    ("old.xls", b"\xd0\xcf\x11\xe0", BadRequest),
])
def test_bad_files(tmp_path: Path, name: str, content: bytes | None, error: type) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error) as caught:
        open_source(path).sample(10)
    assert name.split(".")[0] in caught.value.detail or path.name in caught.value.detail


def test_ragged_csv_fails_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n1,2\n" + "3,4\n" * 10 + "5,6,7,8\n", encoding="utf-8")
    with pytest.raises(ValidationFailed, match="ragged.csv.*columns"):
        list(open_source(path).batches())


def test_encoding_detection_and_header_search() -> None:
    assert detect_encoding("姓名,电话\n张三,1".encode("gbk")) == "gb18030"
    assert detect_encoding("姓名".encode() + b"x" * 10) == "utf-8"
    truncated = ("名" * 10).encode()[:-1]  # a sample cut inside a character
    assert detect_encoding(truncated) == "utf-8"
    assert find_header_row([["title"], [], ["a", "b", "c"], ["1", "2", "3"]]) == 2
    assert find_header_row([["a", "b"], ["1", "2"]]) == 0


# --------------------------------------------------------------------------- large files


def gb_lines(n: int, extra: str = "") -> str:
    rows = [f"张{i % 50}三,1401051985070912{i % 10}X,联系电话1381234{i:04d}，住太原市小店区"
            + (extra if i % 97 == 0 else "") for i in range(n)]
    return "姓名,身份证号,备注\n" + "\n".join(rows) + "\n"


def read_all(path: Path, batch_rows: int = 500) -> list[dict[str, str | None]]:
    with open_source(path) as reader:
        return [row for b in reader.batches(batch_rows=batch_rows) for row in b.to_pylist()]


@pytest.fixture
def helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Transcode even small files in a helper process, in small chunks."""
    from gongshu.engine import readers

    monkeypatch.setattr(readers, "HELPER_MIN_BYTES", 0)
    monkeypatch.setattr(readers.Utf8Stream, "CHUNK", 4096)


@pytest.mark.parametrize("extra", ["体育路", "€𠀀"])  # GBK, and GB 18030 four-byte characters
def test_helper_process_gives_the_same_rows(tmp_path: Path, helpers: None,
                                             extra: str) -> None:
    text = gb_lines(2000, extra)
    gb = tmp_path / "gb.csv"
    gb.write_bytes(text.encode("gb18030"))
    utf8 = tmp_path / "utf8.csv"
    utf8.write_text(text, encoding="utf-8")
    assert read_all(gb) == read_all(utf8)


def test_helper_process_reports_the_same_error(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from gongshu.engine import readers

    monkeypatch.setattr(readers, "SNIFF_BYTES", 8192)  # the bad bytes come after the sample
    path = tmp_path / "bad.csv"
    path.write_bytes(gb_lines(2000).encode("gbk") + b"\xff\xfe\xff\n")
    with pytest.raises(ValidationFailed) as in_thread:
        read_all(path)

    monkeypatch.setattr(readers, "HELPER_MIN_BYTES", 0)
    with pytest.raises(ValidationFailed) as helped:
        read_all(path)
    assert str(helped.value) == str(in_thread.value)
    assert "position" in str(helped.value)


def test_closing_early_stops_the_helper(tmp_path: Path, helpers: None) -> None:
    import gc

    path = tmp_path / "gb.csv"
    path.write_bytes(gb_lines(5000).encode("gbk"))
    for _ in range(3):
        assert open_source(path).sample(10).num_rows == 10
    gc.collect()
    import time

    children = Path(f"/proc/{__import__('os').getpid()}/task")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _helper_children():
        time.sleep(0.05)
    assert _helper_children() == [], children


def _helper_children() -> list[str]:
    import os

    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = next((line.split()[1] for line in status.splitlines()
                     if line.startswith("PPid:")), "")
        if ppid == str(os.getpid()) and b"_decode_chunk" in cmdline and "zombie" not in status:
            found.append(entry.name)
    return found


def test_csv_blocks_follow_the_row_size(tmp_path: Path) -> None:
    # The CSV reader keeps a few dozen blocks in flight: a block must hold about one batch of
    # rows, measured on the whole sample (not on its first 200 rows), and never be huge.
    path = tmp_path / "wide.csv"
    path.write_text("a,b\n" + "".join(f"{i},{'x' * 90}\n" for i in range(30_000)),
                    encoding="utf-8")
    reader = open_source(path)
    assert 90 <= reader._row_bytes <= 110
