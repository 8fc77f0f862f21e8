"""Shared machinery for projections that need each deal's running state.

A batch loads the states of the deals it touches in one query, folds the
events in memory with the domain's own ``DealState`` (so read models and the
aggregate can never disagree), and writes the states back in bulk.
"""

from __future__ import annotations

import json
import operator
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple, get_type_hints

import sqlalchemy as sa

from domain.policy import PolicyBook, PolicyVersion
from domain.program import POLICY_ADOPTED, PROGRAM_ID
from domain.state import FIGURES, DealState, Stamp
from projections.base import Envelope, Tables, upsert

_DECIMALS = frozenset(k for k, v in get_type_hints(DealState).items() if v is Decimal)
STAGES = (
    "applied", "license_pending", "license_approved", "license_denied", "license_revoked",
    "board_approved", "board_rejected", "financed", "disbursing", "repaying", "repaid",
    "claimed", "cancelled",
)
PROGRAM = str(PROGRAM_ID)
PolicyProvider = Callable[[], PolicyBook]


def dump_state(state: DealState) -> str:
    return json.dumps(
        {k: (str(v) if isinstance(v, Decimal) else v) for k, v in vars(state).items()},
        separators=(",", ":"),
    )


def load_state(text: str) -> DealState:
    state = DealState()
    for k, v in json.loads(text).items():
        setattr(state, k, Decimal(v) if k in _DECIMALS and v is not None else v)
    return state


def cents(value: Decimal) -> int:
    return int(value * 100)


def format_cents(value: int | None) -> str:
    """An amount in cents as a money string with two places (``-`` when negative)."""
    v = int(value or 0)
    sign = "-" if v < 0 else ""
    v = abs(v)
    return f"{sign}{v // 100}.{v % 100:02d}"


def apply_event(state: DealState | None, ev: Envelope) -> DealState:
    if ev["type"] == "DealApplied":
        state = DealState()
    elif state is None:
        raise ValueError(f"event {ev['type']} at position {ev['position']} has no DealApplied")
    stamp = Stamp(int(ev["version"]), ev["occurred_at"], ev["recorded_at"],
                  ev.get("policy_version"))
    state.evolve(ev["type"], ev["data"], stamp)
    return state


def deal_events(events: Sequence[Envelope]) -> list[Envelope]:
    """The program stream's events create no deal and no row of a deal's read model."""
    return [ev for ev in events if str(ev["deal_id"]) != PROGRAM]


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


class DealStateProjection:
    """Base of the read models folded from each deal's ``DealState``. Stages and license
    statuses are judged under the policy version each deal's latest event names: the
    ledger's book, plus any version a batch adopts itself."""

    def __init__(self, policies: PolicyProvider) -> None:
        self.policies = policies

    name: str
    # whether ``load_prior`` gives each deal's applied position (``apply_folded`` needs it)
    knows_applied_position = False

    def apply_folded(self, conn: sa.Connection, t: Tables, events: Sequence[Envelope],
                     folded: Folded) -> None:
        """``apply`` for a batch folded once for every projection that takes it."""
        raise NotImplementedError

    def take_prior(self, conn: sa.Connection, t: Tables, events: Sequence[Envelope],
                   prior: Mapping[str, DealState]) -> Any:
        """What ``apply_folded`` needs of the touched deals' states before the batch, read
        before the fold moves them on in place; it finds it in ``folded.taken``."""
        return None

    def load_prior(self, conn: sa.Connection, t: Tables, ids: Iterable[str]) -> dict[str, Cached]:
        """The stored states of the deals ``ids`` (those that have one)."""
        c = t.states.c
        return {deal_id: Cached(version, None, load_state(text))
                for deal_id, version, text in chunked(
                    conn, sa.select(c.deal_id, c.version, c.state), c.deal_id, ids)}

    def book(self, events: Sequence[Envelope]) -> PolicyBook:
        adopted = [PolicyVersion.from_data(ev["data"]) for ev in events
                   if ev["type"] == POLICY_ADOPTED]
        return self.policies().with_versions(adopted)


