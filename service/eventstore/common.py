"""What both event stores share: stamping inside the write section, the idempotency rows
a group binds, and the read queries (one SQL text, two dialects)."""

from __future__ import annotations

import json
import threading
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.chain import event_hash, format_timestamp, parse_timestamp
from domain.envelope import envelope
from domain.guards import GuardWrites
from service.eventstore import guards as guard_rows
from service.eventstore.groupcommit import GroupCommitter, Unit
from service.eventstore.types import Appended, Binding, NewEvent, StoredResponse

EVENTS_TABLE = "ledger_events"
SNAPSHOTS_TABLE = "ledger_snapshots"
ImportRow = tuple[UUID, int, int, str, bytes, str]
RawRow = tuple[str, int, int, str, bytes, str]


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def stamp(
    events: Sequence[NewEvent], prev_hashes: dict[UUID, str | None], last_recorded: str | None,
    now: datetime,
) -> tuple[str, list[bytes]]:
    """Give every event of a group ``recorded_at`` (``now``, or the last one if the clock
    stepped back), ``prev_hash`` and ``hash``; called inside the serialised write section,
    so ``recorded_at`` never decreases along the log."""
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
        ev.stored = dumps(st)
        states.append(ev.stored)
    return recorded_at, states


def bind_results(accepted: list[Unit], positions: list[int]) -> list[tuple[Any, ...]]:
    """Give each accepted unit its envelopes and response; the idempotency rows to insert."""
    rows: list[tuple[Any, ...]] = []
    offset = 0
    for unit in accepted:
        n = len(unit.events)
        envs = [envelope(str(ev.deal_id), ev.version, pos, ev.topic, ev.state)
                for ev, pos in zip(unit.events, positions[offset:offset + n], strict=True)]
        offset += n
        response = _response(unit.binding, envs)
        unit.result = Appended(envs, response)
        if unit.binding is not None and response is not None:
            b = unit.binding
            rows.append((b.scope, b.key, b.fingerprint, response.status, response.body,
                         response.location))
    return rows


def _response(binding: Binding | None, envs: list[dict[str, Any]]) -> StoredResponse | None:
    if binding is None:
        return None
    if binding.response is not None:
        return binding.response
    return binding.render(envs) if binding.render is not None else None


