"""SPEC v3, four eyes on policy, through HTTP on both databases: one admin proposes, another
adopts; a proposal's id and date are taken while it is pending; the new policy fields are
judged under both versions; and what was controlled at a deal's financing stays gated at
its disbursements, whatever a later policy says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import auth
from tests.support.factories import (
    BOARD_APPROVED,
    LICENSE_APPROVED,
    LICENSE_REQUESTED,
    adopt_policy,
    append_all,
    application,
    apply_deal,
    assert_problem,
    authorize_program,
    event,
    financing_for,
    post_event,
    screening,
)

TODAY = datetime.now(UTC).date()
PROGRAM = "00000000-0000-0000-0000-000000000000"


def day(offset: int = 0) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def version(policy_id: str, effective: str | None = None, **changes: Any) -> dict[str, Any]:
    return {"id": policy_id, "effective_from": effective or day(1), "embargoed": ["KP"],
            "restricted_for_controlled": ["CN"], "controlled_eccn_patterns": ["3A090*"],
            **changes}


async def propose(client: httpx.AsyncClient, body: dict[str, Any], key: str = "admin"
                  ) -> httpx.Response:
    return await client.post("/v1/policies", json={"authority": "Board resolution 7", **body},
                             headers=auth(key))


async def decide(client: httpx.AsyncClient, policy_id: str, what: str, key: str,
                 body: dict[str, Any] | None = None) -> httpx.Response:
    return await client.post(f"/v1/policies/{policy_id}/{what}", json=body or {},
                             headers=auth(key))


async def policies(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/v1/policies", headers=auth("reader"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_a_proposal_is_adopted_by_another_admin(client: httpx.AsyncClient):
    r = await propose(client, version("2099-01-01", "2099-01-01", embargoed=["kp", "CU"]))
    assert r.status_code == 201, r.text
    proposal = r.json()
    assert (proposal["type"], proposal["deal_id"], proposal["actor"]) == (
        "PolicyProposed", PROGRAM, "admin-key")
    assert proposal["data"]["embargoed"] == ["CU", "KP"]  # normal form
    assert proposal["data"]["authority"] == "Board resolution 7"
    listed = await policies(client)
    assert [p["id"] for p in listed["proposed"]] == ["2099-01-01"]
    assert listed["proposed"][0]["proposed_by"] == "admin-key"
    assert listed["proposed"][0]["hash"] == proposal["hash"]
    assert "2099-01-01" not in [p["id"] for p in listed["policies"]]

    assert_problem(await decide(client, "2099-01-01", "approval", "admin"), 403,
                   "policy_self_approval")
    assert_problem(await decide(client, "2099-01-01", "approval", "writer"), 403, "forbidden")
    r = await decide(client, "2099-01-01", "approval", "admin2", {"comment": "checked"})
    assert r.status_code == 201, r.text
    adopted = r.json()
    assert (adopted["type"], adopted["actor"], adopted["policy_version"]) == (
        "PolicyAdopted", "admin2-key", "2099-01-01")
    assert adopted["data"]["proposed_by"] == "admin-key"
    assert adopted["data"]["proposal_hash"] == proposal["hash"]
    assert adopted["data"]["authority"] == "Board resolution 7"
    listed = await policies(client)
    assert listed["proposed"] == []
    row = next(p for p in listed["policies"] if p["id"] == "2099-01-01")
    assert (row["adopted_by"], row["proposed_by"], row["hash"]) == (
        "admin2-key", "admin-key", adopted["hash"])
    assert_problem(await decide(client, "2099-01-01", "approval", "admin2"), 404,
                   "policy_not_pending")


async def test_a_pending_proposal_holds_its_id_and_date_until_withdrawn(
        client: httpx.AsyncClient):
    assert (await propose(client, version("P-1", day(3)))).status_code == 201
    assert_problem(await propose(client, version("P-1", day(4)), "admin2"), 409,
                   "policy_id_taken")
    assert_problem(await propose(client, version("P-2", day(3)), "admin2"), 409,
                   "policy_date_taken")
    assert_problem(await propose(client, version("P-3", day(-1))), 422, "policy_retroactive")
    # in SPEC's order: a retroactive date before a pending proposal's id
    assert_problem(await propose(client, version("P-1", day(-1))), 422, "policy_retroactive")
    assert_problem(await decide(client, "P-9", "withdrawal", "admin"), 404,
                   "policy_not_pending")
    r = await decide(client, "P-1", "withdrawal", "admin2", {"comment": "superseded"})
    assert r.status_code == 201, r.text
    assert (r.json()["type"], r.json()["data"]) == (
        "PolicyWithdrawn", {"id": "P-1", "comment": "superseded"})
    assert_problem(await decide(client, "P-1", "approval", "admin2"), 404, "policy_not_pending")
    assert (await propose(client, version("P-1", day(3)), "admin2")).status_code == 201
    assert (await propose(client, version("P-2", day(5)), "admin2")).status_code == 201


async def test_a_proposal_needs_its_authority(client: httpx.AsyncClient):
    r = await client.post("/v1/policies", json=version("P-1"), headers=auth("admin"))
    assert_problem(r, 422, "validation_error")
    r = await client.post("/v1/policies", json={**version("P-1"), "authority": ""},
                          headers=auth("admin"))
    assert_problem(r, 422, "validation_error")


async def test_the_new_fields_are_in_the_normal_form_only_off_their_defaults(
        client: httpx.AsyncClient):
    r = await propose(client, version("P-1", controlled_eccn_patterns=[], notice_days=35,
                                      congressional_notice_threshold="100000000.00",
                                      max_license_years=4, screening_max_age_days=90))
    assert r.status_code == 201, r.text
    assert r.json()["data"] == {**version("P-1", controlled_eccn_patterns=[]),
                                "designated_countries": None, "max_backdating_days": 30,
                                "authority": "Board resolution 7"}
    r = await propose(client, version("P-2", day(2), notice_days=40, screening_max_age_days=60))
    assert (r.json()["data"]["notice_days"], r.json()["data"]["screening_max_age_days"]) == (
        40, 60)


def long_term(amount: str) -> dict[str, Any]:
    cents = round(float(amount) * 100)
    contract = -(-cents * 100 // 85)
    half = contract // 2
    money = [f"{c // 100}.{c % 100:02d}" for c in (half, contract - half)]
    return application(
        term="long", instrument="direct_loan", tenor_years=10, financed_amount=amount,
        contract_value=f"{contract // 100}.{contract % 100:02d}",
        buyer={"name": "Gulf Compute", "country": "AE"},
        items=[{"description": "Rack servers", "category": "server", "eccn": "5A992.c",
                "quantity": 8, "value": money[0]},
               {"description": "Switches", "category": "networking", "eccn": "EAR99",
                "quantity": 8, "value": money[1]}])


async def test_a_lower_notice_threshold_in_force_now_applies(client: httpx.AsyncClient):
    await adopt_policy(client, version("NOTICE-50M", day(), restricted_for_controlled=[],
                                       congressional_notice_threshold="50000000.00"))
    deal_id = (await apply_deal(client, long_term("60000000.00")))["deal_id"]
    r = await post_event(client, deal_id, "BoardVoted", {
        **BOARD_APPROVED, "meeting_date": day(), "approved_amount": "60000000.00"})
    assert_problem(r, 422, "congressional_notice_required")
    small = (await apply_deal(client, long_term("50000000.00")))["deal_id"]
    r = await post_event(client, small, "BoardVoted", {
        **BOARD_APPROVED, "meeting_date": day(), "approved_amount": "50000000.00"})
    assert r.status_code == 201, r.text  # 50M: not above the threshold


async def licensed_and_approved(client: httpx.AsyncClient) -> str:
    """A deal of 64 AI accelerators (3A090.a) to Germany, licensed, its buyer screened, and
    approved."""
    deal_id: str = (await apply_deal(client, application()))["deal_id"]
    await append_all(client, deal_id, [
        event("LicenseRequested", **LICENSE_REQUESTED),
        event("CommerceLicenseApproved", **LICENSE_APPROVED),
        event("PartyScreened", **screening()),
        event("BoardVoted", **{**BOARD_APPROVED, "meeting_date": day()})])
    return deal_id


async def test_what_was_controlled_at_financing_stays_gated(client: httpx.AsyncClient):
    await authorize_program(client)
    deal_id = await licensed_and_approved(client)
    await append_all(client, deal_id, [event("DealFinanced", **financing_for("loan_guarantee"))])
    # a later policy controls nothing; then BIS revokes the license
    await adopt_policy(client, version("NOTHING-CONTROLLED", day(), controlled_eccn_patterns=[],
                                       restricted_for_controlled=[]))
    r = await post_event(client, deal_id, "CommerceLicenseRevoked", {
        "license_number": LICENSE_APPROVED["license_number"], "reason": "diversion"})
    assert r.status_code == 201, r.text
    r = await post_event(client, deal_id, "FundsDisbursed", {"amount": "100.00",
                                                             "reference": "W-1"})
    assert_problem(r, 422, "commerce_license_revoked")
    # a deal financed under the new policy has nothing gated (its accelerators, no longer
    # controlled, name their BIS classification: SPEC v3 classification_evidence_required)
    body = application()
    body["items"][0]["classification_ref"] = "CCATS G123456"
    fresh = (await apply_deal(client, body))["deal_id"]
    await append_all(client, fresh, [
        event("PartyScreened", **screening()),
        event("BoardVoted", **{**BOARD_APPROVED, "meeting_date": day()}),
        event("DealFinanced", **financing_for("loan_guarantee")),
        event("FundsDisbursed", amount="100.00", reference="W-2")])


@pytest.mark.program_unauthorized
async def test_a_restricted_destination_is_refused_before_the_program_rules(
        client: httpx.AsyncClient):
    deal_id = await licensed_and_approved(client)
    await adopt_policy(client, version("DE-RESTRICTED", day(), restricted_for_controlled=["DE"]))
    # no authorization either: controlled_items_to_restricted_destination comes first
    r = await post_event(client, deal_id, "DealFinanced", financing_for("loan_guarantee"))
    assert_problem(r, 422, "controlled_items_to_restricted_destination")
