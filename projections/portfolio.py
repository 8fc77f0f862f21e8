"""The ``portfolio`` read model: totals and breakdowns kept up to date by deltas."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from domain.policy import PolicyBook
from domain.stages import STAGES
from domain.state import DealState
from projections.base import Envelope, Schema, Tables, upsert
from projections.dealstates import DealStateProjection
from projections.folding import Folded, category_values, figures, fold_events, format_cents

SUMS = ("requested", "approved", "committed", "disbursed", "outstanding", "exposure",
        "claims_paid", "recovered")
COUNTERS = ("deals", *SUMS, "item_value")
LISTS = ("country", "instrument", "term")
# Positions between checkpoints: an as_of read folds at most this many events (and the
# earlier events of the deals they touch) on top of one.
CHECKPOINT_EVERY = 500
Delta = dict[tuple[str, str], dict[str, int]]


def define(metadata: sa.MetaData, slot: str) -> dict[str, sa.Table]:
    rows = sa.Table(
        f"portfolio_figures_{slot}",
        metadata,
        sa.Column("dimension", sa.String(16), primary_key=True),
        sa.Column("key", sa.String(32), primary_key=True),
        *(sa.Column(c, sa.BigInteger, nullable=False, default=0) for c in COUNTERS),
    )
    checkpoints = sa.Table(
        f"portfolio_checkpoints_{slot}",
        metadata,
        sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("dimension", sa.String(16), primary_key=True),
        sa.Column("key", sa.String(32), primary_key=True),
        *(sa.Column(c, sa.BigInteger, nullable=False) for c in COUNTERS),
    )
    return {"figures": rows, "checkpoints": checkpoints}


def contributions(state: DealState, book: PolicyBook) -> dict[tuple[str, str], dict[str, int]]:
    """What one deal adds to each portfolio row."""
    f = {**figures(state), "stage": state.stage_in(book)}
    money_part = {k: f[k] for k in SUMS}
    out: dict[tuple[str, str], dict[str, int]] = {
        ("total", ""): {"deals": 1, **money_part},
        ("stage", f["stage"]): {"deals": 1, **money_part},
    }
    for dim in LISTS:
        out[(dim, f[dim])] = {"deals": 1, **money_part}
    for category, value in category_values(state).items():
        out[("category", category)] = {"deals": 1, "item_value": value}
    return out


def add(acc: dict[tuple[str, str], dict[str, int]], part: dict[tuple[str, str], dict[str, int]],
        sign: int) -> None:
    for key, values in part.items():
        row = acc[key]
        for k, v in values.items():
            row[k] = row.get(k, 0) + sign * v


class PortfolioProjection(DealStateProjection):
    name = "portfolio"
    schema = Schema(define)

    def marks(self, events: Sequence[Envelope]) -> list[int]:
        """Where a checkpoint may fall inside the batch: before an event whose position,
        less one, passes a multiple of ``CHECKPOINT_EVERY`` that the event before did not."""
        return [int(ev["position"]) - 1 for prev, ev in zip(events, events[1:], strict=False)
                if (int(ev["position"]) - 1) // CHECKPOINT_EVERY
                > (int(prev["position"]) - 1) // CHECKPOINT_EVERY]

    def apply_folded(self, conn: sa.Connection, t: Tables, events: Sequence[Envelope],
                     folded: Folded) -> None:
        """Move the figures by what the touched deals add now instead of before; on first
        reaching a position past a multiple of ``CHECKPOINT_EVERY``, copy the figures as
        they stand before that event, so the checkpoints depend on the log alone and a
        rebuild writes the same ones."""
        book = self.book(events)
        last = last_checkpoint(conn, t.checkpoints)
        due: list[int] = []
        for ev in events:
            before = int(ev["position"]) - 1
            if before // CHECKPOINT_EVERY > last // CHECKPOINT_EVERY:
                due.append(before)
                last = before
        current = {deal_id: contributions(state, book) for deal_id, state in folded.prior.items()}
        delta: Delta = defaultdict(dict)
        for mark in sorted(set(folded.marked) | set(due)):
            for deal_id, state in folded.marked.get(mark, {}).items():
                _move(delta, current, deal_id, contributions(state, book))
            if mark in due:
                _write(conn, t.figures, delta)
                delta = defaultdict(dict)
                _checkpoint(conn, t, mark)
        for deal_id, state in folded.after.items():
            _move(delta, current, deal_id, contributions(state, book))
        _write(conn, t.figures, delta)


def _move(delta: Delta, current: dict[str, Delta], deal_id: str, now: Delta) -> None:
    """A deal's rows move from what it added before (if anything) to what it adds ``now``."""
    if deal_id in current:
        add(delta, current[deal_id], -1)
    add(delta, now, +1)
    current[deal_id] = now


