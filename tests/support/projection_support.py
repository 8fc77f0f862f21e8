"""Helpers for the projection suites: a clean database, writing through the Ledger, and
the rows of a projection's live slot, compared slot-independently."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

import sqlalchemy as sa

from domain.program import PROGRAM_AUTHORIZED, PROGRAM_ID
from projections.portfolio import COUNTERS
from projections.runner import Runner
from service.api.framing import render_error
from service.bootstrap import build_ledger, build_runner
from service.db import create_engine
from service.ledger.application import Ledger
from service.ledger.commands import Command, Context, Rendering
from service.settings import Settings
from tests.conftest import _truncate_pg
from tests.support.factories import AUTHORIZATION, key_for

NAMES = ("deals", "portfolio", "exposure", "audit")
render_events = Rendering(201, body="events")


def clean_database(settings: Settings) -> None:
    """Empty every table but alembic's (one hypothesis example must not see another's)."""
    if settings.is_postgres:
        _truncate_pg(settings.database_url)
        return
    with sqlite3.connect(settings.sqlite_path) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT IN ('alembic_version', 'sqlite_sequence')")]
        for table in tables:
            conn.execute(f'DELETE FROM "{table}"')
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
            conn.execute("DELETE FROM sqlite_sequence")


def close_ledger(ledger: Ledger) -> None:
    ledger.close()


@contextmanager
def ledger_and_engine(settings: Settings) -> Iterator[tuple[Ledger, sa.Engine]]:
    ledger = build_ledger(settings)
    engine = create_engine(settings)
    try:
        yield ledger, engine
    finally:
        close_ledger(ledger)
        engine.dispose()


def new_runner(settings: Settings, ledger: Ledger, engine: sa.Engine) -> Runner:
    runner = build_runner(settings, ledger, engine)
    runner.ensure_rows()
    return runner


def write(ledger: Ledger, commands: Sequence[Command],
          actor: str | None = None) -> list[dict[str, Any]]:
    """Submit ``commands`` as one all-or-nothing write by ``actor``; the envelopes appended.
    Without an actor, as the desks post them (SPEC v3): each run of consecutive commands
    that one of the tests' keys posts (``key_for``) is one write by that key's name.
    Before a financing, the board authorizes the program if no authorization is in force
    (SPEC v3), as the ``client`` fixture does."""
    if any(c.type == "DealFinanced" for c in commands):
        authorize(ledger)
    if actor is not None:
        outcome = ledger.submit(list(commands), Context(actor=actor), render_events,
                                render_error)
        return outcome.envelopes
    written: list[dict[str, Any]] = []
    for key, run in itertools.groupby(commands, key=lambda command: _poster(command.type)):
        written += write(ledger, list(run), f"{key}-key")
    return written


def authorize(ledger: Ledger) -> None:
    """The program authorized from 2025 on (the tests' business dates), unless it is."""
    program = ledger.program(fresh=True)
    today = ledger.clock().date()
    if program.authorization_on(date(2025, 1, 2)) and program.authorization_on(today):
        return
    ledger.submit([Command(PROGRAM_AUTHORIZED, AUTHORIZATION, deal_id=PROGRAM_ID)],
                  Context(actor="board-key"), render_events, render_error)


def _poster(type_name: str) -> str:
    """The tests' key that posts ``type_name``; admin for a type no desk posts (a policy)."""
    from domain.desks import posters

    return key_for(type_name) if posters(type_name) else "admin"


def position(runner: Runner, name: str) -> int:
    with runner.engine.connect() as conn:
        return runner.state(conn, name)[1]


def live_rows(runner: Runner, name: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the projection's live slot, by table name without its slot suffix.

    Portfolio rows whose counters are all zero are left out: they are what remains of a
    breakdown key (a stage, say) that a deal passed through, and read like absent rows.
    """
    with runner.engine.connect() as conn:
        slot, _ = runner.state(conn, name)
        out: dict[str, list[tuple[Any, ...]]] = {}
        for table in runner.projections[name].schema[slot].all():
            rows = conn.execute(sa.select(table)).all()
            if table.name.startswith("portfolio_figures"):
                rows = [r for r in rows if any(r._mapping[c] for c in COUNTERS)]
            out[table.name.rsplit("_", 1)[0]] = sorted((tuple(r) for r in rows), key=repr)
    return out


def all_live_rows(runner: Runner) -> dict[str, dict[str, list[tuple[Any, ...]]]]:
    return {name: live_rows(runner, name) for name in NAMES}


def step_until_caught_up(runner: Runner, name: str, limit: int | None = None,
                         max_steps: int = 10_000) -> None:
    for _ in range(max_steps):
        if runner.step(name, limit) == 0:
            return
    raise AssertionError(f"{name} did not catch up within {max_steps} steps")
