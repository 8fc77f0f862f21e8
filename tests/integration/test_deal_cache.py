"""The write path's deal cache, on SQLite and PostgreSQL: a cached deal always equals a
reload at its version, timestamps included, and a cache made stale by another instance
costs a retry, never a lost, doubled or wrongly refused event."""

from __future__ import annotations

import random
from typing import Any
from uuid import UUID

from domain.deal import Deal
from domain.errors import LedgerError
from service.api.framing import render_error
from service.ledger.application import Ledger
from service.ledger.commands import Command, Context, Idempotency, Outcome, Rendering
from service.settings import Settings
from tests.support.factories import application, lifecycle_to_financed
from tests.support.projection_support import authorize

render_envelope = Rendering(201, location="/v1/deals/{deal_id}")


def reload(settings: Settings, deal_id: UUID, version: int | None = None) -> Deal:
    uncached = Ledger(settings.eventsourcing_env(), cache_size=0)
    try:
        return uncached.load(deal_id, version)
    finally:
        uncached.close()


def submit(ledger: Ledger, *commands: Command, idem: Idempotency | None = None,
           ) -> Outcome:
    ctx = Context(actor="writer-key", idempotency_key=idem.key if idem else None)
    return ledger.submit(commands, ctx, render_envelope, render_error, idem)


def new_deal(ledger: Ledger, financed: bool = True) -> UUID:
    body = application()
    if financed:
        authorize(ledger)
    later = lifecycle_to_financed() if financed else []
    outcome = submit(ledger, Command("DealApplied", body), *(
        Command(e["type"], e["data"], application_number=body["application_number"])
        for e in later))
    return UUID(outcome.envelopes[0]["deal_id"])


def disburse(deal_id: UUID, amount: str, reference: str, **extra: Any) -> Command:
    return Command("FundsDisbursed", {"amount": amount, "reference": reference},
                   deal_id=deal_id, **extra)


def assert_cached_deals_equal_reloads(settings: Settings, ledger: Ledger) -> int:
    """Every cached deal equals a reload at its version; how many are current."""
    current = 0
    for deal_id in list(ledger.deals._deals):
        cached = ledger.deals.take(deal_id)
        assert cached is not None
        loaded = reload(settings, deal_id, cached.version)
        book = ledger.policy_book()
        assert cached.view(book) == loaded.view(book)
        assert vars(cached) == vars(loaded)
        current += cached.version == reload(settings, deal_id).version
    return current


def test_cached_deals_equal_reloads_after_random_writes_from_two_instances(
    settings: Settings, pair: tuple[Ledger, Ledger],
):
    first, second = pair
    deals = [new_deal(first) for _ in range(3)] + [new_deal(second, financed=False)]
    rng = random.Random(20261201)
    acknowledged: set[str] = set()
    for step in range(120):
        ledger = first if rng.random() < 0.7 else second
        deal_id = rng.choice(deals)
        reference = f"R{step}"
        roll = rng.random()
        try:
            if roll < 0.15:  # refused: more than the commitment, or not financed yet
                submit(ledger, disburse(deal_id, "9000000.00", reference))
            elif roll < 0.25:  # a stale expected version
                submit(ledger, disburse(deal_id, "1.00", reference, expected_version=1))
            elif roll < 0.4:  # posted twice with one key: the second is a replay
                idem = Idempotency("writer-key", f"k{step}", reference)
                first_answer = submit(ledger, disburse(deal_id, "1.00", reference), idem=idem)
                again = submit(rng.choice(pair), disburse(deal_id, "1.00", reference),
                               idem=idem)
                assert again.replayed and again.response == first_answer.response
                acknowledged.add(reference)
            elif roll < 0.5:
                ledger.deal_state(deal_id)
            else:
                submit(ledger, disburse(deal_id, "1.00", reference))
                acknowledged.add(reference)
        except LedgerError as error:
            assert error.status in (409, 422), error
    stored = [e["data"]["reference"] for d in deals for e in first.deal_events(d)
              if e["type"] == "FundsDisbursed"]
    assert sorted(stored) == sorted(acknowledged)
    assert assert_cached_deals_equal_reloads(settings, first) > 0
    assert_cached_deals_equal_reloads(settings, second)


