"""The references the suites hold the real code to, read plainly from the specifications:
``ReferenceDeal`` is SPEC §2 "Derived deal state" as a fold of accepted (type, data) pairs
with amounts in cents; ``mth``, ``audit_path`` and ``consistency_proof`` are RFC 6962 §2.1
written as its recursive definitions.

Nothing here shares code with ``domain/`` or ``projections/``, so an error there cannot
hide by being made twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# SPEC §2, the shipped policies: 3A090*, 4A090* and any ECCN ending in .z are controlled
CONTROLLED_PREFIXES = ("3A090", "4A090")
LICENSE_DECISIONS = {"LicenseRequested": "requested", "CommerceLicenseApproved": "approved",
                     "CommerceLicenseDenied": "denied"}
FIGURES = ("requested", "approved", "committed", "disbursed", "principal_repaid",
           "interest_received", "claims_paid", "recovered", "cancelled", "outstanding",
           "undisbursed", "exposure")
VIEW_KEYS = ("version", "stage", "license_status", "board_status", "closed", "financed",
             *FIGURES)
MONEY = {"FundsDisbursed": {"disbursed": "amount"},
         "RepaymentReceived": {"principal_repaid": "principal", "interest_received": "interest"},
         "ClaimPaid": {"claims_paid": "amount"}, "RecoveryReceived": {"recovered": "amount"}}


def cents(amount: str) -> int:
    whole, _, fraction = amount.partition(".")
    return int(whole) * 100 + int(fraction.ljust(2, "0"))


def text(amount: int) -> str:
    """Cents as a SPEC money string."""
    return f"{amount // 100}.{amount % 100:02d}"


def is_controlled(eccn: str) -> bool:
    upper = eccn.upper()
    return upper.startswith(CONTROLLED_PREFIXES) or upper.endswith(".Z")


@dataclass
class License:
    status: str
    eccns: set[str]
    number: str = ""
    valid_until: str = ""
    revoked_from: str | None = None

    def valid_on(self, day: str) -> bool:
        return self.status == "approved" and self.valid_until >= day and not self.revoked_by(day)

    def revoked_by(self, day: str) -> bool:
        return self.revoked_from is not None and self.revoked_from <= day


@dataclass
class ReferenceDeal:
    number: str
    country: str
    instrument: str
    term: str
    requested: int
    items: list[tuple[str, str, int]]  # category, eccn, value in cents
    quantities: dict[str, int] = field(default_factory=dict)  # by ECCN, over the items
    covered: tuple[int, int, dict[str, int]] | None = None  # what the approval saw (v3)
    contract: int = 0
    tenor: int = 0
    approved: int = 0
    committed: int = 0
    cancelled_amount: int = 0
    cancels_rest: bool = False
    closed: bool = False
    financed: bool = False
    board: str = "pending"
    last_license: str | None = None
    licenses: dict[str, License] = field(default_factory=dict)  # by application_ref
    money: dict[int, tuple[str, dict[str, int]]] = field(default_factory=dict)  # by version
    reversed: set[int] = field(default_factory=set)
    version: int = 1
    last_day: str = ""
    end_user: str | None = None  # "country:name" of an end user other than the buyer
    # (party, LIST) -> result of the latest screening recorded, in recording order
    screenings: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def applied(cls, data: Mapping[str, Any], day: str = "") -> ReferenceDeal:
        """The deal a ``DealApplied`` with ``data`` creates (on ``day``)."""
        items = [(i["category"], i["eccn"].upper(), cents(i["value"])) for i in data["items"]]
        buyer, end_user = _party(data["buyer"]), _party(data.get("end_user") or data["buyer"])
        return cls(data["application_number"], data["buyer"]["country"], data["instrument"],
                   data["term"], cents(data["financed_amount"]), items,
                   quantities=_quantities(data["items"]),
                   contract=cents(data["contract_value"]), tenor=data["tenor_years"],
                   last_day=day, end_user=None if end_user == buyer else end_user)

    def apply(self, type_name: str, data: Mapping[str, Any], day: str = "") -> None:
        """One more accepted event, which happened on ``day`` (``YYYY-MM-DD``)."""
        self.version += 1
        self.last_day = day
        if type_name in LICENSE_DECISIONS:
            self._license(type_name, data)
        elif type_name == "CommerceLicenseRevoked":  # SPEC v3: an earlier date replaces
            effective = data.get("effective_date", day)
            for lic in self.licenses.values():
                if lic.number == data["license_number"].upper() and lic.status == "approved":
                    lic.revoked_from = min(lic.revoked_from or effective, effective)
        elif type_name == "PartyScreened":
            # the buyer's screening serves both when the end user is the buyer
            party = data["party"] if self.end_user is not None else "buyer"
            key = (party, data["list"].strip().upper())
            self.screenings.pop(key, None)  # kept in recording order
            self.screenings[key] = data["result"]
        elif type_name == "DealAmended":
            if "financed_amount" in data:
                self.requested = cents(data["financed_amount"])
            if "contract_value" in data:
                self.contract = cents(data["contract_value"])
            self.tenor = data.get("tenor_years", self.tenor)
            if "items" in data:
                self.items = [(i["category"], i["eccn"].upper(), cents(i["value"]))
                              for i in data["items"]]
                self.quantities = _quantities(data["items"])
            if self.board == "approved" and self._beyond_approval():
                self.board = "stale"  # SPEC v3: until a new approving vote
        elif type_name == "BoardVoted":
            self.board = data["decision"]
            self.approved = cents(data["approved_amount"]) if self.board == "approved" else 0
            self.covered = ((self.requested, self.tenor, dict(self.quantities))
                            if self.board == "approved" else None)
        elif type_name == "CongressionalNotified":
            pass  # no figure of the view changes
        elif type_name == "DealFinanced":
            self.financed, self.committed = True, cents(data["amount"])
        elif type_name in MONEY:
            self.money[self.version] = (type_name, {figure: cents(data[name])
                                                    for figure, name in MONEY[type_name].items()})
        elif type_name == "EventReversed":
            self.reversed.add(data["version"])
        elif type_name == "DealCancelled" and not self.financed:
            self.closed = True
        elif type_name == "DealCancelled" and "amount" in data:
            self.cancelled_amount += cents(data["amount"])
        elif type_name == "DealCancelled":
            self.cancels_rest = True
        else:
            raise ValueError(f"the reference knows no event {type_name}")

    def _beyond_approval(self) -> bool:
        """A higher financed amount, another tenor, or more of some ECCN than the latest
        approval saw (an ECCN it did not see had 0)."""
        assert self.covered is not None
        amount, tenor, quantities = self.covered
        return (self.requested > amount or self.tenor != tenor
                or any(q > quantities.get(e, 0) for e, q in self.quantities.items()))

    def _license(self, type_name: str, data: Mapping[str, Any]) -> None:
        status = LICENSE_DECISIONS[type_name]
        self.last_license = status
        eccns = {e.upper() for e in data.get("eccns", [])}
        if type_name == "LicenseRequested":
            self.licenses[data["application_ref"]] = License(status, eccns)
            return
        lic = self.licenses[data["application_ref"]]
        lic.status = status
        if type_name == "CommerceLicenseApproved":
            lic.eccns, lic.number, lic.valid_until = eccns, data["license_number"].upper(), data[
                "valid_until"]

    def _sum(self, figure: str) -> int:
        return sum(amounts.get(figure, 0) for version, (_, amounts) in self.money.items()
                   if version not in self.reversed)

    @property
    def disbursed(self) -> int:
        return self._sum("disbursed")

    @property
    def principal_repaid(self) -> int:
        return self._sum("principal_repaid")

    @property
    def interest_received(self) -> int:
        return self._sum("interest_received")

    @property
    def claims_paid(self) -> int:
        return self._sum("claims_paid")

    @property
    def recovered(self) -> int:
        return self._sum("recovered")

    @property
    def cancelled(self) -> int:
        return self.committed - self.disbursed if self.cancels_rest else self.cancelled_amount

    @property
    def controlled(self) -> set[str]:
        return {eccn for _, eccn, _ in self.items if is_controlled(eccn)}

    @property
    def outstanding(self) -> int:
        return self.disbursed - self.principal_repaid - self.claims_paid

    @property
    def undisbursed(self) -> int:
        return self.committed - self.disbursed - self.cancelled

    @property
    def exposure(self) -> int:
        return self.outstanding + self.undisbursed

    def _covering(self, eccn: str) -> list[License]:
        return [lic for lic in self.licenses.values()
                if lic.status == "approved" and eccn in lic.eccns]

    @property
    def license_status(self) -> str:
        """SPEC v3: revoked, expired (as the gate would answer on the latest event's date),
        partially_approved, then the latest decision or request."""
        if not self.controlled:
            return "not_required"
        covered = [e for e in self.controlled if self._covering(e)]
        if len(covered) == len(self.controlled):  # else the gate answers "required"
            invalid = [e for e in covered
                       if not any(lic.valid_on(self.last_day) for lic in self._covering(e))]
            if any(lic.revoked_by(self.last_day) for e in invalid for lic in self._covering(e)):
                return "revoked"
            if invalid:
                return "expired"
        if covered and len(covered) < len(self.controlled):
            return "partially_approved"
        return self.last_license or "required"

    @property
    def stage(self) -> str:
        """The first stage of SPEC's table that holds."""
        if self.closed or (self.financed and self.disbursed == 0 and self.undisbursed == 0):
            return "cancelled"
        if self.financed and self.disbursed > 0 and self.outstanding == 0 == self.undisbursed:
            return "claimed" if self.claims_paid > 0 else "repaid"
        if self.financed and self.principal_repaid + self.claims_paid > 0:
            return "repaying"
        if self.financed:
            return "disbursing" if self.disbursed > 0 else "financed"
        if self.board != "pending":
            return f"board_{self.board}"
        return {"revoked": "license_revoked", "expired": "license_expired",
                "partially_approved": "license_partial", "denied": "license_denied",
                "approved": "license_approved",
                "requested": "license_pending"}.get(self.license_status, "applied")

    def figures(self) -> dict[str, int]:
        """Every money figure of the deal, in cents."""
        return {name: getattr(self, name) for name in FIGURES}

    def category_values(self) -> dict[str, int]:
        values: dict[str, int] = {}
        for category, _, value in self.items:
            values[category] = values.get(category, 0) + value
        return values

    def view(self) -> dict[str, Any]:
        """What a deal's view must say, in the shape ``comparable`` gives a real one."""
        return {"version": self.version, "stage": self.stage,
                "license_status": self.license_status, "board_status": self.board,
                "closed": self.closed, "financed": self.financed,
                **{name: text(value) for name, value in self.figures().items()},
                "licenses": {ref: lic.status for ref, lic in self.licenses.items()},
                "screenings": self._latest_screenings()}

    def _latest_screenings(self) -> dict[str, dict[str, str]]:
        parties = ["buyer"] if self.end_user is None else ["buyer", "end_user"]
        return {party: {list_name: result for (who, list_name), result in self.screenings.items()
                        if who == party} for party in parties}


def _party(party: Mapping[str, str]) -> str:
    return f"{party['country']}:{party['name'].strip().casefold()}"


def _quantities(items: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for item in items:
        eccn = item["eccn"].upper()
        totals[eccn] = totals.get(eccn, 0) + item["quantity"]
    return totals


def comparable(view: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a real deal view the reference predicts, licenses by application_ref,
    the latest screening of each party against each list by its result."""
    return {**{key: view[key] for key in VIEW_KEYS},
            "licenses": {lic["application_ref"]: lic["status"] for lic in view["licenses"]},
            "screenings": {party: {s["list"].strip().upper(): s["result"] for s in latest}
                           for party, latest in view["screenings"].items()}}


# ---- RFC 6962 §2.1 ----------------------------------------------------------------------

def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def split(n: int) -> int:
    """The largest power of two smaller than ``n``."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of raw ``leaves``."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return sha256(b"\x00" + leaves[0])
    k = split(len(leaves))
    return sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def audit_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the inclusion proof of leaf ``m``."""
    if len(leaves) <= 1:
        return []
    k = split(len(leaves))
    if m < k:
        return audit_path(m, leaves[:k]) + [mth(leaves[k:])]
    return audit_path(m - k, leaves[k:]) + [mth(leaves[:k])]


def consistency_proof(m: int, leaves: Sequence[bytes], whole: bool = True) -> list[bytes]:
    """SUBPROOF(m, D[n], whole): PROOF(m, D[n]) when ``whole``."""
    if m == len(leaves):
        return [] if whole else [mth(leaves)]
    k = split(len(leaves))
    if m <= k:
        return consistency_proof(m, leaves[:k], whole) + [mth(leaves[k:])]
    return consistency_proof(m - k, leaves[k:], False) + [mth(leaves[:k])]
