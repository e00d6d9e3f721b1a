"""Uploaded files: kept in the upload area until their ingest job has read them, never larger
than ``GONGSHU_UPLOAD_MAX_MB`` (413 otherwise).

The upload area is ``uploads/`` of the configured storage (``GONGSHU_STORAGE_URL``): the data
directory by default, or an object store, so the web process that received a file and the
worker that ingests it need not share a disk. An upload is named by its *key*,
``<random>/<file name>`` relative to the area — never by an absolute path — and that key is what
the ingest job's parameters carry. A worker reads an upload from a local disk in place, and
from an object store through a local copy it removes afterwards (the readers of CSV, Excel …
need a file).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from gongshu.core.errors import GongshuError, ValidationFailed
from gongshu.engine.storage import Location, storage_location

if TYPE_CHECKING:
    from fastapi import Request, UploadFile


class PayloadTooLarge(GongshuError):
    status = 413
    default_code = "payload_too_large"


_UNSAFE = re.compile(r"[^\w.\-()\u4e00-\u9fff]+")
_KEY = re.compile(r"^[0-9a-f]{16}/[^/]+$")
#: the file beside a kept upload that says until when it is kept (ISO time, UTC)
KEPT_MARKER = ".kept-until"


def safe_name(name: str | None) -> str:
    """A file name safe to keep on disk: its last path part, odd characters replaced."""
    base = Path((name or "upload").replace("\\", "/")).name
    base = _UNSAFE.sub("_", base).strip("._") or "upload"
    return base[-120:]


def upload_area(settings: Any) -> Location:
    """Where uploads wait for their ingest job: ``uploads/`` of the configured storage."""
    return storage_location(settings).child("uploads")


def is_key(key: str) -> bool:
    """``key`` names an upload (``<random>/<name>``), nothing else in the area or outside it."""
    return bool(_KEY.match(key)) and ".." not in key.split("/")


def save_upload(request: Request, upload: UploadFile, area: Location, max_mb: int) -> str:
    """Copy an uploaded file into the area as ``<random>/<name>``, refusing more than
    ``max_mb``; returns that key."""
    limit = max_mb * 1024 * 1024
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise PayloadTooLarge(f"The file is larger than {max_mb} MB; ingest it on the server "
                              "with `gongshu library ingest`.", max_mb=max_mb)
    folder = secrets.token_hex(8)
    key = f"{folder}/{safe_name(upload.filename)}"
    path = area.path(key)
    if area.local:
        Path(path).parent.mkdir(parents=True)
    written = 0
    try:
        with area.filesystem.open_output_stream(path) as out:
            while chunk := upload.file.read(1 << 20):
                written += len(chunk)
                if written > limit:
                    raise PayloadTooLarge(f"The file is larger than {max_mb} MB; ingest it on the "
                                          "server with `gongshu library ingest`.", max_mb=max_mb)
                out.write(chunk)
        if written == 0:
            raise ValidationFailed.single("file", "empty_upload", "The file is empty.")
    except BaseException:
        with contextlib.suppress(Exception):
            area.remove(folder)
        raise
    return key


def size_of(area: Location, key: str) -> int | None:
    """The upload's size in bytes, or None when there is no such upload."""
    if not is_key(key):
        return None
    info = area.info(key)
    return int(info.size or 0) if info.is_file else None


@contextlib.contextmanager
def local_file(area: Location, key: str, scratch: Path) -> Iterator[Path]:
    """The upload as a local file: in place on a local disk; otherwise copied under ``scratch``
    (this machine's temporary directory) for as long as the block runs."""
    if area.local:
        yield Path(area.path(key))
        return
    folder = scratch / f"upload-{secrets.token_hex(8)}"
    folder.mkdir(parents=True)
    target = folder / PurePosixPath(key).name
    try:
        with area.filesystem.open_input_stream(area.path(key)) as src, target.open("wb") as out:
            while chunk := src.read(1 << 22):
                out.write(chunk)
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def discard(area: Location, key: str) -> None:
    """Remove an upload (its folder ``<random>/``) once its ingest is over."""
    if is_key(key):
        area.remove(key.split("/", 1)[0])


def keep(area: Location, key: str, until: dt.datetime) -> None:
    """Keep the upload until ``until`` (the marker beside it)."""
    area.put(f"{key.split('/', 1)[0]}/{KEPT_MARKER}", until.isoformat().encode())


def unkeep(area: Location, key: str) -> None:
    area.remove(f"{key.split('/', 1)[0]}/{KEPT_MARKER}")


def is_kept(area: Location, key: str) -> bool:
    """The upload is kept for another ingest (its folder has the marker)."""
    return is_key(key) and area.info(f"{key.split('/', 1)[0]}/{KEPT_MARKER}").is_file


def sweep_kept(area: Location, now: dt.datetime) -> int:
    """Remove the kept uploads whose time is up; returns how many."""
    removed = 0
    for info in area.listing():
        if not info.is_file and info.type.name == "Directory":
            folder = PurePosixPath(info.path).name
            marker = area.get(f"{folder}/{KEPT_MARKER}")
            if marker is None:
                continue
            try:
                until = dt.datetime.fromisoformat(marker.decode("utf-8").strip())
            except ValueError:
                until = now
            if until <= now:
                area.remove(folder)
                removed += 1
    return removed
