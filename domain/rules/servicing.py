"""Money after financing: disbursements, repayments, claims, recoveries, reversals and
cancellations.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from domain.errors import RuleViolation
from domain.money import MONEY_EFFECTS, ZERO, ReversalTarget, format_money
from domain.rules.common import check_at_most
from domain.state import DealState


def check_disbursement(deal: DealState, data: Mapping[str, Any]) -> None:
    amount = Decimal(data["amount"])
    available = deal.committed - deal.cancelled
    if deal.disbursed + amount > available:
        raise RuleViolation(
            "disbursement_exceeds_commitment",
            f"disbursing {format_money(amount)} after {format_money(deal.disbursed)} exceeds the "
            f"commitment {format_money(deal.committed)} less cancelled "
            f"{format_money(deal.cancelled)} ({format_money(available)})",
        )


def check_repayment(deal: DealState, data: Mapping[str, Any]) -> None:
    check_at_most("repayment_exceeds_outstanding", "principal", Decimal(data["principal"]),
                   "outstanding", deal.outstanding)


def check_claims_applicable(deal: DealState) -> None:
    if deal.instrument == "direct_loan":
        raise RuleViolation(
            "claims_not_applicable", "claims are paid on insurance and guarantees, not direct loans"
        )


def check_claim(deal: DealState, data: Mapping[str, Any]) -> None:
    check_at_most("claim_exceeds_outstanding", "claim", Decimal(data["amount"]),
                   "outstanding", deal.outstanding)


def check_recovery(deal: DealState, data: Mapping[str, Any]) -> None:
    if deal.claims_paid <= 0:
        raise RuleViolation("no_claim_to_recover", "no claim was paid on this deal")
    check_at_most("recovery_exceeds_claims", "recoveries", deal.recovered
                   + Decimal(data["amount"]), "the claims paid", deal.claims_paid)


def check_reversal_target(deal: DealState, version: int,
                          target: ReversalTarget | None) -> dict[str, str]:
    """``target``: the deal's event at ``version`` as stored, None when it has none. The
    reversed money event's ``money_effects``."""
    if target is not None and target.version != version:
        raise ValueError(f"the target of a reversal of version {version} is {target.version}")
    effects = None if target is None else target.effects
    if effects is None:
        raise RuleViolation(
            "reversal_target_invalid",
            f"version {version} of this deal is not a money event "
            f"({', '.join(MONEY_EFFECTS)}) that could be reversed")
    if version in deal.reversed_versions:
        raise RuleViolation("already_reversed", f"version {version} was already reversed")
    return effects


def check_reversal_four_eyes(target: ReversalTarget, actor: str,
                             data: Mapping[str, Any]) -> None:
    """v3: ``reversal_by_same_actor`` (another key than the one that posted the event
    reverses it), then ``reversal_evidence_required`` (a disbursement is reversed on the
    bank's reference for the returned funds)."""
    if target.actor == actor:
        raise RuleViolation(
            "reversal_by_same_actor",
            f"version {target.version} was posted by {actor!r}: another key must reverse it")
    if target.type == "FundsDisbursed" and "return_reference" not in data:
        raise RuleViolation(
            "reversal_evidence_required",
            f"reversing the disbursement at version {target.version} needs "
            "return_reference: the bank's reference for the returned funds")


def check_reversal_keeps_balances(deal: DealState, version: int,
                                  target: Mapping[str, str]) -> None:
    """``target``: the reversed money event's ``money_effects``."""
    changed = deal.reversal_effects(target)
    f = {name: changed.get(name, getattr(deal, name))
         for name in ("disbursed", "principal_repaid", "claims_paid", "recovered")}
    broken = [name for name, value in changed.items() if value < ZERO]
    if f["disbursed"] - f["principal_repaid"] - f["claims_paid"] < ZERO:
        broken.append("outstanding")
    if f["recovered"] > f["claims_paid"]:
        broken.append("recovered above claims_paid")
    if broken:
        raise RuleViolation(
            "reversal_breaks_balances",
            f"reversing version {version} ({target['type']}) would leave "
            f"{', '.join(broken)} out of balance: reverse the later events first")


def check_cancellation(deal: DealState, data: Mapping[str, Any]) -> None:
    if not deal.financed:
        if "amount" in data:
            raise RuleViolation(
                "amount_not_allowed_before_financing",
                "a cancellation before financing closes the whole deal; omit amount",
            )
        return
    undisbursed = deal.undisbursed
    amount = Decimal(data["amount"]) if "amount" in data else undisbursed
    if undisbursed <= 0 or amount > undisbursed:
        raise RuleViolation(
            "cancellation_exceeds_undisbursed",
            f"cancelling {format_money(amount)} exceeds the undisbursed commitment "
            f"{format_money(undisbursed)}",
        )
