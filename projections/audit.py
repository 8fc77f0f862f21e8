"""The ``audit`` read model: one row per event — who, when, where from, what, its hash."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from projections.base import Envelope, Schema, Tables, insert

ENTRY_FIELDS = ("position", "event_id", "deal_id", "version", "type", "actor", "source",
                "correlation_id", "recorded_at", "occurred_at", "summary", "hash")


def define(metadata: sa.MetaData, slot: str) -> dict[str, sa.Table]:
    entries = sa.Table(
        f"audit_entries_{slot}",
        metadata,
        sa.Column("position", sa.BigInteger, primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("deal_id", sa.String(36), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("type", sa.String(32), nullable=False, index=True),
        sa.Column("actor", sa.String(200), nullable=False, index=True),
        sa.Column("source", sa.String(200)),
        sa.Column("correlation_id", sa.String(200)),
        sa.Column("recorded_at", sa.String(32), nullable=False, index=True),
        sa.Column("occurred_at", sa.String(32), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    return {"entries": entries}


def _amount(value: str) -> str:
    whole, _, cents = value.partition(".")
    return f"{int(whole):,}.{cents or '00'}"


# what most events say, their amounts written with thousands separators and their ECCNs
# joined; the events with optional parts are worded by ``_worded``
_SAID = {
    "LicenseRequested": "export license {application_ref} requested for {eccns}",
    "CommerceLicenseApproved": "license {license_number} ({application_ref}) approved for "
                               "{eccns}, valid until {valid_until}",
    "CommerceLicenseDenied": "license application {application_ref} denied: {reason}",
    "DealFinanced": "financed by {instrument}: {amount} USD committed, maturing "
                    "{final_maturity_date}",
    "FundsDisbursed": "{amount} USD disbursed (ref {reference})",
    "RepaymentReceived": "repayment of {principal} USD principal and {interest} USD interest "
                         "(ref {reference})",
    "ClaimPaid": "claim of {amount} USD paid (ref {reference})",
    "RecoveryReceived": "{amount} USD recovered after claims (ref {reference})",
    "CongressionalNotified": "Congress notified on {notified_on} of {amount} USD "
                             "(ref {reference})",
    "ProgramSuspended": "program suspended from {effective_from}: {reason}",
}
_AMOUNTS = frozenset({"amount", "principal", "interest", "financed_amount", "contract_value",
                      "approved_amount", "total_limit"})


def summarize(ev: Envelope) -> str:
    d: Mapping[str, Any] = ev["data"]
    t = ev["type"]
    said = _SAID.get(t)
    if said is None:
        return _worded(t, d)
    return said.format_map({k: _amount(v) if k in _AMOUNTS else ", ".join(v) if k == "eccns"
                            else v for k, v in d.items()})


def _worded(t: str, d: Mapping[str, Any]) -> str:
    if t == "DealApplied":
        return (f"{d['application_number']}: {d['exporter']['name']} ({d['exporter']['country']})"
                f" applied for a {d['term']}-term {d['instrument']} of "
                f"{_amount(d['financed_amount'])} USD on a {_amount(d['contract_value'])} USD "
                f"contract with {d['buyer']['name']} ({d['buyer']['country']})")
    if t == "BoardVoted":
        votes = f"{d['votes_for']}-{d['votes_against']}-{d['abstentions']}"
        amount = f" for {_amount(d['approved_amount'])} USD" if "approved_amount" in d else ""
        return f"board {d['decision']}{amount} ({votes}) on {d['meeting_date']}"
    if t == "DealCancelled":
        amount = f"{_amount(d['amount'])} USD" if "amount" in d else "the deal"
        return f"cancelled {amount}: {d['reason']}"
    if t == "CommerceLicenseRevoked":
        effective = f" from {d['effective_date']}" if "effective_date" in d else ""
        return f"license {d['license_number']} revoked{effective}: {d['reason']}"
    if t == "DealAmended":
        changed = ", ".join(k for k in d if k != "reason")
        return f"terms amended ({changed}): {d['reason']}"
    if t == "EventReversed":
        returned = (f" (funds returned, ref {d['return_reference']})"
                    if "return_reference" in d else "")
        return f"event version {d['version']} reversed: {d['reason']}{returned}"
    if t == "ProgramAuthorized":
        votes = f"{d['votes_for']}-{d['votes_against']}-{d['abstentions']}"
        until = f" until {d['expires_on']}" if "expires_on" in d else ""
        limits = "".join(f"; {c} {_amount(v)} USD" for c, v in
                         sorted((d.get("country_limits") or {}).items()))
        return (f"program authorized ({votes}, meeting of {d['meeting_date']}) from "
                f"{d['effective_from']}{until}: {_amount(d['total_limit'])} USD{limits}")
    if t == "PolicyProposed":
        return (f"policy {d['id']} proposed, to take effect on {d['effective_from']}, "
                f"under {d['authority']}")
    if t == "PolicyWithdrawn":
        comment = f": {d['comment']}" if "comment" in d else ""
        return f"policy proposal {d['id']} withdrawn{comment}"
    if t == "PolicyAdopted":
        designated = d.get("designated_countries")
        where = "every destination" if designated is None else ", ".join(designated)
        proposed = (f"; proposed by {d['proposed_by']} under {d['authority']}"
                    if "proposed_by" in d else "")
        return (f"policy {d['id']} adopted, in force from {d['effective_from']}: embargoed "
                f"{', '.join(d['embargoed'])}; controlled items barred for "
                f"{len(d['restricted_for_controlled'])} destinations; designated: "
                f"{where}{proposed}")
    return t


def entry(ev: Envelope) -> dict[str, Any]:
    return {
        "position": int(ev["position"]), "event_id": ev["event_id"], "deal_id": str(ev["deal_id"]),
        "version": int(ev["version"]), "type": ev["type"], "actor": ev["actor"],
        "source": ev.get("source"), "correlation_id": ev.get("correlation_id"),
        "recorded_at": ev["recorded_at"], "occurred_at": ev["occurred_at"],
        "summary": summarize(ev), "hash": ev["hash"],
    }


class AuditProjection:
    name = "audit"
    schema = Schema(define)

    def apply(self, conn: sa.Connection, t: Tables, events: Sequence[Envelope]) -> None:
        if events:
            insert(conn, t.entries, [entry(ev) for ev in events])


def query(
    conn: sa.Connection, t: Tables, *, deal_id: str | None = None, actor: str | None = None,
    type_name: str | None = None, recorded_from: str | None = None,
    recorded_to: str | None = None, after: int = 0, limit: int | None = None,
) -> list[dict[str, Any]]:
    e = t.entries
    q = sa.select(*(e.c[f] for f in ENTRY_FIELDS)).where(e.c.position > after)
    if deal_id is not None:
        q = q.where(e.c.deal_id == deal_id)
    if actor is not None:
        q = q.where(e.c.actor == actor)
    if type_name is not None:
        q = q.where(e.c.type == type_name)
    if recorded_from is not None:
        q = q.where(e.c.recorded_at >= recorded_from)
    if recorded_to is not None:
        q = q.where(e.c.recorded_at <= recorded_to)
    q = q.order_by(e.c.position)
    if limit is not None:
        q = q.limit(limit)
    return [dict(r._mapping) for r in conn.execute(q)]
