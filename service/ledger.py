"""The use cases: one eventsourcing Application that decides and records events.

Routes call these methods with plain values; the methods return plain values.
Every write goes through ``submit`` with commands the API layer has already
schema-checked: decide (the clock, existence, version, business rules — the
rules in the domain), then one append that also binds the idempotency key.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import EventStore, StoredEvent
from eventsourcing.sqlite import SQLiteAggregateRecorder
from eventsourcing.utils import get_topic

from domain.chain import format_timestamp
from domain.deal import Deal, EventMeta
from domain.errors import LedgerError, NotFound, RuleViolation, VersionConflict
from domain.policy import SHIPPED, PolicyBook, PolicyVersion
from domain.program import POLICY_ADOPTED, POLICY_ADOPTED_TOPIC, PROGRAM_ID, Program
from domain.rules import Judgement
from service.dealcache import DealCache
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

logger = logging.getLogger("exim_ledger.ledger")
DEAL_NAMESPACE = UUID("6f1c1a52-5b8e-4d0f-9a57-0e4b7c6d2a11")
FUTURE_TOLERANCE = timedelta(minutes=5)
CONTENTION_BUDGET_SECONDS = 10.0
POLICY_REFRESH_SECONDS = 0.5  # an adoption on another instance is in force here within 1 s
SYSTEM = "system"
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def deal_id_for(application_number: str) -> UUID:
    """Application numbers are unique through a deterministic deal id (uuid5)."""
    return uuid.uuid5(DEAL_NAMESPACE, application_number)


def _advance(deal: Deal | None, events: Iterable[Any]) -> Deal | None:
    """The library's ``project_aggregate``, less its ``isinstance`` check against a runtime
    protocol, which cost more than applying a deal's event."""
    for event in events:
        deal = event.mutate(deal)
    return deal


def _as_stored(ev: NewEvent) -> StoredEvent:
    """An appended event as the store holds it: the bytes its commit wrote."""
    if ev.stored is None:
        raise ValueError(f"event {ev.deal_id} v{ev.version} was not stamped by a commit")
    return StoredEvent(ev.deal_id, ev.version, ev.topic, ev.stored)


class WouldBlock(Exception):
    """A decision made without waiting on the database needed the database."""


# set while ``begin_submit`` decides on the event loop: whatever would read the store
# raises WouldBlock instead (a deal not cached, a policy check due)
_NONBLOCKING: ContextVar[bool] = ContextVar("ledger_nonblocking", default=False)


def _may_block() -> None:
    if _NONBLOCKING.get():
        raise WouldBlock


@dataclass
class PendingWrite:
    """A write handed to the group committer by ``Ledger.begin_submit``: ``future``
    completes at its commit (or with its error); ``finish`` turns the commit into the
    request's outcome."""

    future: Future[Appended]
    finish: Callable[[Appended], Outcome]
    lost: Callable[[], None]  # the commit met another writer: the deals go back as they were


class InvalidRequest(LedgerError):
    """A request that is not well formed: ``errors`` names each bad field."""

    def __init__(self, errors: list[dict[str, str]], detail: str | None = None, **extra: object):
        first = errors[0] if errors else {"field": "", "message": "invalid request"}
        super().__init__(
            "validation_error",
            detail or f"{first['field'] or 'request'}: {first['message']}",
            status=422,
            errors=errors,
            **extra,
        )


class IdempotencyKeyReused(LedgerError):
    def __init__(self) -> None:
        super().__init__(
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request",
            status=409,
        )


@dataclass(frozen=True)
class Context:
    actor: str
    source: str | None = None
    correlation_id: str | None = None
    idempotency_key: str | None = None


@dataclass
class Command:
    """One event to decide: ``data`` is its canonical, schema-checked payload."""

    type: str
    data: dict[str, Any]
    deal_id: UUID | None = None
    application_number: str | None = None
    occurred_at: datetime | None = None  # None: the moment it is decided
    expected_version: int | None = None
    prefix: str = ""  # where this command sits in the request body, for error paths
    retroactive: bool = False  # a PolicyAdopted bootstrapped onto a ledger without deals


@dataclass
class Idempotency:
    scope: str
    key: str
    fingerprint: str


