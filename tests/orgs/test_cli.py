"""`gongshu user revoke / deactivate / passwd`: the documented recovery of the last
administrator (docs/operations.md), refused without --recovery, audited with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gongshu.cli.main import build_app


@pytest.fixture
def gongshu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("GONGSHU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GONGSHU_DATABASE_URL", raising=False)
    runner, app = CliRunner(), build_app()

    def run(*args: str, input: str | None = None) -> Any:
        return runner.invoke(app, list(args), input=input)

    assert run("init").exit_code == 0
    assert run("org", "create", "山西省人民政府", "--kind", "government", "--level", "province",
               "--region", "140000").exit_code == 0
    for user, role in (("boss", "admin"), ("watcher", "auditor")):
        assert run("user", "create", user, "--name", user, "--org", "山西省人民政府",
                   "--password", "quite-a-long-secret-1").exit_code == 0
        assert run("user", "grant", user, role, "--org", "山西省人民政府",
                   "--subtree").exit_code == 0
    return run


def test_the_last_administrator_is_recovered_only_with_recovery(gongshu: Any) -> None:
    refused = gongshu("user", "revoke", "boss", "admin", "--org", "山西省人民政府")
    assert refused.exit_code == 1 and "last administrator" in refused.output
    no_reason = gongshu("user", "revoke", "boss", "admin", "--org", "山西省人民政府", "--recovery")
    assert no_reason.exit_code == 1
    done = gongshu("user", "revoke", "boss", "admin", "--org", "山西省人民政府", "--recovery",
                   "--reason", "the only administrator left the bureau")
    assert done.exit_code == 0, done.output
    events = gongshu("audit", "list", "--action", "user.recovery", "--json")
    assert events.exit_code == 0, events.output
    assert "the only administrator left the bureau" in events.output


def test_the_operator_resets_an_auditors_password_and_no_one_holds_both(gongshu: Any) -> None:
    reset = gongshu("user", "passwd", "watcher", input="a-brand-new-secret-9\n" * 2)
    assert reset.exit_code == 0, reset.output
    both = gongshu("user", "grant", "watcher", "admin", "--org", "山西省人民政府")
    assert both.exit_code == 1 and "Separation of duties" in both.output
    assert gongshu("user", "deactivate", "boss").exit_code == 1
    assert gongshu("user", "deactivate", "boss", "--recovery").exit_code == 0
    listed = gongshu("user", "list", "--json")
    assert {u["username"]: u["is_active"] for u in json.loads(listed.output)} == {
        "boss": False, "watcher": True}
