"""Deals' states folded from envelopes with the domain's own ``DealState`` (so read models
and the aggregate can never disagree): the state's codec, the figures read models take
from it, and the fold of a batch, once for every projection that takes it.

A stored state holds running totals, not the deal's history: a money event's effects
live in a table of their own (``projections.dealstates``), and a reversal is given its
target when it is folded.
"""

from __future__ import annotations

import copy
import json
import operator
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from decimal import Decimal
from typing import Any, get_type_hints

from domain.money import REVERSAL, ReversalTarget
from domain.policy import PolicyBook
from domain.program import PROGRAM_ID
from domain.state import FIGURES, MONEY_EFFECTS, DealState, Stamp
from projections.base import Envelope

_DECIMALS = frozenset(k for k, v in get_type_hints(DealState).items() if v is Decimal)
PROGRAM = str(PROGRAM_ID)
PolicyProvider = Callable[[], PolicyBook]
Target = dict[str, str]  # a money event as a reversal needs it: its type and its effects
Targets = MutableMapping[tuple[str, int], Target]  # by (deal_id, version)


def dump_state(state: DealState) -> str:
    return json.dumps(
        {k: (str(v) if isinstance(v, Decimal) else v) for k, v in vars(state).items()},
        separators=(",", ":"),
    )


def load_state(text: str) -> DealState:
    state = DealState()
    for k, v in json.loads(text).items():
        if k != "money_events":  # stored by the code before running totals only
            setattr(state, k, Decimal(v) if k in _DECIMALS and v is not None else v)
    return state


def copy_state(state: DealState) -> DealState:
    """A copy that folding the original further leaves as it is."""
    twin = copy.copy(state)
    twin.own_mutables()
    return twin


def cents(value: Decimal) -> int:
    return int(value * 100)


def format_cents(value: int | None) -> str:
    """An amount in cents as a money string with two places (``-`` when negative)."""
    v = int(value or 0)
    sign = "-" if v < 0 else ""
    v = abs(v)
    return f"{sign}{v // 100}.{v % 100:02d}"


def money_of(ev: Envelope) -> Target | None:
    """What a reversal of ``ev`` takes back, if ``ev`` is a money event."""
    effects = MONEY_EFFECTS.get(ev["type"])
    if effects is None:
        return None
    return {"type": ev["type"], **{figure: ev["data"][field] for figure, field in effects}}


def apply_event(state: DealState | None, ev: Envelope, targets: Targets) -> DealState:
    """``state`` moved on by ``ev``. ``targets`` holds the money events a reversal may name
    (``ev``'s own is added)."""
    if ev["type"] == "DealApplied":
        state = DealState()
    elif state is None:
        raise ValueError(f"event {ev['type']} at position {ev['position']} has no DealApplied")
    stamp = Stamp(int(ev["version"]), ev["occurred_at"], ev["recorded_at"],
                  ev.get("policy_version"))
    deal_id = str(ev["deal_id"])
    target = (targets.get((deal_id, int(ev["data"]["version"])))
              if ev["type"] == REVERSAL else None)
    _evolve(state, ev, stamp, target)
    money = money_of(ev)
    if money is not None:
        targets[(deal_id, int(ev["version"]))] = money
    return state


def _evolve(state: DealState, ev: Envelope, stamp: Stamp, target: Target | None) -> None:
    """The one place a reversal is handed its target, rebuilt from the effects the money
    table keeps (a target the table lacks takes nothing back: a stored reversal always
    names a money event of its deal)."""
    reversal = None
    if ev["type"] == REVERSAL:
        version = int(ev["data"]["version"])
        kind = target["type"] if target is not None else "unknown"
        fields = dict(MONEY_EFFECTS.get(kind, ()))
        data = {fields[figure]: amount for figure, amount in (target or {}).items()
                if figure in fields}
        reversal = ReversalTarget(version, kind, data, "")
    state.evolve(ev["type"], ev["data"], stamp, reversal)


def deal_events(events: Sequence[Envelope]) -> list[Envelope]:
    """The program stream's events create no deal and no row of a deal's read model."""
    return [ev for ev in events if str(ev["deal_id"]) != PROGRAM]


def fold_events(events: Iterable[Envelope]) -> dict[str, DealState]:
    """Each deal's state after ``events`` (whole streams, in position order)."""
    states: dict[str, DealState] = {}
    targets: Targets = {}
    for ev in events:
        if str(ev["deal_id"]) != PROGRAM:
            states[str(ev["deal_id"])] = apply_event(states.get(str(ev["deal_id"])), ev, targets)
    return states


def figures(state: DealState) -> dict[str, Any]:
    """What portfolio rows sum over, as integer cents."""
    return {
        "country": state.buyer["country"],
        "instrument": state.instrument,
        "term": state.term,
        **{name: cents(getattr(state, name)) for name in FIGURES},
    }


def category_values(state: DealState) -> dict[str, int]:
    values: dict[str, int] = {}
    for item in state.items:
        values[item["category"]] = values.get(item["category"], 0) + cents(Decimal(item["value"]))
    return values


