"""The projection runner: exactly once, in batches, one transaction per batch.

Each batch reads the log after the projection's position, writes the rows and
moves the position in one transaction, guarded by ``WHERE position = old AND
slot = old``: a batch that raced another runner (or a rebuild's swap) rolls
back whole, so an event is never skipped and never applied twice, across
crashes and restarts. On PostgreSQL an advisory lock per projection keeps one
active runner per projection; another process waits as a standby.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from domain.state import DealState
from projections.base import SLOTS, Envelope, Projection, Tables
from projections.folding import DealStateProjection, Fold, Folded, StateCache, deal_events
from projections.positions import positions

logger = logging.getLogger("exim_ledger.projections")
ReadLog = Callable[[int, int], Sequence[Envelope]]
Progress = Callable[[int, int], None]
# what an unreachable (or, on SQLite, locked) database raises; the caller adds its log's own
UNAVAILABLE: tuple[type[BaseException], ...] = (sa.exc.OperationalError, sa.exc.InterfaceError)


class Superseded(Exception):
    """The position or slot moved under this batch; it rolled back and will be retried."""


# built once: each batch reads and moves several positions, and building these
# statements anew cost more than running them
_STATE = sa.select(positions.c.slot, positions.c.position).where(
    positions.c.name == sa.bindparam("name_"))
_ADVANCE = (
    positions.update()
    .where(positions.c.name == sa.bindparam("name_"),
           positions.c.position == sa.bindparam("old_position"),
           positions.c.slot == sa.bindparam("old_slot"))
    .values(position=sa.bindparam("new_position"), slot=sa.bindparam("new_slot"),
            status=sa.bindparam("new_status"), last_error=None,
            updated_at=sa.bindparam("now", type_=positions.c.updated_at.type))
)


def lock_key(name: str) -> int:
    return zlib.crc32(f"exim-ledger:projection:{name}".encode()) & 0x7FFFFFFF


class Runner:
    def __init__(
        self,
        engine: sa.Engine,
        read_log: ReadLog,
        head: Callable[[], int],
        projections: Sequence[Projection],
        *,
        batch_size: int = 1000,
        rebuild_batch_size: int = 20000,
        poll_interval: float = 0.5,
        gather_seconds: float = 0.03,
        unavailable: tuple[type[BaseException], ...] = UNAVAILABLE,
        state_cache_size: int = 2_000,
    ) -> None:
        self.engine = engine
        self.read_log = read_log
        self.head = head
        self.projections = {p.name: p for p in projections}
        self.batch_size = batch_size
        # a rebuild writes to tables no reader uses: larger batches, fewer commits
        self.rebuild_batch_size = rebuild_batch_size
        self.poll_interval = poll_interval
        self.gather_seconds = gather_seconds
        self.unavailable = unavailable
        self.is_postgres = engine.dialect.name == "postgresql"
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._leases: dict[str, sa.Connection] = {}
        self._guards = {name: threading.Lock() for name in self.projections}
        # deals' states after the batches this runner committed: a live batch starts the
        # deals it touches from here instead of reading and decoding their stored states
        self.cache = StateCache(state_cache_size)

    # ---- positions ------------------------------------------------------------------------

    def ensure_rows(self) -> None:
        with self.engine.begin() as conn:
            have = {r[0] for r in conn.execute(sa.select(positions.c.name))}
            for name in self.projections:
                if name not in have:
                    conn.execute(positions.insert().values(
                        name=name, slot="a", position=0, status="idle",
                        updated_at=datetime.now(UTC)))

    def state(self, conn: sa.Connection, name: str) -> tuple[str, int]:
        row = conn.execute(_STATE, {"name_": name}).one()
        return str(row.slot), int(row.position)

    def active(self, conn: sa.Connection, name: str) -> tuple[Tables, int]:
        """The tables readers use for ``name`` now, and the position they reflect."""
        slot, position = self.state(conn, name)
        return self.projections[name].schema[slot], position

    def statuses(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(positions).order_by(positions.c.name)).all()
        return [dict(r._mapping) for r in rows if r.name in self.projections]

    # ---- one batch ------------------------------------------------------------------------

    def step(self, name: str, limit: int | None = None) -> int:
        """Apply the next batch to the live slot; the number of events applied."""
        projection = self.projections[name]
        with self._guards[name]:
            with self.engine.connect() as conn:
                slot, position = self.state(conn, name)
            events = self.read_log(position, limit or self.batch_size)
            if not events:
                return 0
            try:
                with self.engine.begin() as conn:
                    folded = self._apply_live(conn, [(projection, projection.schema[slot])],
                                              events)
                    self._advance(conn, name, slot, position, int(events[-1]["position"]),
                                  "running")
                if folded is not None:
                    self.cache.put(folded)
            except Superseded:
                raise
            except Exception as e:
                with self.engine.connect() as conn:
                    if self.state(conn, name) != (slot, position):
                        # another runner (or a rebuild) moved on: our rows collided with its own
                        raise Superseded(f"{name} moved past {position}") from e
                raise
            return len(events)

    def step_together(self, names: Sequence[str], limit: int | None = None) -> int:
        """Apply the next batch to those of ``names`` that stand furthest behind, reading
        the log once and writing all of them, each with its position, in one transaction;
        the number of events applied. The batch stops where the next projection stands,
        so the laggards meet it there and go on together."""
        with contextlib.ExitStack() as guards:
            for name in sorted(names):  # one order for every taker of several guards
                guards.enter_context(self._guards[name])
            with self.engine.connect() as conn:
                states = {name: self.state(conn, name) for name in names}
            if not states:
                return 0
            low = min(position for _, position in states.values())
            ahead = [position for _, position in states.values() if position > low]
            events = self.read_log(low, limit or self.batch_size)
            if ahead:
                events = [ev for ev in events if int(ev["position"]) <= min(ahead)]
            if not events:
                return 0
            takers = {name: slot for name, (slot, position) in states.items() if position == low}
            with self.engine.begin() as conn:
                folded = self._apply_live(conn, [(self.projections[name],
                                                  self.projections[name].schema[slot])
                                                 for name, slot in takers.items()], events)
                for name, slot in takers.items():
                    self._advance(conn, name, slot, low, int(events[-1]["position"]), "running")
            if folded is not None:  # only what a committed batch folded goes into the cache
                self.cache.put(folded)
        return len(events)

    def _apply_live(self, conn: sa.Connection, takers: Sequence[tuple[Projection, Tables]],
                    events: Sequence[Envelope]) -> Folded | None:
        """Apply a live batch to ``takers``, which all stand at the same position: the
        batch is folded once for those that fold deals' states, each deal starting from
        the cache where its entry stands just before the deal's first event in the batch,
        else from the stored states of one of them (they hold the same states). The
        folded batch, for the cache once the transaction commits; None if no taker
        folds deals' states."""
        folding = [(p, t) for p, t in takers if isinstance(p, DealStateProjection)]
        folded = self._fold_live(conn, folding, events) if folding else None
        for projection, tables in takers:
            if folded is not None and isinstance(projection, DealStateProjection):
                projection.apply_folded(conn, tables, events, folded)
            else:
                projection.apply(conn, tables, events)
        return folded

    def _fold_live(self, conn: sa.Connection,
                   folding: Sequence[tuple[DealStateProjection, Tables]],
                   events: Sequence[Envelope]) -> Folded:
        wanted: dict[str, int] = {}  # the version each touched deal must stand at before
        for ev in deal_events(events):
            wanted.setdefault(str(ev["deal_id"]), int(ev["version"]) - 1)
        wanted = {deal_id: version for deal_id, version in wanted.items() if version > 0}
        source, tables = next(((p, t) for p, t in folding if p.knows_applied_position),
                              folding[0])
        found = self.cache.take(wanted)
        if source.knows_applied_position:
            found = {d: e for d, e in found.items() if e.applied_position is not None}
        missing = wanted.keys() - found.keys()
        if missing:
            found.update(source.load_prior(conn, tables, missing))
        fold = Fold({d: e.state for d, e in found.items()},
                    {d: e.applied_position for d, e in found.items()
                     if e.applied_position is not None})

        def take(prior: Mapping[str, DealState]) -> dict[str, Any]:
            return {p.name: p.take_prior(conn, t, events, prior) for p, t in folding}

        return fold.batch(events, take)

    def _advance(self, conn: sa.Connection, name: str, slot: str, old: int, new: int,
                 status: str, new_slot: str | None = None) -> None:
        moved = conn.execute(_ADVANCE, {
            "name_": name, "old_position": old, "old_slot": slot, "new_position": new,
            "new_slot": new_slot or slot, "new_status": status, "now": datetime.now(UTC)})
        if moved.rowcount != 1:
            raise Superseded(f"{name} moved past {old} in slot {slot}")

    def catch_up(self, name: str) -> int:
        done = 0
        while not self._stop.is_set():
            n = self.step(name)
            if n == 0:
                return done
            done += n
        return done

    def run_once(self) -> int:
        """Catch every projection this runner leads up to the head: together while they
        can, then one by one, so a failing projection is recorded and holds back no other."""
        # take every lease that is free before catching any projection up, so a standby
        # takes over all of a dead leader's projections at once, not one per catch-up
        leading = [name for name in self.projections if self._lead(name)]
        total = 0
        try:
            while not self._stop.is_set() and (n := self.step_together(leading)):
                total += n
        except Exception:
            logger.debug("a batch of %s together failed; one by one", leading, exc_info=True)
            self._drop_lost_leases()  # a lost database took its locks with it
        for name in self.projections:
            try:
                if not self._lead(name):
                    continue
                total += self.catch_up(name)
            except Superseded:
                continue
            except self.unavailable as e:  # nothing to record: the next round retries
                logger.warning("projection %s waits for the database: %s", name, e)
                self._drop_lease_if_lost(name)
            except Exception as e:  # a failing batch is retried, never skipped
                logger.exception("projection %s failed", name)
                self._record_failure(name, e)
                self._drop_lease_if_lost(name)
        return total

    def _record_failure(self, name: str, error: Exception) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(positions.update().where(positions.c.name == name).values(
                    status="failed", last_error=f"{type(error).__name__}: {error}"[:2000],
                    updated_at=datetime.now(UTC)))
        except Exception:
            logger.exception("could not record the failure of %s", name)

    # ---- leadership (PostgreSQL) ------------------------------------------------------------

    def _lead(self, name: str) -> bool:
        if not self.is_postgres:
            return True
        if name in self._leases:
            return True
        conn = self.engine.connect()
        got = conn.execute(sa.select(sa.func.pg_try_advisory_lock(lock_key(name)))).scalar()
        conn.commit()
        if got:
            self._leases[name] = conn
            return True
        conn.close()
        return False

    def leads(self, name: str) -> bool:
        return not self.is_postgres or name in self._leases

    def _drop_lease_if_lost(self, name: str) -> None:
        """Forget the lease on ``name`` if its connection died (the database restarted, or
        the connection was cut): the lock went with it, and another runner may hold it now.
        The next round competes for it afresh."""
        conn = self._leases.get(name)
        if conn is None:
            return
        try:
            conn.execute(sa.select(1))
            conn.commit()
        except Exception:
            logger.warning("lost the lease on projection %s; competing for it again", name)
            del self._leases[name]
            _discard(conn)

    def _drop_lost_leases(self) -> None:
        for name in list(self._leases):
            self._drop_lease_if_lost(name)

    def _release(self) -> None:
        for name, conn in self._leases.items():
            try:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(lock_key(name))))
                conn.commit()
                conn.close()
            except Exception:
                logger.warning("releasing the lease on %s failed; dropping its connection",
                               name, exc_info=True)
                _discard(conn)  # closing the session frees its locks for the standby
        self._leases.clear()

    # ---- the loop ------------------------------------------------------------------------

    def start(self, *, writers_elsewhere: bool = False) -> None:
        """Run the loop on a thread. Appends wake it: in this process through ``wake``,
        on PostgreSQL through NOTIFY; with ``writers_elsewhere`` on SQLite (a projector
        process), through a look at the log's head every ``HEAD_POLL_SECONDS``."""
        self.ensure_rows()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(writers_elsewhere,),
                                        name="projection-runner", daemon=True)
        self._thread.start()

    def _loop(self, writers_elsewhere: bool = False) -> None:
        listener: _Listener | _HeadPoll | None = (
            _Listener(self) if self.is_postgres
            else _HeadPoll(self) if writers_elsewhere else None)
        try:
            while not self._stop.is_set():
                try:
                    self.run_once()
                except self.unavailable as e:  # the next round retries; no traceback
                    logger.warning("projection runner waits for the database: %s", e)
                    self._drop_lost_leases()
                except Exception:
                    logger.exception("projection runner round failed")
                if self.wake.wait(self.poll_interval):
                    # let a burst of writes gather into one batch: far less work per event
                    # under load, at the price of a few milliseconds of freshness
                    self._stop.wait(self.gather_seconds)
                self.wake.clear()
        finally:
            if listener:
                listener.stop()
            self._release()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        else:
            self._release()

    # ---- rebuild ---------------------------------------------------------------------------

    def rebuild(self, name: str, progress: Progress | None = None) -> int:
        """Rebuild ``name`` from the log into its idle slot, then swap it in atomically."""
        projection = self.projections[name]
        self.ensure_rows()
        with self.engine.connect() as conn:
            live_slot, _ = self.state(conn, name)
        spare = SLOTS[1 - SLOTS.index(live_slot)]
        tables = projection.schema[spare]
        with self.engine.begin() as conn:
            for table in reversed(tables.all()):
                conn.execute(table.delete())
        position, head = 0, self.head()
        while True:
            events = self.read_log(position, self.batch_size)
            if not events:
                break
            with self.engine.begin() as conn:
                projection.apply(conn, tables, events)
            position = int(events[-1]["position"])
            if progress:
                progress(position, max(head, position))
        return self._swap(name, spare, position, progress)

    def rebuild_all(self, progress: Progress | None = None) -> int:
        """Rebuild every projection in one pass over the log, each batch written to every
        idle slot in one transaction, then swap each in as ``rebuild`` does."""
        self.ensure_rows()
        with self.engine.connect() as conn:
            spares = {name: SLOTS[1 - SLOTS.index(self.state(conn, name)[0])]
                      for name in self.projections}
        with self.engine.begin() as conn:
            for name, spare in spares.items():
                for table in reversed(self.projections[name].schema[spare].all()):
                    conn.execute(table.delete())
        position, head, fold = 0, self.head(), Fold()
        while events := self.read_log(position, self.rebuild_batch_size):
            with self.engine.begin() as conn:
                _apply_rebuild(conn, [(self.projections[name], spare)
                                      for name, spare in spares.items()], events, fold)
            position = int(events[-1]["position"])
            if progress:
                progress(position, max(head, position))
        for name, spare in spares.items():
            self._swap(name, spare, position, None)
        if progress:
            progress(position, position)
        return position

    def _swap(self, name: str, spare: str, position: int, progress: Progress | None) -> int:
        projection = self.projections[name]
        while True:
            with self._guards[name], self.engine.begin() as conn:
                if self.is_postgres:
                    conn.execute(sa.select(positions.c.name).where(positions.c.name == name)
                                 .with_for_update())
                live_slot, live_position = self.state(conn, name)
                while position < live_position:  # catch the spare slot up to the live one
                    events = [e for e in self.read_log(position, self.batch_size)
                              if int(e["position"]) <= live_position]
                    if not events:
                        break
                    projection.apply(conn, projection.schema[spare], events)
                    position = int(events[-1]["position"])
                if position >= live_position:
                    self._advance(conn, name, live_slot, live_position, position, "running",
                                  new_slot=spare)
                    if progress:
                        progress(position, position)
                    return position


