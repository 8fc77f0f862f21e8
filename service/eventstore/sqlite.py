"""The SQLite event store: the library's recorder, written to by one connection in
``BEGIN IMMEDIATE`` transactions (WAL, ``synchronous=FULL``), through group commits."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from domain.chain import format_timestamp
from service.eventstore import common
from service.eventstore import guards as guard_rows
from service.eventstore.common import EVENTS_TABLE, GroupCommits, ImportRow, LogQueries
from service.eventstore.groupcommit import Unit, plan_with_guards
from service.eventstore.guards import Rebuilt
from service.eventstore.types import KeyAlreadyBound, StoreUnavailable, StreamConflict

# Rows (of at most 6 values) per statement: under 999 variables, SQLite's oldest limit.
ROWS_PER_STATEMENT = 150


def _runner(conn: sqlite3.Connection) -> guard_rows.Run:
    def run(sql: str, params: Sequence[Any]) -> list[Mapping[str, Any]]:
        return [dict(r) for r in conn.execute(sql, params).fetchall()]

    return run


class SQLiteLedgerRecorder(GroupCommits, LogQueries, SQLiteApplicationRecorder):
    P = "?"
    POSITION = "rowid"

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = EVENTS_TABLE):
        super().__init__(datastore, EVENTS_TABLE)
        self._writer_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self._db_name = datastore.pool.db_name
        self._timeout = float(datastore.pool.lock_timeout or 10)

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Mapping[str, Any]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return list(c.fetchall())

    def _id(self, deal_id: UUID) -> Any:
        return deal_id.hex

    def _moment(self, moment: datetime) -> Any:
        return format_timestamp(moment)

    def head(self) -> int:
        return self.max_notification_id() or 0

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the writer connection; a lock timeout or I/O error is
        ``StoreUnavailable``, a unique-key clash a conflict; any failure rolls back."""
        with self._writer_lock:
            if self._writer is None:
                self._writer = sqlite3.connect(self._db_name, isolation_level=None,
                                               check_same_thread=False, timeout=self._timeout)
                self._writer.execute("PRAGMA journal_mode=WAL")
                self._writer.execute("PRAGMA synchronous=FULL")
                self._writer.row_factory = sqlite3.Row
            conn = self._writer
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException as e:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(e, sqlite3.IntegrityError):
                    if "idempotency_keys" in str(e):
                        raise KeyAlreadyBound from e
                    raise StreamConflict from e
                if isinstance(e, sqlite3.OperationalError):
                    raise StoreUnavailable(str(e)) from e
                raise

    def _commit_group(self, units: list[Unit]) -> None:
        try:
            with self._write() as conn:
                self._commit_units(conn, units)
        except BaseException:
            for unit in units:
                unit.result = None
            raise

    def _commit_units(self, conn: sqlite3.Connection, units: list[Unit]) -> None:
        # Every statement releases the GIL for each row it steps through, and a busy
        # process may take a switch interval to hand it back: a group costs a few
        # statements, not one per event or per deal.
        row = conn.execute(
            f"SELECT rowid, recorded_at FROM {EVENTS_TABLE} ORDER BY rowid DESC LIMIT 1"
        ).fetchone()
        heads, hashes = self._heads(conn, {ev.deal_id for u in units for ev in u.events})
        taken = {
            (u.binding.scope, u.binding.key) for u in units if u.binding
            and conn.execute("SELECT 1 FROM idempotency_keys WHERE scope = ? AND key = ?",
                             (u.binding.scope, u.binding.key)).fetchone()
        }
        accepted = plan_with_guards(units, heads, taken, _runner(conn), self.P)
        events = [ev for u in accepted for ev in u.events]
        positions: list[int] = []
        if events:
            last = row["recorded_at"] if row else None
            recorded_at, states = common.stamp(events, hashes, last, self.clock())
            # The positions SQLite itself would give (the largest rowid plus one, in
            # order): the write transaction is the only writer while it lasts.
            first = (row["rowid"] if row else 0) + 1
            positions = list(range(first, first + len(events)))
            self._insert(conn, [
                (pos, ev.deal_id.hex, ev.version, ev.topic, state, recorded_at)
                for pos, ev, state in zip(positions, events, states, strict=True)])
        now = datetime.now(UTC).isoformat()
        conn.executemany(
            "INSERT INTO idempotency_keys "
            "(scope, key, fingerprint, status, body, location, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(*b, now) for b in common.bind_results(accepted, positions)],
        )

    @staticmethod
    def _heads(conn: sqlite3.Connection, deal_ids: set[UUID]
               ) -> tuple[dict[UUID, int], dict[UUID, str | None]]:
        """Each stored deal's last version and hash; a deal without events is absent.
        One descent of the primary key per deal, whatever the length of its history."""
        heads: dict[UUID, int] = {}
        hashes: dict[UUID, str | None] = {}
        ids = [d.hex for d in deal_ids]
        for i in range(0, len(ids), ROWS_PER_STATEMENT):
            chunk = ids[i:i + ROWS_PER_STATEMENT]
            for r in conn.execute(
                f"WITH ids(id) AS (VALUES {', '.join(['(?)'] * len(chunk))}) "
                f"SELECT e.originator_id, e.originator_version AS v, e.state "
                f"FROM ids JOIN {EVENTS_TABLE} AS e ON e.originator_id = ids.id "
                f"AND e.originator_version = (SELECT max(originator_version) "
                f"FROM {EVENTS_TABLE} WHERE originator_id = ids.id)", chunk,
            ).fetchall():
                deal_id = UUID(r["originator_id"])
                heads[deal_id] = r["v"]
                hashes[deal_id] = json.loads(r["state"])["hash"]
        return heads, hashes

    @staticmethod
    def _insert(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        """Many rows a statement, so a group takes a few steps instead of one a row."""
        for i in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[i:i + ROWS_PER_STATEMENT]
            conn.execute(
                f"INSERT INTO {EVENTS_TABLE} (rowid, originator_id, originator_version, "
                "topic, state, recorded_at) VALUES "
                + ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk)),
                [value for r in chunk for value in r],
            )

    def import_events(self, rows: Iterable[ImportRow], batch: int = 1000,
                      after: int = 0) -> int:
        """``GroupCommits.import_events`` in one ``BEGIN IMMEDIATE`` transaction."""
        count = 0
        with self._write() as conn:
            head = conn.execute(f"SELECT coalesce(max(rowid), 0) FROM {EVENTS_TABLE}")
            if head.fetchone()[0] != after:
                raise StreamConflict(f"the ledger's last position is not {after}")
            for chunk in common.chunks(rows, batch):
                conn.executemany(
                    f"INSERT INTO {EVENTS_TABLE} (rowid, originator_id, originator_version, "
                    "topic, state, recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [(n, d.hex, v, t, s, r) for d, v, n, t, s, r in chunk],
                )
                count += len(chunk)
        return count

    def replace_guards(self, build: Callable[[], Rebuilt]) -> None:
        """Every guard replaced by what ``build`` computes, under the write lock."""
        with self._write() as conn:
            totals, rows = build()
            guard_rows.replace_all(_runner(conn), self.P, totals, rows)

    def close_writer(self) -> None:
        super().close_writer()
        with self._writer_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
