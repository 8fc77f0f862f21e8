"""The runner's cache of deals' states: an entry serves a batch only at the version just
before the deal's first event in it, a taken entry is gone until a committed batch puts
its successor back, and the cache holds at most its size, least recently used out first."""

from __future__ import annotations

from typing import Any

from domain.state import DealState, estimated_bytes
from projections.dealstates import StateCache
from projections.folding import Folded

DEAL_A, DEAL_B, DEAL_C = "a" * 36, "b" * 36, "c" * 36


def folded(*versions: tuple[str, int]) -> Folded:
    """A batch whose last event of each deal stands at the given version."""
    events: list[dict[str, Any]] = [{"deal_id": d, "version": v, "position": i + 1}
                                    for i, (d, v) in enumerate(versions)]
    after = {d: DealState() for d, _ in versions}
    return Folded(events, {}, after, {d: 1 for d, _ in versions}, [])


def test_an_entry_at_the_version_before_the_batch_is_a_hit() -> None:
    cache = StateCache()
    batch = folded((DEAL_A, 3))
    cache.put(batch)
    found = cache.take({DEAL_A: 3})
    assert found[DEAL_A].state is batch.after[DEAL_A]
    assert found[DEAL_A].applied_position == 1


def test_an_entry_at_another_version_is_a_miss_and_is_dropped() -> None:
    cache = StateCache()
    cache.put(folded((DEAL_A, 3)))
    assert cache.take({DEAL_A: 4}) == {}
    assert len(cache) == 0
    assert cache.take({DEAL_A: 3}) == {}


def test_a_taken_entry_is_gone_until_a_batch_puts_one_back() -> None:
    cache = StateCache()
    cache.put(folded((DEAL_A, 3)))
    assert cache.take({DEAL_A: 3})
    assert cache.take({DEAL_A: 3}) == {}  # a rolled-back batch leaves nothing behind
    cache.put(folded((DEAL_A, 5)))
    assert cache.take({DEAL_A: 5})


def test_the_cache_keeps_at_most_its_size_dropping_the_least_recently_put() -> None:
    cache = StateCache(size=2)
    cache.put(folded((DEAL_A, 1)))
    cache.put(folded((DEAL_B, 1)))
    cache.put(folded((DEAL_A, 2)))
    cache.put(folded((DEAL_C, 1)))
    assert len(cache) == 2
    assert set(cache.take({DEAL_A: 2, DEAL_B: 1, DEAL_C: 1})) == {DEAL_A, DEAL_C}


def test_a_cache_of_size_zero_keeps_nothing() -> None:
    cache = StateCache(size=0)
    cache.put(folded((DEAL_A, 1)))
    assert len(cache) == 0



def test_the_cache_keeps_at_most_its_bytes_and_counts_what_it_holds() -> None:
    one = estimated_bytes(DealState())
    cache = StateCache(size=100, max_bytes=2 * one)
    for deal in (DEAL_A, DEAL_B, DEAL_C):
        cache.put(folded((deal, 1)))
    assert len(cache) == 2 and cache.bytes == 2 * one
    assert set(cache.take({DEAL_A: 1, DEAL_B: 1, DEAL_C: 1})) == {DEAL_B, DEAL_C}
    assert cache.bytes == 0
