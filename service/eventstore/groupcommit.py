"""Group commit: concurrent appends share one transaction and one fsync.

Request threads hand their unit (events + idempotency binding) to one
committer thread and wait. The committer takes everything queued, and inside
the serialised write section checks each unit against the stored stream heads
and bound keys (and against the units before it in the group), rejects the
losers individually, and commits the rest together. One commit per event
can never beat the disk's fsync rate; one commit per group can.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from domain.guards import GuardWrites
from service.eventstore import guards as guard_rows
from service.eventstore.types import Appended, Binding, KeyAlreadyBound, NewEvent, StreamConflict

logger = logging.getLogger("exim_ledger.groupcommit")
MAX_UNITS = 256
MAX_EVENTS = 5000


@dataclass
class Unit:
    events: Sequence[NewEvent]
    binding: Binding | None
    guards: GuardWrites | None = None
    result: Appended | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    future: Future[Appended] | None = None  # for a waiter that is not a thread

    def finish(self) -> None:
        """Wake whoever waits for this unit, with its result or its error (once: a group
        retried unit by unit finishes each unit inside and again outside)."""
        self.done.set()
        if self.future is not None and not self.future.done():
            if self.error is not None:
                self.future.set_exception(self.error)
            else:
                assert self.result is not None
                self.future.set_result(self.result)

    def firsts(self) -> dict[UUID, int]:
        firsts: dict[UUID, int] = {}
        for ev in self.events:
            firsts.setdefault(ev.deal_id, ev.version)
        return firsts


@dataclass
class GuardPlan:
    """The guards of a group: as stored (then as each accepted unit leaves them), the ones
    changed, the members to write."""

    current: dict[str, guard_rows.Guard] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)
    members: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)


def guard_names(units: Sequence[Unit]) -> set[str]:
    return {name for u in units if u.guards for name in u.guards.touched()}


def plan(
    units: Sequence[Unit], heads: dict[UUID, int], taken: set[tuple[str, str]],
    guards: GuardPlan | None = None,
) -> list[Unit]:
    """The units that can commit together; the others get their error set. A unit whose
    guards moved since its decision read them is a conflict, like one whose deal moved."""
    heads = dict(heads)
    taken = set(taken)
    guards = guards if guards is not None else GuardPlan()
    accepted = []
    for unit in units:
        if any(v != heads.get(d, 0) + 1 for d, v in unit.firsts().items()):
            unit.error = StreamConflict("another writer appended to this deal first")
            continue
        key = (unit.binding.scope, unit.binding.key) if unit.binding else None
        if key is not None and key in taken:
            unit.error = KeyAlreadyBound()
            continue
        if not guard_rows.check(unit.guards, guards.current):
            unit.error = StreamConflict("another write changed a total this one read")
            continue
        for ev in unit.events:
            heads[ev.deal_id] = ev.version
        if key is not None:
            taken.add(key)
        if unit.guards:
            guard_rows.advance(unit.guards, guards.current, guards.changed, guards.members)
        accepted.append(unit)
    return accepted


def plan_with_guards(units: Sequence[Unit], heads: dict[UUID, int],
                     taken: set[tuple[str, str]], run: guard_rows.Run, p: str) -> list[Unit]:
    """``plan``, inside a write transaction whose statements ``run`` executes (``p`` its
    placeholder): the guards the units touch are read first, and the accepted units'
    guard writes are written before the events are."""
    guards = GuardPlan()
    names = guard_names(units)
    if names:
        guards.current = guard_rows.read_guards(run, p, names)
    accepted = plan(units, heads, taken, guards)
    if guards.changed:
        guard_rows.write(run, p, guards.current, guards.changed, guards.members)
    return accepted


class GroupCommitter:
    def __init__(self, commit: Callable[[list[Unit]], None], name: str) -> None:
        self._commit = commit
        self._queue: queue.Queue[Unit | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, events: Sequence[NewEvent], binding: Binding | None,
               guards: GuardWrites | None = None) -> Appended:
        unit = Unit(events, binding, guards)
        self._queue.put(unit)
        unit.done.wait()
        if unit.error is not None:
            raise unit.error
        assert unit.result is not None
        return unit.result

    def submit_future(self, events: Sequence[NewEvent], binding: Binding | None,
                      guards: GuardWrites | None = None) -> Future[Appended]:
        """``submit`` without waiting: the future completes when the unit's group has
        committed (or with the unit's error)."""
        unit = Unit(events, binding, guards, future=Future())
        self._queue.put(unit)
        assert unit.future is not None
        return unit.future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(10.0)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, count, stop = [first], len(first.events), False
            while len(group) < MAX_UNITS and count < MAX_EVENTS:
                try:
                    unit = self._queue.get_nowait()
                except queue.Empty:
                    break
                if unit is None:
                    stop = True
                    break
                group.append(unit)
                count += len(unit.events)
            self._commit_isolated(group)
            if stop or self._fail_waiting_if_unavailable(group):
                return

    def _fail_waiting_if_unavailable(self, group: list[Unit]) -> bool:
        """After a group found the database unavailable, fail the units queued meanwhile
        with the same error: each has waited as long as that attempt already, and trying
        them in turn would keep the last waiting one timeout per group before it.
        Whether the stop sentinel was among them."""
        error = next((u.error for u in group if _is_unavailable(u.error)), None)
        if error is None:
            return False
        while True:
            try:
                unit = self._queue.get_nowait()
            except queue.Empty:
                return False
            if unit is None:
                return True
            unit.error = error
            unit.finish()

    def _commit_isolated(self, group: list[Unit]) -> None:
        try:
            self._commit(group)
        except BaseException as e:  # the group failed whole: retry alone, or report
            if len(group) > 1 and not _is_unavailable(e):
                logger.warning("group commit of %d units failed; retrying one by one: %s",
                               len(group), e)
                for unit in group:
                    unit.result = unit.error = None
                    self._commit_isolated([unit])
                return
            for unit in group:  # nothing of the group was committed
                unit.result = None
                if unit.error is None:
                    unit.error = e
        finally:
            for unit in group:
                unit.finish()


def _is_unavailable(error: BaseException | None) -> bool:
    from service.eventstore.types import StoreUnavailable

    return isinstance(error, StoreUnavailable)
