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
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import OperationalError as ESOperationalError
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from domain.chain import event_hash, format_timestamp, parse_timestamp
from domain.envelope import envelope
from service.groupcommit import GroupCommitter, Unit, plan
from service.store_types import (
    Appended,
    Binding,
    KeyAlreadyBound,
    NewEvent,
    StoredResponse,
    StoreUnavailable,
    StreamConflict,
)

EVENTS_TABLE = "ledger_events"
SNAPSHOTS_TABLE = "ledger_snapshots"

__all__ = ["Appended", "Binding", "KeyAlreadyBound", "NewEvent", "StoredResponse",
           "StoreUnavailable", "StreamConflict"]


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
        if st.get("occurred_at") is None:  # not given by the poster: it defaults to recorded_at
            st["occurred_at"] = recorded_at
        st["timestamp"] = {"_type_": "datetime_iso", "_data_": now.isoformat()}
        st["prev_hash"] = heads.get(ev.deal_id) if ev.version > 1 else None
        # the hash covers exactly the envelope the API returns (position is not hashed)
        st["hash"] = event_hash(envelope(str(ev.deal_id), ev.version, 0, ev.topic, st))
        heads[ev.deal_id] = st["hash"]
        states.append(_dumps(st))
    return recorded_at, states


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
        self._committer: GroupCommitter | None = None
        self._committer_lock = threading.Lock()

    def append(self, events: Sequence[NewEvent], binding: Binding | None = None) -> Appended:
        """Append one unit (all or nothing); concurrent units share a transaction."""
        with self._committer_lock:
            if self._committer is None:
                self._committer = GroupCommitter(self._commit_group, "pg-group-commit")
        return self._committer.submit(events, binding)

    def close_writer(self) -> None:
        with self._committer_lock:
            if self._committer is not None:
                self._committer.close()
                self._committer = None

    def _commit_group(self, units: list[Unit]) -> None:
        try:
            self._commit_units(units)
        except (psycopg.OperationalError, psycopg.errors.LockNotAvailable,
                ESOperationalError) as e:
            raise StoreUnavailable(str(e)) from e
        except psycopg.errors.UniqueViolation as e:
            if e.diag.table_name == "idempotency_keys":
                raise KeyAlreadyBound from e
            raise StreamConflict from e

    def _commit_units(self, units: list[Unit]) -> None:
        deal_ids = list({ev.deal_id for u in units for ev in u.events})
        keys = [(u.binding.scope, u.binding.key) for u in units if u.binding]
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(
                f"SET LOCAL lock_timeout = '{self.datastore.lock_timeout}s';"
                f"LOCK TABLE {EVENTS_TABLE} IN EXCLUSIVE MODE"
            )
            cur.execute(
                f"SELECT recorded_at FROM {EVENTS_TABLE} ORDER BY notification_id DESC LIMIT 1"
            )
            row = cur.fetchone()
            last = format_timestamp(row["recorded_at"]) if row else None
            heads: dict[UUID, int] = {}
            hashes: dict[UUID, str | None] = {}
            if deal_ids:
                cur.execute(
                    f"SELECT DISTINCT ON (originator_id) originator_id, originator_version, state "
                    f"FROM {EVENTS_TABLE} WHERE originator_id = ANY(%s) "
                    "ORDER BY originator_id, originator_version DESC",
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
            accepted = plan(units, heads, taken)
            events = [ev for u in accepted for ev in u.events]
            positions: list[int] = []
            if events:
                recorded_at, states = _stamp(events, hashes, last)
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
                cur.execute(f"NOTIFY {EVENTS_TABLE}")
            bound = _results(accepted, positions)
            if bound:
                cur.executemany(
                    "INSERT INTO idempotency_keys "
                    "(scope, key, fingerprint, status, body, location, created_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, now())",
                    bound,
                )

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

    # ---- integrity (issue 4): raw rows for verification, and import into an empty ledger

    def select_raw(
        self, after: int, limit: int, deal_id: UUID | None = None
    ) -> list[tuple[str, int, int, str, bytes, str]]:
        """Rows after ``after`` in position order, as stored: ``(deal_id, version,
        position, topic, state bytes, recorded_at column)``."""
        sql = (
            f"SELECT originator_id, originator_version, notification_id, topic, state, "
            f"recorded_at FROM {EVENTS_TABLE} WHERE notification_id > %s"
        )
        params: list[Any] = [after]
        if deal_id is not None:
            sql += " AND originator_id = %s"
            params.append(deal_id)
        sql += " ORDER BY notification_id LIMIT %s"
        params.append(limit)
        with self.datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        return [
            (str(r["originator_id"]), r["originator_version"], r["notification_id"],
             r["topic"], bytes(r["state"]), format_timestamp(r["recorded_at"]))
            for r in rows
        ]

    def import_events(
        self, rows: Iterable[tuple[UUID, int, int, str, bytes, str]], batch: int = 1000
    ) -> int:
        """Insert ``(deal_id, version, position, topic, state, recorded_at)`` rows with
        their positions, in one transaction under the write lock, into an empty store
        (else ``StreamConflict``). Anything ``rows`` raises rolls the whole import back."""
        count = 0
        try:
            with self.datastore.get_connection() as conn, conn.transaction(), \
                    conn.cursor() as cur:
                cur.execute(
                    f"SET LOCAL lock_timeout = '{self.datastore.lock_timeout}s';"
                    f"LOCK TABLE {EVENTS_TABLE} IN EXCLUSIVE MODE"
                )
                cur.execute(f"SELECT 1 FROM {EVENTS_TABLE} LIMIT 1")
                if cur.fetchone() is not None:
                    raise StreamConflict("the ledger already holds events")
                last = 0
                for chunk in _chunks(rows, batch):
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
                    cur.execute(f"NOTIFY {EVENTS_TABLE}")
        except (psycopg.OperationalError, psycopg.errors.LockNotAvailable) as e:
            raise StoreUnavailable(str(e)) from e
        return count


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = EVENTS_TABLE):
        super().__init__(datastore, EVENTS_TABLE)
        self._writer_lock = threading.Lock()
        self._committer: GroupCommitter | None = None
        self._committer_lock = threading.Lock()
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
        """Append one unit (all or nothing); concurrent units share a transaction."""
        with self._committer_lock:
            if self._committer is None:
                self._committer = GroupCommitter(self._commit_group, "sqlite-group-commit")
        return self._committer.submit(events, binding)

    def _commit_group(self, units: list[Unit]) -> None:
        with self._writer_lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:
                raise StoreUnavailable(str(e)) from e
            try:
                self._commit_units(conn, units)
                conn.execute("COMMIT")
            except BaseException as e:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                for unit in units:
                    unit.result = None
                if isinstance(e, sqlite3.IntegrityError):
                    if "idempotency_keys" in str(e):
                        raise KeyAlreadyBound from e
                    raise StreamConflict from e
                if isinstance(e, sqlite3.OperationalError):
                    raise StoreUnavailable(str(e)) from e
                raise

    def _commit_units(self, conn: sqlite3.Connection, units: list[Unit]) -> None:
        row = conn.execute(
            f"SELECT recorded_at FROM {EVENTS_TABLE} ORDER BY rowid DESC LIMIT 1"
        ).fetchone()
        heads: dict[UUID, int] = {}
        hashes: dict[UUID, str | None] = {}
        for deal_id in {ev.deal_id for u in units for ev in u.events}:
            r = conn.execute(
                f"SELECT originator_version, state FROM {EVENTS_TABLE} "
                "WHERE originator_id = ? ORDER BY originator_version DESC LIMIT 1",
                (deal_id.hex,),
            ).fetchone()
            if r is not None:
                heads[deal_id] = r["originator_version"]
                hashes[deal_id] = json.loads(r["state"])["hash"]
        taken = {
            (u.binding.scope, u.binding.key) for u in units if u.binding
            and conn.execute("SELECT 1 FROM idempotency_keys WHERE scope = ? AND key = ?",
                             (u.binding.scope, u.binding.key)).fetchone()
        }
        accepted = plan(units, heads, taken)
        events = [ev for u in accepted for ev in u.events]
        positions: list[int] = []
        if events:
            recorded_at, states = _stamp(events, hashes, row["recorded_at"] if row else None)
            for ev, state in zip(events, states, strict=True):
                cur = conn.execute(
                    f"INSERT INTO {EVENTS_TABLE} "
                    "(originator_id, originator_version, topic, state, recorded_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (ev.deal_id.hex, ev.version, ev.topic, state, recorded_at),
                )
                positions.append(int(cur.lastrowid or 0))
        bound = _results(accepted, positions)
        now = datetime.now(UTC).isoformat()
        conn.executemany(
            "INSERT INTO idempotency_keys "
            "(scope, key, fingerprint, status, body, location, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(*b, now) for b in bound],
        )

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
        with self._committer_lock:
            if self._committer is not None:
                self._committer.close()
                self._committer = None
        with self._writer_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    # ---- integrity (issue 4): raw rows for verification, and import into an empty ledger

    def select_raw(
        self, after: int, limit: int, deal_id: UUID | None = None
    ) -> list[tuple[str, int, int, str, bytes, str]]:
        """Rows after ``after`` in position order, as stored: ``(deal_id, version,
        position, topic, state bytes, recorded_at column)``."""
        sql = (
            f"SELECT originator_id, originator_version, rowid AS position, topic, state, "
            f"recorded_at FROM {EVENTS_TABLE} WHERE rowid > ?"
        )
        params: list[Any] = [after]
        if deal_id is not None:
            sql += " AND originator_id = ?"
            params.append(deal_id.hex)
        sql += " ORDER BY rowid LIMIT ?"
        params.append(limit)
        return [
            (str(UUID(r["originator_id"])), r["originator_version"], r["position"],
             r["topic"], bytes(r["state"]) if not isinstance(r["state"], str)
             else r["state"].encode("utf-8"), str(r["recorded_at"]))
            for r in self._read(sql, params)
        ]

    def import_events(
        self, rows: Iterable[tuple[UUID, int, int, str, bytes, str]], batch: int = 1000
    ) -> int:
        """Insert ``(deal_id, version, position, topic, state, recorded_at)`` rows with
        their positions, in one transaction under the write lock, into an empty store
        (else ``StreamConflict``). Anything ``rows`` raises rolls the whole import back."""
        with self._writer_lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:
                raise StoreUnavailable(str(e)) from e
            count = 0
            try:
                if conn.execute(f"SELECT 1 FROM {EVENTS_TABLE} LIMIT 1").fetchone():
                    raise StreamConflict("the ledger already holds events")
                for chunk in _chunks(rows, batch):
                    conn.executemany(
                        f"INSERT INTO {EVENTS_TABLE} (rowid, originator_id, originator_version, "
                        "topic, state, recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
                        [(n, d.hex, v, t, s, r) for d, v, n, t, s, r in chunk],
                    )
                    count += len(chunk)
                conn.execute("COMMIT")
            except BaseException as e:
                conn.execute("ROLLBACK")
                if isinstance(e, sqlite3.OperationalError):
                    raise StoreUnavailable(str(e)) from e
                raise
            return count


def _results(accepted: list[Unit], positions: list[int]) -> list[tuple[Any, ...]]:
    """Give each accepted unit its envelopes and response; the idempotency rows to insert."""
    rows: list[tuple[Any, ...]] = []
    offset = 0
    for unit in accepted:
        n = len(unit.events)
        envs = _envelopes(unit.events, positions[offset:offset + n])
        offset += n
        response = _bind(unit.binding, envs)
        unit.result = Appended(envs, response)
        if unit.binding is not None and response is not None:
            b = unit.binding
            rows.append((b.scope, b.key, b.fingerprint, response.status, response.body,
                         response.location))
    return rows


def _bind(binding: Binding | None, envs: list[dict[str, Any]]) -> StoredResponse | None:
    if binding is None:
        return None
    if binding.response is not None:
        return binding.response
    if binding.render is not None:
        return binding.render(envs)
    return None


LedgerRecorder = PostgresLedgerRecorder | SQLiteLedgerRecorder


def _chunks(
    rows: Iterable[tuple[UUID, int, int, str, bytes, str]], size: int
) -> Iterator[list[tuple[UUID, int, int, str, bytes, str]]]:
    chunk: list[tuple[UUID, int, int, str, bytes, str]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
