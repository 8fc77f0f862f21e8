"""What a deal's state holds in memory, roughly: the caches of deals and of their folded
states are bounded by it."""

from __future__ import annotations

from typing import Any

STATE_BYTES = 8_192  # a state's fixed part in memory: its attributes, parties, items
ENTRY_BYTES = 400  # each entry of a collection it holds (measured: 370 B a money event)


def estimated_bytes(state: Any) -> int:
    """A cheap estimate of the memory ``state`` holds: its fixed part, and each entry of
    the collections among its attributes (one level: no walk of the object graph). The
    caches of deals and of their folded states are bounded by it."""
    entries = 0
    for value in vars(state).values():
        if isinstance(value, dict | list | set | tuple):
            entries += len(value)
    return STATE_BYTES + ENTRY_BYTES * entries
