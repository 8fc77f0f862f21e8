"""The Deal aggregate: command methods guard (``domain.rules``), then record an event.

Each event stores its payload as the canonical JSON dict ``data`` (the value the API
returns and the hash covers); the ``TypedDict`` named after each event (``BoardVotedData``)
documents it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, NotRequired, TypedDict
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain import rules
from domain.chain import parse_timestamp
from domain.errors import RuleViolation
from domain.policy import PolicyVersion
from domain.state import DealState

Data = dict[str, Any]


@dataclass(frozen=True)
class EventMeta:
    """Envelope metadata the caller supplies; ``occurred_at`` in canonical format."""

    event_id: str
    occurred_at: str
    actor: str
    source: str | None = None
    correlation_id: str | None = None
    idempotency_key: str | None = None

    @property
    def occurred_at_dt(self) -> datetime:
        return parse_timestamp(self.occurred_at)

    @property
    def occurred_on(self) -> str:
        """The UTC date of ``occurred_at``, ``YYYY-MM-DD``."""
        return self.occurred_at_dt.astimezone(UTC).date().isoformat()


class Party(TypedDict):
    name: str
    country: str


class Item(TypedDict):
    description: str
    category: str
    eccn: str
    quantity: int
    value: str


class DealAppliedData(TypedDict):
    application_number: str
    exporter: Party
    buyer: Party
    instrument: str
    term: str
    contract_value: str
    financed_amount: str
    tenor_years: int
    items: list[Item]
    us_content_pct: NotRequired[str]


class LicenseRequestedData(TypedDict):
    application_ref: str
    eccns: list[str]


class CommerceLicenseApprovedData(TypedDict):
    application_ref: str
    license_number: str
    eccns: list[str]
    valid_until: str
    conditions: NotRequired[list[str]]


class CommerceLicenseDeniedData(TypedDict):
    application_ref: str
    reason: str


class BoardVotedData(TypedDict):
    meeting_date: str
    votes_for: int
    votes_against: int
    abstentions: int
    decision: str
    approved_amount: NotRequired[str]
    conditions: NotRequired[list[str]]


class DealFinancedData(TypedDict):
    instrument: str
    amount: str
    exposure_fee_pct: str
    interest_rate_pct: NotRequired[str]
    final_maturity_date: str


class FundsDisbursedData(TypedDict):
    amount: str
    reference: str


class RepaymentReceivedData(TypedDict):
    principal: str
    interest: str
    reference: str


class ClaimPaidData(TypedDict):
    amount: str
    reference: str


class DealCancelledData(TypedDict):
    reason: str
    amount: NotRequired[str]


class Deal(Aggregate, DealState, created_event_name="DealApplied"):
    TOPIC = "domain.deal:Deal"

    class Event(Aggregate.Event):
        TOPIC: ClassVar[str]
        event_id: str
        data: dict[str, Any]
        occurred_at: str
        recorded_at: str | None
        actor: str
        source: str | None
        correlation_id: str | None
        idempotency_key: str | None
        policy_version: str
        prev_hash: str | None
        hash: str | None

        def __init_subclass__(cls, **kwargs: Any) -> None:
            # Stored events name their class by topic: pinning it to the SPEC type name
            # means a move or rename of this module can never orphan them.
            super().__init_subclass__(**kwargs)
            cls.TOPIC = f"domain.deal:Deal.{cls.__name__}"

        def apply(self, aggregate: Deal) -> None:
            aggregate.apply_payload(type(self).__name__, self.data, self.recorded_at)

    class DealApplied(Event, Aggregate.Created):
        """``controlled_eccns`` is judged under ``policy_version`` when applying, and kept
        so replays need no policy book."""

        controlled_eccns: list[str]

        def apply(self, aggregate: Deal) -> None:
            aggregate.apply_payload(
                "DealApplied", self.data, self.recorded_at, self.controlled_eccns
            )

    Created = DealApplied  # the library's name for it; one class, one topic

    class LicenseRequested(Event):
        pass

    class CommerceLicenseApproved(Event):
        pass

    class CommerceLicenseDenied(Event):
        pass

    class BoardVoted(Event):
        pass

    class DealFinanced(Event):
        pass

    class FundsDisbursed(Event):
        pass

    class RepaymentReceived(Event):
        pass

    class ClaimPaid(Event):
        pass

    class DealCancelled(Event):
        pass

    # -- creation ------------------------------------------------------------------------

    @classmethod
    def apply_for(cls, deal_id: UUID, data: Data, meta: EventMeta, policy: PolicyVersion) -> Deal:
        """Check the ``DealApplied`` rules (all but ``duplicate_application``, which needs
        the store) and create the deal."""
        rules.check_exporter_is_us(data)
        rules.check_instrument_offered_for_term(data)
        rules.check_term(data)
        rules.check_financed_share(data)
        rules.check_items_sum(data)
        country = data["buyer"]["country"]
        eccns = [item["eccn"] for item in data["items"]]
        rules.check_destination_not_embargoed(country, policy)
        rules.check_controlled_items_allowed(country, eccns, policy)
        return cls._create(
            cls.DealApplied,
            id=deal_id,
            controlled_eccns=policy.controlled(eccns),
            **_event_fields(data, meta, policy),
        )

    # -- commands ------------------------------------------------------------------------

    def handle(self, type_name: str, data: Data, meta: EventMeta, policy: PolicyVersion) -> None:
        """Check the rules of one event for this deal, in SPEC order, then record it."""
        if type_name == "DealApplied":
            raise RuleViolation(
                "duplicate_application",
                f"deal {self.id} already exists ({self.application_number})",
                status=409,
            )
        command = _COMMANDS.get(type_name)
        if command is None:
            raise RuleViolation("unknown_event_type", f"unknown event type {type_name!r}")
        rules.check_deal_open(self)
        command(self, data, meta, policy)

    def request_license(self, data: Data, meta: EventMeta, policy: PolicyVersion) -> None:
        """A BIS application control number identifies one application, so reusing an
        ``application_ref`` is refused with ``license_already_requested``."""
        rules.check_not_financed(self)
        rules.check_eccns_in_deal(self, data["eccns"])
        rules.check_license_ref_unused(self, data["application_ref"])
        self._record(self.LicenseRequested, data, meta, policy)

    def approve_license(self, data: Data, meta: EventMeta, policy: PolicyVersion) -> None:
        license_ = rules.check_license_requested(self, data["application_ref"])
        rules.check_license_undecided(license_)
        rules.check_eccns_in_deal(self, data["eccns"])
        rules.check_eccns_in_request(license_, data["eccns"])
        self._record(self.CommerceLicenseApproved, data, meta, policy)

    def deny_license(self, data: Data, meta: EventMeta, policy: PolicyVersion) -> None:
        license_ = rules.check_license_requested(self, data["application_ref"])
        rules.check_license_undecided(license_)
        self._record(self.CommerceLicenseDenied, data, meta, policy)

    def vote(self, data: Data, meta: EventMeta, policy: PolicyVersion) -> None:
        rules.check_not_financed(self)
        rules.check_quorum(data)
        rules.check_vote_count(data)
        rules.check_decision_matches_votes(data)
        rules.check_approved_amount(self, data)
        self._record(self.BoardVoted, data, meta, policy)

    def finance(self, data: Data, meta: EventMeta, policy: PolicyVersion) -> None:
        rules.check_not_financed(self)
        rules.check_board_approved(self)
        rules.check_amount_within_approval(self, data)
        rules.check_instrument_matches(self, data)
        rules.check_licenses_cover(self, policy)
        rules.check_licenses_valid(self, policy, meta.occurred_on)
        rules.check_destination_not_embargoed(self.buyer["country"], policy)
        rules.check_controlled_items_allowed(self.buyer["country"], self.eccns, policy)
        self._record(self.DealFinanced, data, meta, policy)

    def disburse(self, data: Data, meta: EventMeta, policy: PolicyVersion) -> None:
        rules.check_financed(self)
        rules.check_disbursement(self, data)
        self._record(self.FundsDisbursed, data, meta, policy)

    def receive_repayment(self, data: Data, meta: EventMeta, policy: PolicyVersion) -> None:
        rules.check_financed(self)
        rules.check_repayment(self, data)
        self._record(self.RepaymentReceived, data, meta, policy)

    def pay_claim(self, data: Data, meta: EventMeta, policy: PolicyVersion) -> None:
        rules.check_financed(self)
        rules.check_claims_applicable(self)
        rules.check_claim(self, data)
        self._record(self.ClaimPaid, data, meta, policy)

    def cancel(self, data: Data, meta: EventMeta, policy: PolicyVersion) -> None:
        rules.check_cancellation(self, data)
        self._record(self.DealCancelled, data, meta, policy)

    def view(self) -> dict[str, Any]:
        return self.derived_view(str(self.id), self.version)

    def _record(
        self, event_class: type[Deal.Event], data: Data, meta: EventMeta, policy: PolicyVersion
    ) -> None:
        self.trigger_event(event_class, **_event_fields(data, meta, policy))


_COMMANDS: dict[str, Callable[[Deal, Data, EventMeta, PolicyVersion], None]] = {
    "LicenseRequested": Deal.request_license,
    "CommerceLicenseApproved": Deal.approve_license,
    "CommerceLicenseDenied": Deal.deny_license,
    "BoardVoted": Deal.vote,
    "DealFinanced": Deal.finance,
    "FundsDisbursed": Deal.disburse,
    "RepaymentReceived": Deal.receive_repayment,
    "ClaimPaid": Deal.pay_claim,
    "DealCancelled": Deal.cancel,
}

EVENT_TYPES: tuple[str, ...] = ("DealApplied", *_COMMANDS)


def _event_fields(data: Data, meta: EventMeta, policy: PolicyVersion) -> dict[str, Any]:
    return {
        "data": copy.deepcopy(data),
        "event_id": meta.event_id,
        "occurred_at": meta.occurred_at,
        "recorded_at": None,
        "actor": meta.actor,
        "source": meta.source,
        "correlation_id": meta.correlation_id,
        "idempotency_key": meta.idempotency_key,
        "policy_version": policy.id,
        "prev_hash": None,
        "hash": None,
    }
