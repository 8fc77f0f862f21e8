"""Rules of any event after ``DealApplied``, business time, and what every topic shares:
the ``Judgement`` an event is checked under.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from domain.chain import parse_timestamp
from domain.errors import RuleViolation
from domain.guards import Across
from domain.licensing import add_years
from domain.money import format_money
from domain.policy import PolicyVersion
from domain.program import Program
from domain.state import DealState

CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Judgement:
    """When and under which policy an event is judged. ``occurred_at`` is the business
    time the poster gave, or the server's clock; ``policy`` is the version in force then
    (stored on the event), ``policy_now`` the one in force at ``now``. ``actor`` is who
    posts it; ``program`` and ``across`` are what the rules that read beyond the deal see:
    the program stream (its policy versions among it), the guards read for the write."""

    occurred_at: datetime
    now: datetime
    policy: PolicyVersion
    policy_now: PolicyVersion
    actor: str = ""
    program: Program = field(default_factory=Program)
    across: Across = field(default_factory=Across)

    @property
    def occurred_on(self) -> str:
        return self.occurred_at.astimezone(UTC).date().isoformat()

    @property
    def today(self) -> date:
        """The day it is recorded, UTC."""
        return self.now.astimezone(UTC).date()

    @property
    def compliance(self) -> tuple[PolicyVersion, ...]:
        """The compliance rules hold under both versions: a backdate never escapes a newer
        restriction."""
        if self.policy_now.id == self.policy.id:
            return (self.policy,)
        return (self.policy, self.policy_now)


def check_at_most(code: str, name: str, amount: Decimal, limit_name: str, limit: Decimal) -> None:
    if amount > limit:
        raise RuleViolation(
            code, f"{name} {format_money(amount)} exceeds {limit_name} {format_money(limit)}"
        )


def check_within_years(code: str, name: str, value: str, start_on: str, years: int,
                       why: str) -> None:
    """``value`` (a date) after ``start_on`` and no later than ``years`` years after it;
    ``why`` says where the years come from."""
    start = date.fromisoformat(start_on)
    latest = add_years(start, years)
    day = date.fromisoformat(value)
    if not start < day <= latest:
        raise RuleViolation(
            code, f"{name} {day} must be after {start} and no later than {latest} ({why})")


# -- any event after DealApplied ---------------------------------------------------------


def check_deal_open(deal: DealState) -> None:
    if deal.closed:
        raise RuleViolation(
            "deal_closed", f"deal {deal.application_number} was cancelled before financing"
        )


def check_not_financed(deal: DealState) -> None:
    if deal.financed:
        raise RuleViolation(
            "already_financed", f"deal {deal.application_number} is already financed"
        )


def check_financed(deal: DealState) -> None:
    if not deal.financed:
        raise RuleViolation("not_financed", f"deal {deal.application_number} is not financed")


# -- business time -----------------------------------------------------------------------


def check_not_before_previous_event(deal: DealState, judgement: Judgement) -> None:
    latest = parse_timestamp(deal.latest_occurred_at)
    if judgement.occurred_at < latest - CLOCK_SKEW:
        raise RuleViolation(
            "occurred_before_previous_event",
            f"occurred_at {judgement.occurred_at.isoformat()} is more than 5 minutes before "
            f"the deal's latest event ({deal.latest_occurred_at}): a deal's history never "
            "runs backwards")


def check_backdating(judgement: Judgement) -> None:
    days = judgement.policy_now.max_backdating_days
    if judgement.occurred_at < judgement.now - timedelta(days=days):
        raise RuleViolation(
            "backdated_beyond_window",
            f"occurred_at {judgement.occurred_at.isoformat()} is more than {days} days before "
            f"now ({judgement.now.isoformat()}; policy {judgement.policy_now.id})")
