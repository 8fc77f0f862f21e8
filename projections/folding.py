"""Shared machinery for projections that need each deal's running state.

A batch loads the states of the deals it touches in one query, folds the
events in memory with the domain's own ``DealState`` (so read models and the
aggregate can never disagree), and writes the states back in bulk.
"""

from __future__ import annotations

import copy
import json
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, get_type_hints

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

    def apply_folded(self, conn: sa.Connection, t: Tables, events: Sequence[Envelope],
                     folded: Folded) -> None:
        """``apply`` for a batch a rebuild folded once for every projection."""
        raise NotImplementedError

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


def load_states(conn: sa.Connection, table: sa.Table, ids: Iterable[str]) -> dict[str, DealState]:
    wanted = list(set(ids))
    found: dict[str, DealState] = {}
    for chunk in range(0, len(wanted), 500):
        rows = conn.execute(
            sa.select(table.c.deal_id, table.c.state).where(
                table.c.deal_id.in_(wanted[chunk:chunk + 500])
            )
        )
        for deal_id, text in rows:
            found[deal_id] = load_state(text)
    return found


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


class Folded:
    """One batch folded once through the deals' states, for every projection of a rebuild:
    what each deal was before the batch, what it is after, and the posted figures after
    each event. The states are shared: readers must not mutate them."""

    def __init__(self, events: list[Envelope], prior: dict[str, DealState],
                 after: dict[str, DealState], applied_at: Mapping[str, int],
                 steps: list[dict[str, int]]) -> None:
        self.events = events  # the batch's deal events, in position order
        self.prior = prior  # copies of the states the batch's deals had before it
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


class Fold:
    """The deals' states kept in memory across the batches of a rebuild, which starts
    from empty tables: each event is decoded and folded once, not once per projection,
    and no state is read back from the tables it was just written to."""

    def __init__(self) -> None:
        self.states: dict[str, DealState] = {}
        self.applied_at: dict[str, int] = {}
        self._last: tuple[Sequence[Envelope], Folded] | None = None

    def batch(self, events: Sequence[Envelope]) -> Folded:
        """``events`` folded; the same batch (the same list) is folded only once."""
        if self._last is not None and self._last[0] is events:
            return self._last[1]
        folded = self._fold(deal_events(events))
        self._last = (events, folded)
        return folded

    def _fold(self, events: list[Envelope]) -> Folded:
        touched = {str(ev["deal_id"]) for ev in events}
        prior = {d: copy.deepcopy(self.states[d]) for d in touched if d in self.states}
        steps: list[dict[str, int]] = []
        for ev in events:
            deal_id = str(ev["deal_id"])
            state = self.states[deal_id] = apply_event(self.states.get(deal_id), ev)
            if ev["type"] == "DealApplied":
                self.applied_at[deal_id] = int(ev["position"])
            steps.append(posted(state))
        after = {d: self.states[d] for d in touched}
        return Folded(events, prior, after, self.applied_at, steps)
