"""The ``deals`` read model: one row per deal with its derived state and filter columns."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import sqlalchemy as sa

from domain.policy import PolicyBook
from domain.state import DealState
from projections.base import Envelope, Schema, Tables, insert, upsert
from projections.folding import (
    Cached,
    DealStateProjection,
    Folded,
    apply_event,
    category_values,
    chunked,
    deal_events,
    dump_state,
    figures,
    load_state,
)

MONEY = ("requested", "approved", "committed", "disbursed", "outstanding", "undisbursed",
         "exposure")


def define(metadata: sa.MetaData, slot: str) -> dict[str, sa.Table]:
    deals = sa.Table(
        f"deals_{slot}",
        metadata,
        sa.Column("deal_id", sa.String(36), primary_key=True),
        sa.Column("application_number", sa.String(32), nullable=False),
        sa.Column("applied_position", sa.BigInteger, nullable=False, unique=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(32), nullable=False, index=True),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("instrument", sa.String(32), nullable=False, index=True),
        sa.Column("term", sa.String(16), nullable=False, index=True),
        *(sa.Column(m, sa.BigInteger, nullable=False) for m in MONEY),
        sa.Column("view", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        # a country's deals in list order: the filter and ORDER BY ... LIMIT from one index
        sa.Index(f"ix_deals_{slot}_country_applied_position", "country", "applied_position"),
    )
    categories = sa.Table(
        f"deal_categories_{slot}",
        metadata,
        sa.Column("deal_id", sa.String(36), primary_key=True),
        sa.Column("category", sa.String(32), primary_key=True, index=True),
        sa.Column("item_value", sa.BigInteger, nullable=False),
    )
    return {"deals": deals, "categories": categories}


class DealsProjection(DealStateProjection):
    name = "deals"
    schema = Schema(define)

    def apply(self, conn: sa.Connection, t: Tables, events: Sequence[Envelope]) -> None:
        book = self.book(events)
        events = deal_events(events)
        d = t.deals.c
        states: dict[str, DealState] = {}
        applied_at: dict[str, int] = {}
        for deal_id, text, position in conn.execute(
            sa.select(d.deal_id, d.state, d.applied_position)
            .where(d.deal_id.in_({str(ev["deal_id"]) for ev in events}))
        ):
            states[deal_id], applied_at[deal_id] = load_state(text), position
        existing = set(states)
        last: dict[str, Envelope] = {}
        for ev in events:
            deal_id = str(ev["deal_id"])
            states[deal_id] = apply_event(states.get(deal_id), ev)
            if ev["type"] == "DealApplied":
                applied_at[deal_id] = int(ev["position"])
            last[deal_id] = ev
        _write(conn, t, book, events, last, states, applied_at, existing,
               {i: dump_state(states[i]) for i in last})

    knows_applied_position = True

    def apply_folded(self, conn: sa.Connection, t: Tables, events: Sequence[Envelope],
                     folded: Folded) -> None:
        """``apply`` for a batch folded once for every projection that takes it."""
        _write(conn, t, self.book(events), folded.events, folded.last, folded.after,
               folded.applied_at, folded.existed, {i: folded.dumped(i) for i in folded.last})

    def load_prior(self, conn: sa.Connection, t: Tables, ids: Iterable[str]) -> dict[str, Cached]:
        d = t.deals.c
        query = sa.select(d.deal_id, d.version, d.applied_position, d.state)
        return {deal_id: Cached(version, applied, load_state(text))
                for deal_id, version, applied, text in chunked(conn, query, d.deal_id, ids)}


def _write(conn: sa.Connection, t: Tables, book: PolicyBook, events: Sequence[Envelope],
           last: Mapping[str, Envelope], states: Mapping[str, DealState],
           applied_at: Mapping[str, int], existing: AbstractSet[str],
           dumped: Mapping[str, str]) -> None:
    upsert(conn, t.deals, [_row(ev, states[i], applied_at[i], book, dumped[i])
                           for i, ev in last.items()])
    amended = {str(ev["deal_id"]) for ev in events if ev["type"] == "DealAmended"}
    renewed = (last.keys() - existing) | amended
    if amended:
        conn.execute(t.categories.delete().where(t.categories.c.deal_id.in_(amended)))
    categories = [{"deal_id": deal_id, "category": category, "item_value": value}
                  for deal_id in renewed
                  for category, value in category_values(states[deal_id]).items()]
    if categories:
        insert(conn, t.categories, categories)


def _row(ev: Envelope, state: DealState, applied_position: int,
         book: PolicyBook, state_text: str) -> dict[str, Any]:
    policy = state.policy_in(book)
    f = {**figures(state), "stage": state.stage_under(policy)}
    deal_id, version = str(ev["deal_id"]), int(ev["version"])
    view = state.view_under(policy, deal_id, version, shared=True)  # dumped at once
    return {
        "deal_id": deal_id,
        "application_number": state.application_number,
        "applied_position": applied_position,
        "position": int(ev["position"]),
        "version": version,
        **{column: f[column] for column in ("stage", "country", "instrument", "term", *MONEY)},
        "view": json.dumps(view, separators=(",", ":"), ensure_ascii=False),
        "state": state_text,
    }


def query_deals(
    conn: sa.Connection, t: Tables, *, stage: str | None = None, country: str | None = None,
    instrument: str | None = None, term: str | None = None, category: str | None = None,
    limit: int = 100, after: int = 0,
) -> tuple[list[str], int | None]:
    """A page of deals as their stored JSON views (compact, as the API writes JSON, so a
    page is spliced together instead of parsed and written again), and the cursor."""
    d = t.deals
    q = sa.select(d.c.applied_position, d.c.view).where(d.c.applied_position > after)
    for column, value in (("stage", stage), ("country", country), ("instrument", instrument),
                          ("term", term)):
        if value is not None:
            q = q.where(d.c[column] == value)
    if category is not None:
        q = q.where(d.c.deal_id.in_(
            sa.select(t.categories.c.deal_id).where(t.categories.c.category == category)))
    rows = conn.execute(q.order_by(d.c.applied_position).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [view for _, view in rows], (rows[-1][0] if more and rows else None)
