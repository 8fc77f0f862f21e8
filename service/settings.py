"""One Settings class: everything comes from the environment, prefix ``LEDGER_``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_SQLITE_URL = "sqlite:///./var/ledger.db"
_BAD_URL = "LEDGER_DATABASE_URL must be sqlite:///path or postgresql://..., not {!r}"


class DatabaseUrlError(ValueError):
    """``LEDGER_DATABASE_URL`` names no database this ledger can use."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    database_url: str = DEFAULT_SQLITE_URL
    bootstrap_keys: str = ""
    policy_file: str | None = None
    snapshot_interval: int = Field(default=100, ge=2)
    aggregate_cache_size: int = Field(default=2_000, ge=0)  # deals; 0: no cache
    aggregate_cache_bytes: int = Field(default=256 * 1024 * 1024, ge=0)  # estimated; 0: none
    projection_state_cache_size: int = Field(default=2_000, ge=0)  # deals' folded states
    projection_state_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0)  # estimated
    lock_timeout_seconds: int = Field(default=10, ge=1)
    pool_size: int = Field(default=10, ge=1)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    refusal_queue_size: int = Field(default=1000, ge=1)  # refusals awaiting their write
    key_cache_seconds: float = Field(default=1.0, ge=0)
    projections_in_process: bool = True
    # how ``serve`` runs them: one child process beside the API's workers, or a thread
    # in each API process (``create_app`` outside ``serve`` always uses a thread)
    projector: Literal["process", "thread"] = "process"
    signing_key_file: str | None = None
    signing_key: str | None = None
    log_level: Annotated[Literal["critical", "error", "warning", "info", "debug"],
                         BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v)
                         ] = "info"
    log_format: Literal["console", "json"] = "console"
    # origins (scheme://host[:port], or "null" for a page opened from a file) whose pages
    # may read the audit endpoints cross-origin; comma-separated; empty: none
    audit_cors_origins: str = ""

    @property
    def url(self) -> URL:
        """The database URL parsed by SQLAlchemy, so that both connections (the engine's
        and the event store's) read the same host, credentials and query parameters."""
        try:
            url = make_url(self.database_url)
        except ArgumentError:
            raise DatabaseUrlError(_BAD_URL.format(self.database_url)) from None
        if url.drivername not in ("postgresql", "postgres", "sqlite"):
            raise DatabaseUrlError(_BAD_URL.format(url.render_as_string()))
        return url

    @property
    def audit_origins(self) -> frozenset[str]:
        return frozenset(o.strip().rstrip("/") for o in self.audit_cors_origins.split(",")
                         if o.strip())

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    @property
    def sqlite_path(self) -> Path:
        if self.is_postgres:
            raise DatabaseUrlError("not an SQLite database URL")
        url = self.url
        if not url.database or url.host:
            raise DatabaseUrlError(_BAD_URL.format(self.database_url))
        return Path(url.database)

    @property
    def sqlalchemy_url(self) -> str:
        if self.is_postgres:
            return self.url.set(drivername="postgresql+psycopg").render_as_string(
                hide_password=False)
        return f"sqlite:///{self.sqlite_path}"

    @property
    def postgres_options(self) -> dict[str, str]:
        """The URL's query parameters (``sslmode``, ``application_name``...): libpq
        connection parameters, for the event store's connections as for the engine's."""
        return {k: v if isinstance(v, str) else v[-1] for k, v in self.url.query.items()}

    def eventsourcing_env(self) -> dict[str, str]:
        """The eventsourcing library's environment, built explicitly from our settings."""
        env = {
            "CREATE_TABLE": "false",  # alembic owns every table
            "IS_SNAPSHOTTING_ENABLED": "y",
            # no library cache: the Ledger keeps its own (aggregate_cache_size)
        }
        if self.is_postgres:
            url = self.url
            env |= {
                "PERSISTENCE_MODULE": "service.eventstore.pgfactory:LedgerPostgresFactory",
                "APPLICATION_RECORDER_TOPIC": "service.eventstore.postgres:PostgresLedgerRecorder",
                "POSTGRES_DBNAME": url.database or "postgres",
                "POSTGRES_HOST": url.host or "127.0.0.1",
                "POSTGRES_PORT": str(url.port or 5432),
                "POSTGRES_USER": url.username or "postgres",
                "POSTGRES_PASSWORD": str(url.password or ""),
                "POSTGRES_OPTIONS": json.dumps(self.postgres_options, sort_keys=True),
                "POSTGRES_LOCK_TIMEOUT": str(self.lock_timeout_seconds),
                "POSTGRES_POOL_SIZE": str(self.pool_size),
                "POSTGRES_MAX_OVERFLOW": str(self.pool_size),
                # the longest a statement waits for a pooled connection: an outage is
                # answered 503 within the lock timeout
                "POSTGRES_CONNECT_TIMEOUT": str(self.lock_timeout_seconds),
                # no per-checkout ping (a round trip per query): a dropped connection
                # fails its one statement (503) and has the idle ones swept
                "POSTGRES_PRE_PING": "n",
            }
        else:
            path = self.sqlite_path
            path.parent.mkdir(parents=True, exist_ok=True)
            env |= {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "APPLICATION_RECORDER_TOPIC": "service.eventstore.sqlite:SQLiteLedgerRecorder",
                "SQLITE_DBNAME": str(path),
                "SQLITE_LOCK_TIMEOUT": str(self.lock_timeout_seconds),
            }
        return env
