"""One Settings class: everything comes from the environment, prefix ``LEDGER_``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_URL = "sqlite:///./var/ledger.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    database_url: str = DEFAULT_SQLITE_URL
    bootstrap_keys: str = ""
    policy_file: str | None = None
    snapshot_interval: int = Field(default=100, ge=2)
    aggregate_cache_size: int = Field(default=10_000, ge=1)
    lock_timeout_seconds: int = Field(default=10, ge=1)
    pool_size: int = Field(default=10, ge=1)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    key_cache_seconds: float = Field(default=1.0, ge=0)
    projections_in_process: bool = True
    signing_key_file: str | None = None
    signing_key: str | None = None

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    @property
    def sqlite_path(self) -> Path:
        if self.is_postgres:
            raise ValueError("not an SQLite database URL")
        if not self.database_url.startswith("sqlite:///"):
            raise ValueError(
                f"LEDGER_DATABASE_URL must be sqlite:///path or postgresql://..., "
                f"not {self.database_url!r}"
            )
        return Path(self.database_url.removeprefix("sqlite:///"))

    @property
    def sqlalchemy_url(self) -> str:
        if self.is_postgres:
            rest = self.database_url.split("://", 1)[1]
            return f"postgresql+psycopg://{rest}"
        return f"sqlite:///{self.sqlite_path}"

    def eventsourcing_env(self) -> dict[str, str]:
        """The eventsourcing library's environment, built explicitly from our settings."""
        env = {
            "CREATE_TABLE": "false",  # alembic owns every table
            "IS_SNAPSHOTTING_ENABLED": "y",
            # Cached deals are fast-forwarded from the store on every load, so the cache
            # never serves a stale version, even with several processes writing.
            "AGGREGATE_CACHE_MAXSIZE": str(self.aggregate_cache_size),
            "AGGREGATE_CACHE_FASTFORWARD": "y",
            "DEEPCOPY_FROM_AGGREGATE_CACHE": "y",
        }
        if self.is_postgres:
            url = urlsplit(self.database_url)
            env |= {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "APPLICATION_RECORDER_TOPIC": "service.eventstore.postgres:PostgresLedgerRecorder",
                "POSTGRES_DBNAME": (url.path or "/postgres").lstrip("/") or "postgres",
                "POSTGRES_HOST": url.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(url.port or 5432),
                "POSTGRES_USER": unquote(url.username or "postgres"),
                "POSTGRES_PASSWORD": unquote(url.password or ""),
                "POSTGRES_LOCK_TIMEOUT": str(self.lock_timeout_seconds),
                "POSTGRES_POOL_SIZE": str(self.pool_size),
                "POSTGRES_MAX_OVERFLOW": str(self.pool_size),
                "POSTGRES_CONNECT_TIMEOUT": "5",
                # no per-checkout ping (a round trip per query); a dropped connection
                # fails once and the library's retry takes a fresh one
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