# The figures whose changes the exposure ledger posts, in the order of its movements.
POSTED = ("approved", "committed", "disbursed", "principal_repaid", "claims_paid", "cancelled",
          "interest_received", "recovered")
_POSTED_OF = operator.attrgetter(*POSTED)  # one C call per event for the eight figures


def posted(state: DealState) -> dict[str, int]:
    """The posted figures of ``state``, in cents."""
    return dict(zip(POSTED, map(cents, _POSTED_OF(state)), strict=True))


class Folded:
    """One batch folded once, for every projection that takes it: each touched deal's
    state before the batch (a copy) and after it, the states of the deals moved on
    between marks (copies, at each mark's position), the posted figures after each
    event, and the money events the batch recorded and reversed. The states are shared:
    readers must not mutate them."""

    def __init__(self, events: list[Envelope], prior: dict[str, DealState],
                 after: dict[str, DealState], applied_at: Mapping[str, int],
                 steps: list[dict[str, int]], marked: dict[int, dict[str, DealState]] | None = None,
                 money: dict[tuple[str, int], Target] | None = None,
                 reversed_: list[tuple[str, int]] | None = None) -> None:
        self.events = events  # the batch's deal events, in position order
        self.prior = prior  # the touched deals that had a state before the batch
        self.existed = frozenset(prior)
        self.after = after  # each touched deal's state after its last event in the batch
        self.applied_at = applied_at
        self.steps = steps  # posted figures after each of ``events``
        self.marked = marked or {}
        self.money = money or {}
        self.reversed = reversed_ or []  # (deal, version reversed)
        self.reversed_at: list[int] = []  # the version of each reversal
        self.last: dict[str, Envelope] = {str(ev["deal_id"]): ev for ev in events}

    def beyond(self, versions: Mapping[str, int]) -> Folded:
        """The batch without what each deal's events up to ``versions`` recorded (its
        money events, reversals and state)."""
        def new(deal_id: str, version: int) -> bool:
            return version > versions.get(deal_id, 0)

        kept = Folded([], self.prior, self.after, self.applied_at, [], self.marked,
                      {k: t for k, t in self.money.items() if new(*k)},
                      [(d, v) for (d, v), at in zip(self.reversed, self.reversed_at, strict=True)
                       if new(d, at)])
        kept.last = {d: ev for d, ev in self.last.items() if new(d, int(ev["version"]))}
        return kept


class Fold:
    """Deals' states kept in memory, folded forward batch by batch: each event is decoded
    and folded once, not once per projection. A rebuild starts it empty and keeps it for
    the whole pass; a live batch starts it from the states before the batch. The states
    are moved on in place; the batch keeps copies of what it needs of them before."""

    def __init__(self, states: dict[str, DealState] | None = None,
                 applied_at: dict[str, int] | None = None) -> None:
        self.states = states if states is not None else {}
        self.applied_at = applied_at if applied_at is not None else {}

    def batch(self, events: Sequence[Envelope], targets: Targets,
              marks: Sequence[int] = (), steps: bool = True) -> Folded:
        """Fold ``events``; ``targets`` holds the money events their reversals name. At each
        of ``marks`` (positions, ascending) keep copies of the states moved on since the
        mark before; with ``steps``, the posted figures after each event."""
        events = deal_events(events)
        touched = {str(ev["deal_id"]) for ev in events}
        prior = {d: copy_state(self.states[d]) for d in touched if d in self.states}
        posted_after: list[dict[str, int]] = []
        money: dict[tuple[str, int], Target] = {}
        reversed_: list[tuple[str, int]] = []
        reversed_at: list[int] = []
        marked: dict[int, dict[str, DealState]] = {}
        pending = list(marks)
        since: set[str] = set()
        for ev in events:
            while pending and pending[0] < int(ev["position"]):
                marked[pending.pop(0)] = {d: copy_state(self.states[d]) for d in since}
                since = set()
            deal_id = str(ev["deal_id"])
            state = self.states[deal_id] = apply_event(self.states.get(deal_id), ev, targets)
            since.add(deal_id)
            if ev["type"] == "DealApplied":
                self.applied_at[deal_id] = int(ev["position"])
            elif ev["type"] == "EventReversed":
                reversed_.append((deal_id, int(ev["data"]["version"])))
                reversed_at.append(int(ev["version"]))
            target = money_of(ev)
            if target is not None:
                money[(deal_id, int(ev["version"]))] = target
            if steps:
                posted_after.append(posted(state))
        for mark in pending:
            marked[mark] = {d: copy_state(self.states[d]) for d in since}
            since = set()
        after = {d: self.states[d] for d in touched}
        folded = Folded(events, prior, after, self.applied_at, posted_after, marked, money,
                        reversed_)
        folded.reversed_at = reversed_at
        return folded


def reversal_targets(events: Sequence[Envelope]) -> set[tuple[str, int]]:
    """The money events the reversals among ``events`` name that ``events`` do not hold."""
    own = {(str(ev["deal_id"]), int(ev["version"])) for ev in events}
    return {(str(ev["deal_id"]), int(ev["data"]["version"])) for ev in events
            if ev["type"] == "EventReversed"} - own
