"""The portfolio as of a past position: the latest checkpoint at or before it, plus what
the deals touched since then changed.

Each touched deal's events up to the position are folded once; its contribution as the
checkpoint saw it is taken away and its contribution at the position added, so the work
is bounded by the checkpoint spacing and those deals' histories, not by the log.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Protocol
from uuid import UUID

import sqlalchemy as sa

from domain.policy import PolicyBook
from domain.state import DealState
from projections.base import Envelope, Tables
from projections.folding import PROGRAM, Targets, apply_event
from projections.portfolio import COUNTERS, add, contributions, last_checkpoint, summary

Rows = dict[tuple[str, str], dict[str, int]]


class Log(Protocol):
    def streams_between(self, after: int, through: int) -> list[UUID]: ...

    def select_streams(self, deal_ids: Iterable[UUID],
                       through: int) -> Sequence[Envelope]: ...


def portfolio_at(conn: sa.Connection, t: Tables, log: Log, book: PolicyBook,
                 through: int) -> dict[str, Any]:
    """The portfolio from the events at positions up to ``through``."""
    start = last_checkpoint(conn, t.checkpoints, through)
    acc = _checkpoint_rows(conn, t.checkpoints, start)
    ids = [d for d in log.streams_between(start, through) if str(d) != PROGRAM]
    for before, after in _states(log.select_streams(ids, through), start, book):
        if before is not None:
            add(acc, before, -1)
        add(acc, after, +1)
    rows = [{"dimension": d, "key": k, **{c: v.get(c, 0) for c in COUNTERS}}
            for (d, k), v in acc.items()]
    return summary(rows, through)


def _checkpoint_rows(conn: sa.Connection, table: sa.Table, position: int) -> Rows:
    acc: Rows = defaultdict(dict)
    for r in conn.execute(sa.select(table).where(table.c.position == position)):
        m = r._mapping
        acc[(m["dimension"], m["key"])] = {c: int(m[c]) for c in COUNTERS}
    return acc


def _states(events: Sequence[Envelope], split: int,
            book: PolicyBook) -> list[tuple[Rows | None, Rows]]:
    """Each deal's contributions at ``split`` (None if it did not exist yet) and after all
    of ``events`` (its events in position order)."""
    states: dict[str, DealState] = {}
    targets: Targets = {}
    before: dict[str, Rows | None] = {}
    for ev in events:
        deal_id = str(ev["deal_id"])
        if int(ev["position"]) > split and deal_id not in before:
            state = states.get(deal_id)
            before[deal_id] = contributions(state, book) if state is not None else None
        states[deal_id] = apply_event(states.get(deal_id), ev, targets)
    return [(before[d], contributions(s, book)) for d, s in states.items()]
