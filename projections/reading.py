"""The read side of the projections: which slot and position each read model serves,
its status, read-your-writes waits, and the reconciliation of the exposure ledger with
the portfolio. Routes read through it; nothing here writes."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from projections import exposure, portfolio
from projections.base import Projection, Tables
from projections.positions import positions

# built once: every read asks it
_STATE = sa.select(positions.c.slot, positions.c.position).where(
    positions.c.name == sa.bindparam("name_"))


def state(conn: sa.Connection, name: str) -> tuple[str, int]:
    """The slot readers use for ``name`` and the position it reflects."""
    row = conn.execute(_STATE, {"name_": name}).one()
    return str(row.slot), int(row.position)


class Reading:
    def __init__(self, engine: sa.Engine, projections: Iterable[Projection]) -> None:
        self.engine = engine
        self.projections = {p.name: p for p in projections}

    def active(self, conn: sa.Connection, name: str) -> tuple[Tables, int]:
        """The tables readers use for ``name`` now, and the position they reflect."""
        slot, position = state(conn, name)
        return self.projections[name].schema[slot], position

    def statuses(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(positions).order_by(positions.c.name)).all()
        return [dict(r._mapping) for r in rows if r.name in self.projections]

    def reconcile(self) -> dict[str, Any]:
        """Debits equal credits, and the ledger's exposure equals the portfolio's."""
        with self.engine.connect() as conn:
            e_tables, e_pos = self.active(conn, "exposure")
            p_tables, p_pos = self.active(conn, "portfolio")
            sums = exposure.totals(conn, e_tables)
            figures = portfolio.read(conn, p_tables, p_pos)["totals"]
        return exposure.reconciliation(sums, e_pos, figures, p_pos)

    def wait_for(self, names: Sequence[str], position: int, timeout: float) -> bool:
        return wait_for(self.engine, names, position, timeout)


def wait_for(
    engine: sa.Engine, names: Sequence[str], position: int, timeout: float
) -> bool:
    """Whether every named projection reached ``position`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(positions.c.position).where(
                positions.c.name.in_(list(names)))).all()
        if rows and len(rows) == len(names) and min(r[0] for r in rows) >= position:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
