"""The ``exposure`` read model: a double-entry ledger of every money movement.

Per deal: ``deal:<id>:authorised`` (memo of the board's approval),
``deal:<id>:undisbursed`` and ``deal:<id>:outstanding``; program contra
accounts on the other side. A deal's exposure is the debit balance of its
undisbursed plus outstanding accounts, so the ledger's balances must equal the
portfolio's exposure figures; ``reconciliation`` checks that, and that debits equal
credits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from projections.base import Envelope, Schema, Tables, insert, upsert
from projections.dealstates import DealStateProjection
from projections.folding import POSTED, Folded, format_cents, posted

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
    return {"postings": postings, "balances": balances}


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
    takes_steps = True

    def apply_folded(self, conn: sa.Connection, t: Tables, events: Sequence[Envelope],
                     folded: Folded) -> None:
        postings: list[dict[str, Any]] = []
        current = {deal_id: moved(state) for deal_id, state in folded.prior.items()}
        for ev, after in zip(folded.events, folded.steps, strict=True):
            deal_id = str(ev["deal_id"])
            before = current.get(deal_id, ZERO_FIGURES)
            current[deal_id] = after
            postings += postings_for(ev, before, after)
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


DEAL_ACCOUNTS = ("authorised", "outstanding", "undisbursed")


def program_accounts(conn: sa.Connection, t: Tables) -> list[dict[str, str]]:
    """The program's accounts, and each kind of deal account summed over the deals
    (``deal:*:outstanding``): every posting is in one of them, so their debits and credits
    add up to the ledger's totals and their balances to zero."""
    b = t.balances
    rows = [tuple(row) for row in conn.execute(
        sa.select(b.c.account, b.c.debit, b.c.credit).where(b.c.account.like("program:%")))]
    for kind in DEAL_ACCOUNTS:
        count, debit, credit = conn.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(b.c.debit), 0),
                      sa.func.coalesce(sa.func.sum(b.c.credit), 0))
            .where(b.c.account.like(f"deal:%:{kind}"))).one()
        if count:
            rows.append((f"deal:*:{kind}", debit, credit))
    return [{"account": a, "debit": format_cents(d), "credit": format_cents(c),
             "balance": format_cents(d - c)} for a, d, c in sorted(rows)]


def deal_postings(conn: sa.Connection, t: Tables, deal_id: str) -> list[dict[str, Any]]:
    p = t.postings
    rows = conn.execute(
        sa.select(p.c.position, p.c.entry, p.c.kind, p.c.account, p.c.debit, p.c.credit,
                  p.c.recorded_at)
        .where(p.c.deal_id == deal_id).order_by(p.c.position, p.c.entry))
    return [{"position": pos, "entry": e, "kind": k, "account": a, "debit": format_cents(d),
             "credit": format_cents(c), "recorded_at": at} for pos, e, k, a, d, c, at in rows]


def reconciliation(sums: dict[str, int], position: int, figures: dict[str, Any],
                   figures_position: int) -> dict[str, Any]:
    """Debits equal credits, and the ledger's exposure equals the portfolio's ``figures``
    (its totals at ``figures_position``) once both stand at the same position."""
    result: dict[str, Any] = {
        "position": position,
        "debits": format_cents(sums["debits"]),
        "credits": format_cents(sums["credits"]),
        "balanced": sums["debits"] == sums["credits"],
        "ledger_exposure": format_cents(sums["exposure"]),
        "ledger_committed": format_cents(sums["committed"]),
    }
    if position == figures_position:
        result["portfolio_exposure"] = figures["exposure"]
        result["portfolio_committed"] = figures["committed"]
        result["ok"] = (result["balanced"] and figures["exposure"] == result["ledger_exposure"]
                        and figures["committed"] == result["ledger_committed"])
    else:
        result["ok"] = result["balanced"]
        result["detail"] = (f"portfolio at {figures_position}, exposure at {position}: "
                            "figures compared once both reach the same position")
    return result


def deal_balances(conn: sa.Connection, t: Tables, deal_id: str) -> dict[str, str]:
    b = t.balances
    rows = conn.execute(
        sa.select(b.c.account, b.c.debit, b.c.credit).where(b.c.account.like(f"deal:{deal_id}:%")))
    return {a.rsplit(":", 1)[1]: format_cents(d - c) for a, d, c in rows}