def _apply_rebuild(conn: sa.Connection, takers: Sequence[tuple[Projection, str]],
                   events: Sequence[Envelope], fold: Fold) -> None:
    """Apply a rebuild's batch to each projection's idle slot: those that fold deals'
    states from one shared fold."""
    folding = [(p, p.schema[slot]) for p, slot in takers if isinstance(p, DealStateProjection)]

    def take(prior: Mapping[str, DealState]) -> dict[str, Any]:
        return {p.name: p.take_prior(conn, t, events, prior) for p, t in folding}

    folded = fold.batch(events, take) if folding else None
    for projection, slot in takers:
        tables = projection.schema[slot]
        if folded is not None and isinstance(projection, DealStateProjection):
            projection.apply_folded(conn, tables, events, folded)
        else:
            projection.apply(conn, tables, events)


def _discard(conn: sa.Connection) -> None:
    """Close ``conn`` for good (not back into the pool, where a session lock would live on)."""
    try:
        conn.invalidate()
        conn.close()
    except Exception:
        logger.debug("discarding a lease connection", exc_info=True)


HEAD_POLL_SECONDS = 0.02  # SQLite has no NOTIFY: how often a projector looks at the head


class _HeadPoll:
    """Wakes the runner when the log's head moves (SQLite, appends in other processes)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="projection-head-poll",
                                        daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        seen = -1
        while not self._stop.wait(HEAD_POLL_SECONDS):
            try:
                head = self.runner.head()
            except Exception:  # the runner's own round reports the database
                continue
            if head != seen:
                seen = head
                self.runner.wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(3.0)


LISTEN_RETRY_SECONDS = 0.5  # between attempts to LISTEN again; the runner polls meanwhile
LISTEN_CONNECT_SECONDS = 5


class _Listener:
    """Wakes the runner on PostgreSQL NOTIFY from the event store's inserts."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="projection-listen", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        import psycopg

        url = self.runner.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False)
        lost = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True,
                                     connect_timeout=LISTEN_CONNECT_SECONDS) as conn:
                    conn.execute("LISTEN ledger_events")
                    if lost:
                        logger.info("LISTEN connection back")
                        self.runner.wake.set()  # what was appended meanwhile went unheard
                    lost = False
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.2):
                            self.runner.wake.set()
            except Exception as e:
                if not lost:  # once an outage, not once a retry
                    logger.warning("LISTEN connection lost (%s); polling until it is back", e)
                lost = True
                self._stop.wait(LISTEN_RETRY_SECONDS)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(3.0)


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
