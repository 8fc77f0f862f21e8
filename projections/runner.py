"""The projection runner: exactly once, in batches, one transaction per batch.

Each batch reads the log after the projection's position, writes the rows and
moves the position in one transaction, guarded by ``WHERE position = old AND
slot = old``: a batch that raced another runner (or a rebuild's swap) rolls
back whole, so an event is never skipped and never applied twice, across
crashes and restarts. On PostgreSQL a lease per projection (``leases``) keeps
one active runner per projection; another process waits as a standby. Rebuilds
are ``rebuild``'s; what wakes the loop is ``wakeups``'; reads go through ``reading``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from projections.base import Envelope, Projection, Tables
from projections.dealstates import DealStates, ReadStreams, StateCache
from projections.leases import Leases, lock_key
from projections.positions import positions
from projections.reading import Reading, state, wait_for
from projections.rebuild import Progress, Rebuilds
from projections.wakeups import CHANNEL, HeadPoll, Listener, Wakeup

__all__ = ["UNAVAILABLE", "Progress", "Runner", "Superseded", "lock_key", "wait_for"]

logger = logging.getLogger("exim_ledger.projections")
ReadLog = Callable[[int, int], Sequence[Envelope]]
# what an unreachable (or, on SQLite, locked) database raises; the caller adds its log's own
UNAVAILABLE: tuple[type[BaseException], ...] = (sa.exc.OperationalError, sa.exc.InterfaceError)


class Superseded(Exception):
    """The position or slot moved under this batch; it rolled back and will be retried."""


# built once: each batch moves several positions, and building it anew cost more than running it
_ADVANCE = (
    positions.update()
    .where(positions.c.name == sa.bindparam("name_"),
           positions.c.position == sa.bindparam("old_position"),
           positions.c.slot == sa.bindparam("old_slot"))
    .values(position=sa.bindparam("new_position"), slot=sa.bindparam("new_slot"),
            status=sa.bindparam("new_status"), last_error=None,
            updated_at=sa.bindparam("now", type_=positions.c.updated_at.type))
)


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
        state_cache_bytes: int = 64 * 1024 * 1024,
        read_streams: ReadStreams | None = None,
    ) -> None:
        self.engine = engine
        self.read_log = read_log
        self.head = head
        self.reading = Reading(engine, projections)
        self.projections = self.reading.projections
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
        self.leases = Leases(engine)
        self.guards = {name: threading.Lock() for name in self.projections}
        # the deals' states the folding projections share; a live batch starts the deals it
        # touches from their cache of what this runner's committed batches folded
        self.deal_states: list[DealStates] = []
        for projection in projections:
            shared = getattr(projection, "deal_states", None)
            if isinstance(shared, DealStates) and shared not in self.deal_states:
                shared.attach(read_log, read_streams, state_cache_size, state_cache_bytes)
                self.deal_states.append(shared)
        self.rebuilds = Rebuilds(self)

    @property
    def cache(self) -> StateCache:
        return self.deal_states[0].cache if self.deal_states else StateCache(0)

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
        return state(conn, name)

    def active(self, conn: sa.Connection, name: str) -> tuple[Tables, int]:
        """The tables readers use for ``name`` now, and the position they reflect."""
        return self.reading.active(conn, name)

    def statuses(self) -> list[dict[str, object]]:
        return self.reading.statuses()

    def advance(self, conn: sa.Connection, name: str, slot: str, old: int, new: int,
                status: str, new_slot: str | None = None) -> None:
        moved = conn.execute(_ADVANCE, {
            "name_": name, "old_position": old, "old_slot": slot, "new_position": new,
            "new_slot": new_slot or slot, "new_status": status, "now": datetime.now(UTC)})
        if moved.rowcount != 1:
            raise Superseded(f"{name} moved past {old} in slot {slot}")

    # ---- one batch ------------------------------------------------------------------------

    @contextlib.contextmanager
    def batch(self) -> Iterator[sa.Connection]:
        """One batch's transaction; once it commits, what it folded serves the next."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except BaseException:
            for shared in self.deal_states:
                shared.discard()
            raise
        for shared in self.deal_states:
            shared.committed()

    def step(self, name: str, limit: int | None = None) -> int:
        """Apply the next batch to the live slot; the number of events applied."""
        projection = self.projections[name]
        with self.guards[name]:
            with self.engine.connect() as conn:
                slot, position = self.state(conn, name)
            events = self.read_log(position, limit or self.batch_size)
            if not events:
                return 0
            try:
                with self.batch() as conn:
                    projection.apply(conn, projection.schema[slot], events)
                    self.advance(conn, name, slot, position, int(events[-1]["position"]),
                                 "running")
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
        the log once and writing all of them, each with its position, in one transaction
        (the projections that fold deals' states fold the batch once between them); the
        number of events applied. The batch stops where the next projection stands, so
        the laggards meet it there and go on together."""
        with contextlib.ExitStack() as guards:
            for name in sorted(names):  # one order for every taker of several guards
                guards.enter_context(self.guards[name])
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
            with self.batch() as conn:
                for name, slot in takers.items():
                    projection = self.projections[name]
                    projection.apply(conn, projection.schema[slot], events)
                for name, slot in takers.items():
                    self.advance(conn, name, slot, low, int(events[-1]["position"]), "running")
        return len(events)

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
        leading = [name for name in self.projections if self.leases.take(name)]
        leading_together: set[str] = set()
        total = 0
        try:
            while not self._stop.is_set() and (n := self.step_together(leading)):
                total += n
        except Exception:
            logger.debug("a batch of %s together failed; one by one", leading, exc_info=True)
            self.leases.drop_lost()  # a lost database took its locks with it
        else:  # all caught up together: stepped alone, one would leave the others behind
            leading_together = set(leading)
        for name in self.projections:
            try:
                if name in leading_together or not self.leases.take(name):
                    continue
                total += self.catch_up(name)
            except Superseded:
                continue
            except self.unavailable as e:  # nothing to record: the next round retries
                logger.warning("projection %s waits for the database: %s", name, e)
                self.leases.drop_if_lost(name)
            except Exception as e:  # a failing batch is retried, never skipped
                logger.exception("projection %s failed", name)
                self._record_failure(name, e)
                self.leases.drop_if_lost(name)
        return total

    def _record_failure(self, name: str, error: Exception) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(positions.update().where(positions.c.name == name).values(
                    status="failed", last_error=f"{type(error).__name__}: {error}"[:2000],
                    updated_at=datetime.now(UTC)))
        except Exception:
            logger.exception("could not record the failure of %s", name)

    def leads(self, name: str) -> bool:
        return self.leases.holds(name)

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

    def _wakeup(self, writers_elsewhere: bool) -> Wakeup | None:
        if self.is_postgres:
            url = self.engine.url.set(drivername="postgresql").render_as_string(
                hide_password=False)
            return Listener(url, CHANNEL, self.wake)
        return HeadPoll(self.head, self.wake) if writers_elsewhere else None

    def _loop(self, writers_elsewhere: bool = False) -> None:
        wakeup = self._wakeup(writers_elsewhere)
        try:
            while not self._stop.is_set():
                try:
                    self.run_once()
                except self.unavailable as e:  # the next round retries; no traceback
                    logger.warning("projection runner waits for the database: %s", e)
                    self.leases.drop_lost()
                except Exception:
                    logger.exception("projection runner round failed")
                if self.wake.wait(self.poll_interval):
                    # let a burst of writes gather into one batch: far less work per event
                    # under load, at the price of a few milliseconds of freshness
                    self._stop.wait(self.gather_seconds)
                self.wake.clear()
        finally:
            if wakeup:
                wakeup.stop()
            self.leases.release()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        else:
            self.leases.release()

    # ---- rebuild ---------------------------------------------------------------------------

    def rebuild(self, name: str, progress: Progress | None = None) -> int:
        """Rebuild ``name`` from the log into its idle slot, then swap it in atomically;
        a rebuild asked for while another runs shares a pass over the log with it."""
        return self.rebuilds.request([name], progress)

    def rebuild_all(self, progress: Progress | None = None) -> int:
        """Rebuild every projection in one pass over the log, then swap each in."""
        return self.rebuilds.request(list(self.projections), progress)
