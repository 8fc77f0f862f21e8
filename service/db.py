"""SQLAlchemy engine and alembic: the one owner of every table."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

import migrations
from service.settings import Settings

MIGRATIONS_DIR = Path(migrations.__file__).parent


class MigrationsNotAtHead(RuntimeError):
    pass


def create_engine(settings: Settings) -> sa.Engine:
    if settings.is_postgres:
        return sa.create_engine(
            settings.sqlalchemy_url,
            pool_size=settings.pool_size,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 5},
        )
    settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        settings.sqlalchemy_url,
        connect_args={"timeout": settings.lock_timeout_seconds, "check_same_thread": False},
    )

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()

    return engine


def alembic_config(settings: Settings) -> Config:
    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", settings.sqlalchemy_url.replace("%", "%%"))
    return cfg


def migrate(settings: Settings, revision: str = "head") -> None:
    if not settings.is_postgres:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), revision)


def head_revision(settings: Settings) -> str | None:
    return ScriptDirectory.from_config(alembic_config(settings)).get_current_head()


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_at_head(settings: Settings, engine: sa.Engine, head: str | None = None) -> str | None:
    """Raise unless the database is at the code's head revision; return that head.

    ``head`` saves reading the migration scripts again (it cannot change while running)."""
    head = head or head_revision(settings)
    current = current_revision(engine)
    if current != head:
        raise MigrationsNotAtHead(
            f"database schema is at revision {current or 'none (empty database)'}, "
            f"the code needs {head}: run `exim-ledger migrate` first"
        )
    return head
