"""The write path's deal cache: each deal as the store would load it, at some version.

An entry is always a pristine aggregate, equal to a reload at its version: it is only
ever built from stored events (a load, or the events an append stored), never from a
decision. It may be stale when another process appended since; a decision on a stale
entry appends versions the store already holds, so the append fails with
``StreamConflict`` and the deal is reloaded. A thread ``take``s an entry out while it
works on it, so no two threads share one: another thread meanwhile loads from the store.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from uuid import UUID

from domain.deal import Deal


class DealCache:
    """At most ``size`` deals, least recently used evicted first; 0 keeps none."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._deals: OrderedDict[UUID, Deal] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._deals)

    def take(self, deal_id: UUID) -> Deal | None:
        """The entry of ``deal_id``, out of the cache (None when there is none)."""
        with self._lock:
            return self._deals.pop(deal_id, None)

    def put(self, deal: Deal) -> None:
        """Keep ``deal``, unless the entry already there is at a later version: both are
        the same stream's states, and the later one is closer to the store's."""
        if self.size <= 0:
            return
        with self._lock:
            held = self._deals.get(deal.id)
            if held is None or held.version < deal.version:
                self._deals[deal.id] = deal
            self._deals.move_to_end(deal.id)
            while len(self._deals) > self.size:
                self._deals.popitem(last=False)
