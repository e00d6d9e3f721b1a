"""The CLI contract of `gongshu deid assess` and `gongshu deid apply` (external checks use it)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from gongshu.cli import main as cli
from library.data import write_file

HEADER = ["性别", "出生年", "区县", "姓名", "病种"]
ROWS = [
    ["男", "1985", "140105", "张三", "高血压"],
    ["男", "1985", "140105", "李四", "糖尿病"],
    ["男", "1985", "140106", "王五", "高血压"],
    ["女", "1990", "140781", "赵六", "高血压"],
    ["女", "1990", "140781", "钱七", "哮喘"],
    ["女", "1990", "", "孙八", "哮喘"],  # a missing county: a value of its own
]


@pytest.fixture
def gongshu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("GONGSHU_DATA_DIR", str(tmp_path / "data"))
    app = cli.build_app()
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run


def expected(qi: list[int], k: int) -> dict[str, Any]:
    classes = Counter(tuple(r[i] or None for i in qi) for r in ROWS)
    smallest = min(classes.values())
    return {"records": len(ROWS), "classes": len(classes), "k": smallest,
            "max_risk": 1 / smallest, "avg_risk": len(classes) / len(ROWS),
            "at_risk": sum(n for n in classes.values() if n < k)}


@pytest.mark.parametrize(("name", "options"), [
    ("utf8.csv", {}),
    ("gbk.csv", {"encoding": "gbk"}),
    ("titled.xlsx", {"title": "2024年某区人口登记表"}),
    ("data.parquet", {}),
    ("data.json", {}),
])
@pytest.mark.parametrize(("qi", "k"), [([0, 1], 10), ([0, 1, 2], 2), ([2], 3)])
def test_assess_json_contract(gongshu: Any, tmp_path: Path, name: str, options: dict[str, Any],
                              qi: list[int], k: int) -> None:
    path = write_file(tmp_path / name, ROWS, header=HEADER, **options)
    result = gongshu("deid", "assess", path, "--qi", ",".join(HEADER[i] for i in qi),
                     "--k", str(k), "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    want = expected(qi, k)
    for key in ("records", "classes", "k", "at_risk"):
        assert got[key] == want[key] and isinstance(got[key], int), key
    for key in ("max_risk", "avg_risk"):
        assert got[key] == pytest.approx(want[key]) and isinstance(got[key], float), key


def test_assess_default_k_sensitive_and_table(gongshu: Any, tmp_path: Path) -> None:
    path = write_file(tmp_path / "d.csv", ROWS, header=HEADER)
    got = json.loads(gongshu("deid", "assess", path, "--qi", "性别", "--sensitive", "病种",
                             "--json").stdout)
    assert got["at_risk"] == 6 and got["k_threshold"] == 10  # both classes are below 10
    assert got["l"] == 2 and got["class_sizes"] == [[3, 2]]
    shown = gongshu("deid", "assess", path, "--qi", "性别")
    assert shown.exit_code == 0 and "classes" in shown.stdout


@pytest.mark.parametrize("args", [
    ["--qi", "性别,无此列"],
    ["--qi", ","],
    ["--qi", "性别", "--sensitive", "无此列"],
])
def test_assess_bad_columns(gongshu: Any, tmp_path: Path, args: list[str]) -> None:
    path = write_file(tmp_path / "d.csv", ROWS, header=HEADER)
    result = gongshu("deid", "assess", path, *args, "--json")
    assert result.exit_code == 1
    assert "无此列" in result.output or "quasi-identifier" in result.output
    assert result.stdout.strip() == "" or not result.stdout.strip().startswith("{")


def test_assess_bad_file(gongshu: Any, tmp_path: Path) -> None:
    missing = gongshu("deid", "assess", tmp_path / "nope.csv", "--qi", "a", "--json")
    assert missing.exit_code == 1
    odd = tmp_path / "x.bin"
    odd.write_bytes(b"\x00\x01")
    assert gongshu("deid", "assess", odd, "--qi", "a", "--json").exit_code == 1


PROFILE = """
columns:
  姓名: pseudonym
  出生年: {transform: date, to: band10}
  区县: {transform: region, to: city, output: name}
quasi_identifiers: [性别, 出生年, 区县]
sensitive: 病种
thresholds: {k: 2, l: 2}
suppress: drop
"""


def test_apply_writes_and_prints_the_assessment(gongshu: Any, tmp_path: Path) -> None:
    path = write_file(tmp_path / "d.csv", ROWS, header=HEADER, encoding="gbk")
    profile = tmp_path / "p.yaml"
    profile.write_text(PROFILE, encoding="utf-8")
    out = tmp_path / "out" / "deid.parquet"
    result = gongshu("deid", "apply", path, "--profile", profile, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["written"] is True and got["k"] >= 2 and got["l"] >= 2
    table = pq.read_table(out)
    assert table.num_rows == got["rows"] == got["records"] == 5  # 孙八's class of one: dropped
    assert set(table.column("区县").to_pylist()) == {"太原市", "晋中市"}
    assert set(table.column("出生年").to_pylist()) == {"1980-1989", "1990-1999"}
    assert all(len(p) == 32 for p in table.column("姓名").to_pylist())
    assert "张三" not in set(table.column("姓名").to_pylist())
    csv_out = tmp_path / "deid.csv"
    assert gongshu("deid", "apply", path, "--profile", profile, "-o", csv_out,
                   "--format", "csv").exit_code == 0
    assert csv_out.read_text("utf-8-sig").splitlines()[0] == '"性别","出生年","区县","姓名","病种"'
    assert list(tmp_path.rglob("*.part")) == []


def test_apply_refuses_and_writes_nothing_when_blocked(gongshu: Any, tmp_path: Path) -> None:
    path = write_file(tmp_path / "d.csv", ROWS, header=HEADER)
    profile = tmp_path / "p.yaml"
    profile.write_text(PROFILE.replace("suppress: drop", "suppress: none")
                       .replace("k: 2, l: 2", "k: 3, l: 2"), encoding="utf-8")
    out = tmp_path / "out.csv"
    result = gongshu("deid", "apply", path, "--profile", profile, "-o", out, "--json")
    assert result.exit_code == 1
    got = json.loads(result.stdout)
    assert got["written"] is False and got["k"] < 3
    assert [r["code"] for r in got["reasons"]] == ["k_below", "l_below"]  # 孙八: alone
    assert "Nothing was written" in result.output
    assert not out.exists() and list(tmp_path.glob("*.part")) == []


@pytest.mark.parametrize(("profile", "message"), [
    ("columns: [", "YAML"),
    ("quasi_identifiers: [无此列]", "无此列"),
    ("quasi_identifiers: [性别]\ncolumns: {姓名: {transform: bucket, edges: [3, 1]}}", "edges"),
])
def test_apply_bad_profile(gongshu: Any, tmp_path: Path, profile: str, message: str) -> None:
    path = write_file(tmp_path / "d.csv", ROWS, header=HEADER)
    p = tmp_path / "p.yaml"
    p.write_text(profile, encoding="utf-8")
    out = tmp_path / "out.csv"
    result = gongshu("deid", "apply", path, "--profile", p, "-o", out)
    assert result.exit_code == 1 and message in result.output
    assert not out.exists()
    assert gongshu("deid", "apply", path, "--profile", tmp_path / "none.yaml", "-o",
                   out).exit_code == 1
