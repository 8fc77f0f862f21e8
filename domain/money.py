"""Money figures and money events: what each money event adds, and what a reversal needs.

A deal's state keeps running totals only, never a copy of its money events: reversing one
takes its amounts back out of the totals, so whoever folds an ``EventReversed`` supplies
its target, the event as stored (``ReversalTarget``), read by ``(deal_id, version)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

ZERO = Decimal("0.00")
# every money figure of a deal's state, in the order the view lists them
FIGURES = ("requested", "approved", "committed", "disbursed", "principal_repaid",
           "interest_received", "claims_paid", "recovered", "cancelled", "outstanding",
           "undisbursed", "exposure")
# what each money event adds to which figure: (figure, payload field)
MONEY_EFFECTS: dict[str, tuple[tuple[str, str], ...]] = {
    "FundsDisbursed": (("disbursed", "amount"),),
    "RepaymentReceived": (("principal_repaid", "principal"), ("interest_received", "interest")),
    "ClaimPaid": (("claims_paid", "amount"),),
    "RecoveryReceived": (("recovered", "amount"),),
}
REVERSAL = "EventReversed"


def format_money(value: Decimal) -> str:
    """A money amount as a string with exactly two places."""
    return f"{value:.2f}"


def money_effects(type_name: str, data: Mapping[str, Any]) -> dict[str, str] | None:
    """What a money event of ``type_name`` with payload ``data`` adds: ``{"type":
    type_name, figure: amount, ...}``, amounts as the payload's strings; None for an event
    that is not a money event."""
    fields = MONEY_EFFECTS.get(type_name)
    if fields is None:
        return None
    return {"type": type_name, **{figure: data[field] for figure, field in fields}}


@dataclass(frozen=True)
class ReversalTarget:
    """The event an ``EventReversed`` names, as stored: its deal version, type name,
    payload and the actor who posted it."""

    version: int
    type: str
    data: Mapping[str, Any]
    actor: str

    @property
    def effects(self) -> dict[str, str] | None:
        return money_effects(self.type, self.data)

    @classmethod
    def from_envelope(cls, envelope: Mapping[str, Any]) -> ReversalTarget:
        """The target an event envelope (SPEC's shape: ``version``, ``type``, ``data``,
        ``actor``) describes."""
        return cls(int(envelope["version"]), envelope["type"], envelope["data"],
                   envelope["actor"])


class MissingReversalTarget(LookupError):
    """An ``EventReversed`` was folded without its target: a replayer's mistake, never a
    rule (a stored reversal always names an earlier event of its deal)."""

    def __init__(self, version: int) -> None:
        super().__init__(f"the target of a reversal (version {version}) was not supplied")
        self.version = version
