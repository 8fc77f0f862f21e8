"""The Deal aggregate: command methods guard (``domain.rules``), then record an event.

Each event stores its payload as the canonical JSON dict ``data`` (the value the API
returns and the hash covers); ``domain.events`` holds each payload's shape.

The deal keeps running totals, not its money events: an ``EventReversed`` is decided and
folded given its target, the event it names as stored (``ReversalTarget``). A decision
takes it as ``handle``'s ``target``; a replay (``domain.replay``) supplies the targets
to the events' ``apply`` for the length of the replay only, so none stays on the deal.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain import rules
from domain.chain import parse_timestamp
from domain.errors import RuleViolation
from domain.events import EVENT_TYPES as EVENT_TABLE
from domain.money import REVERSAL, MissingReversalTarget, ReversalTarget
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
    # version 2 keeps no money_events: a snapshot taken before is upcast by dropping them;
    # version 3 adds the v3 facts (``migrate`` drops older snapshots: a fold gives them
    # exactly; one taken meanwhile by an older process gets what it can tell)
    # version 4 (v3 part 2) adds the end user and the screenings
    class_version = 4

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state.pop("money_events", None)

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        vote = state.get("board_vote")
        state.setdefault("meeting_dates", [vote["meeting_date"]] if vote else [])
        state.setdefault("board_terms", None)
        state.setdefault("notice", None)
        state.setdefault("financing_policy", None)

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        state.setdefault("end_user", None)
        state.setdefault("screenings", {})

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
            aggregate.evolve(type(self).__name__, self.data, self.stamp())

        def stamp(self) -> Stamp:
            return Stamp(self.originator_version, self.occurred_at, self.recorded_at,
                         self.policy_version)

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

    class CongressionalNotified(Event):
        pass

    class PartyScreened(Event):
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
        """Stores only ``data``'s version: its target is supplied while it is applied."""

        def apply(self, aggregate: Deal) -> None:
            version = self.data["version"]
            target = aggregate.__dict__.get(_TARGETS, {}).get(version)
            if target is None:
                raise MissingReversalTarget(version)
            aggregate.evolve(REVERSAL, self.data, self.stamp(), target)

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
               judgement: rules.Judgement, target: ReversalTarget | None = None) -> None:
        """Check the rules of one event for this deal, in SPEC order, then record it.

        For an ``EventReversed``, ``target`` is the stored event of the deal at
        ``data["version"]`` (None when the store has none there); an event this deal
        decided but that was not collected yet is found among its pending events."""
        if type_name == "DealApplied":
            raise RuleViolation(
                "duplicate_application",
                f"deal {self.id} already exists ({self.application_number})",
                status=409,
            )
        if type_name not in EVENT_TYPES:
            raise RuleViolation("unknown_event_type", f"unknown event type {type_name!r}")
        rules.check_deal_open(self)
        rules.check_not_before_previous_event(self, judgement)
        rules.check_backdating(judgement)
        if type_name != REVERSAL:
            _COMMANDS[type_name](self, data, judgement)
            self.trigger_event(getattr(self, type_name), **_event_fields(data, meta, judgement))
            return
        found = target if target is not None else self.pending_target(data["version"])
        self.reverse(data, judgement, found)
        with supplying(self, {} if found is None else {found.version: found}):
            self.trigger_event(self.EventReversed, **_event_fields(data, meta, judgement))

    def amend(self, data: Data, judgement: rules.Judgement) -> None:
        rules.check_not_financed(self)
        terms = {**self.terms(), **{k: v for k, v in data.items() if k != "reason"}}
        rules.check_terms({**terms, "buyer": self.buyer, "end_user": self.end_party,
                           "instrument": self.instrument, "term": self.term},
                          judgement.compliance)

    def request_license(self, data: Data, judgement: rules.Judgement) -> None:
        """A BIS application control number identifies one application, so reusing an
        ``application_ref`` is refused with ``license_already_requested``. (v3) A renewal or
        a replacement may be requested after financing."""
        rules.check_eccns_in_deal(self, data["eccns"])
        rules.check_license_ref_unused(self, data["application_ref"])

    def approve_license(self, data: Data, judgement: rules.Judgement) -> None:
        license_ = rules.check_license_requested(self, data["application_ref"])
        rules.check_license_undecided(license_)
        rules.check_eccns_in_deal(self, data["eccns"])
        rules.check_eccns_in_request(license_, data["eccns"])
        rules.check_license_number_free(self, str(self.id), data["license_number"], judgement)
        rules.check_license_validity(data, judgement)
        rules.check_consignee(self, data)

    def deny_license(self, data: Data, judgement: rules.Judgement) -> None:
        license_ = rules.check_license_requested(self, data["application_ref"])
        rules.check_license_undecided(license_)

    def revoke_license(self, data: Data, judgement: rules.Judgement) -> None:
        """Allowed after financing: BIS can revoke at any time."""
        found = rules.check_license_found(self, data["license_number"])
        rules.check_license_not_revoked(found, data, judgement.occurred_on)

    def screen_party(self, data: Data, judgement: rules.Judgement) -> None:
        """Allowed after financing: a party is screened again before each disbursement."""
        rules.check_screening_date(data, judgement.occurred_on)

    def vote(self, data: Data, judgement: rules.Judgement) -> None:
        rules.check_not_financed(self)
        rules.check_meeting(self, data, judgement.occurred_on)
        rules.check_quorum(data)
        rules.check_vote_count(data)
        rules.check_decision_matches_votes(data)
        rules.check_approved_amount(self, data)
        rules.check_congressional_notice(self, str(self.id), data, judgement)

    def notify_congress(self, data: Data, judgement: rules.Judgement) -> None:
        rules.check_not_financed(self)
        rules.check_notice_date(data, judgement.occurred_on)

    def finance(self, data: Data, judgement: rules.Judgement) -> None:
        rules.check_not_financed(self)
        rules.check_board_approved(self)
        rules.check_amount_within_approval(self, data)
        rules.check_instrument_matches(self, data)
        rules.check_license_gate(self, judgement)
        rules.check_parties_screened(self, judgement)
        countries = self.destinations()
        rules.check_destination_not_embargoed(countries, judgement.compliance)
        rules.check_destination_designated(countries, judgement.compliance)
        rules.check_controlled_items_allowed(countries, self.eccns, judgement.compliance)
        rules.check_program(self, data, judgement)
        rules.check_maturity(self, data, judgement.occurred_on)

    def disburse(self, data: Data, judgement: rules.Judgement) -> None:
        """Money leaving EXIM is checked again as of the disbursement (designation is not:
        a destination that stops being designated keeps its commitments)."""
        rules.check_financed(self)
        rules.check_disbursement(self, data)
        rules.check_license_gate(self, judgement)
        rules.check_parties_screened(self, judgement)
        countries = self.destinations()
        rules.check_destination_not_embargoed(countries, judgement.compliance)
        rules.check_controlled_items_allowed(countries, self.eccns, judgement.compliance)

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

    def reverse(self, data: Data, judgement: rules.Judgement,
                target: ReversalTarget | None) -> None:
        """``target``: the deal's event at ``data["version"]``, None when it has none."""
        effects = rules.check_reversal_target(self, data["version"], target)
        assert target is not None  # else the target is invalid
        rules.check_reversal_four_eyes(target, judgement.actor, data)
        rules.check_reversal_keeps_balances(self, data["version"], effects)

    def cancel(self, data: Data, judgement: rules.Judgement) -> None:
        rules.check_cancellation(self, data)

    def pending_target(self, version: int) -> ReversalTarget | None:
        """The event of ``version`` among those this deal decided and that were not
        collected yet, as a reversal's target."""
        for ev in self._pending_events:
            if isinstance(ev, Deal.Event) and ev.originator_version == version:
                return target_of(ev)
        return None

    def fork(self) -> Deal:
        """A copy to decide on that leaves this deal as it is, for a fraction of a
        ``deepcopy``'s cost; its size does not grow with the deal's money events."""
        other = copy.copy(self)
        other._pending_events = list(self._pending_events)
        other.own_mutables()
        return other

    def view(self, book: PolicyBook) -> dict[str, Any]:
        return self.view_in(book, str(self.id), self.version)


