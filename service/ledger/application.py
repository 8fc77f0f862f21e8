"""The use cases: load what the commands need, decide, append.

Routes and commands call these methods with plain values; the methods return plain values.
Every write goes through the same three steps: load the facts its commands need (deals
from the cache or the store, the policy program, the stored events reversals name), the
pure ``decide``, then one append through the group committer that also binds the
idempotency key. A commit lost to another writer is decided again on facts loaded again.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import EventStore, StoredEvent
from eventsourcing.sqlite import SQLiteAggregateRecorder

from domain.deal import Deal
from domain.errors import LedgerError, NotFound
from domain.money import ReversalTarget
from domain.program import PROGRAM_ID, PROGRAM_TYPES, Program
from domain.replay import replay as fold
from domain.replay import reversal_targets_wanted
from service.eventstore import LedgerRecorder
from service.eventstore.common import SNAPSHOTS_TABLE
from service.eventstore.types import (
    Appended,
    Binding,
    KeyAlreadyBound,
    NewEvent,
    StoredResponse,
    StoreUnavailable,
    StreamConflict,
)
from service.ledger.across import READS_ACROSS, load_across, rebuild_guards
from service.ledger.cache import DealCache
from service.ledger.commands import (
    Clock,
    Command,
    Context,
    Idempotency,
    IdempotencyKeyReused,
    Outcome,
    Render,
    RenderError,
    binds_rejection,
    deal_id_for,
    utc_now,
)
from service.ledger.decide import EVENT_REVERSED, Decision, Facts, decide
from service.ledger.program import ProgramUseCases
from service.ledger.snapshots import Snapshotter

logger = logging.getLogger("exim_ledger.ledger")
CONTENTION_BUDGET_SECONDS = 10.0
Commands = Sequence[Command] | Callable[[], Sequence[Command]]


def _as_stored(ev: NewEvent) -> StoredEvent:
    """An appended event as the store holds it: the bytes its commit wrote."""
    if ev.stored is None:
        raise ValueError(f"event {ev.deal_id} v{ev.version} was not stamped by a commit")
    return StoredEvent(ev.deal_id, ev.version, ev.topic, ev.stored)


@dataclass
class PendingWrite:
    """A write handed to the group committer by ``Ledger.begin``: ``future`` completes at
    its commit (or with its error); ``finish`` turns the commit into the request's
    outcome; ``lost``, when the commit met another writer, puts the deals back."""

    future: Future[Appended]
    finish: Callable[[Appended], Outcome]
    lost: Callable[[], None]


class Ledger(ProgramUseCases, Application[UUID]):
    name = "Ledger"

    def __init__(self, env: dict[str, str], snapshot_interval: int = 100,
                 clock: Clock = utc_now, cache_size: int = 2_000,
                 cache_bytes: int = 256 * 1024 * 1024) -> None:
        self.snapshot_interval = snapshot_interval
        self.clock = clock
        self.deals = DealCache(cache_size, cache_bytes)
        self.on_append: list[Callable[[], None]] = []  # e.g. wake the projection runner
        self._program = Program()
        self._program_checked = -1.0
        super().__init__(env=env)
        self.store.clock = clock
        self.snapshotter = Snapshotter(self._snapshot, interval=snapshot_interval)

    @property
    def store(self) -> LedgerRecorder:
        return self.recorder  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the snapshots and the group committer (after they drained), then the
        library's connections."""
        self.snapshotter.close()
        self.store.close_writer()
        super().close()

    def construct_snapshot_store(self) -> EventStore[UUID]:
        if self.env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite":
            recorder = SQLiteAggregateRecorder(
                self.factory.datastore,  # type: ignore[attr-defined]
                events_table_name=SNAPSHOTS_TABLE,
            )
            return EventStore(mapper=self.mapper, recorder=recorder)
        return super().construct_snapshot_store()

    # ---- writes -------------------------------------------------------------------------

    def submit(self, commands: Commands, ctx: Context, render: Render,
               render_error: RenderError | None = None, idem: Idempotency | None = None,
               ) -> Outcome:
        """Decide and record ``commands`` as one write, waiting for its commit. A request
        whose key is bound replays its answer (or is refused as a reuse) before its
        commands are built (``commands`` may be a function that parses them)."""
        replay = self.replay(idem)
        if replay is not None:
            return replay
        todo = commands() if callable(commands) else commands
        deadline = time.monotonic() + CONTENTION_BUDGET_SECONDS
        check_new = False  # a new deal's number is assumed free; the commit checks it anyway
        while True:
            facts = self.facts_for(todo, check_new=check_new)
            try:
                decision = decide(todo, ctx, facts, self.clock())
            except LedgerError as error:
                self._put_back(facts)
                return self._refused(idem, error, render_error)
            events = _new_events(decision)
            binding = (Binding(idem.scope, idem.key, idem.fingerprint, render=render)
                       if idem else None)
            try:
                appended = self.store.append(events, binding, decision.guards)
            except (StreamConflict, KeyAlreadyBound):
                # the deals it started from are right at their versions, if not the
                # latest: back in the cache, the next attempt brings them up to date
                self._put_back(facts)
                replay = self.replay(idem)
                if replay is not None:
                    return replay
                if time.monotonic() > deadline:
                    raise StoreUnavailable(
                        "too much write contention on these deals; retry") from None
                time.sleep(random.uniform(0, 0.002))  # de-synchronise the losers
                check_new = True
                continue  # re-decide against the new state; an expected_version now fails
            return self._settle(facts, decision, events, render, appended)

    def begin(self, commands: Sequence[Command], ctx: Context,
              render: Render) -> PendingWrite | None:
        """``submit`` for a caller that must not block (the event loop), when the facts
        are in memory already (``facts_in_memory``): decided, then handed to the group
        committer. None, with nothing written and every deal back in the cache, when they
        are not or the decision was refused on them: ``submit`` then loads and decides
        again (and answers a refusal as it always does). A ``StreamConflict`` from the
        future means the same: the deals it started from were stale."""
        facts = self.facts_in_memory(commands)
        if facts is None:
            return None
        try:
            decision = decide(commands, ctx, facts, self.clock())
        except LedgerError:
            self._put_back(facts)
            return None
        events = _new_events(decision)
        future = self.store.append_future(events, None, decision.guards)
        return PendingWrite(
            future, lambda appended: self._settle(facts, decision, events, render, appended),
            lambda: self._put_back(facts))

    # ---- idempotency: the one place a key is looked up and bound -----------------------

    def replay(self, idem: Idempotency | None) -> Outcome | None:
        """The stored answer of a request whose key is bound; a reuse of the key with
        another request is refused."""
        if idem is None:
            return None
        found = self.store.lookup_binding(idem.scope, idem.key)
        if found is None:
            return None
        fingerprint, response = found
        if fingerprint != idem.fingerprint:
            raise IdempotencyKeyReused()
        return Outcome(response, replayed=True)

    def _refused(self, idem: Idempotency | None, error: LedgerError,
                 render_error: RenderError | None) -> Outcome:
        """A refusal: a concurrent twin with the same key may have won meanwhile, and its
        answer counts; else a business-rule rejection is bound to the key. Raises it."""
        replay = self.replay(idem)
        if replay is not None:
            return replay
        if idem is not None and render_error is not None and binds_rejection(error):
            response: StoredResponse = render_error(error)
            try:
                self.store.append([], Binding(idem.scope, idem.key, idem.fingerprint,
                                              response=response))
            except KeyAlreadyBound:  # a concurrent twin bound it first: its answer counts
                replay = self.replay(idem)
                if replay is not None:
                    return replay
        raise error

    # ---- loading ------------------------------------------------------------------------

    def facts_for(self, commands: Sequence[Command], *, check_new: bool = True) -> Facts:
        """The facts ``commands`` need, read from the cache (each cached deal brought up
        to date: one query) or the store. ``check_new``: whether each new deal's id is
        looked up (else the commit finds it taken)."""
        # the program's own events, and the rules that read its authorization, see the
        # stream as it is now (one indexed read), not as this instance last checked it
        fresh = any(c.type in PROGRAM_TYPES or c.type in READS_ACROSS for c in commands)
        facts = Facts(self.program(fresh=fresh))
        applied: set[UUID] = set()
        for command in commands:
            if command.type in PROGRAM_TYPES:
                continue
            if command.type == "DealApplied":
                deal_id = _applied_id(command)
                if deal_id is not None:
                    applied.add(deal_id)
                    if check_new and self._exists(deal_id):
                        facts.existing.add(deal_id)
                continue
            deal_id = command.target()
            if deal_id is None or deal_id in facts.deals or deal_id in applied:
                continue
            cached = self.deals.take(deal_id)
            try:
                facts.deals[deal_id] = (self.load(deal_id) if cached is None
                                        else self._up_to_date(cached))
            except NotFound:
                continue
        for command in commands:
            deal_id = command.target()
            if command.type == EVENT_REVERSED and deal_id in facts.deals:
                self._load_target(facts, deal_id, command.data.get("version"))
        facts.across = load_across(self.store, commands, facts.deals)
        return facts

    def rebuild_guards(self) -> int:
        """Every guard from the deals as the log folds them, under the write lock
        (``migrate`` and ``import``). How many deals were read."""
        return rebuild_guards(self.store, self.load)

    def facts_in_memory(self, commands: Sequence[Command]) -> Facts | None:
        """The facts ``commands`` need when all of them are in memory (every deal cached,
        the policy versions checked within ``POLICY_REFRESH_SECONDS``, no adoption and no
        reversal to load a target for); None, with nothing taken, otherwise."""
        if self.deals.size <= 0 or not self.program_is_current():
            return None
        if any(c.type in PROGRAM_TYPES or c.type == EVENT_REVERSED or c.type in READS_ACROSS
               for c in commands):
            return None
        facts = Facts(self.program())
        applied = {_applied_id(c) for c in commands if c.type == "DealApplied"}
        for command in commands:
            deal_id = command.target() if command.type != "DealApplied" else None
            if deal_id is None or deal_id in facts.deals or deal_id in applied:
                continue
            deal = self.deals.take(deal_id)
            if deal is None:
                self._put_back(facts)
                return None
            facts.deals[deal_id] = deal
        return facts

    def _load_target(self, facts: Facts, deal_id: UUID, version: object) -> None:
        if not isinstance(version, int) or isinstance(version, bool):
            return
        target = self._stored_target(deal_id, version)
        if target is not None:
            facts.reversal_targets[(deal_id, version)] = target

    def _stored_target(self, deal_id: UUID, version: int) -> ReversalTarget | None:
        """The deal's stored event at ``version``, as a reversal's target: one indexed
        row, however long the deal's history."""
        found = self.store.select_event(deal_id, version)
        if found is None:
            return None
        topic, state = found
        return ReversalTarget(version, topic.rsplit(".", 1)[-1], state.get("data", {}),
                              state.get("actor", ""))

    def _advance(self, deal: Deal | None, events: Iterable[Any],
                 known: Mapping[int, ReversalTarget] | None = None) -> Deal | None:
        """``deal`` moved on by stored ``events`` (a snapshot may come first): each
        reversal among them is given its target, read from the store unless ``known``."""
        events = list(events)
        targets = dict(known or {})
        deal_id = deal.id if deal is not None else (events[0].originator_id if events else None)
        for version in reversal_targets_wanted(events) - targets.keys():
            assert deal_id is not None
            target = self._stored_target(deal_id, version)
            if target is not None:
                targets[version] = target
        return fold(deal, events, targets)

    def _exists(self, deal_id: UUID) -> bool:
        return bool(self.store.select_events(deal_id, limit=1))

    def _put_back(self, facts: Facts) -> None:
        """The deals a decision started from go back to the cache, as loaded."""
        self._remember(facts.deals, [])

    def _settle(self, facts: Facts, decision: Decision, events: list[NewEvent],
                render: Render, appended: Appended) -> Outcome:
        """A committed write: wake who waits for appends, cache its deals, take due
        snapshots; its outcome."""
        self._appended(events)
        self._remember(facts.deals, events, facts.reversal_targets)
        self.snapshotter.crossed(decision.touched)
        response = appended.response or render(appended.envelopes)
        return Outcome(response, appended.envelopes)

    def _remember(self, pristine: dict[UUID, Deal], events: Sequence[NewEvent],
                  targets: Mapping[tuple[UUID, int], ReversalTarget] | None = None) -> None:
        """Cache each deal of a settled decision: the deal it started from, advanced by the
        events as stored (stamped at commit: ``recorded_at``, a defaulted ``occurred_at``,
        the hashes), decoded as a load would decode them; never the decided deal."""
        if self.deals.size <= 0:
            return
        stored: dict[UUID, list[NewEvent]] = {}
        for ev in events:
            if ev.deal_id != PROGRAM_ID:
                stored.setdefault(ev.deal_id, []).append(ev)
        for deal_id in pristine.keys() | stored.keys():
            try:
                deal = self._advance(pristine.get(deal_id), [
                    self.mapper.to_domain_event(_as_stored(ev))
                    for ev in stored.get(deal_id, ())],
                    {v: t for (d, v), t in (targets or {}).items() if d == deal_id})
            except Exception:  # the events are saved: the deal is loaded next time
                logger.warning("deal %s not cached", deal_id, exc_info=True)
                continue
            assert isinstance(deal, Deal)
            self.deals.put(deal)

    def _snapshot(self, deal_id: UUID, version: int) -> None:
        self.take_snapshot(deal_id, version=version, projector_func=self._advance)

    # ---- reads --------------------------------------------------------------------------

    def load(self, deal_id: UUID, version: int | None = None) -> Deal:
        if deal_id == PROGRAM_ID:  # the program stream is not a deal
            raise NotFound(f"deal {deal_id} not found")
        try:
            deal: object = self.repository.get(deal_id, version=version,
                                               projector_func=self._advance)
        except AggregateNotFoundError:
            raise NotFound(f"deal {deal_id} not found") from None
        assert isinstance(deal, Deal)
        return deal

    def deal_state(
        self, deal_id: UUID, *, as_of: datetime | None = None, version: int | None = None
    ) -> dict[str, Any]:
        if as_of is not None:
            at = self.store.version_as_of(deal_id, as_of)
            if at is None:
                raise NotFound(f"deal {deal_id} had no events by {as_of}")
            version = at if version is None else min(version, at)
        if version is None:
            deal = self._current(deal_id)
            try:
                return deal.view(self.policy_book())
            finally:
                self.deals.put(deal)  # after the view: a writer may take and advance it
        deal = self.load(deal_id, version)
        if deal.version < version:
            raise NotFound(f"deal {deal_id} has no version {version} (at {deal.version})")
        return deal.view(self.policy_book())

    def _current(self, deal_id: UUID) -> Deal:
        """The deal at the store's latest version, out of the cache for the caller to put
        back: its cached entry brought up to date with the events stored since, or a load."""
        deal = self.deals.take(deal_id)
        return self.load(deal_id) if deal is None else self._up_to_date(deal)

    def _up_to_date(self, deal: Deal) -> Deal:
        """A cached deal advanced by the events stored since its version."""
        newer = self._advance(deal, self.events.get(deal.id, gt=deal.version))
        assert isinstance(newer, Deal)
        return newer

    def deal_events(self, deal_id: UUID) -> list[dict[str, Any]]:
        events = self.store.select_deal_rows(deal_id) if deal_id != PROGRAM_ID else []
        if not events:
            raise NotFound(f"deal {deal_id} not found")
        return events

    # shadows the library's notification log, which nothing here reads (see select_log)
    def log(self, after: int, limit: int) -> tuple[list[dict[str, Any]], int]:  # type: ignore[override]
        events = self.store.select_log(after, limit)
        next_after = events[-1]["position"] if events else after
        return events, next_after


def _new_events(decision: Decision) -> list[NewEvent]:
    return [NewEvent(d.deal_id, d.version, d.topic, d.state) for d in decision.events]


def _applied_id(command: Command) -> UUID | None:
    number = command.data.get("application_number")
    return deal_id_for(number) if isinstance(number, str) else None
