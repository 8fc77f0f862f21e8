"""The ``deals`` read model: one row per deal with its derived state and filter columns."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from domain.policy import PolicyBook
from domain.state import DealState
from projections.base import Envelope, Schema, Tables, insert, upsert
from projections.dealstates import DealStateProjection
from projections.folding import Folded, category_values, figures

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

    def apply_folded(self, conn: sa.Connection, t: Tables, events: Sequence[Envelope],
                     folded: Folded) -> None:
        book = self.book(events)
        upsert(conn, t.deals, [_row(ev, folded.after[i], folded.applied_at[i], book)
                               for i, ev in folded.last.items()])
        amended = {str(ev["deal_id"]) for ev in folded.events if ev["type"] == "DealAmended"}
        renewed = (folded.last.keys() - folded.existed) | amended
        if amended:
            conn.execute(t.categories.delete().where(t.categories.c.deal_id.in_(amended)))
        categories = [{"deal_id": deal_id, "category": category, "item_value": value}
                      for deal_id in renewed
                      for category, value in category_values(folded.after[deal_id]).items()]
        if categories:
            insert(conn, t.categories, categories)


def _row(ev: Envelope, state: DealState, applied_position: int,
         book: PolicyBook) -> dict[str, Any]:
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
    }


def query_deals(
    conn: sa.Connection, t: Tables, *, stage: str | None = None, country: str | None = None,
    instrument: str | None = None, term: str | None = None, category: str | None = None,
    license_status: str | None = None, limit: int = 100, after: int = 0,
) -> tuple[list[str], int | None]:
    """A page of deals as their stored JSON views (compact, as the API writes JSON, so a
    page is spliced together instead of parsed and written again), and the cursor."""
    d = t.deals
    q = sa.select(d.c.applied_position, d.c.view).where(d.c.applied_position > after)
    filters = [("stage", stage), ("country", country), ("instrument", instrument),
               ("term", term)]
    # license_status gets its column in a change of its own: until the table has it, the
    # filter is accepted and ignored
    if "license_status" in d.c:
        filters.append(("license_status", license_status))
    for column, value in filters:
        if value is not None:
            q = q.where(d.c[column] == value)
    if category is not None:
        q = q.where(d.c.deal_id.in_(
            sa.select(t.categories.c.deal_id).where(t.categories.c.category == category)))
    rows = conn.execute(q.order_by(d.c.applied_position).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [view for _, view in rows], (rows[-1][0] if more and rows else None)
