"""The decision: commands, the facts loaded for them and the clock -> the events to append,
or a refusal (raised as the domain's ``LedgerError``).

Pure: it reads no store, waits on nothing and keeps no state, so the same decision runs
on the event loop, on a worker thread, in a batch and in a unit test. Loading the facts
is the application's job.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.chain import format_timestamp
from domain.deal import Deal, EventMeta
from domain.errors import LedgerError, NotFound, RuleViolation, VersionConflict
from domain.guards import NOTHING, Across, GuardWrites, view
from domain.money import ReversalTarget
from domain.policy import PolicyVersion
from domain.program import (
    POLICY_ADOPTED,
    POLICY_PROPOSED,
    POLICY_WITHDRAWN,
    PROGRAM_AUTHORIZED,
    PROGRAM_ID,
    PROGRAM_SUSPENDED,
    PROGRAM_TYPES,
    Program,
    check_program_vote,
    check_suspension,
    topic_of,
)
from domain.rules import Judgement
from service.ledger.commands import Command, Context, InvalidRequest, deal_id_for

FUTURE_TOLERANCE = timedelta(minutes=5)
EVENT_REVERSED = "EventReversed"


@dataclass
class Facts:
    """What a decision reads. ``deals``: the deals the commands name, as loaded (the
    decision works on forks; a deal missing here is not on the ledger); ``program``: the
    program stream (policy versions, proposals, authorizations); ``existing``: new deal ids
    known to be taken already; ``reversal_targets``: the stored event each reversal names,
    by (deal, version); ``across``: the guards read for rules that look across deals."""

    program: Program
    deals: dict[UUID, Deal] = field(default_factory=dict)
    existing: set[UUID] = field(default_factory=set)
    reversal_targets: dict[tuple[UUID, int], ReversalTarget] = field(default_factory=dict)
    across: Across = field(default_factory=Across)


@dataclass
class Decided:
    """One event to append, as the store writes it (less what the commit stamps)."""

    deal_id: UUID
    version: int
    topic: str
    state: dict[str, Any]


@dataclass
class Decision:
    events: list[Decided] = field(default_factory=list)
    touched: dict[UUID, tuple[int, int]] = field(default_factory=dict)  # version before, after
    guards: GuardWrites = field(default_factory=GuardWrites)


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


def decide(commands: Sequence[Command], ctx: Context, facts: Facts, now: datetime) -> Decision:
    """The events of ``commands``, in order, as one write; the first refusal stops it
    (in a batch, naming the command's ``index``)."""
    decision = Decision(guards=facts.across.writes)
    deals: dict[UUID, Deal] = {}
    program = facts.program
    batch = len(commands) > 1 or any(c.prefix for c in commands)
    ids = EventIds(len(commands))
    # the forks keep their pending events to the end, so that a reversal may name an
    # event decided earlier in the same write (``Deal.handle`` looks there)
    taken: dict[UUID, int] = {}
    for index, command in enumerate(commands):
        try:
            if command.type in PROGRAM_TYPES:
                recorded, program = _program_event(command, ctx, program, now)
                decision.events.append(recorded)
                continue
            deal = _decide_one(command, ctx, facts, deals, now, ids)
        except LedgerError as error:
            if batch:
                error.extra["index"] = index
            raise
        start = decision.touched.get(deal.id, (deal.version - 1, 0))[0]
        pending = deal.pending_events
        for ev in pending[taken.get(deal.id, 0):]:
            assert isinstance(ev, Deal.Event)
            state = event_state(ev)
            if command.occurred_at is None:
                state["occurred_at"] = None  # the store makes it equal to recorded_at
            decision.events.append(Decided(deal.id, ev.originator_version,
                                           get_topic(type(ev)), state))
        taken[deal.id] = len(pending)
        decision.touched[deal.id] = (start, deal.version)
    return decision


def _judge(command: Command, ctx: Context, facts: Facts, now: datetime
           ) -> tuple[Judgement, str]:
    """When the event is judged and under which versions; its ``occurred_at`` text."""
    moment = command.occurred_at or now
    if moment > now + FUTURE_TOLERANCE:
        raise InvalidRequest(
            [{"field": command.prefix + "occurred_at",
              "message": "more than 5 minutes in the future"}]
        )
    book = facts.program.book
    return Judgement(moment, now, book.at(moment), book.at(now), ctx.actor, facts.program,
                     facts.across), format_timestamp(moment)


def _decide_one(command: Command, ctx: Context, facts: Facts, deals: dict[UUID, Deal],
                now: datetime, ids: Callable[[], str]) -> Deal:
    type_name, data = command.type, command.data
    judgement, occurred_at = _judge(command, ctx, facts, now)
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
        if deal_id in deals or deal_id in facts.existing:
            raise RuleViolation(
                "duplicate_application",
                f"application_number {data['application_number']} is already on the ledger",
                status=409,
                deal_id=str(deal_id),
            )
        deals[deal_id] = deal
        facts.across.record(str(deal_id), deal.buyer, NOTHING, view(deal))
        return deal
    deal = _deal_for(command, facts, deals)
    if command.expected_version is not None and command.expected_version != deal.version:
        raise VersionConflict(
            f"expected version {command.expected_version}, deal is at {deal.version}",
            current_version=deal.version,
        )
    target = (facts.reversal_targets.get((deal.id, data["version"]))
              if type_name == EVENT_REVERSED else None)
    before = view(deal)
    deal.handle(type_name, data, meta, judgement, target)
    facts.across.record(str(deal.id), deal.buyer, before, view(deal))
    return deal


def _deal_for(command: Command, facts: Facts, deals: dict[UUID, Deal]) -> Deal:
    """The deal ``command`` acts on: as this decision left it, or a fork of it as loaded."""
    deal_id = command.target()
    if deal_id is None:
        raise InvalidRequest(
            [{"field": command.prefix + "deal_id",
              "message": "deal_id or application_number required"}]
        )
    if deal_id not in deals:
        loaded = facts.deals.get(deal_id)
        if loaded is None or deal_id == PROGRAM_ID:
            raise NotFound(f"deal {deal_id} not found")
        deals[deal_id] = loaded.fork()
    return deals[deal_id]


def _program_event(command: Command, ctx: Context, program: Program,
                   now: datetime) -> tuple[Decided, Program]:
    """The program-stream event of ``command``, checked by its rules, and the program
    with it."""
    today = now.astimezone(UTC).date()
    data: dict[str, Any]
    if command.type == POLICY_PROPOSED:
        version = PolicyVersion.from_data(command.data)
        program.check_new(version, today)
        data = {**version.normal_form(), "authority": command.data["authority"]}
    elif command.type == POLICY_ADOPTED and command.approval:
        proposal = program.check_approval(command.data["id"], ctx.actor, today)
        data = {**proposal.data, "proposed_by": proposal.actor,
                "proposal_hash": proposal.hash, **_comment(command.data)}
    elif command.type == POLICY_ADOPTED:
        version = PolicyVersion.from_data(command.data)
        program.check_new(version, today, retroactive=command.retroactive)
        data = version.normal_form()
    elif command.type == POLICY_WITHDRAWN:
        program.pending(command.data["id"])
        data = {"id": command.data["id"], **_comment(command.data)}
    elif command.type == PROGRAM_AUTHORIZED:
        check_program_vote(command.data, today.isoformat())
        data = dict(command.data)
    else:
        assert command.type == PROGRAM_SUSPENDED
        check_suspension(command.data, today)
        data = dict(command.data)
    # an adoption names the version it adopts; any other event the one in force
    policy_version = (data["id"] if command.type == POLICY_ADOPTED
                      else program.book.at(now).id)
    state = {
        "event_id": str(uuid.uuid4()), "data": data,
        "occurred_at": None, "recorded_at": None,  # occurred_at = recorded_at (SPEC)
        "actor": ctx.actor, "source": ctx.source, "correlation_id": ctx.correlation_id,
        "idempotency_key": ctx.idempotency_key, "policy_version": policy_version,
        "prev_hash": None, "hash": None,
    }
    event = Decided(PROGRAM_ID, program.version + 1, topic_of(command.type), state)
    return event, program.recording(command.type, data, ctx.actor)


def _comment(data: dict[str, Any]) -> dict[str, Any]:
    return {"comment": data["comment"]} if data.get("comment") else {}
