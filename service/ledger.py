"""The use cases: one eventsourcing Application that decides and records events.

Routes call these methods with plain values; the methods return plain values.
Every write goes through ``submit`` with commands the API layer has already
schema-checked: decide (the clock, existence, version, business rules — the
rules in the domain), then one append that also binds the idempotency key.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import EventStore
from eventsourcing.sqlite import SQLiteAggregateRecorder

from domain.chain import format_timestamp
from domain.deal import Deal, EventMeta
from domain.errors import LedgerError, NotFound, RuleViolation, VersionConflict
from domain.policy import PolicyBook
from service.eventstore import LedgerRecorder
from service.eventstore.common import SNAPSHOTS_TABLE
from service.eventstore.types import (
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


def deal_id_for(application_number: str) -> UUID:
    """Application numbers are unique through a deterministic deal id (uuid5)."""
    return uuid.uuid5(DEAL_NAMESPACE, application_number)


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


Render = Callable[[list[dict[str, Any]]], StoredResponse]
RenderError = Callable[[LedgerError], StoredResponse]


def binds_rejection(error: LedgerError) -> bool:
    """Business-rule rejections (422 with a rule code) are bound to the key; nothing else."""
    return error.status == 422 and error.code != "validation_error"


class Ledger(Application[UUID]):
    name = "Ledger"

    def __init__(self, env: dict[str, str], policies: PolicyBook, snapshot_interval: int = 100):
        self.policies = policies
        self.snapshot_interval = snapshot_interval
        self.on_append: list[Callable[[], None]] = []  # e.g. wake the projection runner
        super().__init__(env=env)

    @property
    def store(self) -> LedgerRecorder:
        return self.recorder  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the group committer (after it drained), then the library's connections."""
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
        while True:
            try:
                events, touched = self._decide(commands, ctx, check_new=not optimistic)
            except LedgerError as error:
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
            for notify in self.on_append:
                notify()
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
        self, commands: Sequence[Command], ctx: Context, check_new: bool = True
    ) -> tuple[list[NewEvent], dict[UUID, tuple[int, int]]]:
        deals: dict[UUID, Deal] = {}
        touched: dict[UUID, tuple[int, int]] = {}
        events: list[NewEvent] = []
        batch = len(commands) > 1 or any(c.prefix for c in commands)
        for index, command in enumerate(commands):
            try:
                deal = self._decide_one(command, ctx, deals, check_new)
            except LedgerError as error:
                if batch:
                    error.extra["index"] = index
                raise
            start = touched.get(deal.id, (deal.version - 1, 0))[0]
            for ev in deal.collect_events():
                stored = self.mapper.to_stored_event(ev)
                state = json.loads(stored.state)
                if command.occurred_at is None:
                    state["occurred_at"] = None  # the store makes it equal to recorded_at
                events.append(NewEvent(deal.id, ev.originator_version, stored.topic, state))
            touched[deal.id] = (start, deal.version)
        return events, touched

    def _decide_one(
        self, command: Command, ctx: Context, deals: dict[UUID, Deal], check_new: bool = True
    ) -> Deal:
        type_name, data = command.type, command.data
        occurred_at = self._occurred_at(command)
        meta = EventMeta(
            event_id=str(uuid.uuid4()),
            occurred_at=format_timestamp(occurred_at),
            actor=ctx.actor,
            source=ctx.source,
            correlation_id=ctx.correlation_id,
            idempotency_key=ctx.idempotency_key,
        )
        policy = self.policies.at(occurred_at)
        if type_name == "DealApplied":
            deal_id = deal_id_for(data["application_number"])
            if command.expected_version not in (None, 0):
                raise VersionConflict(
                    f"expected version {command.expected_version} but a new deal starts at 0",
                    current_version=0,
                )
            deal = Deal.apply_for(deal_id, data, meta, policy)
            if deal_id in deals or (check_new and self._exists(deal_id)):
                raise RuleViolation(
                    "duplicate_application",
                    f"application_number {data['application_number']} is already on the ledger",
                    status=409,
                    deal_id=str(deal_id),
                )
            deals[deal_id] = deal
            return deal
        deal = self._load_for_command(command, deals)
        if command.expected_version is not None and command.expected_version != deal.version:
            raise VersionConflict(
                f"expected version {command.expected_version}, deal is at {deal.version}",
                current_version=deal.version,
            )
        deal.handle(type_name, data, meta, policy)
        return deal

    def _occurred_at(self, command: Command) -> datetime:
        """When the event occurred, judged by this ledger's clock (SPEC §3)."""
        now = datetime.now(UTC)
        moment = command.occurred_at or now
        if moment > now + FUTURE_TOLERANCE:
            raise InvalidRequest(
                [{"field": command.prefix + "occurred_at",
                  "message": "more than 5 minutes in the future"}]
            )
        return moment

    def _load_for_command(self, command: Command, deals: dict[UUID, Deal]) -> Deal:
        deal_id = command.deal_id
        if deal_id is None and command.application_number is not None:
            deal_id = deal_id_for(command.application_number)
        if deal_id is None:
            raise InvalidRequest(
                [{"field": command.prefix + "deal_id",
                  "message": "deal_id or application_number required"}]
            )
        if deal_id not in deals:
            deals[deal_id] = self.load(deal_id)
        return deals[deal_id]

    def _exists(self, deal_id: UUID) -> bool:
        return bool(self.store.select_events(deal_id, limit=1))

    def _take_due_snapshots(self, touched: dict[UUID, tuple[int, int]]) -> None:
        interval = self.snapshot_interval
        for deal_id, (before, after) in touched.items():
            if after // interval > before // interval:
                try:
                    self.take_snapshot(deal_id, version=(after // interval) * interval)
                except Exception:  # a snapshot only speeds loading up; the events are saved
                    logger.warning("snapshot of %s at %s not taken", deal_id, after, exc_info=True)

    # ---- reads --------------------------------------------------------------------------

    def load(self, deal_id: UUID, version: int | None = None) -> Deal:
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
        deal = self.load(deal_id, version)
        if version is not None and deal.version < version:
            raise NotFound(f"deal {deal_id} has no version {version} (at {deal.version})")
        return deal.view()

    def deal_events(self, deal_id: UUID) -> list[dict[str, Any]]:
        events = self.store.select_deal_rows(deal_id)
        if not events:
            raise NotFound(f"deal {deal_id} not found")
        return events

    # shadows the library's notification log, which nothing here reads (see select_log)
    def log(self, after: int, limit: int) -> tuple[list[dict[str, Any]], int]:  # type: ignore[override]
        events = self.store.select_log(after, limit)
        next_after = events[-1]["position"] if events else after
        return events, next_after

