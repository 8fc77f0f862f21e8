"""API keys: their roles (four general ones and SPEC v3's four desks), secrets stored as
SHA-256 digests, revocation seen within a second, and a trail of who created, revoked or
tried to bootstrap which key, when and from where.

A stored key is never changed but by its revocation: bootstrap loading only adds names it
does not find, so a revoked (for instance leaked) key stays revoked across restarts.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from domain.chain import format_timestamp
from domain.desks import DESK_ROLES
from domain.errors import LedgerError

# which event types each role may post is domain.desks' table
Role = Literal["writer", "reader", "auditor", "admin",
               "origination", "licensing", "board", "servicing"]
ROLES: tuple[str, ...] = get_args(Role)
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset({"writer", "reader", "auditor", "admin", *DESK_ROLES}),
    "audit": frozenset({"auditor", "admin"}),
    "admin": frozenset({"admin"}),
}
# made only by the operator (the command line, LEDGER_BOOTSTRAP_KEYS), never over the API:
# an admin key cannot mint a second admin, a license desk or a board for itself
OPERATOR_ONLY: frozenset[str] = frozenset({"admin", "licensing", "board"})
Origin = Literal["cli", "api", "bootstrap"]
Action = Literal["created", "revoked", "bootstrap_refused"]

logger = logging.getLogger("exim_ledger.keys")
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
api_key_events = sa.Table(
    "api_key_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),  # up to TRAIL_ID_MAX
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("detail", sa.Text),
)
KeyRow = sa.Row[*tuple[Any, ...]]
KEY_COLUMNS = (api_keys.c.name, api_keys.c.role, api_keys.c.created_at, api_keys.c.revoked_at)


@dataclass(frozen=True)
class ApiKey:
    name: str
    role: str

    def may(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]


@dataclass(frozen=True)
class Actor:
    """Who administers keys, and from where: over the API the admin key's name, on the
    command line and at a bootstrap the operating-system user."""

    name: str
    origin: Origin

    @classmethod
    def os_user(cls, origin: Origin) -> Actor:
        try:
            return cls(getpass.getuser(), origin)
        except (OSError, KeyError):  # no name for this uid (a bare container)
            return cls(f"uid {os.getuid()}", origin)


@dataclass(frozen=True)
class BootstrapKey:
    role: str
    name: str
    secret: str


class KeyStoreError(LedgerError):
    """A key command refused; ``code`` and ``status`` are the API's answer."""

    def __init__(self, detail: str, code: str = "invalid_key", status: int = 422) -> None:
        super().__init__(code, detail, status=status)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _storable(name: str) -> bool:
    return 0 < len(name) <= 200 and name.isprintable() and ":" not in name and "," not in name


def _check(role: str, name: str) -> None:
    if role not in ROLES:
        raise KeyStoreError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not _storable(name):
        raise KeyStoreError("name must be 1-200 printable characters without ':' or ','")


def parse_bootstrap(spec: str) -> list[BootstrapKey]:
    """``LEDGER_BOOTSTRAP_KEYS`` (``role:name:secret,...``), every item checked."""
    keys = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        parts = item.split(":", 2)
        if len(parts) != 3:
            raise KeyStoreError("LEDGER_BOOTSTRAP_KEYS items must look like role:name:secret")
        key = BootstrapKey(*parts)
        _check(key.role, key.name)
        if not key.secret:
            raise KeyStoreError(f"bootstrap key {key.name!r} has an empty secret")
        keys.append(key)
    return keys


def _moment(value: datetime | None) -> str | None:
    """A stored time as RFC 3339 UTC (SQLite hands back naive UTC datetimes)."""
    if value is None:
        return None
    return format_timestamp(value if value.tzinfo else value.replace(tzinfo=UTC))


def _view(row: KeyRow) -> dict[str, Any]:
    """A key as shown anywhere: never its secret or the secret's digest."""
    return {"name": row.name, "role": row.role, "created_at": _moment(row.created_at),
            "revoked_at": _moment(row.revoked_at)}


def _refusal(row: KeyRow | None, key: BootstrapKey) -> str | None:
    """Why bootstrap ``key`` leaves the stored key ``row`` (None: its secret is another
    key's) as it is; None when the two agree."""
    if row is None:
        return "its secret is already another key's; choose another secret"
    reasons = []
    if row.revoked_at is not None:
        reasons.append(f"it was revoked at {_moment(row.revoked_at)}, and a revoked key "
                       "is never brought back")
    if not hmac.compare_digest(row.secret_hash, digest(key.secret)):
        reasons.append("its secret differs from the stored one, which is kept")
    if row.role != key.role:
        reasons.append(f"the stored role {row.role} is kept, not {key.role}")
    if not reasons:
        return None
    return "; ".join(reasons) + ". To rotate a key, revoke it and create one under a new name"