def states_table(metadata: sa.MetaData, name: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("deal_id", sa.String(36), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
    )


def chunked(conn: sa.Connection, query: sa.Select[Any], key: sa.ColumnElement[Any],
             ids: Iterable[str]) -> Iterator[Any]:
    """The rows of ``query`` whose ``key`` is among ``ids``, 500 ids a query."""
    wanted = list(set(ids))
    for chunk in range(0, len(wanted), 500):
        yield from conn.execute(query.where(key.in_(wanted[chunk:chunk + 500])))


def load_states(conn: sa.Connection, table: sa.Table, ids: Iterable[str]) -> dict[str, DealState]:
    return {deal_id: load_state(text) for deal_id, text in chunked(
        conn, sa.select(table.c.deal_id, table.c.state), table.c.deal_id, ids)}


def save_states(
    conn: sa.Connection, table: sa.Table, states: Mapping[str, tuple[int, DealState]]
) -> None:
    """Write each deal's ``(version, state)``."""
    upsert(conn, table, [{"deal_id": deal_id, "version": version, "state": dump_state(state)}
                         for deal_id, (version, state) in states.items()])


# The figures whose changes the exposure ledger posts, in the order of its movements.
POSTED = ("approved", "committed", "disbursed", "principal_repaid", "claims_paid", "cancelled",
          "interest_received", "recovered")


_POSTED_OF = operator.attrgetter(*POSTED)  # one C call per event for the eight figures


def posted(state: DealState) -> dict[str, int]:
    """The posted figures of ``state``, in cents."""
    return dict(zip(POSTED, map(cents, _POSTED_OF(state)), strict=True))


Taken = dict[str, Any]  # what each projection took of the states before a batch, by name


class Folded:
    """One batch folded once through the deals' states, for every projection that takes
    it: which deals existed before the batch, what each projection took of their states
    before it (``DealStateProjection.take_prior``), each touched deal's state after it,
    and the posted figures after each event. The states are shared: readers must not
    mutate them."""

    def __init__(self, events: list[Envelope], existed: frozenset[str], taken: Taken,
                 after: dict[str, DealState], applied_at: Mapping[str, int],
                 steps: list[dict[str, int]]) -> None:
        self.events = events  # the batch's deal events, in position order
        self.existed = existed  # the touched deals that had a state before the batch
        self.taken = taken
        self.after = after  # each touched deal's state after its last event in the batch
        self.applied_at = applied_at
        self.steps = steps  # posted figures after each of ``events``
        self.last: dict[str, Envelope] = {str(ev["deal_id"]): ev for ev in events}
        self._dumped: dict[str, str] = {}

    def dumped(self, deal_id: str) -> str:
        """The state row's text of a touched deal, serialised once for every projection."""
        text = self._dumped.get(deal_id)
        if text is None:
            text = self._dumped[deal_id] = dump_state(self.after[deal_id])
        return text

    def state_rows(self) -> list[dict[str, Any]]:
        return [{"deal_id": d, "version": int(ev["version"]), "state": self.dumped(d)}
                for d, ev in self.last.items()]


TakePrior = Callable[[Mapping[str, DealState]], Taken]


class Fold:
    """Deals' states kept in memory, folded forward batch by batch: each event is decoded
    and folded once, not once per projection. A rebuild starts it empty and keeps it for
    the whole pass; a live batch starts it from the states before the batch. The states
    are moved on in place, not copied: what a projection needs of a state before the
    batch it takes first, through ``take``."""

    def __init__(self, states: dict[str, DealState] | None = None,
                 applied_at: dict[str, int] | None = None) -> None:
        self.states = states if states is not None else {}
        self.applied_at = applied_at if applied_at is not None else {}

    def batch(self, events: Sequence[Envelope], take: TakePrior | None = None) -> Folded:
        events = deal_events(events)
        touched = {str(ev["deal_id"]) for ev in events}
        prior = {d: self.states[d] for d in touched if d in self.states}
        taken = take(prior) if take is not None else {}
        steps: list[dict[str, int]] = []
        for ev in events:
            deal_id = str(ev["deal_id"])
            state = self.states[deal_id] = apply_event(self.states.get(deal_id), ev)
            if ev["type"] == "DealApplied":
                self.applied_at[deal_id] = int(ev["position"])
            steps.append(posted(state))
        after = {d: self.states[d] for d in touched}
        return Folded(events, frozenset(prior), taken, after, self.applied_at, steps)


class Cached(NamedTuple):
    version: int  # the deal's version the state stands at
    applied_position: int | None  # where the deal's DealApplied stands, when known
    state: DealState


class StateCache:
    """Each deal's state after its latest committed batch, for the live batches of one
    runner, least recently used first out.

    A deal's state after its event of version v is a function of its events 1..v alone,
    so an entry is right for every projection and slot, whoever wrote it, and after any
    rollback: a batch may start a deal from its entry when the entry's version is the
    one just before the deal's first event in the batch. A batch *takes* its entries
    out and folds them in place; only after its transaction commits does it ``put``
    back what it folded, so a rollback leaves no state behind that was moved on."""

    def __init__(self, size: int = 2_000) -> None:
        self.size = size
        self._entries: OrderedDict[str, Cached] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, deal_id: object) -> bool:
        return deal_id in self._entries

    def take(self, wanted: Mapping[str, int]) -> dict[str, Cached]:
        """The entries standing at each deal's wanted version, taken out of the cache
        (an entry at another version is dropped: it cannot serve the batch)."""
        found: dict[str, Cached] = {}
        with self._lock:
            for deal_id, version in wanted.items():
                entry = self._entries.pop(deal_id, None)
                if entry is not None and entry.version == version:
                    found[deal_id] = entry
        return found

    def put(self, folded: Folded) -> None:
        """Keep each deal's state after a committed batch."""
        if self.size <= 0:
            return
        with self._lock:
            for deal_id, ev in folded.last.items():
                self._entries[deal_id] = Cached(int(ev["version"]),
                                                folded.applied_at.get(deal_id),
                                                folded.after[deal_id])
                self._entries.move_to_end(deal_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

