"""The checkpoint log: every signed audit checkpoint, appended to a file outside the database.

``audit-head.json`` holds only the newest checkpoint; this log keeps all of them, one JSON object
a line (``audit-checkpoints.jsonl`` in ``GONGSHU_AUDIT_CHECKPOINT_DIR``, the data directory by
default), so that a chain rewritten in the database *and* re-signed in ``audit-head.json`` (by
someone holding the key) still differs from the checkpoints signed before. Each line is one
entry, signed with the audit key over its other fields, and names the SM3 hash of the line
before it (``prev``; 64 zeros for the first), so a line taken out of the middle is seen.

Entries (``kind``):

- ``checkpoint``: the chain's head ``(seq, hash)`` was signed; it continues the one before.
- ``break``: the signer refused to sign ``(head_seq, head_hash)`` because the chain in the
  database does not continue the last checkpoint ``(seq, hash)``; ``bad_seq``/``reason`` say
  where. No checkpoint is signed after it until an acknowledgement.
- ``acknowledge``: an operator acknowledged the breaks before it (``reason``, ``by``, the audit
  event ``event_seq`` that records it): ``(seq, hash)`` starts a new signed segment. The
  entries before it stay, as evidence.

Only the signer (``core.audit.CheckpointStore``) writes it, under the checkpoint file's
``flock``, with one ``write`` per line on a file opened for appending.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

LOG_NAME = "audit-checkpoints.jsonl"
LOG_DOMAIN = b"gongshu.audit.log.v1\n"
ZERO = "0" * 64
KINDS = ("checkpoint", "break", "acknowledge")


def _sm3(data: bytes) -> str:
    try:
        h = hashlib.new("sm3")
    except ValueError:  # pragma: no cover - depends on the OpenSSL build
        from cryptography.hazmat.primitives import hashes

        d = hashes.Hash(hashes.SM3())
        d.update(data)
        return d.finalize().hex()
    h.update(data)
    return h.hexdigest()


def _message(entry: dict[str, Any]) -> bytes:
    unsigned = {k: v for k, v in entry.items() if k != "signature"}
    return LOG_DOMAIN + orjson.dumps(unsigned, option=orjson.OPT_SORT_KEYS)


def sign_entry(entry: dict[str, Any], key: Ed25519PrivateKey) -> bytes:
    """The entry as its signed line (with the newline)."""
    signature = base64.b64encode(key.sign(_message(entry))).decode()
    return orjson.dumps({**entry, "signature": signature}) + b"\n"


def entry_signature_ok(entry: dict[str, Any], public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(base64.b64decode(str(entry.get("signature", ""))), _message(entry))
    except (InvalidSignature, ValueError):
        return False
    return True


def last_line(path: Path) -> bytes | None:
    """The log's last line (without its newline), read from the end; None when there is none."""
    try:
        with open(path, "rb") as fh:
            end = fh.seek(0, os.SEEK_END)
            if end == 0:
                return None
            chunk, pos = b"", end
            while pos > 0:
                step = min(65536, pos)
                pos -= step
                fh.seek(pos)
                chunk = fh.read(step) + chunk
                body = chunk[:-1] if chunk.endswith(b"\n") else chunk
                cut = body.rfind(b"\n")
                if cut >= 0:
                    return body[cut + 1 :]
            return chunk[:-1] if chunk.endswith(b"\n") else chunk
    except FileNotFoundError:
        return None


def tail_of(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The last entry (None for an empty or missing log) and the ``prev`` of the next line.
    An unreadable last line reads as None, and the next line still names it."""
    line = last_line(path)
    if line is None:
        return None, ZERO
    try:
        entry = json.loads(line)
    except ValueError:
        entry = None
    return (entry if isinstance(entry, dict) else None), _sm3(line + b"\n")


def append_line(path: Path, line: bytes) -> None:
    """Append one line in one ``write`` (the file is created when missing). Not synced, like
    ``audit-head.json``: a crash of the machine may lose the newest line, which verification
    then reports as a cut end (a false alarm to acknowledge, never a hidden change); syncing
    would cost each checkpoint a disk flush."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


@dataclass
class CheckpointLog:
    """The log as read by ``read_log``: its entries, or the first damaged line."""

    path: Path
    exists: bool = False
    entries: list[dict[str, Any]] = field(default_factory=list)
    #: a sentence naming the first damaged line; None when every line reads, chains and verifies
    problem: str | None = None

    def segment(self) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[dict[str, Any]]]:
        """(the last acknowledgement or None, the checkpoints after it, the breaks after it)."""
        base: dict[str, Any] | None = None
        checkpoints: list[dict[str, Any]] = []
        breaks: list[dict[str, Any]] = []
        for entry in self.entries:
            if entry["kind"] == "acknowledge":
                base, checkpoints, breaks = entry, [], []
            elif entry["kind"] == "checkpoint":
                checkpoints.append(entry)
            else:
                breaks.append(entry)
        return base, checkpoints, breaks

    def acknowledgements(self) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["kind"] == "acknowledge"]


def _entry_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return "is not a JSON object"
    if entry.get("kind") not in KINDS:
        return f"has an unknown kind {entry.get('kind')!r}"
    for name, kind in (("seq", int), ("hash", str), ("prev", str), ("signature", str)):
        value = entry.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"has no valid {name}"
    return None


def read_log(path: Path, public_key: Ed25519PublicKey | None) -> CheckpointLog:
    """Read and check the whole log: each line parses, names the line before, and (given the
    key) carries a valid signature. Stops at the first damaged line."""
    log = CheckpointLog(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return log
    log.exists = True
    prev = ZERO
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, line in enumerate(lines, 1):
        where = f"line {number} of the checkpoint log {path}"
        try:
            entry = json.loads(line)
        except ValueError:
            log.problem = f"{where} is not valid JSON (damaged or edited)"
            return log
        problem = _entry_problem(entry)
        if problem is not None:
            log.problem = f"{where} {problem}"
            return log
        if entry["prev"] != prev:
            log.problem = (
                f"{where} does not follow the line before it: lines were removed, inserted "
                f"or edited"
            )
            return log
        if public_key is not None and not entry_signature_ok(entry, public_key):
            log.problem = f"{where} has no valid signature (forged or edited)"
            return log
        entry["line"] = number
        log.entries.append(entry)
        prev = _sm3(line + b"\n")
    return log