_TARGETS = "_reversal_targets"  # the transient attribute ``supplying`` sets


@contextlib.contextmanager
def supplying(deal: Deal, targets: Mapping[int, ReversalTarget]) -> Iterator[Deal]:
    """``deal`` with reversal ``targets`` for its events' ``apply``, for the length of
    the block only: never in ``vars(deal)`` for a fork, a snapshot or a dump to copy."""
    deal.__dict__[_TARGETS] = targets
    try:
        yield deal
    finally:
        deal.__dict__.pop(_TARGETS, None)


def target_of(ev: Deal.Event) -> ReversalTarget:
    """``ev`` as the target of a reversal."""
    return ReversalTarget(ev.originator_version, type(ev).__name__, ev.data, ev.actor)


_COMMANDS: dict[str, Callable[[Deal, Data, rules.Judgement], None]] = {
    "DealAmended": Deal.amend,
    "LicenseRequested": Deal.request_license,
    "CommerceLicenseApproved": Deal.approve_license,
    "CommerceLicenseDenied": Deal.deny_license,
    "CommerceLicenseRevoked": Deal.revoke_license,
    "BoardVoted": Deal.vote,
    "CongressionalNotified": Deal.notify_congress,
    "PartyScreened": Deal.screen_party,
    "DealFinanced": Deal.finance,
    "FundsDisbursed": Deal.disburse,
    "RepaymentReceived": Deal.receive_repayment,
    "ClaimPaid": Deal.pay_claim,
    "RecoveryReceived": Deal.receive_recovery,
    "DealCancelled": Deal.cancel,
}

# the deal stream's event types, in SPEC order (``domain.events`` lists each once)
EVENT_TYPES: tuple[str, ...] = tuple(name for name, t in EVENT_TABLE.items()
                                     if t.stream == "deal")


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
