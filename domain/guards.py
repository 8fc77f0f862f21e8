"""Facts across deals that a decision reads, and the guards that keep them exact.

Three rules read across deals: the program's limits (``DealFinanced``: the committed
total, overall and by country, is the sum over financed deals of committed − cancelled),
congressional notice (an approving ``BoardVoted`` adds up the approvals of the other
long-term deals with the same buyer) and license numbers (``CommerceLicenseApproved``:
one license, one deal). A decision reads them as ``Across``, loaded with the
version of each guard it read; the write that follows carries ``GuardWrites``: what it
adds to a total, which approval rows it puts or removes, and the versions it expects.
The store applies them in the commit's transaction and refuses a write whose expected
version moved (a conflict: the write is decided again on facts read again), so two racing
financings never both pass a limit, two racing approvals never both escape a notice,
and two racing approvals of one license number never both pass.
Guards are not events: they are rebuilt from the deals' states (``rebuild``).

What a deal contributes is a function of its state alone (``contribution``,
``approval_row``, ``license_numbers``): a decision diffs the state before and after its
events, and a rebuild sums the states, so both give the same guards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from domain.licensing import license_key, party_key
from domain.money import ZERO, format_money
from domain.state import DealState

COMMITTED = "committed"
NOTICE_WINDOW_DAYS = 365


def committed_in(country: str) -> str:
    """The guard of the committed total for one buyer country."""
    return f"{COMMITTED}:{country}"


def buyer_key(buyer: Mapping[str, str]) -> str:
    """Buyers are the same when their country is and their names are, compared without
    regard to case and to outer spaces."""
    return party_key(buyer)


def license_guard(number: str) -> str:
    """The guard of one license number: its members are the deals that hold it."""
    return f"license:{license_key(number)}"


def approvals_of(buyer: Mapping[str, str]) -> str:
    """The guard of the approvals of long-term deals with one buyer."""
    return f"approvals:{buyer_key(buyer)}"


@dataclass(frozen=True)
class Approval:
    meeting_date: str
    amount: Decimal

    def dump(self) -> dict[str, str]:
        return {"meeting_date": self.meeting_date, "amount": format_money(self.amount)}

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Approval:
        return cls(data["meeting_date"], Decimal(data["amount"]))


def contribution(state: DealState | None) -> Decimal:
    """What a deal adds to the program's committed total."""
    if state is None or not state.financed:
        return ZERO
    return state.committed - state.cancelled


def approval_row(state: DealState | None) -> Approval | None:
    """A long-term deal whose latest vote approves it, unless cancelled before financing,
    counts toward its buyer's notice."""
    if state is None or state.term != "long" or state.closed or state.board_vote is None:
        return None
    vote = state.board_vote
    if vote["decision"] != "approved":
        return None
    return Approval(vote["meeting_date"], Decimal(vote["approved_amount"]))


@dataclass
class GuardWrites:
    """What one write does to the guards: ``expect`` (guard -> the version read),
    ``add`` (guard -> an amount added to its total), ``put`` ((guard, member) -> the
    member's row, or None to remove it). A guard that is added to or put into gets a new
    version."""

    expect: dict[str, int] = field(default_factory=dict)
    add: dict[str, Decimal] = field(default_factory=dict)
    put: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.expect or self.add or self.put)

    def touched(self) -> set[str]:
        return {*self.expect, *self.add, *(guard for guard, _ in self.put)}


@dataclass
class Across:
    """The guards a decision read: each one's version, the totals, the approval rows.
    A guard that was not read is not known (``KeyError``): the application loads what
    the commands need."""

    versions: dict[str, int] = field(default_factory=dict)
    totals: dict[str, Decimal] = field(default_factory=dict)
    members: dict[str, dict[str, Approval]] = field(default_factory=dict)
    holders: dict[str, set[str]] = field(default_factory=dict)
    writes: GuardWrites = field(default_factory=GuardWrites)
    whole: bool = False  # every guard is here: one not read is empty (a world of its own)

    def committed(self, country: str | None = None) -> Decimal:
        name = COMMITTED if country is None else committed_in(country)
        self._read(name)
        return self.totals.get(name, ZERO)

    def license_holders(self, number: str) -> list[str]:
        """The deals that hold license ``number``."""
        name = license_guard(number)
        self._read(name)
        return sorted(self.holders.get(name, ()))

    def approvals(self, buyer: Mapping[str, str], except_deal: str) -> dict[str, Approval]:
        name = approvals_of(buyer)
        self._read(name)
        return {d: a for d, a in self.members.get(name, {}).items() if d != except_deal}

    def _read(self, name: str) -> None:
        if name not in self.versions:
            if self.whole:
                return
            raise KeyError(f"guard {name!r} was not loaded for this decision")
        self.writes.expect.setdefault(name, self.versions[name])

    def record(self, deal_id: str, buyer: Mapping[str, str], before: View, after: View
               ) -> None:
        """A deal's change from ``before`` to ``after`` (each its ``view``): what it does
        to the guards, both here (for the next command of the write) and in ``writes``."""
        delta = after[0] - before[0]
        if delta:
            for name in (COMMITTED, committed_in(buyer["country"])):
                self.totals[name] = self.totals.get(name, ZERO) + delta
                self.writes.add[name] = self.writes.add.get(name, ZERO) + delta
        if before[1] != after[1]:
            name = approvals_of(buyer)
            rows = self.members.setdefault(name, {})
            if after[1] is None:
                rows.pop(deal_id, None)
            else:
                rows[deal_id] = after[1]
            self.writes.put[(name, deal_id)] = None if after[1] is None else after[1].dump()
        for number in sorted(after[2] - before[2]):
            name = license_guard(number)
            self.holders.setdefault(name, set()).add(deal_id)
            self.writes.put[(name, deal_id)] = {"license_number": number}


View = tuple[Decimal, Approval | None, frozenset[str]]
NOTHING: View = (ZERO, None, frozenset())


def view(state: DealState | None) -> View:
    """What a deal adds to the guards: to the committed totals, to its buyer's approvals,
    and the license numbers it holds."""
    numbers = state.license_numbers if state is not None else frozenset()
    return contribution(state), approval_row(state), numbers


def within_window(one: str, other: str) -> bool:
    """Two meeting dates within 365 days of each other, both ends included."""
    return abs((date.fromisoformat(one) - date.fromisoformat(other)).days) <= NOTICE_WINDOW_DAYS


def rebuild(states: Iterable[tuple[str, DealState]]
            ) -> tuple[dict[str, Decimal], dict[tuple[str, str], dict[str, Any]]]:
    """Every guard from the deals' states: the totals, the approval rows, the license
    numbers' holders (a number held by two deals approved before v3 stays on both)."""
    totals: dict[str, Decimal] = {COMMITTED: ZERO}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for deal_id, state in states:
        amount = contribution(state)
        if amount:
            for name in (COMMITTED, committed_in(state.buyer["country"])):
                totals[name] = totals.get(name, ZERO) + amount
        approval = approval_row(state)
        if approval is not None:
            rows[(approvals_of(state.buyer), deal_id)] = approval.dump()
        for number in state.license_numbers:
            rows[(license_guard(number), deal_id)] = {"license_number": number}
    return totals, rows
