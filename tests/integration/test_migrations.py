"""The migrations build exactly the tables the code defines: on an empty database and on a
ledger written by v1, alembic's comparison of the database at head with the models finds
nothing to change."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import make_url

from service.db import (
    create_engine,
    current_revision,
    head_revision,
    include_object,
    migrate,
    schema_metadata,
)
from service.settings import Settings

V1_LEDGER = Path(__file__).parent.parent / "fixtures" / "v1_ledger"


@contextmanager
def scratch_postgres(server_url: str, suffix: str) -> Iterator[str]:
    """A new, empty database beside the suite's own, dropped afterwards."""
    url = make_url(server_url)
    name = f"{url.database}_{suffix}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        with scratch_postgres(request.getfixturevalue("pg_ready"), "migrations") as url:
            yield url


@pytest.fixture(params=["sqlite", "postgres"])
def v1_ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "ledger.db"
        shutil.copy(V1_LEDGER / "sqlite.db", path)
        yield f"sqlite:///{path}"
    else:
        with scratch_postgres(request.getfixturevalue("pg_ready"), "v1_ledger") as url:
            subprocess.run(["psql", "--quiet", "--set", "ON_ERROR_STOP=1", "--dbname", url,
                            "--file", str(V1_LEDGER / "postgres.sql")],
                           check=True, capture_output=True)
            yield url


def drift(settings: Settings) -> list[Any]:
    """What autogenerate would change to make the database match the models."""
    engine = create_engine(settings)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "compare_type": True, "include_object": include_object(conn.dialect.name)})
            return list(compare_metadata(context, schema_metadata()))
    finally:
        engine.dispose()


def test_an_empty_database_migrated_to_head_has_exactly_the_models_tables(
    empty_database_url: str,
) -> None:
    settings = Settings(database_url=empty_database_url)
    migrate(settings)
    assert drift(settings) == []


def test_a_v1_ledger_migrated_to_head_has_exactly_the_models_tables(v1_ledger_url: str) -> None:
    settings = Settings(database_url=v1_ledger_url)
    migrate(settings)
    engine = create_engine(settings)
    try:
        assert current_revision(engine) == head_revision(settings)
    finally:
        engine.dispose()
    assert drift(settings) == []
