"""The Ed25519 key that signs Merkle digests (SPEC §4 ``/v1/audit/digest``): loaded from
the settings or generated on first run, and the signature over a digest's fields."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain.chain import canonical_json
from service.settings import Settings

logger = logging.getLogger("exim_ledger.integrity")


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey
    public_raw: bytes
    key_id: str

    @classmethod
    def from_seed(cls, seed: bytes) -> Signer:
        private = Ed25519PrivateKey.from_private_bytes(seed)
        public = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return cls(private, public, hashlib.sha256(public).hexdigest()[:16])

    def sign(self, fields: dict[str, Any]) -> str:
        return self.private_key.sign(canonical_json(fields)).hex()

    def public_key(self) -> dict[str, str]:
        return {"key_id": self.key_id, "algorithm": "Ed25519",
                "public_key": base64.b64encode(self.public_raw).decode("ascii")}


class SigningKeyError(ValueError):
    pass


def load_signer(settings: Settings) -> Signer:
    """``LEDGER_SIGNING_KEY`` (base64 seed), else ``LEDGER_SIGNING_KEY_FILE``, else a key
    file generated on first run next to the SQLite database (``./var`` for PostgreSQL)."""
    if settings.signing_key:
        return Signer.from_seed(_seed_from_text(settings.signing_key, "LEDGER_SIGNING_KEY"))
    path = signing_key_path(settings)
    if not path.exists():
        if settings.signing_key_file or settings.is_postgres:
            logger.warning("no signing key at %s: generating a new Ed25519 key there; "
                           "set LEDGER_SIGNING_KEY or LEDGER_SIGNING_KEY_FILE to keep "
                           "one identity across hosts", path)
        _generate(path)
    return Signer.from_seed(_read_key_file(path))


def signing_key_path(settings: Settings) -> Path:
    if settings.signing_key_file:
        return Path(settings.signing_key_file)
    if settings.is_postgres:
        return Path("var") / "signing-key"
    return settings.sqlite_path.parent / "signing-key"


def _seed_from_text(text: str, where: str) -> bytes:
    try:
        seed = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        seed = b""
    if len(seed) != 32:
        raise SigningKeyError(f"{where} must be the base64 of a 32-byte Ed25519 private seed")
    return seed


def _read_key_file(path: Path) -> bytes:
    raw = path.read_bytes()
    if (path.stat().st_mode & 0o077) and os.name == "posix":
        logger.warning("signing key %s is readable by others; chmod 600 it", path)
    if raw.lstrip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(raw, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{path} holds a private key that is not Ed25519")
        return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    return _seed_from_text(raw.decode("ascii", "replace"), f"signing key file {path}")


def _generate(path: Path) -> None:
    """Write a fresh seed with mode 0600; never replaces a key another process wrote first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seed = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
        serialization.NoEncryption())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(base64.b64encode(seed).decode("ascii") + "\n")
        with contextlib.suppress(FileExistsError):  # another process wrote it first
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
