"""Secrets and their handling: password hashes, API/session tokens, keys on disk.

- Passwords: argon2id (argon2-cffi defaults, RFC 9106 low-memory profile).
- Tokens are 256-bit random strings shown once; only their SHA-256 is stored. A fast hash is
  right here: unlike passwords, a token has full entropy and cannot be guessed from a list.
- Keys live in ``<data_dir>/keys`` with 0600 permissions, created on first use, never in the repo.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

_hasher = PasswordHasher()

TOKEN_PREFIX = "gs"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


# A hash to verify against when the user does not exist, so a login for an unknown user costs
# the same time as one with a wrong password (no user enumeration by timing).
DUMMY_PASSWORD_HASH = _hasher.hash(secrets.token_hex(16))


def new_token(kind: str = TOKEN_PREFIX) -> tuple[str, str, str]:
    """A fresh token: (full secret shown once, public prefix for lookup, stored hash)."""
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    full = f"{kind}_{prefix}_{secret}"
    return full, prefix, token_hash(full)


def token_hash(full_token: str) -> str:
    return hashlib.sha256(full_token.encode()).hexdigest()


def split_token(full_token: str) -> str | None:
    """The lookup prefix of a well-formed token, else None."""
    parts = full_token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or len(parts[1]) != 8:
        return None
    return parts[1]


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _write_private(path: Path, data: bytes) -> None:
    """Write a new key file readable by its owner only, whole or not at all: the bytes go to a
    temporary file first, which is then linked to ``path`` (FileExistsError when another
    process or thread made it first, and it keeps its key). A reader never sees half a key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    # ``.tmp-``: what a backup never copies (``core.backup``)
    tmp = path.with_name(f".tmp-{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(tmp, path)  # atomic, and never over an existing key
    finally:
        tmp.unlink(missing_ok=True)


class KeyStore:
    """Named secrets and signing keys in one directory, generated on first use."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def secret(self, name: str) -> bytes:
        path = self.directory / f"{name}.key"
        if not path.exists():
            with contextlib.suppress(FileExistsError):  # another process made it first
                _write_private(path, secrets.token_hex(32).encode())
        return bytes.fromhex(path.read_text().strip())

    def signing_key(self, name: str) -> Ed25519PrivateKey:
        path = self.directory / f"{name}-ed25519.pem"
        if not path.exists():
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            with contextlib.suppress(FileExistsError):
                _write_private(path, pem)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        return key

    def verify_key(self, name: str) -> Ed25519PublicKey:
        return self.signing_key(name).public_key()

    def ensure(self) -> None:
        """Create the standard keys now (at `gongshu init`), not lazily at first request."""
        self.secret("session")
        self.signing_key("audit")


# ------------------------------------------------------------------------- sealed secrets

SEAL_PREFIX = "sm4gcm1:"


def _seal_key(keys: KeyStore) -> bytes:
    return keys.secret("seal")[:16]  # SM4 keys are 128 bits


def seal(keys: KeyStore, plaintext: str, *, context: str = "") -> str:
    """Encrypt a secret that must be stored (a database URL with its password in a job's
    parameters) with SM4-GCM (国密) under the data directory's key; ``context`` is bound to it."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    iv = secrets.token_bytes(12)
    enc = Cipher(algorithms.SM4(_seal_key(keys)), modes.GCM(iv)).encryptor()
    enc.authenticate_additional_data(context.encode())
    body = enc.update(plaintext.encode()) + enc.finalize()
    return SEAL_PREFIX + base64.urlsafe_b64encode(iv + enc.tag + body).decode()


def unseal(keys: KeyStore, sealed: str, *, context: str = "") -> str:
    """The secret inside ``seal``'s output; raises ``ValueError`` if it was altered."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if not sealed.startswith(SEAL_PREFIX):
        raise ValueError("not a sealed value")
    raw = base64.urlsafe_b64decode(sealed[len(SEAL_PREFIX):])
    iv, tag, body = raw[:12], raw[12:28], raw[28:]
    dec = Cipher(algorithms.SM4(_seal_key(keys)), modes.GCM(iv, tag)).decryptor()
    dec.authenticate_additional_data(context.encode())
    try:
        return (dec.update(body) + dec.finalize()).decode()
    except InvalidTag:
        raise ValueError("the sealed value was altered or sealed with another key") from None
