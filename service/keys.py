"""API keys: four roles, secrets stored as SHA-256 digests, revocation seen within a second."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

ROLES = ("writer", "reader", "auditor", "admin")
PERMISSIONS: dict[str, frozenset[str]] = {
    "write": frozenset({"writer", "admin"}),
    "read": frozenset({"writer", "reader", "auditor", "admin"}),
    "audit": frozenset({"auditor", "admin"}),
    "admin": frozenset({"admin"}),
}

metadata = sa.MetaData()
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)


@dataclass(frozen=True)
class ApiKey:
    name: str
    role: str

    def may(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]


class KeyStoreError(ValueError):
    pass


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _check(role: str, name: str) -> None:
    if role not in ROLES:
        raise KeyStoreError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not name or len(name) > 200 or not name.isprintable() or ":" in name or "," in name:
        raise KeyStoreError("name must be 1-200 printable characters without ':' or ','")


class KeyStore:
    def __init__(self, engine: sa.Engine, cache_seconds: float = 1.0):
        self.engine = engine
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()

    def create(self, role: str, name: str) -> str:
        _check(role, name)
        secret = "exl_" + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            exists = conn.execute(sa.select(api_keys.c.name).where(api_keys.c.name == name)).first()
            if exists:
                raise KeyStoreError(f"a key named {name!r} already exists")
            conn.execute(api_keys.insert().values(
                name=name, role=role, secret_hash=digest(secret), created_at=datetime.now(UTC)))
        return secret

    def put(self, role: str, name: str, secret: str) -> None:
        """Load a key with a known secret (bootstrap): created or brought up to date."""
        _check(role, name)
        if not secret:
            raise KeyStoreError(f"bootstrap key {name!r} has an empty secret")
        with self.engine.begin() as conn:
            conn.execute(api_keys.delete().where(api_keys.c.name == name))
            conn.execute(api_keys.insert().values(
                name=name, role=role, secret_hash=digest(secret), created_at=datetime.now(UTC)))

    def load_bootstrap(self, spec: str) -> list[str]:
        names = []
        for item in filter(None, (part.strip() for part in spec.split(","))):
            parts = item.split(":", 2)
            if len(parts) != 3:
                raise KeyStoreError("LEDGER_BOOTSTRAP_KEYS items must look like role:name:secret")
            role, name, secret = parts
            self.put(role, name, secret)
            names.append(name)
        return names

    def revoke(self, name: str) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(
                api_keys.update()
                .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        return bool(done.rowcount)

    def list(self) -> list[dict[str, object]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(api_keys.c.name, api_keys.c.role, api_keys.c.created_at,
                          api_keys.c.revoked_at).order_by(api_keys.c.name)
            ).all()
        return [dict(r._mapping) for r in rows]

    def cached(self, secret: str) -> tuple[bool, ApiKey | None]:
        """(found, key) from the cache alone: cheap enough for the event loop."""
        hit = self._cache.get(digest(secret))
        if hit and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def authenticate(self, secret: str) -> ApiKey | None:
        h = digest(secret)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(h)
        if hit and hit[0] > now:
            return hit[1]
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(api_keys.c.name, api_keys.c.role).where(
                    api_keys.c.secret_hash == h, api_keys.c.revoked_at.is_(None))
            ).first()
        key = ApiKey(row.name, row.role) if row else None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[h] = (now + self.cache_seconds, key)
        return key
