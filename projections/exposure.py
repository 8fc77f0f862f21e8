"""The ``exposure`` read model: a double-entry ledger of every money movement.

Per deal: ``deal:<id>:authorised`` (memo of the board's approval),
``deal:<id>:undisbursed`` and ``deal:<id>:outstanding``; program contra
accounts on the other side. A deal's exposure is the debit balance of its
undisbursed plus outstanding accounts, so the ledger's balances must equal the
portfolio's exposure figures; ``reconcile`` checks that, and that debits equal
credits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from domain.state import DealState
from projections import portfolio
from projections.base import Envelope, Schema, Tables, insert, upsert
from projections.folding import (
    POSTED,
    DealStateProjection,
    Folded,
    apply_event,
    deal_events,
    format_cents,
    load_states,
    posted,
    save_states,
    states_table,
)
from projections.runner import Runner

# kind, figure whose increase is posted, debit account, credit account ("{d}" = deal prefix)
MOVEMENTS = (
    ("authorised", "approved", "{d}:authorised", "program:authorisations"),
    ("committed", "committed", "{d}:undisbursed", "program:commitments"),
    ("disbursed", "disbursed", "{d}:outstanding", "{d}:undisbursed"),
    ("repaid", "principal_repaid", "program:repayments", "{d}:outstanding"),
    ("claimed", "claims_paid", "program:claims", "{d}:outstanding"),
    ("cancelled", "cancelled", "program:cancellations", "{d}:undisbursed"),
    ("interest", "interest_received", "program:cash", "program:interest_income"),
    ("recovered", "recovered", "program:cash", "program:recoveries"),
)
MOVED = tuple(m[1] for m in MOVEMENTS)
if MOVED != POSTED:  # a rebuild's shared fold records POSTED after each event
    raise ImportError("exposure MOVEMENTS and folding.POSTED name different figures")
ZERO_FIGURES = dict.fromkeys(MOVED, 0)
moved = posted  # the figures whose changes are posted, in cents


def define(metadata: sa.MetaData, slot: str) -> dict[str, sa.Table]:
    postings = sa.Table(
        f"exposure_postings_{slot}",
        metadata,
        sa.Column("position", sa.BigInteger, primary_key=True),
        sa.Column("entry", sa.Integer, primary_key=True),
        sa.Column("deal_id", sa.String(36), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("account", sa.String(64), nullable=False, index=True),
        sa.Column("debit", sa.BigInteger, nullable=False),
        sa.Column("credit", sa.BigInteger, nullable=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
    )
    balances = sa.Table(
        f"exposure_balances_{slot}",
        metadata,
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("debit", sa.BigInteger, nullable=False),
        sa.Column("credit", sa.BigInteger, nullable=False),
    )
    return {"postings": postings, "balances": balances,
            "states": states_table(metadata, f"exposure_states_{slot}")}


def postings_for(
    ev: Envelope, before: dict[str, int], after: dict[str, int]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    prefix = f"deal:{ev['deal_id']}"
    for kind, figure, debit, credit in MOVEMENTS:
        amount = after[figure] - before[figure]
        if not amount:
            continue
        dr, cr = debit.format(d=prefix), credit.format(d=prefix)
        if amount < 0:  # a contra entry: a replaced board approval, a reversed money event
            dr, cr, amount = cr, dr, -amount
        if ev["type"] == "EventReversed":
            kind = "reversal"
        for account, d, c in ((dr, amount, 0), (cr, 0, amount)):
            rows.append({"position": int(ev["position"]), "entry": len(rows),
                         "deal_id": str(ev["deal_id"]), "kind": kind, "account": account,
                         "debit": d, "credit": c, "recorded_at": ev["recorded_at"]})
    return rows


class ExposureProjection(DealStateProjection):
    name = "exposure"
    schema = Schema(define)

    def apply(self, conn: sa.Connection, t: Tables, events: Sequence[Envelope]) -> None:
        events = deal_events(events)
        states = load_states(conn, t.states, {str(ev["deal_id"]) for ev in events})
        versions: dict[str, int] = {}
        postings: list[dict[str, Any]] = []
        current: dict[str, dict[str, int]] = {}  # each deal's figures after its last event
        for ev in events:
            deal_id = str(ev["deal_id"])
            state = states.get(deal_id)
            before = current.get(deal_id) or (moved(state) if state is not None else ZERO_FIGURES)
            states[deal_id] = apply_event(state, ev)
            current[deal_id] = moved(states[deal_id])
            postings += postings_for(ev, before, current[deal_id])
            versions[deal_id] = int(ev["version"])
        save_states(conn, t.states, {d: (v, states[d]) for d, v in versions.items()})
        _post(conn, t, postings)

    def take_prior(self, conn: sa.Connection, t: Tables, events: Sequence[Envelope],
                   prior: Mapping[str, DealState]) -> dict[str, dict[str, int]]:
        """Each touched deal's posted figures before the batch."""
        return {deal_id: moved(state) for deal_id, state in prior.items()}

    def apply_folded(self, conn: sa.Connection, t: Tables, events: Sequence[Envelope],
                     folded: Folded) -> None:
        """``apply`` for a batch folded once for every projection that takes it."""
        postings: list[dict[str, Any]] = []
        current: dict[str, dict[str, int]] = folded.taken[self.name]
        for ev, after in zip(folded.events, folded.steps, strict=True):
            deal_id = str(ev["deal_id"])
            before = current.get(deal_id, ZERO_FIGURES)
            current[deal_id] = after
            postings += postings_for(ev, before, after)
        upsert(conn, t.states, folded.state_rows())
        _post(conn, t, postings)


