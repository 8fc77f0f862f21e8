"""The deal cache keeps the latest version of each deal, and the most recently used."""

from __future__ import annotations

import uuid

from domain.deal import Deal, EventMeta
from service.ledger.cache import DealCache
from tests.unit.test_rules import application, judged


def a_deal() -> Deal:
    deal = Deal.apply_for(uuid.uuid4(), application(),
                          EventMeta("e0", "2026-06-02T12:00:00.000000Z", "t"), judged())
    deal.collect_events()
    return deal


def test_the_least_recently_used_deal_goes_first():
    cache = DealCache(2)
    first, second, third = a_deal(), a_deal(), a_deal()
    cache.put(first)
    cache.put(second)
    cache.put(cache.take(first.id) or first)
    cache.put(third)
    assert cache.take(second.id) is None
    assert cache.take(first.id) is first and cache.take(third.id) is third


def test_an_earlier_version_never_replaces_a_later_one():
    cache = DealCache(10)
    later = a_deal()
    earlier = later.fork()
    later.version += 1
    cache.put(later)
    cache.put(earlier)
    assert cache.take(later.id) is later
    assert cache.take(later.id) is None


def test_a_cache_of_size_zero_keeps_nothing():
    cache = DealCache(0)
    cache.put(a_deal())
    assert len(cache) == 0
