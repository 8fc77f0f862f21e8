"""The Deal aggregate: command methods guard (``domain.rules``), then record an event.

Each event stores its payload as the canonical JSON dict ``data`` (the value the API
returns and the hash covers); ``domain.events`` holds each payload's shape.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain import rules
from domain.chain import parse_timestamp
from domain.errors import RuleViolation
from domain.policy import PolicyBook
from domain.state import DealState, Stamp

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
            stamp = Stamp(self.originator_version, self.occurred_at, self.recorded_at,
                          self.policy_version)
            aggregate.evolve(type(self).__name__, self.data, stamp)

    class DealApplied(Event, Aggregate.Created):
        """v1 stored ``controlled_eccns`` on it; v2 judges them when read."""

    Created = DealApplied  # the library's name for it; one class, one topic

    class DealAmended(Event):
        pass

    class LicenseRequested(Event):
        pass

    class CommerceLicenseApproved(Event):
        pass

    class CommerceLicenseDenied(Event):
        pass

    class CommerceLicenseRevoked(Event):
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

    class RecoveryReceived(Event):
        pass

    class EventReversed(Event):
        pass

    class DealCancelled(Event):
        pass

    # -- creation ------------------------------------------------------------------------

    @classmethod
    def apply_for(cls, deal_id: UUID, data: Data, meta: EventMeta,
                  judgement: rules.Judgement) -> Deal:
        """Check the ``DealApplied`` rules (all but ``duplicate_application``, which needs
        the store) and create the deal."""
        rules.check_backdating(judgement)
        rules.check_exporter_is_us(data)
        rules.check_terms(data, judgement.compliance)
        return cls._create(cls.DealApplied, id=deal_id, **_event_fields(data, meta, judgement))

    # -- commands ------------------------------------------------------------------------

    def handle(self, type_name: str, data: Data, meta: EventMeta,
               judgement: rules.Judgement) -> None:
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
        rules.check_not_before_previous_event(self, judgement)
        rules.check_backdating(judgement)
        command(self, data, judgement)
        self.trigger_event(getattr(self, type_name), **_event_fields(data, meta, judgement))

    def amend(self, data: Data, judgement: rules.Judgement) -> None:
        rules.check_not_financed(self)
        terms = {**self.terms(), **{k: v for k, v in data.items() if k != "reason"}}
        rules.check_terms({**terms, "buyer": self.buyer, "instrument": self.instrument,
                           "term": self.term}, judgement.compliance)

    def request_license(self, data: Data, judgement: rules.Judgement) -> None:
        """A BIS application control number identifies one application, so reusing an
        ``application_ref`` is refused with ``license_already_requested``."""
        rules.check_not_financed(self)
        rules.check_eccns_in_deal(self, data["eccns"])
        rules.check_license_ref_unused(self, data["application_ref"])

    def approve_license(self, data: Data, judgement: rules.Judgement) -> None:
        license_ = rules.check_license_requested(self, data["application_ref"])
        rules.check_license_undecided(license_)
        rules.check_eccns_in_deal(self, data["eccns"])
        rules.check_eccns_in_request(license_, data["eccns"])

    def deny_license(self, data: Data, judgement: rules.Judgement) -> None:
        license_ = rules.check_license_requested(self, data["application_ref"])
        rules.check_license_undecided(license_)

    def revoke_license(self, data: Data, judgement: rules.Judgement) -> None:
        """Allowed after financing: BIS can revoke at any time."""
        rules.check_license_not_revoked(rules.check_license_found(self, data["license_number"]))

    def vote(self, data: Data, judgement: rules.Judgement) -> None:
        rules.check_not_financed(self)
        rules.check_quorum(data)
        rules.check_vote_count(data)
        rules.check_decision_matches_votes(data)
        rules.check_approved_amount(self, data)

    def finance(self, data: Data, judgement: rules.Judgement) -> None:
        rules.check_not_financed(self)
        rules.check_board_approved(self)
        rules.check_amount_within_approval(self, data)
        rules.check_instrument_matches(self, data)
        rules.check_license_gate(self, judgement)
        country = self.buyer["country"]
        rules.check_destination_not_embargoed(country, judgement.compliance)
        rules.check_destination_designated(country, judgement.compliance)
        rules.check_controlled_items_allowed(country, self.eccns, judgement.compliance)
        rules.check_maturity(self, data, judgement.occurred_on)

    def disburse(self, data: Data, judgement: rules.Judgement) -> None:
        """Money leaving EXIM is checked again as of the disbursement (designation is not:
        a destination that stops being designated keeps its commitments)."""
        rules.check_financed(self)
        rules.check_disbursement(self, data)
        rules.check_license_gate(self, judgement)
        country = self.buyer["country"]
        rules.check_destination_not_embargoed(country, judgement.compliance)
        rules.check_controlled_items_allowed(country, self.eccns, judgement.compliance)

    def receive_repayment(self, data: Data, judgement: rules.Judgement) -> None:
        rules.check_financed(self)
        rules.check_repayment(self, data)

    def pay_claim(self, data: Data, judgement: rules.Judgement) -> None:
        rules.check_financed(self)
        rules.check_claims_applicable(self)
        rules.check_claim(self, data)

    def receive_recovery(self, data: Data, judgement: rules.Judgement) -> None:
        rules.check_financed(self)
        rules.check_recovery(self, data)

    def reverse(self, data: Data, judgement: rules.Judgement) -> None:
        target = rules.check_reversal_target(self, data["version"])
        rules.check_reversal_keeps_balances(self, data["version"], target)

    def cancel(self, data: Data, judgement: rules.Judgement) -> None:
        rules.check_cancellation(self, data)

    def fork(self) -> Deal:
        """A copy to decide on that leaves this deal as it is, for a fraction of a
        ``deepcopy``'s cost (which grows with every money event the deal holds)."""
        other = copy.copy(self)
        other._pending_events = list(self._pending_events)
        other.own_mutables()
        return other

    def view(self, book: PolicyBook) -> dict[str, Any]:
        return self.view_under(self.policy_in(book), str(self.id), self.version)


_COMMANDS: dict[str, Callable[[Deal, Data, rules.Judgement], None]] = {
    "DealAmended": Deal.amend,
    "LicenseRequested": Deal.request_license,
    "CommerceLicenseApproved": Deal.approve_license,
    "CommerceLicenseDenied": Deal.deny_license,
    "CommerceLicenseRevoked": Deal.revoke_license,
    "BoardVoted": Deal.vote,
    "DealFinanced": Deal.finance,
    "FundsDisbursed": Deal.disburse,
    "RepaymentReceived": Deal.receive_repayment,
    "ClaimPaid": Deal.pay_claim,
    "RecoveryReceived": Deal.receive_recovery,
    "EventReversed": Deal.reverse,
    "DealCancelled": Deal.cancel,
}

EVENT_TYPES: tuple[str, ...] = ("DealApplied", *_COMMANDS)


def _event_fields(data: Data, meta: EventMeta, judgement: rules.Judgement) -> dict[str, Any]:
    return {
        "data": copy.deepcopy(data),
        "event_id": meta.event_id,
        "occurred_at": meta.occurred_at,
        "recorded_at": None,
        "actor": meta.actor,
        "source": meta.source,
        "correlation_id": meta.correlation_id,
        "idempotency_key": meta.idempotency_key,
        "policy_version": judgement.policy.id,
        "prev_hash": None,
        "hash": None,
    }