def last_checkpoint(conn: sa.Connection, table: sa.Table, through: int | None = None) -> int:
    """The latest checkpoint's position (at or before ``through``); 0 when none."""
    if through is None:  # every live batch asks: its statement is built once
        return int(conn.execute(_latest(table)).scalar() or 0)
    q = sa.select(sa.func.max(table.c.position)).where(table.c.position <= through)
    return int(conn.execute(q).scalar() or 0)


@functools.cache
def _latest(table: sa.Table) -> sa.Select[tuple[Any]]:
    return sa.select(sa.func.max(table.c.position))


@functools.cache
def _delete_empty(table: sa.Table) -> sa.Delete:
    """Rows whose deals all moved elsewhere go, so a rebuild gives the same rows."""
    return table.delete().where(*(table.c[c] == 0 for c in COUNTERS))


def _checkpoint(conn: sa.Connection, t: Tables, position: int) -> None:
    f, names = t.figures, ["dimension", "key", *COUNTERS]
    conn.execute(t.checkpoints.insert().from_select(
        ["position", *names],
        sa.select(sa.literal(position, sa.BigInteger), *(f.c[n] for n in names))))


def _write(conn: sa.Connection, table: sa.Table,
           delta: dict[tuple[str, str], dict[str, int]]) -> None:
    rows = [{"dimension": dimension, "key": key, **{c: values.get(c, 0) for c in COUNTERS}}
            for (dimension, key), values in delta.items() if any(values.values())]
    if rows:
        upsert(conn, table, rows, add=True)
        conn.execute(_delete_empty(table))


def summary(rows: Iterable[dict[str, Any]], position: int) -> dict[str, Any]:
    """The API shape of the portfolio from (dimension, key, counters...) rows."""
    by_dim: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_dim[r["dimension"]].append(r)

    def figures_of(r: dict[str, Any] | None) -> dict[str, Any]:
        r = r or {}
        return {"deals": int(r.get("deals") or 0), **{s: format_cents(r.get(s)) for s in SUMS}}

    total = by_dim.get("total", [None])[0]
    stages = {s: 0 for s in STAGES}
    for r in by_dim.get("stage", []):
        stages[r["key"]] = int(r["deals"])
    out: dict[str, Any] = {"position": position, "totals": figures_of(total), "by_stage": stages}
    for dim in LISTS:
        out[f"by_{dim}"] = [
            {dim: r["key"], **figures_of(r)}
            for r in sorted(by_dim.get(dim, []), key=lambda r: r["key"]) if r["deals"]
        ]
    out["by_category"] = [
        {"category": r["key"], "deals": int(r["deals"]),
         "item_value": format_cents(r["item_value"])}
        for r in sorted(by_dim.get("category", []), key=lambda r: r["key"]) if r["deals"]
    ]
    return out


def read(conn: sa.Connection, t: Tables, position: int) -> dict[str, Any]:
    rows = [dict(r._mapping) for r in conn.execute(sa.select(t.figures))]
    return summary(rows, position)


def from_events(events: Iterable[Envelope], book: PolicyBook) -> dict[str, Any]:
    """The portfolio folded straight from the log (time travel, and a cross-check)."""
    events = list(events)
    acc: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for state in fold_events(events).values():
        add(acc, contributions(state, book), +1)
    rows = [{"dimension": d, "key": k, **{c: v.get(c, 0) for c in COUNTERS}}
            for (d, k), v in acc.items()]
    return summary(rows, int(events[-1]["position"]) if events else 0)
