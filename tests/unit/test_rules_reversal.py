"""Reversals of a loaded deal, given their targets as stored; a deal's state keeps running
totals only, so its size does not grow with its money events."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eventsourcing.domain import Snapshot

from domain.deal import Deal
from domain.money import MissingReversalTarget, ReversalTarget, money_effects
from domain.policy import SHIPPED_BOOK
from domain.replay import replay, reversal_targets_wanted
from domain.state import DealState, Stamp
from tests.unit.test_deal_properties import mapper
from tests.unit.test_rules import (
    ON,
    disburse,
    financed,
    judged,
    meta,
    pay_claim,
    refused,
    repay,
    view,
)


def loaded(deal: Deal) -> tuple[Deal, dict[int, ReversalTarget]]:
    """The deal as a load leaves it (no pending events), and its events as the store
    holds them, by version."""
    stored = {e.originator_version: ReversalTarget(e.originator_version, type(e).__name__,
                                                   e.data, e.actor)
              for e in deal.collect_events() if isinstance(e, Deal.Event)}
    return deal, stored


def reverse(deal: Deal, version: int, target: ReversalTarget | None) -> Deal:
    deal.handle("EventReversed", {"version": version, "reason": "wire returned",
                                  "return_reference": "RET-1"}, meta(), judged(), target)
    return deal


def test_a_loaded_deal_reverses_a_disbursement_given_its_target() -> None:
    deal, stored = loaded(disburse(disburse(financed(), "100.00"), "50.00"))
    first = deal.version - 1
    reverse(deal, first, stored[first])
    shown = view(deal)
    assert (shown["disbursed"], shown["outstanding"]) == ("50.00", "50.00")
    assert shown["reversed_versions"] == [first]
    assert "_reversal_targets" not in vars(deal)


def test_the_reversal_rules_judge_the_target_given() -> None:
    deal, stored = loaded(repay(disburse(financed(), "100.00"), "100.00"))
    with refused("reversal_target_invalid"):
        reverse(deal, 99, None)  # no event there
    with refused("reversal_target_invalid"):
        reverse(deal, 4, stored[4])  # the board vote
    with refused("reversal_target_invalid"):
        reverse(deal, deal.version, None)  # a loaded deal finds no target by itself
    with refused("reversal_breaks_balances"):
        reverse(deal, deal.version - 1, stored[deal.version - 1])
    repayment = deal.version
    reverse(deal, repayment, stored[repayment])
    with refused("already_reversed"):
        reverse(deal, repayment, stored[repayment])
    assert view(deal)["reversed_versions"] == [repayment]


def test_a_target_of_another_version_is_the_callers_mistake() -> None:
    deal, stored = loaded(disburse(financed(), "100.00"))
    with pytest.raises(ValueError):
        reverse(deal, deal.version, stored[deal.version - 1])


def test_a_reversal_in_the_same_decision_finds_its_target_among_the_pending_events() -> None:
    deal, _ = loaded(financed())
    disburse(deal, "100.00")
    reverse(deal, deal.version, None)
    assert view(deal)["disbursed"] == "0.00"


def test_money_effects_name_what_each_money_event_adds() -> None:
    assert money_effects("RepaymentReceived", {"principal": "1.00", "interest": "0.50",
                                               "reference": "R"}) == {
        "type": "RepaymentReceived", "principal_repaid": "1.00", "interest_received": "0.50"}
    assert money_effects("ClaimPaid", {"amount": "2.00", "reference": "C"}) == {
        "type": "ClaimPaid", "claims_paid": "2.00"}
    assert money_effects("BoardVoted", {}) is None


def test_the_fold_of_a_reversal_needs_its_target() -> None:
    state = DealState()
    with pytest.raises(MissingReversalTarget):
        state.evolve("EventReversed", {"version": 3, "reason": "x"}, Stamp(4, ON, None, None))


def decoded(deal: Deal) -> list[Any]:
    codec = mapper()
    return [codec.to_domain_event(codec.to_stored_event(e)) for e in deal.collect_events()]


def test_a_replay_reads_only_the_targets_missing_from_its_events() -> None:
    deal = pay_claim(disburse(financed(), "100.00"), "60.00")
    claim = deal.version
    reverse(deal, claim, None)
    expected = view(deal)
    events = decoded(deal)
    assert reversal_targets_wanted(events) == set()
    whole = replay(None, events)
    assert whole is not None and view(whole) == expected

    start = replay(None, events[:claim])
    assert reversal_targets_wanted(events[claim:]) == {claim}
    with pytest.raises(MissingReversalTarget):
        replay(start, events[claim:])
    start = replay(None, events[:claim])
    claim_event = events[claim - 1]
    target = ReversalTarget(claim, "ClaimPaid", claim_event.data, claim_event.actor)
    resumed = replay(start, events[claim:], {claim: target})
    assert resumed is not None and view(resumed) == expected
    assert set(vars(resumed)) == set(vars(whole))


def test_a_snapshot_from_before_drops_the_money_events_it_held() -> None:
    deal = disburse(financed(), "100.00")
    deal.collect_events()
    snapshot = Snapshot.take(deal)
    old = {k: v for k, v in snapshot.state.items() if k != "class_version"}
    old["money_events"] = {str(deal.version): {"type": "FundsDisbursed",
                                               "disbursed": "100.00"}}
    restored = Snapshot(originator_id=deal.id, originator_version=deal.version,
                        timestamp=snapshot.timestamp, topic=snapshot.topic,
                        state=old).mutate(None)
    assert "money_events" not in vars(restored)
    assert view(restored) == view(deal)


def test_a_dump_holds_the_state_fields_only_and_restores_the_state() -> None:
    deal = disburse(financed(), "100.00")
    dumped = deal.dump()
    assert list(dumped) == list(DealState.state_fields())
    assert not {"_id", "_version", "_pending_events", "money_events"} & set(dumped)
    restored = DealState.from_dump(json.loads(json.dumps({**dumped, "money_events": {}})))
    assert "money_events" not in vars(restored)
    assert restored.view_under(restored.policy_in(SHIPPED_BOOK), "d", 1) == \
        deal.view_under(deal.policy_in(SHIPPED_BOOK), "d", 1)


def with_money_events(count: int) -> Deal:
    """A financed deal, loaded after each of ``count`` disbursements of 1.00."""
    deal = financed()
    deal.collect_events()
    for _ in range(count):
        disburse(deal, "1.00")
        deal.collect_events()
    return deal


def size(deal: Deal) -> int:
    return len(json.dumps(deal.dump()))


def test_the_state_does_not_grow_with_the_money_events() -> None:
    few, many = with_money_events(10), with_money_events(1_000)
    assert (view(few)["disbursed"], view(many)["disbursed"]) == ("10.00", "1000.00")
    assert size(many) <= size(few) + len("1000.00")  # the totals' digits, nothing more
    assert len(vars(many.fork())) == len(vars(few.fork()))
    snapshot_state = Snapshot.take(many).state
    assert len(json.dumps(snapshot_state, default=str)) < 4_000
