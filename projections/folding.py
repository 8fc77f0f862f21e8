"""Shared machinery for projections that need each deal's running state.

A batch loads the states of the deals it touches in one query, folds the
events in memory with the domain's own ``DealState`` (so read models and the
aggregate can never disagree), and writes the states back in bulk.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, get_type_hints

import sqlalchemy as sa

from domain.policy import PolicyBook, PolicyVersion
from domain.program import POLICY_ADOPTED, PROGRAM_ID
from domain.state import FIGURES, DealState, Stamp
from projections.base import Envelope, upsert

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
