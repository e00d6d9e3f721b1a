"""`gongshu job workers`: the worker processes, alive, draining or gone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gongshu.cli.main import build_app
from gongshu.core.config import Settings
from gongshu.core.jobs import Worker
from gongshu.core.runtime import Runtime


def test_job_workers_lists_the_live_and_draining_workers(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GONGSHU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GONGSHU_DATABASE_URL", raising=False)
    runner = CliRunner()
    app = build_app()
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert json.loads(runner.invoke(app, ["job", "workers", "--json"]).stdout) == []
    rt = Runtime(Settings(job_threads=0))
    worker = Worker(rt, name="host-a:1", threads=2)
    worker.start()
    try:
        listed = json.loads(runner.invoke(app, ["job", "workers", "--json"]).stdout)
        assert [(w["name"], w["threads"], w["alive"], w["draining"]) for w in listed] == [
            ("host-a:1", 2, True, False)]
        assert "host-a:1" in runner.invoke(app, ["job", "workers"]).stdout
    finally:
        worker.drain(1)
        rt.close()
    assert json.loads(runner.invoke(app, ["job", "workers", "--json"]).stdout) == []
