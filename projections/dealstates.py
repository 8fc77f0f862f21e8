"""Each deal's state, stored once for every read model folded from it, without its history.

``projection_deal_states`` holds each deal's latest state folded by any projection (a
state is a function of the deal's events alone, so whoever wrote it, it is right for
every projection at that version); ``projection_money_events`` holds each money event's
effects, read only when a reversal names it. A batch starts each deal it touches from
the runner's cache, else from the stored state when it stands at the version just
before the batch, else (a projection behind the others, a ledger from before this
table) from the deal's events in the log. Neither table belongs to a slot: a rebuild
reads and writes them like a live batch.
"""

from __future__ import annotations

import functools
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from domain.policy import PolicyBook, PolicyVersion
from domain.program import POLICY_ADOPTED
from domain.state import DealState, estimated_bytes
from projections.base import Envelope, Tables, execute_many
from projections.folding import (
    Fold,
    Folded,
    PolicyProvider,
    Target,
    deal_events,
    dump_state,
    load_state,
    reversal_targets,
)

ReadLog = Callable[[int, int], Sequence[Envelope]]
ReadStreams = Callable[[Iterable[UUID], int], Sequence[Envelope]]

metadata = sa.MetaData()
deal_states = sa.Table(
    "projection_deal_states",
    metadata,
    sa.Column("deal_id", sa.String(36), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("applied_position", sa.BigInteger, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
)
money_events = sa.Table(
    "projection_money_events",
    metadata,
    sa.Column("deal_id", sa.String(36), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("effects", sa.Text, nullable=False),
    sa.Column("reversed", sa.Boolean, nullable=False),
)


class Cached(NamedTuple):
    version: int  # the deal's version the state stands at
    applied_position: int | None  # where the deal's DealApplied stands, when known
    state: DealState
    weight: int = 0  # its estimated bytes, counted while it is in the cache


class StateCache:
    """Each deal's state after its latest committed batch, for the live batches of one
    runner, least recently used first out.

    A batch may start a deal from its entry when the entry's version is the one just
    before the deal's first event in the batch. A batch *takes* its entries out and
    folds them in place; only after its transaction commits does it ``put`` back what it
    folded, so a rollback leaves no state behind that was moved on."""

    def __init__(self, size: int = 2_000, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.size, self.max_bytes, self.bytes = size, max_bytes, 0
        self._entries: OrderedDict[str, Cached] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, deal_id: object) -> bool:
        return deal_id in self._entries

    def take(self, wanted: Mapping[str, int]) -> dict[str, Cached]:
        """The entries standing at each deal's wanted version, taken out of the cache
        (an entry at another version is dropped: it cannot serve the batch)."""
        found: dict[str, Cached] = {}
        with self._lock:
            for deal_id, version in wanted.items():
                entry = self._entries.pop(deal_id, None)
                if entry is not None:
                    self.bytes -= entry.weight
                    if entry.version == version:
                        found[deal_id] = entry
        return found

    def put(self, folded: Folded) -> None:
        """Keep each deal's state after a committed batch."""
        if self.size <= 0 or self.max_bytes <= 0:
            return
        with self._lock:
            for deal_id, ev in folded.last.items():
                state = folded.after[deal_id]
                entry = Cached(int(ev["version"]), folded.applied_at.get(deal_id), state,
                               estimated_bytes(state))
                held = self._entries.pop(deal_id, None)
                self.bytes += entry.weight - (held.weight if held else 0)
                self._entries[deal_id] = entry
            while self._entries and (len(self._entries) > self.size
                                     or self.bytes > self.max_bytes):
                self.bytes -= self._entries.popitem(last=False)[1].weight


class _Batch(NamedTuple):
    conn: sa.Connection
    events: Sequence[Envelope]
    folded: Folded
    live: bool


class DealStates:
    """The deals' states of the projections that share them: one fold per batch, however
    many of them the batch's transaction applies."""

    def __init__(self, cache_size: int = 2_000, cache_bytes: int = 64 * 1024 * 1024) -> None:
        self.cache = StateCache(cache_size, cache_bytes)
        self.read_log: ReadLog | None = None
        self.read_streams: ReadStreams | None = None
        self.users: list[DealStateProjection] = []
        self._local = threading.local()  # this thread's batch, and its rebuild's fold

    def attach(self, read_log: ReadLog, read_streams: ReadStreams | None,
               cache_size: int, cache_bytes: int = 64 * 1024 * 1024) -> None:
        """Where to read a deal's events from when no stored state serves a batch, and
        how many deals' states (and estimated bytes) the cache keeps."""
        self.read_log, self.read_streams = read_log, read_streams
        self.cache.size, self.cache.max_bytes = cache_size, cache_bytes

    def folded(self, conn: sa.Connection, events: Sequence[Envelope]) -> Folded:
        """``events`` folded from the touched deals' states before them, once per batch:
        the first projection to apply the batch folds it and writes the states."""
        batch: _Batch | None = getattr(self._local, "batch", None)
        if batch is not None and batch.conn is conn and batch.events is events:
            return batch.folded
        fold: Fold | None = getattr(self._local, "rebuild", None)
        takers: Collection[str] | None = getattr(self._local, "takers", None)
        users = [u for u in self.users if takers is None or u.name in takers]
        marks = sorted({m for user in users for m in user.marks(events)})
        steps = any(user.takes_steps for user in users)
        live = fold is None
        if fold is None:
            fold = self._prior(conn, events)
        folded = fold.batch(events, self._targets(conn, deal_events(events)), marks, steps)
        _write(conn, folded, None if live else self._stored(conn))
        self._local.batch = _Batch(conn, events, folded, live)
        return folded

    def committed(self) -> None:
        """The batch's transaction committed: what it folded serves the next one."""
        batch: _Batch | None = getattr(self._local, "batch", None)
        if batch is not None and batch.live:
            self.cache.put(batch.folded)
        self._local.batch = None

    def discard(self) -> None:
        self._local.batch = None

    @contextmanager
    def rebuilding(self, fold: Fold, names: Collection[str]) -> Iterator[None]:
        """This thread's batches fold on from a rebuild's own states, not the stored ones,
        for the projections ``names`` alone."""
        self._local.rebuild, self._local.takers = fold, names
        self._local.batch = self._local.stored = None
        try:
            yield
        finally:
            self._local.rebuild = self._local.takers = None
            self._local.batch = self._local.stored = None

    def _stored(self, conn: sa.Connection) -> dict[str, int]:
        """The version each deal's stored state stood at when the rebuild began: its money
        events up to there are stored too, and only a state beyond it is worth writing."""
        stored: dict[str, int] | None = getattr(self._local, "stored", None)
        if stored is None:
            c = deal_states.c
            stored = self._local.stored = dict(
                (str(d), int(v)) for d, v in conn.execute(sa.select(c.deal_id, c.version)))
        return stored

    def _prior(self, conn: sa.Connection, events: Sequence[Envelope]) -> Fold:
        wanted: dict[str, int] = {}  # the version each touched deal must stand at before
        for ev in deal_events(events):
            wanted.setdefault(str(ev["deal_id"]), int(ev["version"]) - 1)
        wanted = {deal_id: version for deal_id, version in wanted.items() if version > 0}
        found = {d: e for d, e in self.cache.take(wanted).items()
                 if e.applied_position is not None}
        if missing := wanted.keys() - found.keys():
            c = deal_states.c
            query = sa.select(c.deal_id, c.version, c.applied_position, c.state)
            for deal_id, version, applied, text in _chunked(conn, query, c.deal_id, missing):
                if version == wanted[deal_id]:
                    found[deal_id] = Cached(version, applied, load_state(text))
        if missing := wanted.keys() - found.keys():
            found.update(self._replay(conn, missing, int(events[0]["position"]) - 1))
        return Fold({d: e.state for d, e in found.items()},
                    {d: e.applied_position for d, e in found.items()
                     if e.applied_position is not None})

    def _replay(self, conn: sa.Connection, ids: set[str], through: int) -> dict[str, Cached]:
        """The states of deals ``ids`` through ``through``, folded from their events."""
        fold = Fold()
        folded = fold.batch(self._streams(ids, through), {})
        _write(conn, folded)
        return {d: Cached(int(ev["version"]), fold.applied_at[d], folded.after[d])
                for d, ev in folded.last.items()}

    def _streams(self, ids: set[str], through: int) -> list[Envelope]:
        if self.read_streams is not None:
            return list(self.read_streams([UUID(d) for d in ids], through))
        if self.read_log is None:
            raise RuntimeError("no log to fold deals' states from: attach the runner's")
        found: list[Envelope] = []
        after = 0
        while after < through and (chunk := self.read_log(after, 10_000)):
            found += [ev for ev in chunk
                      if str(ev["deal_id"]) in ids and int(ev["position"]) <= through]
            after = int(chunk[-1]["position"])
        return found

    def _targets(self, conn: sa.Connection,
                 events: Sequence[Envelope]) -> dict[tuple[str, int], Target]:
        """The money events the batch's reversals name, read from their table."""
        wanted = reversal_targets(events)
        if not wanted:
            return {}
        m = money_events.c
        query = sa.select(m.deal_id, m.version, m.type, m.effects)
        return {(d, v): {"type": kind, **json.loads(effects)}
                for d, v, kind, effects in _chunked(conn, query, m.deal_id,
                                                    {d for d, _ in wanted})
                if (d, v) in wanted}


def _write(conn: sa.Connection, folded: Folded, stored: Mapping[str, int] | None = None) -> None:
    """The batch's money events, the reversals' marks and the deals' states after it, in
    one order for every writer (no two transactions wait on each other's rows); with
    ``stored``, only what lies beyond each deal's stored version."""
    if stored is not None:
        folded = folded.beyond(stored)
    if folded.money:
        execute_many(conn, _statements(conn.dialect.name)[0], [
            {"deal_id": d, "version": v, "type": target["type"], "reversed": False,
             "effects": json.dumps({k: a for k, a in target.items() if k != "type"},
                                   separators=(",", ":"))}
            for (d, v), target in sorted(folded.money.items())])
    if folded.reversed:
        m = money_events.c
        mark = money_events.update().where(m.deal_id == sa.bindparam("d"),
                                           m.version == sa.bindparam("v"))
        conn.execute(mark.values(reversed=sa.true()),
                     [{"d": d, "v": v} for d, v in sorted(set(folded.reversed))])
    if folded.last:
        execute_many(conn, _statements(conn.dialect.name)[1], [
            {"deal_id": d, "version": int(ev["version"]),
             "applied_position": folded.applied_at[d], "state": dump_state(folded.after[d])}
            for d, ev in sorted(folded.last.items())])


@functools.cache
def _statements(dialect: str) -> tuple[sa.Insert, sa.Insert]:
    """A money event's row, once; a deal's state, unless one stands at a later version."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    money = insert(money_events).on_conflict_do_nothing(index_elements=["deal_id", "version"])
    state = insert(deal_states)
    state = state.on_conflict_do_update(
        index_elements=["deal_id"],
        set_={c: state.excluded[c] for c in ("version", "applied_position", "state")},
        where=deal_states.c.version < state.excluded.version)
    return money, state


def _chunked(conn: sa.Connection, query: sa.Select[Any], key: sa.ColumnElement[Any],
             ids: Iterable[str]) -> Iterator[Any]:
    """The rows of ``query`` whose ``key`` is among ``ids``, 500 ids a query."""
    wanted = sorted(set(ids))
    for chunk in range(0, len(wanted), 500):
        yield from conn.execute(query.where(key.in_(wanted[chunk:chunk + 500])))


class DealStateProjection:
    """Base of the read models folded from each deal's ``DealState``. Stages and license
    statuses are judged under the policy version each deal's latest event names: the
    ledger's book, plus any version a batch adopts itself."""

    name: str
    takes_steps = False  # whether it reads ``folded.steps``

    def __init__(self, policies: PolicyProvider, deal_states: DealStates | None = None) -> None:
        self.policies = policies
        self.deal_states = deal_states if deal_states is not None else DealStates()
        self.deal_states.users.append(self)

    def apply(self, conn: sa.Connection, t: Tables, events: Sequence[Envelope]) -> None:
        """Load the touched deals' states, fold the batch, write this read model's rows."""
        self.apply_folded(conn, t, events, self.deal_states.folded(conn, events))

    def apply_folded(self, conn: sa.Connection, t: Tables, events: Sequence[Envelope],
                     folded: Folded) -> None:
        raise NotImplementedError

    def marks(self, events: Sequence[Envelope]) -> list[int]:
        """Positions inside the batch at which this read model needs the states as they
        stand (``folded.marked``)."""
        return []

    def book(self, events: Sequence[Envelope]) -> PolicyBook:
        adopted = [PolicyVersion.from_data(ev["data"]) for ev in events
                   if ev["type"] == POLICY_ADOPTED]
        return self.policies().with_versions(adopted)
