"""Loading what the rules across deals read (SPEC v3: the program's limits, congressional
notice, license numbers), and rebuilding the guards that keep it exact (``domain.guards``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from domain.deal import Deal
from domain.guards import (
    COMMITTED,
    Across,
    Approval,
    approvals_of,
    committed_in,
    license_guard,
    rebuild,
)
from domain.program import PROGRAM_ID
from service.eventstore import LedgerRecorder
from service.ledger.commands import Command, deal_id_for

READS_ACROSS = frozenset({"DealFinanced", "BoardVoted", "CommerceLicenseApproved"})


def load_across(store: LedgerRecorder, commands: Sequence[Command],
                deals: Mapping[UUID, Deal]) -> Across:
    """The guards the commands' rules read across deals, as stored now: the committed
    totals a financing is limited by, the approvals of a voted deal's buyer. Each guard's
    version is read before its members, so the commit can tell whether they moved since.
    ``deals``: the deals loaded for the commands (a deal applied for in the same write is
    read from its command)."""
    totals: set[str] = set()
    member_guards: set[str] = set()
    applied = {deal_id_for(c.data["application_number"]): c.data for c in commands
               if c.type == "DealApplied" and isinstance(c.data.get("application_number"), str)}
    numbers: set[str] = set()
    for command in commands:
        if command.type not in READS_ACROSS:
            continue
        if command.type == "CommerceLicenseApproved":
            number = command.data.get("license_number")
            if isinstance(number, str):
                numbers.add(license_guard(number))
            continue
        deal_id = command.target()
        if deal_id is None:
            continue  # names no deal: refused before any rule reads it
        deal = deals.get(deal_id)
        buyer = deal.buyer if deal is not None else (applied.get(deal_id) or {}).get("buyer")
        if not isinstance(buyer, dict):
            continue  # not found, or not valid: refused before any rule reads it
        if command.type == "DealFinanced":
            totals |= {COMMITTED, committed_in(buyer["country"])}
        else:
            member_guards.add(approvals_of(buyer))
    if not totals and not member_guards and not numbers:
        return Across()
    stored = store.read_guards(totals | member_guards | numbers)
    across = Across(versions={n: g.version for n, g in stored.items()},
                    totals={n: stored[n].total for n in totals})
    for name in member_guards:
        across.members[name] = {member: Approval.load(data)
                                for member, data in store.read_members(name).items()}
    for name in numbers:
        across.holders[name] = set(store.read_members(name))
    return across


def rebuild_guards(store: LedgerRecorder, load: Callable[[UUID], Deal]) -> int:
    """Every guard from the deals as the log folds them (``load``), under the write lock
    (``migrate`` and ``import``). How many deals were read."""
    counted = 0

    def build() -> Any:
        nonlocal counted
        states = [(str(deal_id), load(deal_id))
                  for deal_id in store.streams_between(0, store.head()) if deal_id != PROGRAM_ID]
        counted = len(states)
        return rebuild(states)

    store.replace_guards(build)
    return counted
