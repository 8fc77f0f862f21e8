"""``BoardVoted``: quorum, counts, decision and approved amount.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from domain.errors import RuleViolation
from domain.rules.common import check_at_most
from domain.state import DealState

QUORUM = 3
DIRECTORS = 5


def _votes(data: Mapping[str, Any]) -> tuple[int, int, int]:
    return data["votes_for"], data["votes_against"], data["abstentions"]


def check_quorum(data: Mapping[str, Any]) -> None:
    cast = sum(_votes(data))
    if cast < QUORUM:
        raise RuleViolation(
            "no_quorum", f"{cast} directors voted or abstained; the quorum is {QUORUM}"
        )


def check_vote_count(data: Mapping[str, Any]) -> None:
    cast = sum(_votes(data))
    if cast > DIRECTORS:
        raise RuleViolation(
            "too_many_votes", f"{cast} votes and abstentions from a board of {DIRECTORS}"
        )


def check_decision_matches_votes(data: Mapping[str, Any]) -> None:
    votes_for, votes_against, _ = _votes(data)
    carried = votes_for > votes_against
    if (data["decision"] == "approved") != carried:
        raise RuleViolation(
            "decision_contradicts_votes",
            f"decision {data['decision']} with {votes_for} for and {votes_against} against",
        )


def check_approved_amount(deal: DealState, data: Mapping[str, Any]) -> None:
    if data["decision"] == "approved":
        check_at_most("approved_amount_exceeds_request", "approved_amount",
                       Decimal(data["approved_amount"]), "the requested", deal.requested)
