"""The decision is a function of the commands, the loaded facts and the clock: no store,
no thread, no cache; the same decision the API makes, in a unit test."""

from __future__ import annotations

import pytest

from domain.deal import Deal
from domain.errors import NotFound, RuleViolation
from domain.guards import Across
from domain.policy import SHIPPED
from service.ledger.cache import DealCache, estimated_bytes
from service.ledger.commands import Command, Context, deal_id_for
from service.ledger.decide import Facts, decide
from tests.unit.test_rules import (
    AUTHORIZED,
    NOW,
    application,
    judged,
    meta,
    uncontrolled_application,
)

CTX = Context(actor="tests")
PROGRAM = AUTHORIZED.adopting(SHIPPED[0])


def applied(facts: Facts) -> Deal:
    """A deal applied for by ``decide``, as a load would give it."""
    data = application()
    decision = decide([Command("DealApplied", data)], CTX, facts, NOW)
    deal_id = deal_id_for(data["application_number"])
    assert [e.deal_id for e in decision.events] == [deal_id]
    assert decision.touched == {deal_id: (0, 1)}
    deal = Deal.apply_for(deal_id, data, meta(), judged())
    deal.collect_events()
    return deal


def test_an_application_is_decided_on_facts_alone():
    facts = Facts(PROGRAM)
    assert applied(facts).version == 1


def test_an_application_whose_number_is_taken_is_refused():
    data = application()
    facts = Facts(PROGRAM, existing={deal_id_for(data["application_number"])})
    with pytest.raises(RuleViolation) as refused:
        decide([Command("DealApplied", data)], CTX, facts, NOW)
    assert refused.value.code == "duplicate_application"


def test_a_deal_not_among_the_facts_is_not_found_and_the_batch_names_the_command():
    facts = Facts(PROGRAM)
    missing = Command("LicenseRequested", {"eccns": ["3A090.A"]}, application_number="NONE-1",
                      prefix="events[1].")
    with pytest.raises(NotFound) as refused:
        decide([Command("DealApplied", application()), missing], CTX, facts, NOW)
    assert refused.value.extra["index"] == 1


def test_the_decision_works_on_a_fork_and_leaves_the_loaded_deal_as_it_was():
    deal = applied(Facts(PROGRAM))
    facts = Facts(PROGRAM, deals={deal.id: deal})
    decision = decide([Command("LicenseRequested", {"eccns": ["3A090.A"], "application_ref": "Z-1"},
                              deal_id=deal.id)],
                      CTX, facts, NOW)
    assert [e.version for e in decision.events] == [2]
    assert deal.version == 1 and facts.deals[deal.id] is deal


def test_the_deal_cache_is_bounded_by_the_bytes_its_deals_hold():
    deal = applied(Facts(PROGRAM))
    weight = estimated_bytes(deal)
    cache = DealCache(size=100, max_bytes=weight * 2)
    others = [deal.fork() for _ in range(3)]
    for n, other in enumerate(others):
        other._id = deal_id_for(f"OTHER-{n}")  # type: ignore[attr-defined]
        cache.put(other)
    assert len(cache) == 2 and cache.bytes == weight * 2
    assert cache.take(others[0].id) is None


def test_a_write_may_reverse_a_money_event_it_decides_itself():
    data = uncontrolled_application()
    deal_id = deal_id_for(data["application_number"])
    maturity = (NOW.date().replace(year=NOW.year + 3)).isoformat()
    commands = [
        Command("DealApplied", data),
        Command("BoardVoted", {"meeting_date": NOW.date().isoformat(), "votes_for": 3,
                               "votes_against": 0, "abstentions": 0, "decision": "approved",
                               "approved_amount": data["financed_amount"]}, deal_id=deal_id),
        Command("PartyScreened", {"party": "buyer", "list": "CSL", "result": "clear",
                                  "list_date": NOW.date().isoformat(), "reference": "S-1"},
                deal_id=deal_id),
        Command("DealFinanced", {"instrument": data["instrument"],
                                 "amount": data["financed_amount"], "exposure_fee_pct": "1.00",
                                 "final_maturity_date": maturity}, deal_id=deal_id),
        Command("FundsDisbursed", {"amount": "100.00", "reference": "W-1"}, deal_id=deal_id),
        Command("EventReversed", {"version": 5, "reason": "sent twice",
                                  "return_reference": "RET-1"}, deal_id=deal_id),
    ]
    with pytest.raises(RuleViolation, match="^reversal_by_same_actor:"):  # v3: four eyes
        decide(commands, CTX, Facts(PROGRAM, across=Across(whole=True)), NOW)
    # the target was found among the write's own events: only the key is wrong
