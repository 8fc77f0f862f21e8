"""What a projection is: a pure mapping from events to rows, in named tables.

Each projection owns two identical sets of tables, slot ``a`` and slot ``b``
(both created by alembic). Readers and the live runner use the active slot; a
rebuild fills the other slot from the log and then flips the active slot and
the position in one transaction, so no reader ever sees a half-built model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import sqlalchemy as sa

Envelope = Mapping[str, Any]
SLOTS = ("a", "b")


class Tables:
    """The tables of one projection in one slot, by short name: ``t.deals``."""

    def __init__(self, tables: dict[str, sa.Table]) -> None:
        self._tables = tables

    def __getattr__(self, name: str) -> sa.Table:
        try:
            return self._tables[name]
        except KeyError:
            raise AttributeError(name) from None

    def all(self) -> list[sa.Table]:
        return list(self._tables.values())


Define = Callable[[sa.MetaData, str], dict[str, sa.Table]]


class Schema:
    """Table definitions for both slots, from one function of the name suffix."""

    def __init__(self, define: Define) -> None:
        self.metadata = sa.MetaData()
        self.slots = {slot: Tables(define(self.metadata, slot)) for slot in SLOTS}

    def __getitem__(self, slot: str) -> Tables:
        return self.slots[slot]


class Projection(Protocol):
    name: str
    schema: Schema

    def apply(self, conn: sa.Connection, t: Tables, events: Sequence[Envelope]) -> None:
        """Write the rows for ``events`` (in position order) inside the runner's transaction."""
        ...
