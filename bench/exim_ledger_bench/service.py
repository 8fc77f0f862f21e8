"""The one module of the bench that imports the ledger's own code; every other module
reaches the ledger through its HTTP API, its commands, or this module. The web app is
never imported: the ledger, its runner and the request models come from
``service.bootstrap`` and ``service.ledger``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from projections.positions import positions
from service.bootstrap import build_ledger, build_runner
from service.db import create_engine
from service.eventstore.schema import snapshots
from service.ledger.application import Ledger
from service.settings import Settings

__all__ = ["Ledger", "Settings", "event_request", "latest_snapshot_bytes", "opened",
           "projected", "runner"]


@contextlib.contextmanager
def opened(database_url: str) -> Iterator[tuple[Ledger, sa.Engine]]:
    """The ledger and an engine on ``database_url``, closed when the block ends."""
    settings = Settings(database_url=database_url)
    ledger, engine = build_ledger(settings), create_engine(settings)
    try:
        yield ledger, engine
    finally:
        ledger.close()
        engine.dispose()


def projected(engine: sa.Engine) -> int:
    """The position every projection has reached."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.min(positions.c.position))).scalar() or 0)


def latest_snapshot_bytes(engine: sa.Engine, deal_id: str) -> int:
    """The stored size of the deal's latest snapshot (0: none taken yet)."""
    # the library's SQLite recorder stores ids as hex text, its PostgreSQL one as uuid
    key: UUID | str = UUID(deal_id) if engine.dialect.name == "postgresql" else UUID(deal_id).hex
    query = (sa.select(sa.func.length(snapshots.c.state))
             .where(snapshots.c.originator_id == key)
             .order_by(snapshots.c.originator_version.desc()).limit(1))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def runner(database_url: str, ledger: Ledger, engine: sa.Engine) -> Any:
    """The projections' runner the server builds, for ``rebuild_all``."""
    return build_runner(Settings(database_url=database_url), ledger, engine)


def event_request() -> Any:
    """The pydantic model that ``POST /v1/deals/{id}/events`` validates its body with."""
    from service.ledger.payloads import EVENT_REQUEST

    return EVENT_REQUEST