TRAIL_ID_MAX = 2**31 - 1  # the trail's id is a 32-bit integer on PostgreSQL


class KeyStore:
    def __init__(self, engine: sa.Engine, cache_seconds: float = 1.0):
        self.engine = engine
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()

    def create(self, role: str, name: str, by: Actor) -> dict[str, Any]:
        """A new key with a random secret: its view plus ``secret``, shown this once.
        Over the API (``by.origin`` api), not of an ``OPERATOR_ONLY`` role."""
        _check(role, name)
        if by.origin == "api" and role in OPERATOR_ONLY:
            raise KeyStoreError(f"a {role} key is created only by the operator (exim-ledger "
                                "keys create, LEDGER_BOOTSTRAP_KEYS), not over the API",
                                "role_not_grantable", 403)
        secret = "exl_" + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            if not self._insert(conn, role, name, secret):
                raise KeyStoreError(f"a key named {name!r} already exists", "key_name_taken",
                                    409)
            self._record(conn, name, "created", by, f"role {role}")
            return {**self._find(conn, name), "secret": secret}

    def load_bootstrap(self, spec: str) -> list[str]:
        """Create the keys of ``LEDGER_BOOTSTRAP_KEYS`` that are not stored yet; the names
        created. A stored name is left as it is: a revoked key stays revoked, and neither
        its secret nor its role changes. Each such refusal is logged as a warning and kept
        in the trail."""
        by = Actor.os_user("bootstrap")
        return [key.name for key in parse_bootstrap(spec) if self._bootstrap(key, by)]

    def _bootstrap(self, key: BootstrapKey, by: Actor) -> bool:
        with self.engine.begin() as conn:
            if self._insert(conn, key.role, key.name, key.secret):
                self._record(conn, key.name, "created", by, f"role {key.role}")
                return True
            row = conn.execute(sa.select(api_keys).where(api_keys.c.name == key.name)).first()
            refusal = _refusal(row, key)
            if refusal:
                self._record(conn, key.name, "bootstrap_refused", by, refusal)
        if refusal:
            logger.warning("bootstrap key %r not loaded: %s", key.name, refusal)
        return False

    def revoke(self, name: str, by: Actor) -> dict[str, Any]:
        """Revoke an active key; its view. Every instance refuses it within a second."""
        if not _storable(name):  # no such key; and PostgreSQL text cannot even hold a NUL
            raise KeyStoreError(f"no key named {name!r}", "not_found", 404)
        with self.engine.begin() as conn:
            done = conn.execute(
                api_keys.update()
                .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
            if not done.rowcount:
                self._find(conn, name)  # not_found when there is no such key at all
                raise KeyStoreError(f"the key {name!r} is already revoked",
                                    "key_already_revoked", 409)
            self._record(conn, name, "revoked", by)
            view = self._find(conn, name)
        self._forget(name)
        return view

    def trail(self, name: str | None = None, after: int = 0, limit: int = 100
              ) -> list[dict[str, Any]]:
        """The trail in the order it was written, after entry ``after``; one key's with
        ``name``."""
        if after >= TRAIL_ID_MAX:  # no entry is past it; PostgreSQL refuses a larger int4
            return []
        query = sa.select(api_key_events).where(api_key_events.c.id > after)
        if name is not None:
            query = query.where(api_key_events.c.name == name)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(api_key_events.c.id).limit(limit)).all()
        return [{**r._asdict(), "at": _moment(r.at)} for r in rows]

    def list(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*KEY_COLUMNS).order_by(api_keys.c.name)).all()
        return [_view(r) for r in rows]

    @staticmethod
    def _insert(conn: sa.Connection, role: str, name: str, secret: str) -> bool:
        """Insert the key unless its name or secret is taken; whether it was. Written
        first in its transaction, so that concurrent starts queue on the write lock."""
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
            api_keys)
        done = conn.execute(insert.values(
            name=name, role=role, secret_hash=digest(secret), created_at=datetime.now(UTC),
        ).on_conflict_do_nothing().returning(api_keys.c.name))
        return done.first() is not None

    @staticmethod
    def _find(conn: sa.Connection, name: str) -> dict[str, Any]:
        row = conn.execute(sa.select(*KEY_COLUMNS).where(api_keys.c.name == name)).first()
        if row is None:
            raise KeyStoreError(f"no key named {name!r}", "not_found", 404)
        return _view(row)

    @staticmethod
    def _record(conn: sa.Connection, name: str, action: Action, by: Actor,
                detail: str | None = None) -> None:
        conn.execute(api_key_events.insert().values(
            name=name, action=action, actor=by.name, origin=by.origin, at=datetime.now(UTC),
            detail=detail))

    def _forget(self, name: str) -> None:
        """Drop a revoked key from this process's cache: refused here at once."""
        with self._lock:
            self._cache = {h: hit for h, hit in self._cache.items()
                           if hit[1] is None or hit[1].name != name}

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
