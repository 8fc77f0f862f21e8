"""Alembic environment: the URL comes from the caller (``exim-ledger migrate``) or settings.

Revisions never import the models; ``target_metadata`` serves autogenerate only."""

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from service.db import include_object, schema_metadata
from service.settings import Settings

config = context.config


def database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    return Settings().sqlalchemy_url


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=schema_metadata(),
                      include_object=include_object(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        run_migrations(connection)
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=database_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
