"""The PostgreSQL event store: the library's recorder, written to through group commits
under its ``EXCLUSIVE`` table lock, so positions are commit-ordered."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import OperationalError as ESOperationalError
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

from domain.chain import format_timestamp
from projections.wakeups import CHANNEL
from service.eventstore import common
from service.eventstore import guards as guard_rows
from service.eventstore.common import EVENTS_TABLE, GroupCommits, ImportRow, LogQueries
from service.eventstore.groupcommit import Unit, plan_with_guards
from service.eventstore.guards import Rebuilt
from service.eventstore.pgfactory import LOST, lost, once, reached
from service.eventstore.types import KeyAlreadyBound, StoreUnavailable, StreamConflict

UNAVAILABLE = (psycopg.OperationalError, psycopg.errors.LockNotAvailable, ESOperationalError)


def _runner(cur: psycopg.Cursor[Any]) -> guard_rows.Run:
    def run(sql: str, params: Sequence[Any]) -> list[Mapping[str, Any]]:
        cur.execute(sql, params)
        return list(cur.fetchall()) if cur.description else []

    return run


class PostgresLedgerRecorder(GroupCommits, LogQueries, PostgresApplicationRecorder):
    # tried once, never retried while a request waits (see ``pgfactory``)
    insert_events = once(PostgresApplicationRecorder.insert_events)
    select_events = once(PostgresApplicationRecorder.select_events)
    select_notifications = once(PostgresApplicationRecorder.select_notifications)
    max_notification_id = once(PostgresApplicationRecorder.max_notification_id)

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = EVENTS_TABLE):
        super().__init__(datastore, events_table_name=EVENTS_TABLE)

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Mapping[str, Any]]:
        try:
            with self.datastore.get_connection() as conn, conn.cursor() as cur:
                cur.execute(sql, params)
                rows: list[Mapping[str, Any]] = list(cur.fetchall())
        except LOST:
            lost(self.datastore)
            raise
        reached(self.datastore)
        return rows

    def _id(self, deal_id: UUID) -> Any:
        return deal_id

    def head(self) -> int:
        return self.max_notification_id() or 0

    def _lock(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute(f"SET LOCAL lock_timeout = '{self.datastore.lock_timeout}s';"
                    f"LOCK TABLE {EVENTS_TABLE} IN EXCLUSIVE MODE")

    def _commit_group(self, units: list[Unit]) -> None:
        try:
            self._commit_units(units)
        except UNAVAILABLE as e:
            if not isinstance(e, psycopg.errors.LockNotAvailable):  # busy is not away
                lost(self.datastore)
            raise StoreUnavailable(str(e)) from e
        except psycopg.errors.UniqueViolation as e:
            if e.diag.table_name == "idempotency_keys":
                raise KeyAlreadyBound from e
            raise StreamConflict from e
        reached(self.datastore)

    def _commit_units(self, units: list[Unit]) -> None:
        deal_ids = list({ev.deal_id for u in units for ev in u.events})
        keys = [(u.binding.scope, u.binding.key) for u in units if u.binding]
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as cur:
            self._lock(cur)
            cur.execute(f"SELECT recorded_at FROM {EVENTS_TABLE} "
                        "ORDER BY notification_id DESC LIMIT 1")
            row = cur.fetchone()
            last = format_timestamp(row["recorded_at"]) if row else None
            heads: dict[UUID, int] = {}
            hashes: dict[UUID, str | None] = {}
            if deal_ids:
                # one backward descent of the primary key per deal (DISTINCT ON read and
                # sorted every event of each deal: milliseconds at thousands of events)
                cur.execute(
                    "SELECT d.id AS originator_id, e.originator_version, e.state "
                    "FROM unnest(%s::uuid[]) AS d(id) CROSS JOIN LATERAL "
                    f"(SELECT originator_version, state FROM {EVENTS_TABLE} "
                    " WHERE originator_id = d.id "
                    " ORDER BY originator_version DESC LIMIT 1) AS e",
                    (deal_ids,),
                )
                for r in cur.fetchall():
                    heads[r["originator_id"]] = r["originator_version"]
                    hashes[r["originator_id"]] = json.loads(bytes(r["state"]))["hash"]
            taken: set[tuple[str, str]] = set()
            if keys:
                cur.execute(
                    "SELECT scope, key FROM idempotency_keys WHERE (scope, key) IN "
                    "(SELECT * FROM unnest(%s::text[], %s::text[]))",
                    ([k[0] for k in keys], [k[1] for k in keys]),
                )
                taken = {(r["scope"], r["key"]) for r in cur.fetchall()}
            accepted = plan_with_guards(units, heads, taken, _runner(cur), self.P)
            events = [ev for u in accepted for ev in u.events]
            positions: list[int] = []
            if events:
                recorded_at, states = common.stamp(events, hashes, last, self.clock())
                cur.execute(
                    f"INSERT INTO {EVENTS_TABLE} "
                    "(originator_id, originator_version, topic, state, recorded_at) "
                    "SELECT i, v, t, s, %s::timestamptz FROM "
                    "unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[]) AS u(i, v, t, s) "
                    "RETURNING notification_id",
                    (recorded_at, [e.deal_id for e in events], [e.version for e in events],
                     [e.topic for e in events], states),
                )
                positions = sorted(r["notification_id"] for r in cur.fetchall())
                cur.execute(f"NOTIFY {CHANNEL}")
            bound = common.bind_results(accepted, positions)
            if bound:
                cur.executemany(
                    "INSERT INTO idempotency_keys "
                    "(scope, key, fingerprint, status, body, location, created_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, now())",
                    bound,
                )

    def replace_guards(self, build: Callable[[], Rebuilt]) -> None:
        """Every guard replaced by what ``build`` computes, under the table lock."""
        try:
            with self.datastore.get_connection() as conn, conn.transaction(), \
                    conn.cursor() as cur:
                self._lock(cur)
                totals, rows = build()
                guard_rows.replace_all(_runner(cur), self.P, totals, rows)
        except UNAVAILABLE as e:
            raise StoreUnavailable(str(e)) from e

    def import_events(self, rows: Iterable[ImportRow], batch: int = 1000,
                      after: int = 0) -> int:
        """``GroupCommits.import_events`` under the table lock; the position sequence
        moves past the last row, and a NOTIFY wakes the projectors."""
        count = 0
        try:
            with self.datastore.get_connection() as conn, conn.transaction(), \
                    conn.cursor() as cur:
                self._lock(cur)
                cur.execute(f"SELECT coalesce(max(notification_id), 0) AS head "
                            f"FROM {EVENTS_TABLE}")
                if cur.fetchone() != {"head": after}:
                    raise StreamConflict(f"the ledger's last position is not {after}")
                last = 0
                for chunk in common.chunks(rows, batch):
                    cur.execute(
                        f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, "
                        "notification_id, topic, state, recorded_at) "
                        "SELECT i, v, n, t, s, r FROM unnest(%s::uuid[], %s::bigint[], "
                        "%s::bigint[], %s::text[], %s::bytea[], %s::timestamptz[]) "
                        "AS u(i, v, n, t, s, r)",
                        [list(column) for column in zip(*chunk, strict=True)],
                    )
                    count += len(chunk)
                    last = chunk[-1][2]
                if count:
                    cur.execute(
                        "SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), %s)",
                        (EVENTS_TABLE, last),
                    )
                    cur.execute(f"NOTIFY {CHANNEL}")
        except UNAVAILABLE as e:
            raise StoreUnavailable(str(e)) from e
        return count
