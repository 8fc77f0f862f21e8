"""The program stream: the policy versions on the ledger, read and adopted."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from domain.errors import LedgerError, RuleViolation
from domain.policy import SHIPPED, PolicyBook, PolicyVersion
from domain.program import POLICY_ADOPTED, PROGRAM_ID, Program
from service.eventstore import LedgerRecorder
from service.eventstore.types import NewEvent, StreamConflict
from service.ledger.commands import SYSTEM, Clock, Command, Context
from service.ledger.decide import Facts, decide

POLICY_REFRESH_SECONDS = 0.5  # an adoption on another instance is in force here within 1 s


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
