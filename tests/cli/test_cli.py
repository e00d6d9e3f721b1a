"""The `gongshu` command, run as an operator would (through Click's runner, same process)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gongshu.cli.main import build_app


@pytest.fixture
def gongshu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("GONGSHU_DATA_DIR", str(data_dir))
    monkeypatch.delenv("GONGSHU_DATABASE_URL", raising=False)
    runner = CliRunner()
    app = build_app()

    def run(*args: str, input: str | None = None) -> Any:
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    run.data_dir = data_dir  # type: ignore[attr-defined]
    return run


def test_init_org_user_token(gongshu: Any) -> None:
    assert gongshu("init").exit_code == 0
    assert (gongshu.data_dir / "keys" / "session.key").exists()
    r = gongshu("org", "create", "山西省人民政府", "--kind", "government", "--level", "province",
                "--region", "140000")
    assert r.exit_code == 0, r.output
    r = gongshu("org", "create", "山西省数据局", "--kind", "data_bureau", "--parent", "山西省人民政府")
    assert r.exit_code == 0, r.output
    r = gongshu("user", "create", "alice", "--name", "Alice", "--org", "山西省数据局",
                "--password", "a-long-password")
    assert r.exit_code == 0, r.output
    assert gongshu("user", "grant", "alice", "auditor", "--org", "山西省人民政府", "--subtree").exit_code == 0
    users = json.loads(gongshu("user", "list", "--json").stdout)
    assert users[0]["username"] == "alice" and users[0]["grants"][0]["role"] == "auditor"
    token = gongshu("token", "create", "alice", "--name", "etl", "--days", "7")
    assert token.exit_code == 0 and token.stdout.strip().splitlines()[-1].startswith("gs_")
    orgs = json.loads(gongshu("org", "list", "--json").stdout)
    assert [o["name"] for o in orgs] == ["山西省人民政府", "山西省数据局"]


def test_bad_input_prints_every_problem_and_exits_1(gongshu: Any) -> None:
    gongshu("init")
    gongshu("org", "create", "山西省人民政府", "--kind", "government", "--level", "province",
            "--region", "140000")
    r = gongshu("user", "create", "B A D", "--name", " ", "--org", "山西省人民政府", "--password", "x")
    assert r.exit_code == 1
    for field in ("username", "display_name", "password"):
        assert field in r.stderr
    r = gongshu("user", "grant", "nobody", "auditor", "--org", "山西省人民政府")
    assert r.exit_code == 1 and "user_not_found" in r.stderr


def test_audit_verify_detects_tampering_and_names_the_event(gongshu: Any) -> None:
    gongshu("init")
    gongshu("org", "create", "山西省人民政府", "--kind", "government", "--level", "province",
            "--region", "140000")
    gongshu("org", "create", "山西省数据局", "--kind", "data_bureau", "--parent", "山西省人民政府")
    ok = gongshu("audit", "verify", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"] is True
    with sqlite3.connect(gongshu.data_dir / "gongshu.db") as conn:
        conn.execute("UPDATE audit_event SET details = '{\"name\":\"forged\"}' WHERE seq = 2")
    bad = gongshu("audit", "verify")
    assert bad.exit_code == 1
    assert "event 2" in bad.stderr and "edited" in bad.stderr


def test_demo_prepares_a_province_with_every_role(gongshu: Any) -> None:
    r = gongshu("demo", "--no-serve")
    assert r.exit_code == 0, r.output
    logins = (gongshu.data_dir / "demo-logins.txt").read_text(encoding="utf-8")
    for role in ("admin", "bureau_reviewer", "catalog_editor", "data_steward", "requester",
                 "operator", "security_officer", "auditor", "cdo"):
        assert role in logins
    assert (gongshu.data_dir / "demo-logins.txt").stat().st_mode & 0o077 == 0
    again = gongshu("demo", "--no-serve")
    assert "already" in again.stdout
    assert gongshu("audit", "verify").exit_code == 0
