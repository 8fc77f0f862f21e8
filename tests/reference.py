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

# SPEC §2, the default policy: 3A090*, 4A090* and any ECCN ending in .z are controlled
CONTROLLED_PREFIXES = ("3A090", "4A090")
LICENSE_DECISIONS = {"LicenseRequested": "requested", "CommerceLicenseApproved": "approved",
                     "CommerceLicenseDenied": "denied"}
FIGURES = ("requested", "approved", "committed", "disbursed", "principal_repaid",
           "interest_received", "claims_paid", "cancelled", "outstanding", "undisbursed",
           "exposure")
VIEW_KEYS = ("version", "stage", "license_status", "board_status", "closed", "financed",
             *FIGURES)


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
class ReferenceDeal:
    number: str
    country: str
    instrument: str
    term: str
    requested: int
    items: list[tuple[str, str, int]]  # category, eccn, value in cents
    approved: int = 0
    committed: int = 0
    disbursed: int = 0
    principal_repaid: int = 0
    interest_received: int = 0
    claims_paid: int = 0
    cancelled: int = 0
    closed: bool = False
    financed: bool = False
    board: str = "pending"
    last_license: str | None = None
    licenses: dict[str, str] = field(default_factory=dict)  # application_ref -> status
    version: int = 1

    @classmethod
    def applied(cls, data: Mapping[str, Any]) -> ReferenceDeal:
        """The deal a ``DealApplied`` with ``data`` creates."""
        items = [(i["category"], i["eccn"], cents(i["value"])) for i in data["items"]]
        return cls(data["application_number"], data["buyer"]["country"], data["instrument"],
                   data["term"], cents(data["financed_amount"]), items)

    def apply(self, type_name: str, data: Mapping[str, Any]) -> None:
        """One more accepted event."""
        self.version += 1
        if type_name in LICENSE_DECISIONS:
            status = LICENSE_DECISIONS[type_name]
            self.licenses[data["application_ref"]] = self.last_license = status
        elif type_name == "BoardVoted":
            self.board = data["decision"]
            self.approved = cents(data["approved_amount"]) if self.board == "approved" else 0
        elif type_name == "DealFinanced":
            self.financed, self.committed = True, cents(data["amount"])
        elif type_name == "FundsDisbursed":
            self.disbursed += cents(data["amount"])
        elif type_name == "RepaymentReceived":
            self.principal_repaid += cents(data["principal"])
            self.interest_received += cents(data["interest"])
        elif type_name == "ClaimPaid":
            self.claims_paid += cents(data["amount"])
        elif type_name == "DealCancelled" and not self.financed:
            self.closed = True
        elif type_name == "DealCancelled":
            self.cancelled += cents(data["amount"]) if "amount" in data else self.undisbursed
        else:
            raise ValueError(f"the reference knows no event {type_name}")

    @property
    def controlled(self) -> bool:
        return any(is_controlled(eccn) for _, eccn, _ in self.items)

    @property
    def outstanding(self) -> int:
        return self.disbursed - self.principal_repaid - self.claims_paid

    @property
    def undisbursed(self) -> int:
        return self.committed - self.disbursed - self.cancelled

    @property
    def exposure(self) -> int:
        return self.outstanding + self.undisbursed

    @property
    def license_status(self) -> str:
        if not self.controlled:
            return "not_required"
        return self.last_license or "required"

    @property
    def stage(self) -> str:
        """The first stage of SPEC's table that holds."""
        if self.closed or (self.financed and self.disbursed == 0 and self.undisbursed == 0):
            return "cancelled"
        if self.financed and self.disbursed > 0 and self.outstanding == 0 == self.undisbursed:
            return "repaid"
        if self.financed and self.principal_repaid + self.claims_paid > 0:
            return "repaying"
        if self.financed:
            return "disbursing" if self.disbursed > 0 else "financed"
        if self.board != "pending":
            return f"board_{self.board}"
        return {"denied": "license_denied", "approved": "license_approved",
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
                "licenses": dict(self.licenses)}


def comparable(view: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a real deal view the reference predicts, licenses by application_ref."""
    return {**{key: view[key] for key in VIEW_KEYS},
            "licenses": {lic["application_ref"]: lic["status"] for lic in view["licenses"]}}


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
