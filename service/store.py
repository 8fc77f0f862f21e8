"""The event store's write path: the library's native recorders, extended.

Appending stamps ``recorded_at``, ``prev_hash`` and ``hash`` onto each event
*inside* the serialised write section (PostgreSQL: the library's EXCLUSIVE
table lock; SQLite: BEGIN IMMEDIATE), so ``recorded_at`` never decreases as
the position grows and every hash covers exactly what is stored. An
idempotency key is bound in the same transaction as the events it wrote.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import OperationalError as ESOperationalError
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from domain.chain import event_hash, format_timestamp, parse_timestamp
from domain.envelope import envelope, type_from_topic

EVENTS_TABLE = "ledger_events"
SNAPSHOTS_TABLE = "ledger_snapshots"


class StreamConflict(Exception):
    """Another writer appended to one of the deals first."""


class KeyAlreadyBound(Exception):
    """A concurrent request bound the same idempotency key first."""


class StoreUnavailable(Exception):
    """The database could not be reached or the write lock not obtained."""


@dataclass
class NewEvent:
    deal_id: UUID
    version: int
    topic: str
    state: dict[str, Any]


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str
    location: str | None = None


@dataclass
class Binding:
    """An idempotency key to bind, and how to render the response it replays."""

    scope: str
    key: str
    fingerprint: str
    render: Callable[[list[dict[str, Any]]], StoredResponse] | None = None
    response: StoredResponse | None = None


@dataclass
class Appended:
    envelopes: list[dict[str, Any]]
    response: StoredResponse | None = None
    positions: list[int] = field(default_factory=list)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _stamp(
    events: Sequence[NewEvent], prev_hashes: dict[UUID, str | None], last_recorded: str | None
) -> tuple[str, list[bytes]]:
    now = datetime.now(UTC)
    if last_recorded is not None:
        now = max(now, parse_timestamp(last_recorded))
    recorded_at = format_timestamp(now)
    heads = dict(prev_hashes)
    states = []
    for ev in events:
        st = ev.state
        st["recorded_at"] = recorded_at
        st["timestamp"] = {"_type_": "datetime_iso", "_data_": now.isoformat()}
        st["prev_hash"] = heads.get(ev.deal_id) if ev.version > 1 else None
        st["hash"] = event_hash(
            {
                "deal_id": str(ev.deal_id),
                "version": ev.version,
                "type": type_from_topic(ev.topic),
                "data": st["data"],
                "occurred_at": st["occurred_at"],
                "recorded_at": recorded_at,
                "actor": st["actor"],
                "source": st.get("source"),
                "prev_hash": st["prev_hash"],
            }
        )
        heads[ev.deal_id] = st["hash"]
        states.append(_dumps(st))
    return recorded_at, states


def _first_versions(events: Sequence[NewEvent]) -> dict[UUID, int]:
    firsts: dict[UUID, int] = {}
    for ev in events:
        firsts.setdefault(ev.deal_id, ev.version)
    return firsts


def _internal(env: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    if "controlled_eccns" in state:
        env["controlled_eccns"] = state["controlled_eccns"]
    return env


def _envelopes(events: Sequence[NewEvent], positions: Sequence[int]) -> list[dict[str, Any]]:
    return [
        envelope(str(ev.deal_id), ev.version, pos, ev.topic, ev.state)
        for ev, pos in zip(events, positions, strict=True)
    ]


class PostgresLedgerRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = EVENTS_TABLE):
        super().__init__(datastore, events_table_name=EVENTS_TABLE)

    def append(self, events: Sequence[NewEvent], binding: Binding | None = None) -> Appended:
        try:
            return self._append(events, binding)
        except psycopg.errors.UniqueViolation as e:
            if e.diag.table_name == "idempotency_keys":
                raise KeyAlreadyBound from e
            raise StreamConflict from e
        except (psycopg.OperationalError, psycopg.errors.LockNotAvailable) as e:
            raise StoreUnavailable(str(e)) from e
        except ESOperationalError as e:
            raise StoreUnavailable(str(e)) from e

    def _append(self, events: Sequence[NewEvent], binding: Binding | None) -> Appended:
        firsts = {d: v for d, v in _first_versions(events).items() if v > 1}
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as cur:
            positions: list[int] = []
            if events:
                cur.execute(
                    f"SET LOCAL lock_timeout = '{self.datastore.lock_timeout}s';"
                    f"LOCK TABLE {EVENTS_TABLE} IN EXCLUSIVE MODE"
                )
                cur.execute(
                    f"SELECT recorded_at FROM {EVENTS_TABLE} "
                    "ORDER BY notification_id DESC LIMIT 1"
                )
                row = cur.fetchone()
                last = format_timestamp(row["recorded_at"]) if row else None
                prev = self._prev_hashes(cur, firsts)
                recorded_at, states = _stamp(events, prev, last)
                cur.execute(
                    f"INSERT INTO {EVENTS_TABLE} "
                    "(originator_id, originator_version, topic, state, recorded_at) "
                    "SELECT i, v, t, s, %s::timestamptz FROM "
                    "unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[]) AS u(i, v, t, s) "
                    "RETURNING notification_id",
                    (
                        recorded_at,
                        [e.deal_id for e in events],
                        [e.version for e in events],
                        [e.topic for e in events],
                        states,
                    ),
                )
                positions = sorted(r["notification_id"] for r in cur.fetchall())
                cur.execute(f"NOTIFY {EVENTS_TABLE}")
            envs = _envelopes(events, positions)
            response = _bind(binding, envs)
            if binding is not None and response is not None:
                cur.execute(
                    "INSERT INTO idempotency_keys "
                    "(scope, key, fingerprint, status, body, location, created_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, now())",
                    (binding.scope, binding.key, binding.fingerprint, response.status,
                     response.body, response.location),
                )
        return Appended(envs, response, positions)

    def _prev_hashes(self, cur: Any, firsts: dict[UUID, int]) -> dict[UUID, str | None]:
        if not firsts:
            return {}
        cur.execute(
            f"SELECT originator_id, state FROM {EVENTS_TABLE} e "
            "JOIN unnest(%s::uuid[], %s::bigint[]) AS k(i, v) "
            "ON e.originator_id = k.i AND e.originator_version = k.v",
            (list(firsts), [v - 1 for v in firsts.values()]),
        )
        found = {r["originator_id"]: json.loads(bytes(r["state"]))["hash"] for r in cur}
        if len(found) != len(firsts):
            raise StreamConflict("a deal's previous event is missing")
        return found

    def lookup_binding(self, scope: str, key: str) -> tuple[str, StoredResponse] | None:
        with self.datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT fingerprint, status, body, location FROM idempotency_keys "
                "WHERE scope = %s AND key = %s",
                (scope, key),
            )
            row = cur.fetchone()
        if row is None:
            return None
        return row["fingerprint"], StoredResponse(row["status"], row["body"], row["location"])

    def select_deal_rows(self, deal_id: UUID, lte: int | None = None) -> list[dict[str, Any]]:
        sql = (
            f"SELECT originator_version, notification_id, topic, state FROM {EVENTS_TABLE} "
            "WHERE originator_id = %s"
        )
        params: list[Any] = [deal_id]
        if lte is not None:
            sql += " AND originator_version <= %s"
            params.append(lte)
        sql += " ORDER BY originator_version"
        with self.datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return [
                envelope(str(deal_id), r["originator_version"], r["notification_id"],
                         r["topic"], json.loads(bytes(r["state"])))
                for r in cur.fetchall()
            ]

    def version_as_of(self, deal_id: UUID, moment: datetime) -> int | None:
        with self.datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute(
                f"SELECT max(originator_version) AS v FROM {EVENTS_TABLE} "
                "WHERE originator_id = %s AND recorded_at <= %s",
                (deal_id, moment),
            )
            row = cur.fetchone()
        return row["v"] if row else None

    def select_log(
        self, after: int, limit: int, *, internal: bool = False
    ) -> list[dict[str, Any]]:
        """The log after ``after``; ``internal`` adds what projections need beyond the API."""
        with self.datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute(
                f"SELECT originator_id, originator_version, notification_id, topic, state "
                f"FROM {EVENTS_TABLE} WHERE notification_id > %s "
                "ORDER BY notification_id LIMIT %s",
                (after, limit),
            )
            rows = cur.fetchall()
        out = []
        for r in rows:
            state = json.loads(bytes(r["state"]))
            env = envelope(str(r["originator_id"]), r["originator_version"],
                           r["notification_id"], r["topic"], state)
            out.append(_internal(env, state) if internal else env)
        return out

    def head(self) -> int:
        return self.max_notification_id() or 0

    def ping(self) -> None:
        with self.datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = EVENTS_TABLE):
        super().__init__(datastore, EVENTS_TABLE)
        self._writer_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self._db_name = datastore.pool.db_name
        self._timeout = float(datastore.pool.lock_timeout or 10)

    def _connection(self) -> sqlite3.Connection:
        if self._writer is None:
            conn = sqlite3.connect(
                self._db_name, isolation_level=None, check_same_thread=False,
                timeout=self._timeout,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.row_factory = sqlite3.Row
            self._writer = conn
        return self._writer

    def append(self, events: Sequence[NewEvent], binding: Binding | None = None) -> Appended:
        with self._writer_lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:
                raise StoreUnavailable(str(e)) from e
            try:
                result = self._append(conn, events, binding)
            except BaseException as e:
                conn.execute("ROLLBACK")
                if isinstance(e, sqlite3.IntegrityError):
                    if "idempotency_keys" in str(e):
                        raise KeyAlreadyBound from e
                    raise StreamConflict from e
                if isinstance(e, sqlite3.OperationalError):
                    raise StoreUnavailable(str(e)) from e
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.OperationalError as e:
                conn.execute("ROLLBACK")
                raise StoreUnavailable(str(e)) from e
            return result

    def _append(
        self, conn: sqlite3.Connection, events: Sequence[NewEvent], binding: Binding | None
    ) -> Appended:
        positions: list[int] = []
        if events:
            row = conn.execute(
                f"SELECT recorded_at FROM {EVENTS_TABLE} ORDER BY rowid DESC LIMIT 1"
            ).fetchone()
            prev: dict[UUID, str | None] = {}
            for deal_id, version in _first_versions(events).items():
                if version > 1:
                    r = conn.execute(
                        f"SELECT state FROM {EVENTS_TABLE} "
                        "WHERE originator_id = ? AND originator_version = ?",
                        (deal_id.hex, version - 1),
                    ).fetchone()
                    if r is None:
                        raise sqlite3.IntegrityError("a deal's previous event is missing")
                    prev[deal_id] = json.loads(r["state"])["hash"]
            recorded_at, states = _stamp(events, prev, row["recorded_at"] if row else None)
            for ev, state in zip(events, states, strict=True):
                cur = conn.execute(
                    f"INSERT INTO {EVENTS_TABLE} "
                    "(originator_id, originator_version, topic, state, recorded_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (ev.deal_id.hex, ev.version, ev.topic, state, recorded_at),
                )
                positions.append(int(cur.lastrowid or 0))
        envs = _envelopes(events, positions)
        response = _bind(binding, envs)
        if binding is not None and response is not None:
            conn.execute(
                "INSERT INTO idempotency_keys "
                "(scope, key, fingerprint, status, body, location, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (binding.scope, binding.key, binding.fingerprint, response.status,
                 response.body, response.location, datetime.now(UTC).isoformat()),
            )
        return Appended(envs, response, positions)

    def _read(self, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return list(c.fetchall())

    def lookup_binding(self, scope: str, key: str) -> tuple[str, StoredResponse] | None:
        rows = self._read(
            "SELECT fingerprint, status, body, location FROM idempotency_keys "
            "WHERE scope = ? AND key = ?",
            (scope, key),
        )
        if not rows:
            return None
        r = rows[0]
        return r["fingerprint"], StoredResponse(r["status"], r["body"], r["location"])

    def select_deal_rows(self, deal_id: UUID, lte: int | None = None) -> list[dict[str, Any]]:
        sql = (
            f"SELECT originator_version, rowid AS position, topic, state FROM {EVENTS_TABLE} "
            "WHERE originator_id = ?"
        )
        params: list[Any] = [deal_id.hex]
        if lte is not None:
            sql += " AND originator_version <= ?"
            params.append(lte)
        sql += " ORDER BY originator_version"
        return [
            envelope(str(deal_id), r["originator_version"], r["position"], r["topic"],
                     json.loads(r["state"]))
            for r in self._read(sql, params)
        ]

    def version_as_of(self, deal_id: UUID, moment: datetime) -> int | None:
        rows = self._read(
            f"SELECT max(originator_version) AS v FROM {EVENTS_TABLE} "
            "WHERE originator_id = ? AND recorded_at <= ?",
            (deal_id.hex, format_timestamp(moment)),
        )
        return rows[0]["v"] if rows else None

    def select_log(
        self, after: int, limit: int, *, internal: bool = False
    ) -> list[dict[str, Any]]:
        """The log after ``after``; ``internal`` adds what projections need beyond the API."""
        rows = self._read(
            f"SELECT rowid AS position, originator_id, originator_version, topic, state "
            f"FROM {EVENTS_TABLE} WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (after, limit),
        )
        out = []
        for r in rows:
            state = json.loads(r["state"])
            env = envelope(str(UUID(r["originator_id"])), r["originator_version"],
                           r["position"], r["topic"], state)
            out.append(_internal(env, state) if internal else env)
        return out

    def head(self) -> int:
        return self.max_notification_id() or 0

    def ping(self) -> None:
        self._read("SELECT 1", ())

    def close_writer(self) -> None:
        with self._writer_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None


def _bind(binding: Binding | None, envs: list[dict[str, Any]]) -> StoredResponse | None:
    if binding is None:
        return None
    if binding.response is not None:
        return binding.response
    if binding.render is not None:
        return binding.render(envs)
    return None


LedgerRecorder = PostgresLedgerRecorder | SQLiteLedgerRecorder
