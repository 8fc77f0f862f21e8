"""``BoardVoted``: the meeting, quorum, counts, decision, approved amount and congressional
notice; ``CongressionalNotified``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from domain.errors import RuleViolation
from domain.guards import within_window
from domain.money import ZERO, format_money
from domain.rules.common import Judgement, check_at_most
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


# -- v3: the meeting, and congressional notice ------------------------------------------


def check_meeting(deal: DealState, data: Mapping[str, Any], occurred_on: str) -> None:
    """``meeting_in_future``, ``meeting_already_recorded`` (409), ``meeting_out_of_order``."""
    meeting = data["meeting_date"]
    if meeting > occurred_on:
        raise RuleViolation("meeting_in_future",
                            f"meeting_date {meeting} is after the vote's date {occurred_on}: "
                            "a vote records a meeting that took place")
    if meeting in deal.meeting_dates:
        raise RuleViolation("meeting_already_recorded",
                            f"the deal already holds a vote of the meeting of {meeting}",
                            status=409)
    latest = deal.board_vote["meeting_date"] if deal.board_vote else None
    if latest is not None and meeting < latest:
        raise RuleViolation("meeting_out_of_order",
                            f"meeting_date {meeting} is before that of the deal's latest vote "
                            f"({latest})")


def check_congressional_notice(deal: DealState, deal_id: str, data: Mapping[str, Any],
                               judgement: Judgement) -> None:
    """An approval of a long-term deal whose financed amount, with the approvals of the
    buyer's other long-term deals within 365 days of this meeting, exceeds the notice
    threshold needs a notice to Congress, old enough, for at least the approved amount.
    The thresholds and notice periods of both policy versions apply: the stricter wins."""
    if data["decision"] != "approved" or deal.term != "long":
        return
    meeting = data["meeting_date"]
    others = judgement.across.approvals(deal.buyer, deal_id)
    total = deal.requested + sum((a.amount for a in others.values()
                                  if within_window(a.meeting_date, meeting)), ZERO)
    threshold = min(p.congressional_notice_threshold for p in judgement.compliance)
    if total <= threshold:
        return
    counted = len([a for a in others.values() if within_window(a.meeting_date, meeting)])
    notice = deal.notice
    if notice is None:
        raise RuleViolation(
            "congressional_notice_required",
            f"{format_money(total)} for this buyer within 365 days of {meeting} "
            f"(this deal's financed amount and {counted} other approval(s)) exceeds the "
            f"notice threshold {format_money(threshold)}: Congress must be notified first")
    days = max(p.notice_days for p in judgement.compliance)
    due = date.fromisoformat(notice["notified_on"]) + timedelta(days=days)
    if date.fromisoformat(meeting) < due:
        raise RuleViolation(
            "notice_period_not_elapsed",
            f"Congress was notified on {notice['notified_on']}: the board may approve from "
            f"{due} ({days} days later), not on {meeting}")
    check_at_most("notice_amount_exceeded", "approved_amount",
                  Decimal(data["approved_amount"]), "the notified amount",
                  Decimal(notice["amount"]))


def check_notice_date(data: Mapping[str, Any], occurred_on: str) -> None:
    if data["notified_on"] > occurred_on:
        raise RuleViolation("notice_in_future",
                            f"notified_on {data['notified_on']} is after the event's date "
                            f"{occurred_on}")
