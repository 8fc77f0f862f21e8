"""What a command says when its database cannot be used: one line, not a traceback."""

from __future__ import annotations

import sqlite3

import psycopg
import psycopg_pool
import sqlalchemy as sa
from eventsourcing.persistence import InterfaceError, OperationalError
from pydantic import ValidationError

from service.settings import DatabaseUrlError, Settings

# The errors of a database that is unreachable, refuses us, or is not there: the
# operator's to fix, so they are named in one line. A bug still shows its traceback.
UNREACHABLE = (
    sa.exc.OperationalError, sa.exc.InterfaceError, psycopg.OperationalError,
    psycopg.InterfaceError, psycopg_pool.PoolTimeout, OperationalError, InterfaceError,
    sqlite3.OperationalError,
)
SETTINGS = (DatabaseUrlError, sa.exc.ArgumentError, ValidationError)
ENVIRONMENT = UNREACHABLE + SETTINGS


def describe(error: BaseException) -> str:
    """One line naming what is wrong with the environment, with no secret in it."""
    if isinstance(error, ValidationError):
        problems = "; ".join(f"LEDGER_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                             for e in error.errors())
        return f"invalid setting: {problems}"
    if isinstance(error, SETTINGS):
        return _first_line(error)
    cause = error.orig if isinstance(error, sa.exc.DBAPIError) and error.orig else error
    return f"cannot use the database {safe_url()}: {_first_line(cause)}"


def safe_url() -> str:
    """The configured database URL without its password."""
    try:
        return Settings().url.render_as_string(hide_password=True)
    except Exception:  # the settings themselves are what is wrong: name no URL
        return "(LEDGER_DATABASE_URL)"


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
