"""The event store's rows as a test compares them, whatever the dialect."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from service.db import create_engine
from service.settings import Settings


def stored(url: str) -> tuple[list[tuple[Any, ...]], int]:
    """Every stored event as ``(position, deal_id, version, state bytes)``, and how many
    snapshots there are."""
    settings = Settings(database_url=url)
    engine = create_engine(settings)
    position = "notification_id" if settings.is_postgres else "rowid"
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                f"SELECT {position}, originator_id, originator_version, state "
                f"FROM ledger_events ORDER BY {position}")).all()
            snapshots = conn.execute(sa.text("SELECT count(*) FROM ledger_snapshots")).scalar()
    finally:
        engine.dispose()
    return [(p, str(d).replace("-", ""), v, bytes(s)) for p, d, v, s in rows], int(snapshots or 0)
