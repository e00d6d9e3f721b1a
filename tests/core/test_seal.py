"""Secrets stored sealed (SM4-GCM) come back only with the same key and context."""

from __future__ import annotations

from pathlib import Path

import pytest

from gongshu.core.security import KeyStore, seal, unseal


def test_round_trip_and_tamper(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys")
    url = "postgresql+psycopg://reader:s3cret@db.example/registry"
    sealed = seal(keys, url, context="ingest-1")
    assert "s3cret" not in sealed and sealed.startswith("sm4gcm1:")
    assert unseal(keys, sealed, context="ingest-1") == url
    with pytest.raises(ValueError):
        unseal(keys, sealed, context="ingest-2")  # bound to its job
    flipped = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(ValueError):
        unseal(keys, flipped, context="ingest-1")
    with pytest.raises(ValueError):
        unseal(KeyStore(tmp_path / "other"), sealed, context="ingest-1")