def chunks(rows: Iterable[ImportRow], size: int) -> Iterator[list[ImportRow]]:
    chunk: list[ImportRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class LogQueries:
    """The read side of both recorders. A dialect names its placeholder, its position
    column and how it stores ids, times and bytes; the SQL is written once."""

    P = "%s"  # the driver's placeholder
    POSITION = "notification_id"

    @abstractmethod
    def _rows(self, sql: str, params: Sequence[Any]) -> list[Mapping[str, Any]]: ...

    @abstractmethod
    def _id(self, deal_id: UUID) -> Any: ...

    @staticmethod
    def _bytes(state: Any) -> bytes:
        return state.encode("utf-8") if isinstance(state, str) else bytes(state)

    @staticmethod
    def _recorded(value: Any) -> str:
        return value if isinstance(value, str) else format_timestamp(value)

    def _sql(self, text: str) -> str:
        return text.replace("{P}", self.P).replace("{POS}", self.POSITION).replace(
            "{T}", EVENTS_TABLE)

    def lookup_binding(self, scope: str, key: str) -> tuple[str, StoredResponse] | None:
        rows = self._rows(self._sql(
            "SELECT fingerprint, status, body, location FROM idempotency_keys "
            "WHERE scope = {P} AND key = {P}"), (scope, key))
        if not rows:
            return None
        r = rows[0]
        return r["fingerprint"], StoredResponse(r["status"], r["body"], r["location"])

    def select_deal_rows(self, deal_id: UUID, lte: int | None = None) -> list[dict[str, Any]]:
        sql = ("SELECT originator_version, {POS} AS position, topic, state FROM {T} "
               "WHERE originator_id = {P}")
        params: list[Any] = [self._id(deal_id)]
        if lte is not None:
            sql += " AND originator_version <= {P}"
            params.append(lte)
        return [
            envelope(str(deal_id), r["originator_version"], r["position"], r["topic"],
                     json.loads(self._bytes(r["state"])))
            for r in self._rows(self._sql(sql + " ORDER BY originator_version"), params)
        ]

    def select_event(self, deal_id: UUID, version: int) -> tuple[str, dict[str, Any]] | None:
        """One stored event of a deal, by its version: its topic and state (one indexed
        lookup); None when the deal has no such version."""
        rows = self._rows(self._sql(
            "SELECT topic, state FROM {T} WHERE originator_id = {P} AND originator_version = {P}"),
            (self._id(deal_id), version))
        if not rows:
            return None
        return rows[0]["topic"], json.loads(self._bytes(rows[0]["state"]))

    def version_as_of(self, deal_id: UUID, moment: datetime) -> int | None:
        """The deal's last version recorded at or before ``moment``: one descent of the
        (deal, recorded_at, version) index, however long the deal's history."""
        rows = self._rows(self._sql(
            "SELECT originator_version AS v FROM {T} "
            "WHERE originator_id = {P} AND recorded_at <= {P} "
            "ORDER BY recorded_at DESC, originator_version DESC LIMIT 1"),
            (self._id(deal_id), self._moment(moment)))
        return rows[0]["v"] if rows else None

    def _moment(self, moment: datetime) -> Any:
        return moment

    def position_as_of(self, moment: datetime) -> int:
        """The position of the last event recorded at or before ``moment`` (0 when none).
        ``recorded_at`` never decreases along the log, so the last event is among those
        sharing the latest such time, which the ``recorded_at`` index finds directly.
        (``+ 0``: PostgreSQL would answer ``max(position)`` by walking the position index
        down from the head, testing each row's time: at the middle of a million events,
        half a million rows.)"""
        rows = self._rows(self._sql(
            "SELECT max({POS} + 0) AS p FROM {T} WHERE recorded_at = "
            "(SELECT max(recorded_at) FROM {T} WHERE recorded_at <= {P})"),
            (self._moment(moment),))
        return int(rows[0]["p"] or 0) if rows else 0

    def streams_between(self, after: int, through: int) -> list[UUID]:
        """The streams with an event at a position in ``(after, through]``."""
        rows = self._rows(self._sql(
            "SELECT DISTINCT originator_id FROM {T} WHERE {POS} > {P} AND {POS} <= {P}"),
            (after, through))
        return [UUID(str(r["originator_id"])) for r in rows]

    def select_streams(self, deal_ids: Iterable[UUID], through: int) -> list[dict[str, Any]]:
        """The envelopes of the streams ``deal_ids`` at positions up to ``through``, in
        position order."""
        wanted = sorted(set(deal_ids))
        found: list[dict[str, Any]] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ", ".join(["{P}"] * len(chunk))
            rows = self._rows(self._sql(
                "SELECT originator_id, originator_version, {POS} AS position, topic, state "
                f"FROM {{T}} WHERE originator_id IN ({marks}) AND {{POS}} <= {{P}}"),
                [*(self._id(d) for d in chunk), through])
            found.extend(
                envelope(str(UUID(str(r["originator_id"]))), r["originator_version"],
                         r["position"], r["topic"], json.loads(self._bytes(r["state"])))
                for r in rows)
        return sorted(found, key=lambda ev: int(ev["position"]))

    def select_log(self, after: int, limit: int) -> list[dict[str, Any]]:
        """The envelopes after position ``after``, in position order."""
        return [envelope(deal, version, position, topic, json.loads(raw))
                for deal, version, position, topic, raw, _ in self.select_raw(after, limit)]

    def select_raw(self, after: int, limit: int, deal_id: UUID | None = None) -> list[RawRow]:
        """Rows after ``after`` in position order, as stored: ``(deal_id, version,
        position, topic, state bytes, recorded_at)``."""
        sql = ("SELECT originator_id, originator_version, {POS} AS position, topic, state, "
               "recorded_at FROM {T} WHERE {POS} > {P}")
        params: list[Any] = [after]
        if deal_id is not None:
            sql += " AND originator_id = {P}"
            params.append(self._id(deal_id))
        params.append(limit)
        return [
            (str(UUID(str(r["originator_id"]))), r["originator_version"], r["position"],
             r["topic"], self._bytes(r["state"]), self._recorded(r["recorded_at"]))
            for r in self._rows(self._sql(sql + " ORDER BY {POS} LIMIT {P}"), params)
        ]

    def stream_version(self, stream_id: UUID) -> int:
        """A stream's latest version; 0 when it has no event."""
        rows = self._rows(self._sql(
            "SELECT max(originator_version) AS v FROM {T} WHERE originator_id = {P}"),
            (self._id(stream_id),))
        return int(rows[0]["v"] or 0) if rows else 0

    def has_events_besides(self, stream_id: UUID) -> bool:
        """Whether any stream but ``stream_id`` holds an event."""
        return bool(self._rows(self._sql(
            "SELECT 1 AS one FROM {T} WHERE originator_id <> {P} LIMIT 1"),
            (self._id(stream_id),)))

    def ping(self) -> None:
        self._rows("SELECT 1 AS one", ())

    # -- guards: read for a decision (its version first, so a member read after it is
    # never older than the version the commit will check) ------------------------------

    def read_guards(self, names: Iterable[str]) -> dict[str, guard_rows.Guard]:
        return guard_rows.read_guards(self._rows, self.P, names)

    def read_members(self, guard: str) -> dict[str, dict[str, Any]]:
        return guard_rows.read_members(self._rows, self.P, guard)

    def committed_totals(self) -> dict[str, Decimal]:
        """The committed total and each country's, as the guards hold them."""
        return guard_rows.committed_totals(self._rows, self.P)


class GroupCommits:
    """``append`` through one committer thread per process (see ``groupcommit``);
    ``clock`` is the server time ``recorded_at`` is stamped from."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._committer: GroupCommitter | None = None
        self._committer_lock = threading.Lock()
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @abstractmethod
    def _commit_group(self, units: list[Unit]) -> None: ...

    @abstractmethod
    def import_events(self, rows: Iterable[ImportRow], batch: int = 1000,
                      after: int = 0) -> int:
        """Insert ``(deal_id, version, position, topic, state, recorded_at)`` rows with
        their positions, in one transaction under the write lock, into a store whose last
        position is ``after`` (0: an empty one; else ``StreamConflict``). Anything ``rows``
        raises rolls the whole import back. Returns how many rows were inserted."""

    def append(self, events: Sequence[NewEvent], binding: Binding | None = None,
               guards: GuardWrites | None = None) -> Appended:
        """Append one unit (all or nothing) with its guard writes; concurrent units share
        a transaction."""
        return self._group_committer().submit(events, binding, guards or None)

    def append_future(self, events: Sequence[NewEvent], binding: Binding | None = None,
                      guards: GuardWrites | None = None) -> Future[Appended]:
        """``append`` for a caller that must not block (the event loop): a future of
        the unit's ``Appended``, or of its error."""
        return self._group_committer().submit_future(events, binding, guards or None)

    def _group_committer(self) -> GroupCommitter:
        with self._committer_lock:
            if self._committer is None:
                self._committer = GroupCommitter(self._commit_group,
                                                 f"{type(self).__name__}-commit")
            return self._committer

    def close_writer(self) -> None:
        with self._committer_lock:
            if self._committer is not None:
                self._committer.close()
                self._committer = None
