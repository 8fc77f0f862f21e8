"""``DealFinanced``: the board's approval, the amount, the instrument and the maturity.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from domain.errors import RuleViolation
from domain.rules.common import Judgement, check_at_most, check_within_years
from domain.state import DealState


def check_board_approved(deal: DealState) -> None:
    """``board_approval_required``, then ``board_approval_stale`` (v3: an amendment went
    beyond the terms the approval covered)."""
    if deal.board_status not in ("approved", "stale"):
        raise RuleViolation(
            "board_approval_required", f"the board's latest decision is {deal.board_status}"
        )
    if deal.board_status == "stale":
        covered = deal.board_terms or {}
        saw = ", ".join(f"{key} {value}" for key, value in covered.items())
        raise RuleViolation(
            "board_approval_stale",
            f"the board's approval covered {saw}; the terms were amended beyond them "
            "since: a new approving vote is needed")


def check_program(deal: DealState, data: Mapping[str, Any], judgement: Judgement) -> None:
    """v3: ``program_not_authorized`` (no authorization in force on the event's date or
    on the day it is recorded), ``program_limit_exceeded``, ``country_limit_exceeded``
    (the committed total plus this amount, against the authorization in force today)."""
    occurred = date.fromisoformat(judgement.occurred_on)
    today = judgement.today
    then = judgement.program.authorization_on(occurred)
    now = judgement.program.authorization_on(today)
    if then is None or now is None:
        missing = occurred if then is None else today
        raise RuleViolation(
            "program_not_authorized",
            f"no program authorization is in force on {missing}: the board authorizes the "
            "program (POST /v1/program/authorizations) before deals are financed")
    amount = Decimal(data["amount"])
    committed = judgement.across.committed()
    check_at_most("program_limit_exceeded", "the committed total with this financing",
                  committed + amount, "the program's total_limit", now.total_limit)
    country = deal.buyer["country"]
    limit = now.country_limits.get(country)
    if limit is not None:
        check_at_most("country_limit_exceeded",
                      f"the committed total for {country} with this financing",
                      judgement.across.committed(country) + amount,
                      f"the program's limit for {country}", limit)


def check_amount_within_approval(deal: DealState, data: Mapping[str, Any]) -> None:
    amount = Decimal(data["amount"])
    check_at_most("amount_exceeds_board_approval", "amount", amount,
                   "the board's approved", deal.approved)
    check_at_most("amount_exceeds_board_approval", "amount", amount,
                   "the financed_amount applied for", deal.requested)


def check_instrument_matches(deal: DealState, data: Mapping[str, Any]) -> None:
    if data["instrument"] != deal.instrument:
        raise RuleViolation(
            "instrument_mismatch",
            f"financing instrument {data['instrument']} differs from the deal's {deal.instrument}",
        )


def check_maturity(deal: DealState, data: Mapping[str, Any], occurred_on: str) -> None:
    """After the financing date, and no later than that date plus the tenor plus a year."""
    check_within_years("maturity_outside_tenor", "final_maturity_date",
                       data["final_maturity_date"], occurred_on, deal.tenor_years + 1,
                       f"the tenor of {deal.tenor_years} years plus one")
