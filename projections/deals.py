"""The ``deals`` read model: one row per deal with its derived state and filter columns."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from domain.policy import PolicyBook
from domain.state import DealState
from projections import licenses
from projections.base import Envelope, Schema, Tables, insert, upsert
from projections.dealstates import DealStateProjection
from projections.folding import Folded, category_values, figures, format_cents

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
        sa.Column("financed", sa.Boolean, nullable=False),
        # the DealApplied's occurred_at (business time), and what ``q`` searches: the
        # application number and the buyer's and end user's names, lower-cased
        sa.Column("occurred_at", sa.String(32), nullable=False, index=True),
        sa.Column("search_text", sa.Text, nullable=False),
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
        "financed": state.financed,
        "occurred_at": state.applied_occurred_at or "",
        "search_text": search_text(state),
        "view": json.dumps(view, separators=(",", ":"), ensure_ascii=False),
    }


def search_text(state: DealState) -> str:
    """What ``q`` matches: the application number and the buyer's and end user's names,
    lower-cased, one per line (a query holds no line break, so it never spans two)."""
    names = [state.application_number, state.buyer.get("name", ""),
             state.end_party.get("name", "")]
    return "\n".join(name.lower() for name in names)


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its wildcards taken literally."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filtered(q: sa.Select[Any], t: Tables, filters: DealFilters) -> sa.Select[Any]:
    d = t.deals
    for column in ("stage", "country", "instrument", "term", "license_status"):
        value = getattr(filters, column)
        if value is not None:
            q = q.where(d.c[column] == value)
    if filters.category is not None:
        q = q.where(d.c.deal_id.in_(sa.select(t.categories.c.deal_id).where(
            t.categories.c.category == filters.category)))
    if filters.text:
        q = q.where(d.c.search_text.like(_like(filters.text), escape="\\"))
    if filters.occurred_from is not None:
        q = q.where(d.c.occurred_at >= filters.occurred_from)
    if filters.occurred_to is not None:
        q = q.where(d.c.occurred_at < filters.occurred_to)
    return q


@dataclass(frozen=True)
class DealFilters:
    """The deals list's filters; ``None`` filters nothing. ``occurred_from`` and
    ``occurred_to`` are canonical timestamps (``format_timestamp``), which sort as text."""

    stage: str | None = None
    country: str | None = None
    instrument: str | None = None
    term: str | None = None
    category: str | None = None
    license_status: str | None = None
    text: str | None = None
    occurred_from: str | None = None
    occurred_to: str | None = None


def query_deals(conn: sa.Connection, t: Tables, filters: DealFilters, *, limit: int = 100,
                after: int = 0) -> tuple[list[str], int | None]:
    """A page of deals as their stored JSON views (compact, as the API writes JSON, so a
    page is spliced together instead of parsed and written again), and the cursor."""
    d = t.deals
    q = _filtered(sa.select(d.c.applied_position, d.c.view), t, filters)
    q = q.where(d.c.applied_position > after).order_by(d.c.applied_position).limit(limit + 1)
    rows = conn.execute(q).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [view for _, view in rows], (rows[-1][0] if more and rows else None)


def license_status_counts(conn: sa.Connection, t: Tables,
                          filters: DealFilters) -> dict[str, Any]:
    """The deals by license status (with how many were financed and their exposure), and
    by stage and license status: a revoked or expired license on a financed deal shows
    here whatever stage the deal has reached."""
    d = t.deals
    by_status = _filtered(sa.select(
        d.c.license_status, sa.func.count(), sa.func.sum(sa.case((d.c.financed, 1), else_=0)),
        sa.func.sum(d.c.exposure)), t, filters).group_by(d.c.license_status)
    by_stage = _filtered(sa.select(d.c.stage, d.c.license_status, sa.func.count()), t,
                         filters).group_by(d.c.stage, d.c.license_status)
    return {
        "by_license_status": [
            {"license_status": status, "deals": deals, "financed": int(financed or 0),
             "exposure": format_cents(int(exposure or 0))}
            for status, deals, financed, exposure in sorted(conn.execute(by_status).all())],
        "by_stage": [{"stage": stage, "license_status": status, "deals": deals}
                     for stage, status, deals in sorted(conn.execute(by_stage).all())],
    }


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