def test_a_deal_another_instance_wrote_is_reloaded_and_the_write_succeeds(
    settings: Settings, pair: tuple[Ledger, Ledger],
):
    first, second = pair
    deal_id = new_deal(first)
    submit(first, disburse(deal_id, "1.00", "A1"))
    cached_at = first.deals._deals[deal_id].version
    submit(second, disburse(deal_id, "2.00", "B1"))
    submit(second, disburse(deal_id, "3.00", "B2"))
    outcome = submit(first, disburse(deal_id, "4.00", "A2"))
    assert outcome.envelopes[0]["version"] == cached_at + 3
    events = first.deal_events(deal_id)
    assert [e["version"] for e in events] == list(range(1, cached_at + 4))
    assert [e["data"]["reference"] for e in events if e["type"] == "FundsDisbursed"] == [
        "A1", "B1", "B2", "A2"]
    assert first.deal_state(deal_id)["disbursed"] == "10.00"
    assert assert_cached_deals_equal_reloads(settings, first) == 1


def test_a_stale_cached_deal_never_refuses_what_the_stored_deal_allows(
    settings: Settings, pair: tuple[Ledger, Ledger],
):
    first, second = pair
    body = application()
    deal_id = new_deal(first, financed=False)
    authorize(second)
    for e in lifecycle_to_financed():  # financed by the other instance
        submit(second, Command(e["type"], e["data"], deal_id=deal_id))
    version = second.deal_state(deal_id)["version"]
    assert first.deals._deals[deal_id].version < version
    idem = Idempotency("writer-key", "stale-1", body["application_number"])
    outcome = submit(first, disburse(deal_id, "1.00", "A1", expected_version=version),
                     idem=idem)
    assert outcome.envelopes[0]["version"] == version + 1
    assert first.deals._deals[deal_id].version == version + 1
    assert assert_cached_deals_equal_reloads(settings, first) == 1


def test_a_defaulted_occurred_at_is_cached_as_the_store_stamped_it(
    settings: Settings, pair: tuple[Ledger, Ledger],
):
    first, _ = pair
    deal_id = new_deal(first)
    outcome = submit(first, disburse(deal_id, "1.00", "A1"))
    cached = first.deals._deals[deal_id]
    assert cached.updated_at == outcome.envelopes[0]["recorded_at"]
    assert cached.last_occurred_at == outcome.envelopes[0]["occurred_at"]
    assert assert_cached_deals_equal_reloads(settings, first) == 1


def test_a_cache_of_size_zero_keeps_nothing(settings: Settings):
    ledger = Ledger(settings.eventsourcing_env(), cache_size=0)
    try:
        deal_id = new_deal(ledger)
        submit(ledger, disburse(deal_id, "1.00", "A1"))
        assert ledger.deal_state(deal_id)["disbursed"] == "1.00"
        assert len(ledger.deals) == 0
    finally:
        ledger.close()


def test_a_reversal_loads_its_target_event_from_the_store(
    settings: Settings, pair: tuple[Ledger, Ledger],
):
    first, _ = pair
    deal_id = new_deal(first)
    version = submit(first, disburse(deal_id, "1.00", "A1")).envelopes[0]["version"]
    reverse = Command("EventReversed", {"version": version, "reason": "keyed twice",
                                        "return_reference": "RET-A1"}, deal_id=deal_id)
    facts = first.facts_for([reverse, disburse(deal_id, "1.00", "A2")])
    target = facts.reversal_targets[(deal_id, version)]
    assert (target.type, target.data["reference"], target.actor) == (
        "FundsDisbursed", "A1", "writer-key")
    assert first.facts_in_memory([reverse]) is None, "a reversal is loaded on a thread"
    first._put_back(facts)
    assert first.facts_for([Command("EventReversed", {"version": 99, "reason": "none"},
                                    deal_id=deal_id)]).reversal_targets == {}
