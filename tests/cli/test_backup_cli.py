"""`gongshu backup` and `gongshu restore`: the restore drill of docs/operations.md, on the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gongshu.cli.main import build_app
from gongshu.core.config import Settings
from gongshu.core.db import utcnow
from gongshu.core.jobs import Worker
from gongshu.core.runtime import Runtime


@pytest.fixture
def gongshu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("GONGSHU_DATA_DIR", str(tmp_path / "live"))
    monkeypatch.delenv("GONGSHU_DATABASE_URL", raising=False)
    runner = CliRunner()
    app = build_app()

    def run(*args: str) -> Any:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return run


def _live(gongshu: Any) -> None:
    assert gongshu("init").exit_code == 0
    for args in (("山西省人民政府", "--kind", "government", "--level", "province", "--region",
                  "140000"),
                 ("山西省数据局", "--kind", "data_bureau", "--parent", "山西省人民政府")):
        assert gongshu("org", "create", *args).exit_code == 0


def test_the_restore_drill(gongshu: Any, tmp_path: Path) -> None:
    _live(gongshu)
    rt = Runtime(Settings(job_threads=0))  # a worker runs on the live platform
    with rt.db.transaction() as db:
        Worker(rt, name="live-host:7")._register(db, utcnow())
    rt.close()
    made = gongshu("backup", str(tmp_path / "backup"))
    assert made.exit_code == 0, made.output
    assert "audit chain head at event" in made.stdout
    drill = tmp_path / "drill"
    drill.mkdir(mode=0o700)
    shutil.copytree(tmp_path / "live" / "keys", drill / "keys")  # from the key backup
    restored = gongshu("--data-dir", str(drill), "restore", str(tmp_path / "backup"))
    assert restored.exit_code == 0, restored.output
    verified = gongshu("--data-dir", str(drill), "audit", "verify", "--json")
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)["ok"] is True
    orgs = json.loads(gongshu("--data-dir", str(drill), "org", "list", "--json").stdout)
    assert [o["name"] for o in orgs] == ["山西省人民政府", "山西省数据局"]
    # the live platform's worker does not run on the restored one
    assert json.loads(gongshu("--data-dir", str(drill), "job", "workers", "--json").stdout) == []
    again = gongshu("--data-dir", str(drill), "restore", str(tmp_path / "backup"))
    assert again.exit_code == 1 and "restore_target_not_empty" in again.stderr


def test_a_damaged_backup_is_refused_with_a_clear_message(gongshu: Any, tmp_path: Path) -> None:
    _live(gongshu)
    assert gongshu("backup", str(tmp_path / "backup")).exit_code == 0
    database = tmp_path / "backup" / "db" / "gongshu.db"
    data = bytearray(database.read_bytes())
    data[200] ^= 0x01
    database.write_bytes(bytes(data))
    drill = tmp_path / "drill"
    drill.mkdir()
    shutil.copytree(tmp_path / "live" / "keys", drill / "keys")
    refused = gongshu("--data-dir", str(drill), "restore", str(tmp_path / "backup"))
    assert refused.exit_code == 1
    assert "damaged" in refused.stderr and "db/gongshu.db" in refused.stderr
    assert not (drill / "gongshu.db").exists()
    # a backup that did not finish has no manifest
    (tmp_path / "backup" / "manifest.json").unlink()
    refused = gongshu("--data-dir", str(drill), "restore", str(tmp_path / "backup"))
    assert refused.exit_code == 1 and "did not finish" in refused.stderr
