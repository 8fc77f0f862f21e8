"""One license, one deal (SPEC v3): the guard of a license number, as a decision reads and
writes it and as a rebuild from the deals' states gives it."""

from __future__ import annotations

import pytest

from domain.deal import Deal
from domain.errors import RuleViolation
from domain.guards import Across, license_guard, rebuild, view
from domain.state import DealState, Stamp
from tests.unit.test_rules import (
    ON,
    application,
    apply,
    approve_license,
    judged,
    meta,
    refused,
    request_license,
)


def test_a_number_held_by_another_deal_is_taken_whatever_its_case() -> None:
    across = Across(versions={license_guard("L-BIS-1"): 3},
                    holders={license_guard("L-BIS-1"): {"other-deal"}})
    deal = request_license(apply())
    with refused("license_number_taken"):
        deal.handle("CommerceLicenseApproved", {
            "application_ref": "BIS-1", "license_number": "l-bis-1", "eccns": ["3A090.A"],
            "valid_until": "2026-12-31", "consignee": dict(deal.buyer),
            "lines": [{"eccn": "3A090.A", "quantity": 8, "value": "600000.00"}]},
            meta(), judged(across=across))
    assert across.writes.expect == {license_guard("L-BIS-1"): 3}, "the version read"


def test_an_approval_puts_its_deal_among_the_number_s_holders() -> None:
    across = Across(versions={license_guard("L-BIS-1"): 0})
    deal = request_license(apply())
    before = deal.license_numbers
    deal.handle("CommerceLicenseApproved", {
        "application_ref": "BIS-1", "license_number": "L-BIS-1", "eccns": ["3A090.A"],
        "valid_until": "2026-12-31", "consignee": dict(deal.buyer),
        "lines": [{"eccn": "3A090.A", "quantity": 8, "value": "600000.00"}]},
        meta(), judged(across=across))
    across.record(str(deal.id), deal.buyer, (view(None)[0], None, before), view(deal))
    assert across.writes.put == {(license_guard("L-BIS-1"), str(deal.id)):
                                 {"license_number": "L-BIS-1"}}
    assert across.license_holders("l-bis-1") == [str(deal.id)]


def test_a_number_approved_on_the_deal_itself_is_taken_too() -> None:
    deal = approve_license(request_license(apply()))
    request_license(deal, "BIS-2")
    with refused("license_number_taken"):
        approve_license(deal, "BIS-2", license_number="L-BIS-1")


def held(number: str, deal_id: str) -> tuple[str, DealState]:
    """A deal that holds license ``number``, as a ledger from before v3 may have it."""
    state = DealState()
    stamp = Stamp(1, ON, ON, "2025-05-13")
    state.evolve("DealApplied", application(), stamp)
    state.evolve("LicenseRequested", {"application_ref": "Z-1", "eccns": ["3A090.A"]}, stamp)
    state.evolve("CommerceLicenseApproved", {"application_ref": "Z-1", "license_number": number,
                                             "eccns": ["3A090.A"], "valid_until": "2026-12-31"},
                 stamp)
    return deal_id, state


def test_a_rebuild_keeps_a_number_two_deals_held_before_v3_on_both() -> None:
    _, rows = rebuild([held("D-777", "deal-1"), held("d-777", "deal-2")])
    assert {key: row for key, row in rows.items() if key[0].startswith("license:")} == {
        (license_guard("D-777"), "deal-1"): {"license_number": "D-777"},
        (license_guard("D-777"), "deal-2"): {"license_number": "D-777"}}


def test_a_license_approved_before_v3_covers_without_a_quantity_limit() -> None:
    _, state = held("D-777", "deal-1")
    assert state.license_gate(["3A090.A"], "2026-01-01") is None
    assert "lines" not in state.licenses[0]


@pytest.mark.parametrize("number", ["L-BIS-1", "l-bis-1"])
def test_a_revocation_names_the_number_in_either_case(number: str) -> None:
    deal = approve_license(request_license(apply()))
    deal.handle("CommerceLicenseRevoked", {"license_number": number, "reason": "x"}, meta(),
                judged())
    assert deal.licenses[0]["revoked"]["effective_date"] == ON[:10]


def test_the_deal_is_unchanged_by_a_refused_approval() -> None:
    deal = approve_license(request_license(apply()))
    request_license(deal, "BIS-2")
    version = deal.version
    with pytest.raises(RuleViolation):
        approve_license(deal, "BIS-2", license_number="L-BIS-1")
    assert isinstance(deal, Deal) and deal.version == version
