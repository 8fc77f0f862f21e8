"""Replaying a deal's stored events, reversals given their targets.

A deal keeps no copy of its money events, so a replay that meets an ``EventReversed``
needs the event it names. ``reversal_targets_wanted`` says which versions to read from the
store, by ``(deal_id, version)``: the targets not among the events replayed. ``replay``
supplies them to the events for the length of the replay only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from domain.deal import Deal, supplying, target_of
from domain.money import ReversalTarget


class Mutator(Protocol):
    """A decoded stored deal event, or a snapshot: what ``replay`` applies."""

    def mutate(self, aggregate: Any, /) -> Any: ...


def reversal_targets_wanted(events: Iterable[Mutator]) -> set[int]:
    """The versions whose stored events a ``replay`` of ``events`` must be given: the
    targets of its reversals that are not among ``events`` themselves."""
    events = list(events)
    present = {ev.originator_version for ev in events if isinstance(ev, Deal.Event)}
    return {ev.data["version"] for ev in events
            if isinstance(ev, Deal.EventReversed)} - present


def replay(deal: Deal | None, events: Iterable[Mutator],
           targets: Mapping[int, ReversalTarget] | None = None) -> Deal | None:
    """``deal`` moved on by ``events`` (from nothing when None; a snapshot may come
    first). ``targets``: the stored events ``reversal_targets_wanted(events)`` named, by
    version; a reversal whose target is among ``events`` finds it there."""
    events = list(events)
    wanted = {ev.data["version"] for ev in events if isinstance(ev, Deal.EventReversed)}
    known = dict(targets or {})
    known.update({ev.originator_version: target_of(ev) for ev in events
                  if isinstance(ev, Deal.Event) and ev.originator_version in wanted})
    for ev in events:
        if deal is not None and isinstance(ev, Deal.EventReversed):
            with supplying(deal, known):
                deal = ev.mutate(deal)
        else:
            deal = ev.mutate(deal)
    return deal
