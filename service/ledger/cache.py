"""The write path's deal cache: each deal as the store would load it, at some version.

An entry is always a pristine aggregate, equal to a reload at its version: it is only
ever built from stored events (a load, or the events an append stored), never from a
decision. It may be stale when another process appended since; a decision on a stale
entry appends versions the store already holds, so the append fails with
``StreamConflict`` and the deal is reloaded. A thread ``take``s an entry out while it
works on it, so no two threads share one: another thread meanwhile loads from the store.

The cache is bounded by an estimate of the bytes its deals hold (and, as before, by a
number of deals): a deal whose state grows with its history weighs what it holds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from uuid import UUID

from domain.deal import Deal
from domain.state import estimated_bytes


class DealCache:
    """At most ``max_bytes`` (estimated) and ``size`` deals, least recently used evicted
    first; either 0 keeps none."""

    def __init__(self, size: int, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.size = size if max_bytes > 0 else 0
        self.max_bytes = max_bytes
        self.bytes = 0
        self._deals: OrderedDict[UUID, Deal] = OrderedDict()
        self._weights: dict[UUID, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._deals)

    def take(self, deal_id: UUID) -> Deal | None:
        """The entry of ``deal_id``, out of the cache (None when there is none)."""
        with self._lock:
            deal = self._deals.pop(deal_id, None)
            if deal is not None:
                self.bytes -= self._weights.pop(deal_id)
            return deal

    def put(self, deal: Deal) -> None:
        """Keep ``deal``, unless the entry already there is at a later version: both are
        the same stream's states, and the later one is closer to the store's."""
        if self.size <= 0:
            return
        weight = estimated_bytes(deal)
        with self._lock:
            held = self._deals.get(deal.id)
            if held is None or held.version < deal.version:
                self.bytes += weight - self._weights.get(deal.id, 0)
                self._deals[deal.id] = deal
                self._weights[deal.id] = weight
            self._deals.move_to_end(deal.id)
            while self._deals and (len(self._deals) > self.size or self.bytes > self.max_bytes):
                dropped, _ = self._deals.popitem(last=False)
                self.bytes -= self._weights.pop(dropped)
