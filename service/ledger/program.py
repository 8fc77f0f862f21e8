"""The program stream: the policy versions on the ledger, read, proposed and adopted; the
program's authorization and the committed totals it limits."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from domain.errors import LedgerError, RuleViolation
from domain.guards import COMMITTED
from domain.money import ZERO, format_money
from domain.policy import SHIPPED, PolicyBook, PolicyVersion
from domain.program import POLICY_ADOPTED, POLICY_PROPOSED, PROGRAM_ID, Program
from service.eventstore import LedgerRecorder
from service.eventstore.types import NewEvent, StreamConflict
from service.ledger.commands import SYSTEM, Clock, Command, Context
from service.ledger.decide import Facts, decide

POLICY_REFRESH_SECONDS = 0.5  # an adoption on another instance is in force here within 1 s
FILE_AUTHORITY = "LEDGER_POLICY_FILE"


class PolicyRefused(LedgerError):
    """A policy version the bootstrap file asks for cannot be adopted."""


class ProgramUseCases:
    """The ledger's policy use cases (a part of ``Ledger``)."""

    clock: Clock
    on_append: list[Callable[[], None]]
    _program: Program
    _program_checked: float

    @property
    def store(self) -> LedgerRecorder:
        raise NotImplementedError

    def program(self, *, fresh: bool = False) -> Program:
        """The adopted policy versions; re-read when the stream has grown, checked at most
        every ``POLICY_REFRESH_SECONDS`` (or now, when ``fresh``)."""
        checked = time.monotonic()
        if fresh or checked - self._program_checked > POLICY_REFRESH_SECONDS:
            if self.store.stream_version(PROGRAM_ID) != self._program.version:
                self._program = Program.from_envelopes(self.store.select_deal_rows(PROGRAM_ID))
            self._program_checked = checked
        return self._program

    def program_is_current(self) -> bool:
        """Whether ``program()`` answers without reading the store."""
        return time.monotonic() - self._program_checked <= POLICY_REFRESH_SECONDS

    def policy_book(self) -> PolicyBook:
        """Every instance judges by the versions on the ledger, and by nothing else."""
        return self.program().book

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
        """Adopt a bootstrap file's version unless the ledger has it already (while the
        ledger holds no deal event), else propose it for an admin to approve (v3: four
        eyes); a start racing this one may adopt or propose it first."""
        while True:
            program = self.program(fresh=True)
            proposed = program.proposals.get(version.id)
            on_ledger = program.book.by_id(version.id) or (
                PolicyVersion.from_data(proposed.data) if proposed else None)
            if on_ledger is not None:
                if on_ledger.normal_form() != version.normal_form():
                    raise PolicyRefused(
                        "policy_file_conflict",
                        f"LEDGER_POLICY_FILE: policy {version.id!r} is on the ledger with "
                        "other content; a version never changes once adopted", status=409)
                return False
            retroactive = not self.store.has_events_besides(PROGRAM_ID)
            command = (Command(POLICY_ADOPTED, version.normal_form(), retroactive=True)
                       if retroactive else
                       Command(POLICY_PROPOSED, {**version.normal_form(),
                                                 "authority": FILE_AUTHORITY}))
            try:
                if self._adopt_once([command], system):
                    return True
            except RuleViolation as e:
                program = self.program(fresh=True)
                if program.book.by_id(version.id) is None and version.id not in program.proposals:
                    raise PolicyRefused(e.code, f"LEDGER_POLICY_FILE: policy {version.id!r} "
                                                f"cannot be adopted: {e.detail}",
                                        status=e.status) from None

    def _adopt_once(self, commands: list[Command], ctx: Context) -> bool:
        """Append the adoptions unless a concurrent start appended the same first."""
        decision = decide(commands, ctx, Facts(self.program(fresh=True)), self.clock())
        events = [NewEvent(d.deal_id, d.version, d.topic, d.state) for d in decision.events]
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
        """``GET /v1/policies``: every adopted version, the one in force now, and the
        proposals still pending."""
        program = self.program()
        return {
            "policies": [{**a.version.normal_form(), **_approval(a.data), "data": dict(a.data),
                          "adopted_at": a.adopted_at, "adopted_by": a.adopted_by,
                          "hash": a.hash, "event_id": a.event_id, "position": a.position,
                          "version": a.stream_version}
                         for a in sorted(program.adoptions,
                                         key=lambda a: a.version.effective_from)],
            "in_force": program.book.at(self.clock()).id,
            "proposed": [{**PolicyVersion.from_data(p.data).normal_form(), "data": dict(p.data),
                          "authority": p.data.get("authority"), "proposed_at": p.recorded_at,
                          "proposed_by": p.actor, "hash": p.hash, "event_id": p.event_id,
                          "position": p.position, "version": p.stream_version}
                         for p in program.proposals.values()],
        }

    def program_status(self) -> dict[str, Any]:
        """``GET /v1/program``: the authorization in force today, whether the program is
        suspended, and the committed totals (exact: read from the guards) against its
        limits."""
        program = self.program(fresh=True)
        today = self.clock().date()
        authorization = program.authorization_on(today)
        totals = self.store.committed_totals()
        committed = totals.get(COMMITTED, ZERO)
        limits = dict(authorization.country_limits) if authorization else {}
        countries = sorted({*(n.split(":", 1)[1] for n in totals if n != COMMITTED),
                            *limits})

        def row(country: str) -> dict[str, Any]:
            spent = totals.get(f"{COMMITTED}:{country}", ZERO)
            limit = limits.get(country)
            return {"country": country, "committed": format_money(spent),
                    "limit": None if limit is None else format_money(limit),
                    "available": None if limit is None else format_money(limit - spent)}

        return {
            "authorization": None if authorization is None else {
                **authorization.record.data, "recorded_at": authorization.record.recorded_at,
                "recorded_by": authorization.record.actor, "hash": authorization.record.hash},
            "suspended": program.suspended_on(today),
            "committed": format_money(committed),
            "total_limit": (None if authorization is None
                            else format_money(authorization.total_limit)),
            "available": (None if authorization is None
                          else format_money(authorization.total_limit - committed)),
            "by_country": [row(c) for c in countries],
        }


def _approval(data: Any) -> dict[str, Any]:
    """What an approved proposal's adoption adds to the version: its authority, proposer,
    proposal hash and comment."""
    return {k: data[k] for k in ("authority", "proposed_by", "proposal_hash", "comment")
            if k in data}
