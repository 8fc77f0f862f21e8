"""Parties and screening (SPEC v3): a screening's date, and the three party rules money
leaving EXIM answers right after the license gate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.errors import RuleViolation
from domain.licensing import screening_age
from domain.rules.common import Judgement
from domain.state import DealState

_NAMED = {"buyer": "the buyer", "end_user": "the end user"}


def check_screening_date(data: Mapping[str, Any], occurred_on: str) -> None:
    if data["list_date"] > occurred_on:
        raise RuleViolation(
            "screening_in_future",
            f"list_date {data['list_date']} is after the screening's date {occurred_on}")


def check_parties_screened(deal: DealState, judgement: Judgement) -> None:
    """``party_not_screened`` (the buyer's or the end user's; the buyer's serves both when
    the end user is the buyer), then ``denied_party`` (the latest screening against some
    list is a match), then ``party_screening_stale`` (the newest ``list_date`` among those
    latest screenings is more than ``screening_max_age_days`` before the event's date,
    under either policy version)."""
    latest = {party: deal.latest_screenings(party) for party, _ in deal.parties()}
    for party, screenings in latest.items():
        if not screenings:
            raise RuleViolation(
                "party_not_screened",
                f"{_who(deal, party)} has no screening against a denied-party list "
                "(PartyScreened)")
    for party, screenings in latest.items():
        for screening in screenings:
            if screening["result"] == "match":
                raise RuleViolation(
                    "denied_party",
                    f"{_who(deal, party)} matched list {screening['list']} "
                    f"(listed {screening['list_date']}, reference {screening['reference']})")
    days = min(policy.screening_max_age_days for policy in judgement.compliance)
    for party, screenings in latest.items():
        age = screening_age(screenings, judgement.occurred_on)
        if age > days:
            raise RuleViolation(
                "party_screening_stale",
                f"the newest screening of {_who(deal, party)} is {age} days old on "
                f"{judgement.occurred_on}; at most {days} days are allowed")


def _who(deal: DealState, party: str) -> str:
    named = deal.buyer if party == "buyer" else deal.end_party
    return f"{_NAMED[party]} {named['name']} ({named['country']})"
