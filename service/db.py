"""SQLAlchemy engine and alembic: the one owner of every table."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.environment import IncludeObjectFn, NameFilterType
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.schema import SchemaItem

import migrations
from domain.policy import SHIPPED_BOOK
from projections.dealstates import metadata as deal_states_metadata
from projections.positions import metadata as positions_metadata
from projections.registry import read_models
from service import keys, refusals
from service.eventstore import schema as eventstore_schema
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
            # a connection is made on demand, so the engine is back as soon as the database
            # is; waiting for one, or for the server, is bounded like every lock wait
            pool_timeout=settings.lock_timeout_seconds,
            connect_args={"connect_timeout": settings.lock_timeout_seconds},
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


def schema_metadata() -> sa.MetaData:
    """Every table the code reads or writes, in one ``MetaData``: what the migrations at
    head must have created (compared by alembic's autogenerate)."""
    combined = sa.MetaData()
    projections = read_models(lambda: SHIPPED_BOOK)
    for source in (eventstore_schema.metadata, keys.metadata, refusals.metadata,
                   positions_metadata,
                   deal_states_metadata,
                   *(projection.schema.metadata for projection in projections)):
        for table in source.tables.values():
            table.to_metadata(combined)
    return combined


def include_object(dialect: str) -> IncludeObjectFn:
    """alembic's ``include_object`` hook on ``dialect``: off PostgreSQL, it leaves out the
    event store's PostgreSQL-only column and index."""

    def include(_obj: SchemaItem, name: str | None, kind: NameFilterType, _reflected: bool,
                _compare_to: SchemaItem | None) -> bool:
        return dialect == "postgresql" or (kind, name) not in eventstore_schema.POSTGRES_ONLY

    return include