def _post(conn: sa.Connection, t: Tables, postings: list[dict[str, Any]]) -> None:
    if postings:
        insert(conn, t.postings, postings)
        _add_balances(conn, t.balances, postings)


def _add_balances(conn: sa.Connection, table: sa.Table, postings: list[dict[str, Any]]) -> None:
    delta: dict[str, dict[str, int]] = defaultdict(lambda: {"debit": 0, "credit": 0})
    for p in postings:
        delta[p["account"]]["debit"] += p["debit"]
        delta[p["account"]]["credit"] += p["credit"]
    upsert(conn, table, [{"account": a, **sides} for a, sides in delta.items()], add=True)


def totals(conn: sa.Connection, t: Tables) -> dict[str, int]:
    b = t.balances
    debit, credit = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(b.c.debit), 0),
                  sa.func.coalesce(sa.func.sum(b.c.credit), 0))
    ).one()
    exposure = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(b.c.debit - b.c.credit), 0)).where(
            sa.or_(b.c.account.like("deal:%:undisbursed"), b.c.account.like("deal:%:outstanding")))
    ).scalar_one()
    committed = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(b.c.credit - b.c.debit), 0)).where(
            b.c.account == "program:commitments")
    ).scalar_one()
    return {"debits": int(debit), "credits": int(credit), "exposure": int(exposure),
            "committed": int(committed)}


def program_accounts(conn: sa.Connection, t: Tables) -> list[dict[str, str]]:
    b = t.balances
    rows = conn.execute(sa.select(b.c.account, b.c.debit, b.c.credit)
                        .where(b.c.account.like("program:%")).order_by(b.c.account))
    return [{"account": a, "debit": format_cents(d), "credit": format_cents(c),
             "balance": format_cents(d - c)} for a, d, c in rows]


def deal_postings(conn: sa.Connection, t: Tables, deal_id: str) -> list[dict[str, Any]]:
    p = t.postings
    rows = conn.execute(
        sa.select(p.c.position, p.c.entry, p.c.kind, p.c.account, p.c.debit, p.c.credit,
                  p.c.recorded_at)
        .where(p.c.deal_id == deal_id).order_by(p.c.position, p.c.entry))
    return [{"position": pos, "entry": e, "kind": k, "account": a, "debit": format_cents(d),
             "credit": format_cents(c), "recorded_at": at} for pos, e, k, a, d, c, at in rows]


def reconcile(runner: Runner) -> dict[str, Any]:
    """Debits equal credits, and the ledger's exposure equals the portfolio's."""
    with runner.engine.connect() as conn:
        e_tables, e_pos = runner.active(conn, "exposure")
        p_tables, p_pos = runner.active(conn, "portfolio")
        sums = totals(conn, e_tables)
        figures = portfolio.read(conn, p_tables, p_pos)["totals"]
    result: dict[str, Any] = {
        "position": e_pos,
        "debits": format_cents(sums["debits"]),
        "credits": format_cents(sums["credits"]),
        "balanced": sums["debits"] == sums["credits"],
        "ledger_exposure": format_cents(sums["exposure"]),
        "ledger_committed": format_cents(sums["committed"]),
    }
    if e_pos == p_pos:
        result["portfolio_exposure"] = figures["exposure"]
        result["portfolio_committed"] = figures["committed"]
        result["ok"] = (result["balanced"] and figures["exposure"] == result["ledger_exposure"]
                        and figures["committed"] == result["ledger_committed"])
    else:
        result["ok"] = result["balanced"]
        result["detail"] = (f"portfolio at {p_pos}, exposure at {e_pos}: "
                            "figures compared once both reach the same position")
    return result


def deal_balances(conn: sa.Connection, t: Tables, deal_id: str) -> dict[str, str]:
    b = t.balances
    rows = conn.execute(
        sa.select(b.c.account, b.c.debit, b.c.credit).where(b.c.account.like(f"deal:{deal_id}:%")))
    return {a.rsplit(":", 1)[1]: format_cents(d - c) for a, d, c in rows}
