"""`gongshu opening …` as an operator scripts it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from gongshu.cli import main as cli
from gongshu.core.runtime import Runtime
from gongshu.opening import service


@pytest.fixture
def gongshu(runtime: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    app = cli.build_app()
    runner = CliRunner()

    def run(*args: str) -> Any:
        # each command opens its runtime and closes it after (as ``gongshu`` does)
        monkeypatch.setattr(cli.State, "runtime", Runtime(runtime.settings))
        return runner.invoke(app, list(args), catch_exceptions=False)

    return run


def test_list_usage_keys_and_applications(gongshu: Any, runtime: Any, publish: Any) -> None:
    opened = publish("开放命令行数据", opening="open", grade="general-1")
    publish("不开放命令行数据", opening="not_open", grade="general-1")
    listed = json.loads(gongshu("opening", "list", "--json").stdout)
    assert [r["name"] for r in listed] == ["开放命令行数据"]
    assert listed[0]["resource_code"] == opened.resource_code
    assert "开放命令行数据" in gongshu("opening", "list").stdout

    usage = json.loads(gongshu("opening", "usage", opened.resource_code, "--days", "7",
                               "--json").stdout)
    assert usage["totals"]["download"] == 0 and len(usage["days"]) == 7

    first = gongshu("opening", "key", "create", "cli@example.cn", "--register", "张三")
    assert first.exit_code == 0 and first.stdout.strip().startswith("gso_")
    second = gongshu("opening", "key", "create", "cli@example.cn", "--name", "ci")
    key = second.stdout.strip()
    with runtime.db.transaction() as db:
        developer, _key = service.authenticate_key(db, key)
        assert developer.name == "张三"
    prefix = key.split("_")[1]
    assert gongshu("opening", "key", "revoke", prefix).exit_code == 0
    with runtime.db.transaction() as db, pytest.raises(Exception, match="revoked"):
        service.authenticate_key(db, key)
    assert json.loads(gongshu("opening", "applications", "--json").stdout) == []
