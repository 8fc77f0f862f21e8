"""What a projection is: a pure mapping from events to rows, in named tables.

Each projection owns two identical sets of tables, slot ``a`` and slot ``b``
(both created by alembic). Readers and the live runner use the active slot; a
rebuild fills the other slot from the log and then flips the active slot and
the position in one transaction, so no reader ever sees a half-built model.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

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


def insert(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (all with the same columns) in one executemany."""
    if rows:
        _execute_many(conn, _statement(conn.dialect, table, tuple(rows[0]), None), rows)


def upsert(
    conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], *, add: bool = False
) -> None:
    """Insert ``rows`` (all with the same columns); where a row's primary key is taken, set
    that row's other columns instead, or with ``add`` add the row's values to them.

    The statement runs as one executemany, each row binding only its own values, so a batch
    of any size stays within SQLite's limit on bound parameters.
    """
    if rows:
        _execute_many(conn, _statement(conn.dialect, table, tuple(rows[0]), add), rows)


def execute_many(conn: sa.Connection, statement: sa.Insert,
                 rows: Sequence[Mapping[str, Any]]) -> None:
    """``statement`` for each of ``rows`` (all with the same columns), compiled once per
    shape and run as one executemany straight through the driver."""
    if rows:
        _execute_many(conn, _compiled(conn.dialect, statement, tuple(rows[0])), rows)


@functools.lru_cache(maxsize=64)
def _compiled(dialect: sa.Dialect, statement: sa.Insert, columns: tuple[str, ...]) -> sa.Compiled:
    return statement.compile(dialect=dialect, column_keys=list(columns))


@functools.lru_cache(maxsize=256)
def _statement(dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...],
               add: bool | None) -> sa.Compiled:
    """The compiled INSERT (an upsert unless ``add`` is None), made once per shape: rows
    then go straight to the driver, without SQLAlchemy's per-row parameter processing
    (the projections' columns are integers, text and bytes, which need none)."""
    if add is None:
        return table.insert().compile(dialect=dialect, column_keys=list(columns))
    key = [column.name for column in table.primary_key]
    stmt = (postgresql.insert if dialect.name == "postgresql" else sqlite.insert)(table)
    new = stmt.excluded
    changes = {name: table.c[name] + new[name] if add else new[name]
               for name in columns if name not in key}
    return stmt.on_conflict_do_update(index_elements=key, set_=changes).compile(
        dialect=dialect, column_keys=list(columns))


@functools.lru_cache(maxsize=256)
def _picker(order: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A row's values as a tuple in ``order``, picked in C (``itemgetter``), not by a
    generator per row."""
    if len(order) == 1:
        key = order[0]
        return lambda row: (row[key],)
    return operator.itemgetter(*order)


def _execute_many(conn: sa.Connection, compiled: sa.Compiled,
                  rows: Sequence[Mapping[str, Any]]) -> None:
    order = getattr(compiled, "positiontup", None)
    if order is not None:  # SQLite's "?" placeholders take tuples in the statement's order
        conn.exec_driver_sql(compiled.string, list(map(_picker(tuple(order)), rows)))
    else:
        conn.exec_driver_sql(compiled.string, list(rows))
