"""The key store (``core.security.KeyStore``): keys are made once, on first use, whole.

Processes and threads that start together all ask for the same keys at once; each must get
the one key that was written, never a half-written file, and nothing may be left beside it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from gongshu.core.security import KeyStore


@pytest.mark.parametrize("attempt", range(5))
def test_threads_starting_together_share_one_key_each(tmp_path: Path, attempt: int) -> None:
    keys_dir = tmp_path / f"keys-{attempt}"
    start = threading.Barrier(16)
    secrets: list[bytes] = []
    public: list[bytes] = []
    errors: list[BaseException] = []

    def use() -> None:
        store = KeyStore(keys_dir)  # each its own store, as each process has
        start.wait()
        try:
            secrets.append(store.secret("cursor"))
            public.append(store.verify_key("audit").public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw))
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=use) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(secrets) == 16 and len(set(secrets)) == 1 and len(secrets[0]) == 32
    assert len(public) == 16 and len(set(public)) == 1
    assert sorted(p.name for p in keys_dir.iterdir()) == ["audit-ed25519.pem", "cursor.key"]
    assert all(p.stat().st_mode & 0o077 == 0 for p in keys_dir.iterdir())