@dataclass
class Outcome:
    response: StoredResponse
    envelopes: list[dict[str, Any]] = field(default_factory=list)
    replayed: bool = False


@dataclass
class Loaded:
    """The deals a decision started from, as the store holds them (``pristine``; the
    decision works on copies), and which of them came from the cache."""

    pristine: dict[UUID, Deal] = field(default_factory=dict)
    cached: set[UUID] = field(default_factory=set)


Render = Callable[[list[dict[str, Any]]], StoredResponse]
RenderError = Callable[[LedgerError], StoredResponse]


def binds_rejection(error: LedgerError) -> bool:
    """Business-rule rejections (422 with a rule code) are bound to the key; nothing else."""
    return error.status == 422 and error.code != "validation_error"


def event_state(ev: Deal.Event) -> dict[str, Any]:
    """The state the library's mapper would store for ``ev``, without its JSON round
    trip: a deal event's fields are JSON values already (``data`` is the schema-checked
    payload, copied by the domain), but for the timestamp, which the store restamps."""
    state = dict(vars(ev))
    del state["originator_id"], state["originator_version"]
    state["timestamp"] = {"_type_": "datetime_iso", "_data_": ev.timestamp.isoformat()}
    return state


class EventIds:
    """Random (version 4) event ids cut from one ``os.urandom`` draw per request: every
    draw releases the GIL, and on a busy process taking it back can cost a whole switch
    interval, once per event of a batch when each id was drawn on its own."""

    def __init__(self, count: int) -> None:
        self._count = max(count, 1)
        self._pool = b""
        self._at = 0

    def __call__(self) -> str:
        if self._at >= len(self._pool):  # a command may yield more than one event
            self._pool, self._at = os.urandom(16 * self._count), 0
        raw = self._pool[self._at:self._at + 16]
        self._at += 16
        return str(UUID(bytes=raw, version=4))


