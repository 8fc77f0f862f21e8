"""Shared fixtures: one parametrised database fixture runs every integration and HTTP
test on SQLite and on PostgreSQL, each test on a clean database; ``live_server`` runs the
installed ``exim-ledger serve`` on it."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from service.settings import Settings

if TYPE_CHECKING:
    from service.ledger.application import Ledger
    from tests.support.live_server import LiveServer

PG_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
KEYS = {  # by role, but servicing2: a second servicing key (four eyes on reversals)
    "admin": "admin-secret-0123456789",
    "writer": "writer-secret-0123456789",
    "reader": "reader-secret-0123456789",
    "auditor": "auditor-secret-0123456789",
    "origination": "orig-secret-0123456789",
    "licensing": "licensing-secret-0123456789",
    "board": "board-secret-0123456789",
    "servicing": "servicing-secret-0123456789",
    "servicing2": "servicing2-secret-0123456789",
    "admin2": "admin2-secret-0123456789",  # the second pair of eyes on policy
}
ROLE_OF = {name: name.rstrip("0123456789") for name in KEYS}
BOOTSTRAP = ",".join(f"{ROLE_OF[name]}:{name}-key:{secret}" for name, secret in KEYS.items())


def auth(key: str) -> dict[str, str]:
    """The Authorization header of the KEYS entry ``key`` (a role, or servicing2)."""
    return {"Authorization": f"Bearer {KEYS[key]}"}


def _pg_reason() -> str | None:
    import psycopg

    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except Exception as e:  # unreachable for any reason
        return f"PostgreSQL at {PG_URL} unreachable: {e}"


@pytest.fixture(scope="session")
def pg_ready() -> str:
    reason = _pg_reason()
    if reason:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    import psycopg

    from service.db import migrate

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    migrate(Settings(database_url=PG_URL))
    return PG_URL


def _truncate_pg(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ]
        if tables:
            conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from service.db import migrate

    path = tmp_path_factory.mktemp("template") / "ledger.db"
    migrate(Settings(database_url=f"sqlite:///{path}"))
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "ledger.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_ready")
        _truncate_pg(url)
        yield url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, bootstrap_keys=BOOTSTRAP, snapshot_interval=10)


@pytest.fixture
def pair(settings: Settings) -> Iterator[tuple[Ledger, Ledger]]:
    """Two ledger instances on one database, as two processes would be."""
    from service.bootstrap import build_ledger

    first, second = build_ledger(settings), build_ledger(settings)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


@pytest.fixture
async def client(settings: Settings, request: pytest.FixtureRequest
                 ) -> AsyncIterator[httpx.AsyncClient]:
    """The app in process, on a ledger whose program the board has authorized (SPEC v3:
    no financing without), unless the test is marked ``program_unauthorized``."""
    from service.api.app import create_app
    from tests.support.factories import authorize_program

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ledger") as c:
            c.app = app  # type: ignore[attr-defined]
            if request.node.get_closest_marker("program_unauthorized") is None:
                await authorize_program(c)
            yield c


@pytest.fixture
def live_database_url(settings: Settings) -> str:
    """The migrated database ``live_server`` runs on; a module may override this fixture."""
    return settings.database_url


@pytest.fixture
def live_server(live_database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """``exim-ledger serve`` as a real process, from ``tmp_path``, on ``live_database_url``."""
    from exim_ledger_bench.server import serve

    from tests.support.live_server import LiveServer, ledger_env

    env = ledger_env(live_database_url)
    with serve(env, tmp_path) as url:
        yield LiveServer(url, env)
