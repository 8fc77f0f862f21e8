"""Rebuilds: projections folded again from the log into their idle slots, then swapped in.

One pass over the log serves every projection it rebuilds: each batch is read once and
written to every idle slot in one transaction, the deals' states folded once in memory
for all of them. A rebuild asked for while a pass runs joins it if the pass rebuilds that
projection already; otherwise it waits for the next pass, which every request made
meanwhile shares.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from projections.base import SLOTS, Envelope
from projections.folding import Fold
from projections.positions import positions

if TYPE_CHECKING:
    from projections.runner import Runner

Progress = Callable[[int, int], None]
GATHER_SECONDS = 0.05  # how long a new pass waits for requests made with its own


class _Pass:
    def __init__(self) -> None:
        self.names: set[str] = set()
        self.progress: list[Progress] = []
        self.requests = 0  # how many requests the pass serves
        self.done = False
        self.position = 0
        self.error: BaseException | None = None

    def report(self, position: int, head: int) -> None:
        for progress in list(self.progress):
            progress(position, head)


class Rebuilds:
    """The rebuild passes of one runner: one at a time, each shared by every request it
    can serve."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self._cond = threading.Condition()
        self._running: _Pass | None = None
        self._next: _Pass | None = None

    def serving(self) -> tuple[int, int]:
        """How many requests the running pass serves, and the next."""
        with self._cond:
            return (self._running.requests if self._running else 0,
                    self._next.requests if self._next else 0)

    def request(self, names: Sequence[str], progress: Progress | None = None) -> int:
        """Rebuild ``names``; the position their swapped-in slots stand at."""
        with self._cond:
            running = self._running
            if running is not None and set(names) <= running.names:
                shared, leads = running, False
            else:
                leads = self._next is None
                if self._next is None:
                    self._next = _Pass()
                shared = self._next
                shared.names.update(names)
            shared.requests += 1
            if progress is not None:
                shared.progress.append(progress)
            if leads:
                while self._running is not None:
                    self._cond.wait()
                if shared.names != set(self.runner.projections):  # nothing more to share
                    self._cond.wait(GATHER_SECONDS)  # requests made together share the pass
                self._running, self._next = shared, None
        if leads:
            try:
                shared.position = run_pass(self.runner, sorted(shared.names), shared.report)
            except BaseException as e:
                shared.error = e
            finally:
                with self._cond:
                    self._running, shared.done = None, True
                    self._cond.notify_all()
        else:
            with self._cond:
                while not shared.done:
                    self._cond.wait()
        if shared.error is not None:
            raise shared.error
        return shared.position


def run_pass(runner: Runner, names: Sequence[str], progress: Progress | None = None) -> int:
    """Rebuild ``names`` in one pass over the log, each batch written to every idle slot
    in one transaction, then swap them in together."""
    runner.ensure_rows()
    with runner.engine.connect() as conn:
        spares = {name: SLOTS[1 - SLOTS.index(runner.state(conn, name)[0])] for name in names}
    with runner.engine.begin() as conn:
        for name, spare in spares.items():
            for table in reversed(runner.projections[name].schema[spare].all()):
                conn.execute(table.delete())
    with contextlib.ExitStack() as stack:
        for shared in runner.deal_states:  # the pass folds the deals' states in memory
            stack.enter_context(shared.rebuilding(Fold(), names))
        position, head = 0, runner.head()
        while events := runner.read_log(position, runner.rebuild_batch_size):
            with runner.engine.begin() as conn:
                _apply(conn, runner, spares, events)
            position = int(events[-1]["position"])
            if progress:
                progress(position, max(head, position))
        position = _swap(runner, spares, position)
    if progress:
        progress(position, position)
    return position


def _apply(conn: sa.Connection, runner: Runner, spares: Mapping[str, str],
           events: Sequence[Envelope]) -> None:
    for name, spare in spares.items():
        projection = runner.projections[name]
        projection.apply(conn, projection.schema[spare], events)


def _swap(runner: Runner, spares: Mapping[str, str], position: int) -> int:
    """Catch the idle slots up to the furthest live one and swap them all in, in one
    transaction that no live batch of theirs runs beside."""
    names = sorted(spares)
    while True:
        with contextlib.ExitStack() as guards:
            for name in names:
                guards.enter_context(runner.guards[name])
            with runner.engine.begin() as conn:
                if runner.is_postgres:
                    conn.execute(sa.select(positions.c.name).where(positions.c.name.in_(names))
                                 .order_by(positions.c.name).with_for_update())
                live = {name: runner.state(conn, name) for name in names}
                target = max(at for _, at in live.values())
                while position < target:
                    events = [e for e in runner.read_log(position, runner.batch_size)
                              if int(e["position"]) <= target]
                    if not events:
                        break
                    _apply(conn, runner, spares, events)
                    position = int(events[-1]["position"])
                if all(position >= at for _, at in live.values()):
                    for name, (slot, at) in live.items():
                        runner.advance(conn, name, slot, at, position, "running",
                                       new_slot=spares[name])
                    return position
