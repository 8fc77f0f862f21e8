"""``DealFinanced``: the board's approval, the amount, the instrument and the maturity.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from domain.errors import RuleViolation
from domain.rules.common import check_at_most
from domain.state import DealState


def check_board_approved(deal: DealState) -> None:
    if deal.board_status != "approved":
        raise RuleViolation(
            "board_approval_required", f"the board's latest decision is {deal.board_status}"
        )


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
    start = date.fromisoformat(occurred_on)
    latest = _add_years(start, deal.tenor_years + 1)
    maturity = date.fromisoformat(data["final_maturity_date"])
    if not start < maturity <= latest:
        raise RuleViolation(
            "maturity_outside_tenor",
            f"final_maturity_date {maturity} must be after {start} and no later than {latest} "
            f"(the tenor of {deal.tenor_years} years plus one)")


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)
