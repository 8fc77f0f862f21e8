"""The one set-up every command shares: settings, an engine, and the migration check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import sqlalchemy as sa
import typer
from rich.console import Console

from service.settings import Settings

if TYPE_CHECKING:
    from service.ledger.application import Ledger

err = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error and return the exit to raise."""
    err.print(f"[red]error:[/red] {message}", soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def engine_at_head(settings: Settings | None = None) -> Iterator[tuple[Settings, sa.Engine]]:
    """Settings and an engine on a database migrated to head, disposed afterwards."""
    from service.db import MigrationsNotAtHead, check_at_head, create_engine

    settings = settings or Settings()
    engine = create_engine(settings)
    try:
        try:
            check_at_head(settings, engine)
        except MigrationsNotAtHead as e:
            raise fail(str(e)) from None
        yield settings, engine
    finally:
        engine.dispose()


@contextmanager
def ledger_session(*, start: bool = False) -> Iterator[tuple[Ledger, sa.Engine, Settings]]:
    """The use cases on a migrated database, closed afterwards. ``start``: as ``serve``
    and ``project`` start, adopting the shipped and bootstrap policies first."""
    from domain.errors import LedgerError
    from service.bootstrap import build_ledger, start_ledger

    with engine_at_head() as (settings, engine):
        try:
            ledger = start_ledger(settings) if start else build_ledger(settings)
        except LedgerError as e:
            raise fail(e.detail) from None
        try:
            yield ledger, engine, settings
        finally:
            ledger.close()