class Snapshotter:
    """Takes due snapshots one at a time on its own thread, off the request path.

    A snapshot is a cache of a deal's state: taken inline, every request that crossed an
    interval waited for its own write transaction, and when many deals crossed at once
    (deals written at the same pace do) they queued for the one writer connection and
    the pool behind it. A due snapshot that is still queued when a later one of the same
    deal arrives is replaced by it; at most ``capacity`` deals wait, the rest are skipped
    (the next interval takes them)."""

    def __init__(self, take: Callable[[UUID, int], None], capacity: int = 10_000) -> None:
        self._take = take
        self._capacity = capacity
        self._due: dict[UUID, int] = {}
        self._lock = threading.Lock()
        self._wake = queue.SimpleQueue[bool]()
        self._thread: threading.Thread | None = None
        self._taking = False
        self._closed = False

    def due(self, deal_id: UUID, version: int) -> None:
        with self._lock:
            if self._closed or (deal_id not in self._due and len(self._due) >= self._capacity):
                return
            self._due[deal_id] = max(version, self._due.get(deal_id, 0))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="snapshots",
                                                daemon=True)
                self._thread.start()
        self._wake.put(True)

    def _next(self) -> tuple[UUID, int] | None:
        with self._lock:
            self._taking = bool(self._due)
            if not self._due:
                return None
            deal_id = next(iter(self._due))
            return deal_id, self._due.pop(deal_id)

    def _run(self) -> None:
        while self._wake.get():
            while (item := self._next()) is not None:
                self._take(*item)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until no snapshot is due (tests, and a clean shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._due and not self._taking:
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            self._wake.put(False)
            thread.join(30.0)


class PolicyRefused(LedgerError):
    """A policy version the bootstrap file asks for cannot be adopted."""


class Ledger(Application[UUID]):
    name = "Ledger"

    def __init__(self, env: dict[str, str], snapshot_interval: int = 100,
                 clock: Clock = utc_now, cache_size: int = 2_000) -> None:
        self.snapshot_interval = snapshot_interval
        self.clock = clock
        self.deals = DealCache(cache_size)
        self.on_append: list[Callable[[], None]] = []  # e.g. wake the projection runner
        self._program = Program()
        self._program_checked = -1.0
        super().__init__(env=env)
        self.store.clock = clock
        self.snapshotter = Snapshotter(self._snapshot)

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

    def submit(
        self,
        commands: Sequence[Command],
        ctx: Context,
        render: Render,
        render_error: RenderError,
        idem: Idempotency | None = None,
    ) -> Outcome:
        if idem is not None:
            replay = self.replay(idem)
            if replay is not None:
                return replay
        deadline = time.monotonic() + CONTENTION_BUDGET_SECONDS
        optimistic = True  # a new deal's number is assumed free; the commit checks it anyway
        fresh = False  # decide on deals loaded from the store, none from the cache
        while True:
            loaded = Loaded()
            try:
                events, touched = self._decide(commands, ctx, check_new=not optimistic,
                                               loaded=loaded, fresh=fresh)
            except LedgerError as error:
                if loaded.cached:  # a stale cached deal may be why: judge the store's
                    fresh = True
                    continue
                self._remember(loaded, [])
                # A concurrent twin with the same key may have won meanwhile: its answer counts.
                replay = self.replay(idem) if idem is not None else None
                if replay is not None:
                    return replay
                if idem is not None and binds_rejection(error):
                    replay = self._bind_rejection(idem, render_error(error))
                    if replay is not None:
                        return replay
                raise
            binding = (
                Binding(idem.scope, idem.key, idem.fingerprint, render=render) if idem else None
            )
            try:
                appended = self.store.append(events, binding)
            except (StreamConflict, KeyAlreadyBound):
                # the deals it started from are right at their versions, if not the
                # latest: back in the cache, the next attempt brings them up to date
                self._remember(loaded, [])
                replay = self.replay(idem) if idem is not None else None
                if replay is not None:
                    return replay
                if time.monotonic() > deadline:
                    raise StoreUnavailable(
                        "too much write contention on these deals; retry"
                    ) from None
                time.sleep(random.uniform(0, 0.002))  # de-synchronise the losers
                optimistic = False
                continue  # re-decide against the new state; an expected_version now fails
            return self._finish(events, touched, loaded, render, appended)

    def begin_submit(self, commands: Sequence[Command], ctx: Context, render: Render,
                     idem: Idempotency | None = None) -> PendingWrite | None:
        """``submit``'s first attempt for a caller that must not block (the event loop):
        decided on cached deals under the policy versions checked within
        ``POLICY_REFRESH_SECONDS``, then handed to the group committer. None, with
        nothing written and every deal back in the cache, when the decision would have
        to read the store or was refused: ``submit`` then decides afresh (and answers a
        refusal as it always does). A ``StreamConflict`` or ``KeyAlreadyBound`` from
        the future means the same: the deals it started from are stale."""
        if any(c.type == POLICY_ADOPTED for c in commands) or self.deals.size <= 0:
            return None
        loaded = Loaded()
        blocking = _NONBLOCKING.set(True)
        try:
            events, touched = self._decide(commands, ctx, check_new=False, loaded=loaded,
                                           fresh=False)
        except (WouldBlock, LedgerError):
            self._remember(loaded, [])
            return None
        finally:
            _NONBLOCKING.reset(blocking)
        binding = Binding(idem.scope, idem.key, idem.fingerprint, render=render) if idem else None
        future = self.store.append_future(events, binding)
        return PendingWrite(
            future, lambda appended: self._finish(events, touched, loaded, render, appended),
            lambda: self._remember(loaded, []))

    def _finish(self, events: list[NewEvent], touched: dict[UUID, tuple[int, int]],
                loaded: Loaded, render: Render, appended: Appended) -> Outcome:
        """A committed write: wake who waits for appends, cache its deals, take due
        snapshots; its outcome."""
        self._appended(events)
        self._remember(loaded, events)
        self._take_due_snapshots(touched)
        response = appended.response or render(appended.envelopes)
        return Outcome(response, appended.envelopes)

    def replay(self, idem: Idempotency) -> Outcome | None:
        """The stored answer of a request whose key is bound; a reuse of the key with
        another request is refused."""
        found = self.store.lookup_binding(idem.scope, idem.key)
        if found is None:
            return None
        fingerprint, response = found
        if fingerprint != idem.fingerprint:
            raise IdempotencyKeyReused()
        return Outcome(response, replayed=True)

    def _bind_rejection(self, idem: Idempotency, response: StoredResponse) -> Outcome | None:
        try:
            binding = Binding(idem.scope, idem.key, idem.fingerprint, response=response)
            self.store.append([], binding)
        except KeyAlreadyBound:
            return self.replay(idem)  # a concurrent twin bound it first: its answer counts
        return None

    def _decide(
        self, commands: Sequence[Command], ctx: Context, check_new: bool = True,
        loaded: Loaded | None = None, fresh: bool = True,
    ) -> tuple[list[NewEvent], dict[UUID, tuple[int, int]]]:
        deals: dict[UUID, Deal] = {}
        touched: dict[UUID, tuple[int, int]] = {}
        events: list[NewEvent] = []
        program: Program | None = None
        batch = len(commands) > 1 or any(c.prefix for c in commands)
        loaded = loaded if loaded is not None else Loaded()
        ids = EventIds(len(commands))
        for index, command in enumerate(commands):
            try:
                if command.type == POLICY_ADOPTED:
                    program = program or self.program(fresh=True)
                    event, program = self._decide_adoption(command, ctx, program)
                    events.append(event)
                    continue
                deal = self._decide_one(command, ctx, deals, check_new, ids, loaded, fresh)
            except LedgerError as error:
                if batch:
                    error.extra["index"] = index
                raise
            start = touched.get(deal.id, (deal.version - 1, 0))[0]
            for ev in deal.collect_events():
                assert isinstance(ev, Deal.Event)
                state = event_state(ev)
                if command.occurred_at is None:
                    state["occurred_at"] = None  # the store makes it equal to recorded_at
                events.append(NewEvent(deal.id, ev.originator_version, get_topic(type(ev)),
                                       state))
            touched[deal.id] = (start, deal.version)
        return events, touched

    def _judge(self, command: Command) -> tuple[Judgement, str]:
        """When the event is judged and under which versions; its ``occurred_at`` text."""
        now = self.clock()
        moment = command.occurred_at or now
        if moment > now + FUTURE_TOLERANCE:
            raise InvalidRequest(
                [{"field": command.prefix + "occurred_at",
                  "message": "more than 5 minutes in the future"}]
            )
        book = self.policy_book()
        return Judgement(moment, now, book.at(moment), book.at(now)), format_timestamp(moment)

    def _decide_one(
        self, command: Command, ctx: Context, deals: dict[UUID, Deal], check_new: bool = True,
        ids: Callable[[], str] = lambda: str(uuid.uuid4()),
        loaded: Loaded | None = None, fresh: bool = True,
    ) -> Deal:
        type_name, data = command.type, command.data
        judgement, occurred_at = self._judge(command)
        meta = EventMeta(
            event_id=ids(),
            occurred_at=occurred_at,
            actor=ctx.actor,
            source=ctx.source,
            correlation_id=ctx.correlation_id,
            idempotency_key=ctx.idempotency_key,
        )
        if type_name == "DealApplied":
            deal_id = deal_id_for(data["application_number"])
            if command.expected_version not in (None, 0):
                raise VersionConflict(
                    f"expected version {command.expected_version} but a new deal starts at 0",
                    current_version=0,
                )
            deal = Deal.apply_for(deal_id, data, meta, judgement)
            if deal_id in deals or (check_new and self._exists(deal_id)):
                raise RuleViolation(
                    "duplicate_application",
                    f"application_number {data['application_number']} is already on the ledger",
                    status=409,
                    deal_id=str(deal_id),
                )
            deals[deal_id] = deal
            return deal
        deal = self._load_for_command(command, deals, loaded or Loaded(), fresh)
        if command.expected_version is not None and command.expected_version != deal.version:
            raise VersionConflict(
                f"expected version {command.expected_version}, deal is at {deal.version}",
                current_version=deal.version,
            )
        deal.handle(type_name, data, meta, judgement)
        return deal

    def _load_for_command(self, command: Command, deals: dict[UUID, Deal],
                          loaded: Loaded, fresh: bool) -> Deal:
        deal_id = command.deal_id
        if deal_id is None and command.application_number is not None:
            deal_id = deal_id_for(command.application_number)
        if deal_id is None:
            raise InvalidRequest(
                [{"field": command.prefix + "deal_id",
                  "message": "deal_id or application_number required"}]
            )
        if deal_id not in deals:
            deals[deal_id] = self._start_from(deal_id, loaded, fresh)
        return deals[deal_id]

    def _start_from(self, deal_id: UUID, loaded: Loaded, fresh: bool) -> Deal:
        """A copy to decide on of the deal as cached (unless ``fresh``) or as loaded;
        the original is ``loaded``'s, out of the cache until the decision is settled."""
        if self.deals.size <= 0:
            return self.load(deal_id)
        deal = None if fresh else self.deals.take(deal_id)
        if deal is None:
            deal = self.load(deal_id)
        else:
            if not _NONBLOCKING.get():  # another process may have written it: one query
                deal = self._up_to_date(deal)
            loaded.cached.add(deal_id)
        loaded.pristine[deal_id] = deal
        return deal.fork()

    def _remember(self, loaded: Loaded, events: Sequence[NewEvent]) -> None:
        """Cache each deal of a settled decision: the deal it started from, advanced by the
        events as stored (stamped at commit: ``recorded_at``, a defaulted ``occurred_at``,
        the hashes), decoded as a load would decode them; never the decided deal."""
        if self.deals.size <= 0:
            return
        stored: dict[UUID, list[NewEvent]] = {}
        for ev in events:
            if ev.deal_id != PROGRAM_ID:
                stored.setdefault(ev.deal_id, []).append(ev)
        for deal_id in loaded.pristine.keys() | stored.keys():
            try:
                deal = _advance(loaded.pristine.get(deal_id), [
                    self.mapper.to_domain_event(_as_stored(ev))
                    for ev in stored.get(deal_id, ())])
            except Exception:  # the events are saved: the deal is loaded next time
                logger.warning("deal %s not cached", deal_id, exc_info=True)
                continue
            assert isinstance(deal, Deal)
            self.deals.put(deal)

    # ---- the program stream: policy on the ledger --------------------------------------

    def program(self, *, fresh: bool = False) -> Program:
        """The adopted policy versions; re-read when the stream has grown, checked at most
        every ``POLICY_REFRESH_SECONDS`` (or now, when ``fresh``)."""
        checked = time.monotonic()
        if fresh or checked - self._program_checked > POLICY_REFRESH_SECONDS:
            _may_block()
            if self.store.stream_version(PROGRAM_ID) != self._program.version:
                self._program = Program.from_envelopes(self.store.select_deal_rows(PROGRAM_ID))
            self._program_checked = checked
        return self._program

    def policy_book(self) -> PolicyBook:
        """Every instance judges by the versions on the ledger, and by nothing else."""
        return self.program().book

    def _decide_adoption(self, command: Command, ctx: Context,
                         program: Program) -> tuple[NewEvent, Program]:
        """The ``PolicyAdopted`` event of ``command``, and the program with it."""
        version = PolicyVersion.from_data(command.data)
        program.check_adoption(version, self.clock().astimezone(UTC).date(),
                               retroactive=command.retroactive)
        state = {
            "event_id": str(uuid.uuid4()), "data": version.normal_form(),
            "occurred_at": None, "recorded_at": None,  # occurred_at = recorded_at (SPEC)
            "actor": ctx.actor, "source": ctx.source, "correlation_id": ctx.correlation_id,
            "idempotency_key": ctx.idempotency_key, "policy_version": version.id,
            "prev_hash": None, "hash": None,
        }
        event = NewEvent(PROGRAM_ID, program.version + 1, POLICY_ADOPTED_TOPIC, state)
        return event, program.adopting(version)

    def adopt_on_start(self, from_file: Sequence[PolicyVersion] = ()) -> list[str]:
        """At ``serve`` or ``project``: adopt the shipped versions on an empty program
        stream (once, even with concurrent starts), then the file's versions not yet on the
        ledger. A file version whose id is taken with other content, or that breaks the
        adoption rules (past dates are allowed while the ledger holds no deal event), stops
        the start. Returns the ids adopted."""
        adopted: list[str] = []
        system = Context(actor=SYSTEM)
        if self.program(fresh=True).version == 0:
            commands = [Command(POLICY_ADOPTED, v.normal_form(), retroactive=True)
                        for v in SHIPPED]
            try:
                if self._adopt_once(commands, system):
                    adopted += [v.id for v in SHIPPED]
            except RuleViolation:  # a concurrent start adopted them first
                if self.program(fresh=True).version == 0:
                    raise
        for version in from_file:
            if self._adopt_from_file(version, system):
                adopted.append(version.id)
        return adopted

    def _adopt_from_file(self, version: PolicyVersion, system: Context) -> bool:
        """Adopt a bootstrap file's version unless the ledger has it already; a start
        racing this one may adopt it first."""
        while True:
            on_ledger = self.program(fresh=True).book.by_id(version.id)
            if on_ledger is not None:
                if on_ledger.normal_form() != version.normal_form():
                    raise PolicyRefused(
                        "policy_file_conflict",
                        f"LEDGER_POLICY_FILE: policy {version.id!r} is on the ledger with "
                        "other content; a version never changes once adopted", status=409)
                return False
            retroactive = not self.store.has_events_besides(PROGRAM_ID)
            try:
                if self._adopt_once([Command(POLICY_ADOPTED, version.normal_form(),
                                             retroactive=retroactive)], system):
                    return True
            except RuleViolation as e:
                if self.program(fresh=True).book.by_id(version.id) is None:
                    raise PolicyRefused(e.code, f"LEDGER_POLICY_FILE: policy {version.id!r} "
                                                f"cannot be adopted: {e.detail}",
                                        status=e.status) from None

    def _adopt_once(self, commands: list[Command], ctx: Context) -> bool:
        """Append the adoptions unless a concurrent start appended the same first."""
        events, _ = self._decide(commands, ctx)
        try:
            self.store.append(events, None)
        except StreamConflict:
            return False
        self._appended(events)
        return True

    def _appended(self, events: Sequence[NewEvent]) -> None:
        if any(ev.deal_id == PROGRAM_ID for ev in events):
            self._program_checked = -1.0  # this instance judges by a new adoption at once
        for notify in self.on_append:
            notify()

    def policies(self) -> dict[str, Any]:
        """``GET /v1/policies``: every adopted version, and the one in force now."""
        program = self.program()
        return {
            "policies": [{**a.version.normal_form(), "data": a.version.normal_form(),
                          "adopted_at": a.adopted_at, "adopted_by": a.adopted_by,
                          "hash": a.hash, "event_id": a.event_id, "position": a.position,
                          "version": a.stream_version}
                         for a in sorted(program.adoptions,
                                         key=lambda a: a.version.effective_from)],
            "in_force": program.book.at(self.clock()).id,
        }

    def _exists(self, deal_id: UUID) -> bool:
        _may_block()
        return bool(self.store.select_events(deal_id, limit=1))

    def _take_due_snapshots(self, touched: dict[UUID, tuple[int, int]]) -> None:
        """Hand each deal whose version passed a multiple of the interval to the
        snapshotter: the write is acknowledged without waiting for its snapshot."""
        interval = self.snapshot_interval
        for deal_id, (before, after) in touched.items():
            if after // interval > before // interval:
                self.snapshotter.due(deal_id, (after // interval) * interval)

    def _snapshot(self, deal_id: UUID, version: int) -> None:
        try:
            self.take_snapshot(deal_id, version=version)
        except Exception:  # a snapshot only speeds loading up; the events are saved
            logger.warning("snapshot of %s at %s not taken", deal_id, version, exc_info=True)

    # ---- reads --------------------------------------------------------------------------

    def load(self, deal_id: UUID, version: int | None = None) -> Deal:
        if deal_id == PROGRAM_ID:  # the program stream is not a deal
            raise NotFound(f"deal {deal_id} not found")
        _may_block()
        try:
            deal: object = self.repository.get(deal_id, version=version)
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
        newer = _advance(deal, self.events.get(deal.id, gt=deal.version))
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

