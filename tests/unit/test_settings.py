"""The database URL, parsed once by SQLAlchemy, reaches both connections whole."""

from __future__ import annotations

import json

import pytest

from service.eventstore.pgfactory import LedgerPostgresFactory
from service.settings import DatabaseUrlError, Settings

URL = "postgresql://ledger:p%40ss%2Fw@db.internal:6543/deals?sslmode=require&application_name=api"


def test_the_query_parameters_reach_the_event_stores_psycopg_connections():
    env = Settings(database_url=URL).eventsourcing_env()
    factory = LedgerPostgresFactory(env)  # builds its pool closed: connects to nothing
    try:
        kwargs = factory.datastore.pool.kwargs
        assert kwargs is not None
        assert kwargs["sslmode"] == "require" and kwargs["application_name"] == "api"
        assert (kwargs["host"], kwargs["port"], kwargs["dbname"]) == ("db.internal", "6543",
                                                                      "deals")
        assert (kwargs["user"], kwargs["password"]) == ("ledger", "p@ss/w")
    finally:
        factory.close()


def test_the_query_parameters_reach_the_engine_too():
    settings = Settings(database_url=URL)
    assert settings.sqlalchemy_url.startswith("postgresql+psycopg://ledger:p%40ss%2Fw@")
    assert "sslmode=require" in settings.sqlalchemy_url
    assert json.loads(settings.eventsourcing_env()["POSTGRES_OPTIONS"]) == {
        "application_name": "api", "sslmode": "require"}


def test_a_url_without_parameters_adds_none():
    env = Settings(database_url="postgres://postgres@localhost/ledger").eventsourcing_env()
    assert json.loads(env["POSTGRES_OPTIONS"]) == {}
    assert env["POSTGRES_DBNAME"] == "ledger" and env["POSTGRES_PORT"] == "5432"


def test_sqlite_paths_relative_and_absolute():
    assert str(Settings(database_url="sqlite:///./var/ledger.db").sqlite_path) == "var/ledger.db"
    assert str(Settings(database_url="sqlite:////data/ledger.db").sqlite_path) == \
        "/data/ledger.db"


@pytest.mark.parametrize("url", ["mysql://localhost/x", "ledger.db", "sqlite://"])
def test_other_urls_are_refused_by_name(url: str):
    with pytest.raises(DatabaseUrlError, match="LEDGER_DATABASE_URL"):
        Settings(database_url=url).eventsourcing_env()
