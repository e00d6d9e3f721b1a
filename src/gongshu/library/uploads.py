"""Uploaded files: kept under ``<data_dir>/uploads/<random>/<name>`` until their ingest job has
read them, never larger than ``GONGSHU_UPLOAD_MAX_MB`` (413 otherwise)."""

from __future__ import annotations

import re
import secrets
import shutil
from pathlib import Path

from fastapi import Request, UploadFile

from gongshu.core.errors import GongshuError, ValidationFailed


class PayloadTooLarge(GongshuError):
    status = 413
    default_code = "payload_too_large"


_UNSAFE = re.compile(r"[^\w.\-()\u4e00-\u9fff]+")


def safe_name(name: str | None) -> str:
    """A file name safe to keep on disk: its last path part, odd characters replaced."""
    base = Path((name or "upload").replace("\\", "/")).name
    base = _UNSAFE.sub("_", base).strip("._") or "upload"
    return base[-120:]


def save_upload(request: Request, upload: UploadFile, uploads: Path, max_mb: int) -> Path:
    """Copy an uploaded file into ``uploads/<random>/<name>``, refusing more than ``max_mb``."""
    limit = max_mb * 1024 * 1024
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise PayloadTooLarge(f"The file is larger than {max_mb} MB; ingest it on the server "
                              "with `gongshu library ingest`.", max_mb=max_mb)
    folder = uploads / secrets.token_hex(8)
    folder.mkdir(parents=True)
    target = folder / safe_name(upload.filename)
    written = 0
    try:
        with target.open("wb") as out:
            while chunk := upload.file.read(1 << 20):
                written += len(chunk)
                if written > limit:
                    raise PayloadTooLarge(f"The file is larger than {max_mb} MB; ingest it on the "
                                          "server with `gongshu library ingest`.", max_mb=max_mb)
                out.write(chunk)
        if written == 0:
            raise ValidationFailed.single("file", "empty_upload", "The file is empty.")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return target
