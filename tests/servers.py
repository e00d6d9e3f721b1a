"""Real ``gongshu serve`` and ``gongshu worker`` processes on a test's database and data
directory, for tests that need several processes (issue 13): each started in its own process
group and stopped at the end, bounded in time.

    with Processes(runtime) as procs:
        base = procs.web(workers=2, web_threads=6)
        procs.worker()
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

import gongshu


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Processes:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def data_dir(self) -> Path:
        return Path(self.runtime.settings.resolved_data_dir)

    def env(self, **settings: Any) -> dict[str, str]:
        src = str(Path(gongshu.__file__).resolve().parents[1])
        return {**os.environ,
                "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
                "GONGSHU_DATA_DIR": str(self.data_dir),
                "GONGSHU_DATABASE_URL": self.runtime.settings.effective_database_url,
                "GONGSHU_JOB_THREADS": "0", "GONGSHU_LOG_LEVEL": "WARNING",
                **{f"GONGSHU_{k.upper()}": str(v) for k, v in settings.items()}}

    def _spawn(self, args: list[str], log_name: str, **settings: Any) -> subprocess.Popen[bytes]:
        log = open(self.data_dir / log_name, "wb")  # noqa: SIM115 - the child writes it
        proc = subprocess.Popen([sys.executable, "-m", "gongshu.cli.main", *args],
                                env=self.env(**settings), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.data_dir / name).read_text(errors="replace")[-3000:]

    def web(self, workers: int = 1, **settings: Any) -> str:
        """Start ``gongshu serve`` and wait until ``/healthz`` answers: its base URL."""
        port = free_port()
        name = f"serve-{port}.log"
        proc = self._spawn(["serve", "--port", str(port), "--workers", str(workers)], name,
                           **settings)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, self.log(name)
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    return base
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the server did not start in 90 s: {self.log(name)}")

    def worker(self, threads: int = 1, **settings: Any) -> subprocess.Popen[bytes]:
        """Start ``gongshu worker`` (job threads of its own)."""
        return self._spawn(["worker", "--threads", str(threads)], f"worker-{len(self.procs)}.log",
                           **settings)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        self.procs.clear()
