"""The ``deals`` read model: one row per deal with its derived state and filter columns."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from domain.policy import PolicyBook
from domain.state import DealState
from projections import licenses
from projections.base import Envelope, Schema, Tables, insert, upsert
from projections.dealstates import DealStateProjection
from projections.folding import Folded, category_values, figures

MONEY = ("requested", "approved", "committed", "disbursed", "outstanding", "undisbursed",
         "exposure")
FINISHED = ("cancelled", "repaid", "claimed")  # the stages a deal has nothing more to do in


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
        sa.Column("license_status", sa.String(32), nullable=False, index=True),
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
    return {"deals": deals, "categories": categories,
            "licenses": licenses.define(metadata, slot)}


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
        licenses.replace(conn, t, folded)


def _row(ev: Envelope, state: DealState, applied_position: int,
         book: PolicyBook) -> dict[str, Any]:
    deal_id, version = str(ev["deal_id"]), int(ev["version"])
    view = state.view_in(book, deal_id, version, shared=True)  # dumped at once
    f = {**figures(state), "stage": view["stage"]}
    return {
        "deal_id": deal_id,
        "application_number": state.application_number,
        "applied_position": applied_position,
        "position": int(ev["position"]),
        "version": version,
        **{column: f[column] for column in ("stage", "country", "instrument", "term", *MONEY)},
        "license_status": view["license_status"],
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
    for column, value in (("stage", stage), ("country", country), ("instrument", instrument),
                          ("term", term), ("license_status", license_status)):
        if value is not None:
            q = q.where(d.c[column] == value)
    if category is not None:
        q = q.where(d.c.deal_id.in_(
            sa.select(t.categories.c.deal_id).where(t.categories.c.category == category)))
    rows = conn.execute(q.order_by(d.c.applied_position).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [view for _, view in rows], (rows[-1][0] if more and rows else None)


def query_unscreened(conn: sa.Connection, t: Tables) -> list[dict[str, Any]]:
    """The open deals (not closed, not in a ``FINISHED`` stage) whose buyer, or end user
    when it is another, has no screening at all, in application order: each with its
    application number, id, stage, buyer's and (when another) end user's country, and
    the parties that lack a screening.

    SQL keeps the rows whose compact view holds an empty list of screenings (or none, a
    row written before v3), which a JSON string cannot fake (its quotes are escaped);
    each row kept is then read as JSON, so the answer is exact."""
    d, view = t.deals, t.deals.c.view
    candidates = sa.or_(view.contains('"buyer":[]', autoescape=True),
                        view.contains('"end_user":[]', autoescape=True),
                        sa.not_(view.contains('"screenings":', autoescape=True)))
    q = (sa.select(d.c.view).where(d.c.stage.not_in(FINISHED), candidates)
         .order_by(d.c.applied_position))
    found: list[dict[str, Any]] = []
    for (text,) in conn.execute(q):
        deal = json.loads(text)
        lacking = unscreened_parties(deal)
        if not lacking or deal.get("closed"):
            continue
        apart = "end_user" in deal.get("screenings", {})  # the end user is another
        found.append({
            "application_number": deal["application_number"], "deal_id": deal["deal_id"],
            "stage": deal["stage"], "buyer_country": deal["buyer"]["country"],
            "end_user_country": deal["end_user"]["country"] if apart else None,
            "unscreened": lacking})
    return found


def unscreened_parties(view: dict[str, Any]) -> list[str]:
    """The parties of a deal's view with no screening: ``buyer``, and ``end_user`` when the
    end user is another (the view lists screenings for the parties screened apart)."""
    screenings = view.get("screenings")
    if screenings is None:  # a row written before v3: no party was ever screened
        return ["buyer"]
    return [party for party, latest in screenings.items() if not latest]
