"""The licenses read model, part of the ``deals`` projection: one row per approved license
per deal, with its number, validity and revocation, for ``GET /v1/licenses``.

A deal's rows are written again, from its folded state, whenever a batch holds one of
its license decisions (an approval or a revocation). Each row keeps the position of the
approval that made it: readers list licenses in the order they were approved, and a
number two deals hold (approved before v3) answers with the one approved first. Status
(valid | expired | revoked) is not stored: it depends on the day it is read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

import sqlalchemy as sa

from domain.licensing import License, license_key, license_view
from domain.state import DealState
from projections.base import Tables, insert
from projections.folding import Folded

DECISIONS = frozenset({"CommerceLicenseApproved", "CommerceLicenseRevoked"})
LicenseStatus = Literal["valid", "expired", "revoked"]
Known = dict[str, tuple[int, str]]  # license number -> (approved at, its application_ref)


def define(metadata: sa.MetaData, slot: str) -> sa.Table:
    return sa.Table(
        f"licenses_{slot}",
        metadata,
        sa.Column("license_number", sa.String(200), primary_key=True),
        sa.Column("deal_id", sa.String(36), primary_key=True, index=True),
        sa.Column("approved_position", sa.BigInteger, nullable=False, index=True),
        sa.Column("application_ref", sa.String(200), nullable=False),
        sa.Column("valid_until", sa.String(10), nullable=False),
        sa.Column("revoked_from", sa.String(10), nullable=True),
        sa.Column("license", sa.Text, nullable=False),  # eccns, consignee, lines, conditions
    )


def replace(conn: sa.Connection, t: Tables, folded: Folded) -> None:
    """Write again the rows of the deals whose license decisions are in the batch."""
    touched = sorted({str(ev["deal_id"]) for ev in folded.events if ev["type"] in DECISIONS})
    if not touched:
        return
    lic = t.licenses
    known: dict[str, Known] = {deal_id: {} for deal_id in touched}
    for deal_id, number, at, ref in conn.execute(
            sa.select(lic.c.deal_id, lic.c.license_number, lic.c.approved_position,
                      lic.c.application_ref).where(lic.c.deal_id.in_(touched))):
        known[deal_id][number] = (int(at), ref)
    for ev in folded.events:
        if ev["type"] == "CommerceLicenseApproved":
            number = license_key(ev["data"]["license_number"])
            known[str(ev["deal_id"])].setdefault(
                number, (int(ev["position"]), ev["data"]["application_ref"]))
    conn.execute(lic.delete().where(lic.c.deal_id.in_(touched)))
    insert(conn, lic, [row for deal_id in touched
                       for row in rows(deal_id, folded.after[deal_id], known[deal_id],
                                       folded.applied_at[deal_id])])


def rows(deal_id: str, state: DealState, known: Known, applied_position: int
         ) -> list[dict[str, Any]]:
    """A deal's rows: each approved license, once per number (two of a deal's licenses
    approved before v3 under one number: the one approved first). ``known`` says where
    each number was approved; one it lacks (rows lost outside a rebuild) is placed at the
    deal's application."""
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for license_ in state.licenses:
        if license_["status"] != "approved":
            continue
        number = license_key(license_["license_number"])
        at, ref = known.get(number, (applied_position, license_["application_ref"]))
        if number in seen or ref != license_["application_ref"]:
            continue
        seen.add(number)
        revoked = license_.get("revoked")
        found.append({
            "license_number": number,
            "deal_id": deal_id,
            "approved_position": at,
            "application_ref": license_["application_ref"],
            "valid_until": license_["valid_until"],
            "revoked_from": revoked["effective_date"] if revoked else None,
            "license": json.dumps({"eccns": license_["eccns"],
                                   "consignee": license_.get("consignee"),
                                   "lines": license_.get("lines"),
                                   "conditions": license_.get("conditions")},
                                  separators=(",", ":"), ensure_ascii=False),
        })
    return found


def view(row: sa.RowMapping, today: str) -> dict[str, Any]:
    """A row as the API shows it, its status judged ``today``."""
    stored = json.loads(row["license"])
    license_: License = {
        "license_number": row["license_number"], "application_ref": row["application_ref"],
        "valid_until": row["valid_until"], "eccns": stored["eccns"],
        **{k: stored[k] for k in ("consignee", "lines") if stored.get(k) is not None},
        **({"revoked": {"effective_date": row["revoked_from"]}}
           if row["revoked_from"] is not None else {}),
    }
    return {"license_number": row["license_number"], "deal_id": row["deal_id"],
            **license_view(license_, today)}


def find(conn: sa.Connection, t: Tables, number: str, today: str) -> dict[str, Any] | None:
    """The license numbered ``number`` (any case); of two deals' (before v3), the one
    approved first."""
    lic = t.licenses
    row = conn.execute(sa.select(lic).where(lic.c.license_number == license_key(number))
                       .order_by(lic.c.approved_position).limit(1)).mappings().first()
    return view(row, today) if row is not None else None


def status_is(t: Tables, status: LicenseStatus, today: str) -> sa.ColumnElement[bool]:
    """``status`` on ``today`` as SQL: what ``license_view`` judges."""
    lic = t.licenses
    revoked = sa.and_(lic.c.revoked_from.is_not(None), lic.c.revoked_from <= today)
    if status == "revoked":
        return revoked
    expired = lic.c.valid_until < today
    return sa.and_(sa.not_(revoked), expired if status == "expired" else sa.not_(expired))


def query(conn: sa.Connection, t: Tables, today: str, *, status: LicenseStatus | None = None,
          deal_id: str | None = None, limit: int = 100, after: int = 0,
          ) -> tuple[list[dict[str, Any]], int | None]:
    """A page of licenses in the order they were approved, and the cursor."""
    lic = t.licenses
    q = sa.select(lic).where(lic.c.approved_position > after)
    if status is not None:
        q = q.where(status_is(t, status, today))
    if deal_id is not None:
        q = q.where(lic.c.deal_id == deal_id)
    found: Sequence[Any] = conn.execute(
        q.order_by(lic.c.approved_position, lic.c.deal_id).limit(limit + 1)).mappings().all()
    more = len(found) > limit
    found = found[:limit]
    cursor = int(found[-1]["approved_position"]) if more and found else None
    return [view(row, today) for row in found], cursor
