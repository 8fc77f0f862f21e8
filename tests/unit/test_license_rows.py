"""The licenses read model's rows are a function of a deal's folded state and of where each
number was approved: one row per approved number, a license approved before v3 without
lines, a revocation's date as ``revoked_from``."""

from __future__ import annotations

import json
from typing import Any

from domain.state import DealState, Stamp
from projections.licenses import rows
from tests.support.factories import application, license_approved

DEAL = "6c1b1f0e-0000-5000-8000-000000000001"


def folded(*events: tuple[str, dict[str, Any]]) -> DealState:
    state = DealState()
    for version, (type_name, data) in enumerate(
            [("DealApplied", application()), *events], start=1):
        state.evolve(type_name, data, Stamp(version, "2026-12-01T10:00:00Z",
                                            "2026-12-01T10:00:00Z", "2026-11-30"))
    return state


def requested(ref: str) -> tuple[str, dict[str, Any]]:
    return "LicenseRequested", {"application_ref": ref, "eccns": ["3A090.a"]}


def v2_approval(ref: str, number: str) -> tuple[str, dict[str, Any]]:
    return "CommerceLicenseApproved", {"application_ref": ref, "license_number": number,
                                       "eccns": ["3A090.a"], "valid_until": "2029-12-31"}


def test_a_license_approved_before_v3_has_no_lines_and_no_consignee():
    state = folded(requested("Z-1"), v2_approval("Z-1", "l-1001"))
    [row] = rows(DEAL, state, {"L-1001": (7, "Z-1")}, 1)
    assert {k: v for k, v in row.items() if k != "license"} == {
        "license_number": "L-1001", "deal_id": DEAL, "approved_position": 7,
        "application_ref": "Z-1", "valid_until": "2029-12-31", "revoked_from": None}
    assert json.loads(row["license"]) == {"eccns": ["3A090.A"], "consignee": None,
                                          "lines": None, "conditions": None}


def test_a_v3_license_keeps_its_consignee_lines_and_revocation():
    approval = license_approved(application(), application_ref="Z-1", license_number="d-9")
    state = folded(requested("Z-1"), ("CommerceLicenseApproved", approval),
                   ("CommerceLicenseRevoked", {"license_number": "D-9", "reason": "risk",
                                               "effective_date": "2027-01-31"}))
    [row] = rows(DEAL, state, {"D-9": (5, "Z-1")}, 1)
    assert (row["license_number"], row["revoked_from"]) == ("D-9", "2027-01-31")
    stored = json.loads(row["license"])
    assert stored["consignee"] == approval["consignee"]
    assert stored["lines"] == [{"eccn": "3A090.A", "quantity": 64, "value": "8000000.00"}]


def test_one_number_approved_twice_on_a_deal_before_v3_is_the_first_approval():
    state = folded(requested("Z-1"), requested("Z-2"), v2_approval("Z-2", "L-7"),
                   v2_approval("Z-1", "L-7"))
    [row] = rows(DEAL, state, {"L-7": (4, "Z-2")}, 1)
    assert (row["application_ref"], row["approved_position"]) == ("Z-2", 4)


def test_requested_and_denied_licenses_have_no_row():
    state = folded(requested("Z-1"), requested("Z-2"),
                   ("CommerceLicenseDenied", {"application_ref": "Z-2", "reason": "no"}))
    assert rows(DEAL, state, {}, 1) == []
