"""The program's committed total, across random histories of several deals (SPEC v3: the
sum over financed deals of committed − cancelled, overall and by buyer country).

Every write is decided by ``decide``, as the API decides it; the guard writes it carries
are summed the way the store applies them. Whatever was accepted, that running total
equals the one an independent fold of the accepted events gives (``ReferenceDeal``, in
cents), and the one a rebuild from the deals' states gives (what ``migrate`` writes).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from domain.deal import Deal, EventMeta
from domain.errors import RuleViolation
from domain.guards import COMMITTED, Across, committed_in, rebuild
from domain.policy import SHIPPED
from service.ledger.commands import Command, Context, deal_id_for
from service.ledger.decide import Facts, decide
from tests.support.reference import ReferenceDeal, cents, text
from tests.unit.test_rules import AUTHORIZED, NOW, ON, judged, meta, uncontrolled_application

PROGRAM = AUTHORIZED.adopting(SHIPPED[0])
COUNTRIES = ("DE", "FR", "DE")
DEALS = [uncontrolled_application(application_number=f"EXIM-T-{i}",
                                  buyer={"name": f"Buyer {i}", "country": country})
         for i, country in enumerate(COUNTRIES)]
amounts = st.sampled_from(["850000.00", "425000.00", "100.00", "0.01", "900000.00"])
financings = st.tuples(st.just("DealFinanced"), st.fixed_dictionaries({
    "instrument": st.just("insurance"), "amount": amounts,
    "exposure_fee_pct": st.just("1.0"), "final_maturity_date": st.just("2029-01-01")}))
steps = st.one_of(
    financings, financings,
    st.tuples(st.just("FundsDisbursed"), st.fixed_dictionaries({
        "amount": amounts, "reference": st.just("W")})),
    st.tuples(st.just("DealCancelled"), st.fixed_dictionaries(
        {"reason": st.just("scaled down")}, optional={"amount": amounts})),
    st.tuples(st.just("EventReversed"), st.fixed_dictionaries({
        "version": st.integers(2, 12), "reason": st.just("error"),
        "return_reference": st.just("RET")})),
    st.tuples(st.just("RepaymentReceived"), st.fixed_dictionaries({
        "principal": amounts, "interest": st.just("0.00"), "reference": st.just("P")})),
)
scripts = st.lists(st.tuples(st.integers(0, len(DEALS) - 1), steps), min_size=1, max_size=40)


def approved(data: dict[str, Any]) -> Deal:
    """The deal applied for and approved in full, as a load would give it."""
    deal_id = deal_id_for(data["application_number"])
    commands = [Command("DealApplied", data),
                Command("BoardVoted", {"meeting_date": "2025-06-01", "votes_for": 3,
                                       "votes_against": 0, "abstentions": 0,
                                       "decision": "approved",
                                       "approved_amount": data["financed_amount"]},
                        deal_id=deal_id)]
    decide(commands, Context("origination"), Facts(PROGRAM, across=Across(whole=True)), NOW)
    deal = _replayed(commands)
    return deal


def _replayed(commands: list[Command]) -> Deal:
    deal = Deal.apply_for(deal_id_for(commands[0].data["application_number"]),
                          commands[0].data, meta(), judged())
    for command in commands[1:]:
        deal.handle(command.type, command.data, meta(), judged())
    return deal


FINANCING = {"instrument": "insurance", "amount": "850000.00", "exposure_fee_pct": "1.0",
             "final_maturity_date": "2029-01-01"}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scripts)
@example([(0, ("DealFinanced", FINANCING)), (1, ("DealFinanced", FINANCING)),
          (2, ("DealFinanced", {**FINANCING, "amount": "100.00"})),
          (0, ("FundsDisbursed", {"amount": "100.00", "reference": "W"})),
          (0, ("DealCancelled", {"reason": "scaled down", "amount": "0.01"})),
          (1, ("DealCancelled", {"reason": "the rest"})),
          (0, ("EventReversed", {"version": 4, "reason": "x", "return_reference": "R"}))])
def test_the_committed_total_is_the_sum_over_deals_of_committed_less_cancelled(script):
    deals = {deal_id_for(d["application_number"]): approved(d) for d in DEALS}
    ids = list(deals)
    references = {deal_id: ReferenceDeal.applied(d) for deal_id, d in zip(ids, DEALS,
                                                                             strict=True)}
    for reference in references.values():
        reference.apply("BoardVoted", {"decision": "approved",
                                       "approved_amount": reference_amount(reference)})
    stored: dict[str, Decimal] = {}  # the guards' totals, as the store applies the writes
    for turn, (index, (type_name, data)) in enumerate(script):
        deal_id = ids[index]
        actor = "servicing-2" if type_name == "EventReversed" else "servicing-1"
        facts = Facts(PROGRAM, deals=deals, across=Across(
            versions={name: 0 for name in totals_named()}, totals=dict(stored)))
        try:
            decision = decide([Command(type_name, data, deal_id=deal_id)], Context(actor),
                              facts, NOW)
        except RuleViolation:
            continue
        for name, amount in decision.guards.add.items():
            stored[name] = stored.get(name, Decimal(0)) + amount
        # the loaded deal moves on by the same event, as the next load would give it
        deals[deal_id].handle(type_name, data, EventMeta(f"e{turn}", ON, actor),
                              judged(actor=actor))
        references[deal_id].apply(type_name, data)

    expected = {COMMITTED: sum(contribution(r) for r in references.values())}
    for country in set(COUNTRIES):
        expected[committed_in(country)] = sum(contribution(r) for r in references.values()
                                              if r.country == country)
    event(f"{sum(r.financed for r in references.values())} deal(s) financed")
    for name, value in expected.items():
        assert cents(f"{stored.get(name, Decimal(0)):.2f}") == value, name
    rebuilt, _ = rebuild((str(deal_id), deal) for deal_id, deal in deals.items())
    for name, value in expected.items():
        assert cents(f"{rebuilt.get(name, Decimal(0)):.2f}") == value, name


def totals_named() -> list[str]:
    return [COMMITTED, *(committed_in(c) for c in set(COUNTRIES))]


def contribution(reference: ReferenceDeal) -> int:
    """SPEC: committed − cancelled, for a financed deal; in cents."""
    return reference.committed - reference.cancelled if reference.financed else 0


def reference_amount(reference: ReferenceDeal) -> str:
    return text(reference.requested)
