"""The compliance-grade domain over HTTP, on SQLite and PostgreSQL: policy on the ledger,
business time, the license lifecycle and corrections, as posting systems and auditors see
them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from service.settings import Settings
from tests.conftest import BOOTSTRAP, auth
from tests.support.factories import (
    LICENSE_REQUESTED,
    PROGRAM,
    Clock,
    adopt_policy,
    append_all,
    application,
    apply_deal,
    assert_problem,
    days_ago,
    deal_log,
    event,
    financed_deal,
    ledger_client,
    post_event,
    recompute_hash,
    whole_log,
    writer_headers,
)

ADMIN = auth("admin")
SHIPPED_IDS = ["2025-05-13", "2026-11-30"]
AUTHORITY = "Federal Register 91 FR 1234"


def version(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "2027-01-15", "effective_from": "2027-01-15",
        "embargoed": ["RU", "cu", "BY", "IR", "KP", "SY", "RU"],
        "restricted_for_controlled": ["CN", "HK", "MO"],
        "controlled_eccn_patterns": ["3A090*", "4A090*", "*.Z"],
    }
    body.update(changes)
    return body


@pytest.fixture
async def on_nov_30(database_url: str) -> Any:
    """A ledger whose clock stands on 2026-11-30, the day the second shipped version takes
    effect: these tests do not depend on the day they run."""
    settings = Settings(database_url=database_url, bootstrap_keys=BOOTSTRAP)
    async with ledger_client(settings, clock=Clock("2026-11-30T12:00:00Z")) as client:
        yield client


async def propose(client: httpx.AsyncClient, body: dict[str, Any],
                  **headers: str) -> httpx.Response:
    """POST /v1/policies by the first admin: the version ``body`` and its authority."""
    return await client.post("/v1/policies", json={**body, "authority": AUTHORITY},
                             headers={**ADMIN, **headers})


async def fresh(client: httpx.AsyncClient, path: str, position: int, role: str = "reader",
                **params: Any) -> Any:
    r = await client.get(path, params={"min_position": position, **params},
                         headers=auth(role))
    assert r.status_code == 200, r.text
    return r.json()


# ---- policy on the ledger -----------------------------------------------------------------


@pytest.mark.program_unauthorized  # the program stream holds the shipped policies alone
async def test_a_new_ledger_adopts_the_shipped_policies_first(client: httpx.AsyncClient):
    log = await whole_log(client)
    assert [(e["position"], e["type"], e["data"]["id"], e["actor"]) for e in log] == [
        (1, "PolicyAdopted", "2025-05-13", "system"), (2, "PolicyAdopted", "2026-11-30", "system")]
    for envelope in log:
        assert envelope["deal_id"] == PROGRAM
        assert envelope["occurred_at"] == envelope["recorded_at"]
        assert envelope["policy_version"] == envelope["data"]["id"]
        assert envelope["hash"] == recompute_hash(envelope)
    assert log[1]["prev_hash"] == log[0]["hash"]
    assert "HK" in log[1]["data"]["restricted_for_controlled"]
    assert "HK" not in log[0]["data"]["restricted_for_controlled"]


async def test_the_policies_list_each_version_who_adopted_it_and_the_one_in_force(
    on_nov_30: httpx.AsyncClient,
):
    client = on_nov_30
    r = await client.get("/v1/policies", headers=auth("reader"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["id"] for p in body["policies"]] == SHIPPED_IDS
    assert body["in_force"] == "2026-11-30"
    log = await whole_log(client)
    for listed, envelope in zip(body["policies"], log, strict=True):
        assert listed["hash"] == envelope["hash"]
        assert (listed["adopted_at"], listed["adopted_by"]) == (envelope["recorded_at"],
                                                                "system")
        assert listed["data"] == envelope["data"]
        assert listed["designated_countries"] is None and listed["max_backdating_days"] == 30


async def test_an_admin_adopts_a_version_in_its_normal_form(on_nov_30: httpx.AsyncClient):
    client = on_nov_30
    normal = {
        "id": "2027-01-15", "effective_from": "2027-01-15",
        "embargoed": ["BY", "CU", "IR", "KP", "RU", "SY"],
        "restricted_for_controlled": ["CN", "HK", "MO"],
        "controlled_eccn_patterns": ["3A090*", "4A090*", "*.Z"],
        "designated_countries": None, "max_backdating_days": 30}
    r = await propose(client, version())
    assert r.status_code == 201, r.text
    proposal = r.json()
    assert (proposal["deal_id"], proposal["version"], proposal["type"], proposal["actor"]) == (
        PROGRAM, 3, "PolicyProposed", "admin-key")
    assert proposal["data"] == {**normal, "authority": AUTHORITY}
    assert proposal["hash"] == recompute_hash(proposal)
    listed = (await client.get("/v1/policies", headers=auth("reader"))).json()
    assert [p["id"] for p in listed["policies"]] == SHIPPED_IDS  # not adopted yet
    assert [p["data"]["id"] for p in listed["proposed"]] == ["2027-01-15"]
    r = await client.post("/v1/policies/2027-01-15/approval", json={}, headers=auth("admin2"))
    assert r.status_code == 201, r.text
    envelope = r.json()
    assert (envelope["deal_id"], envelope["version"], envelope["type"]) == (
        PROGRAM, 4, "PolicyAdopted")
    assert envelope["data"] == {**normal, "authority": AUTHORITY, "proposed_by": "admin-key",
                                "proposal_hash": proposal["hash"]}
    assert envelope["actor"] == "admin2-key" and envelope["policy_version"] == "2027-01-15"
    assert envelope["prev_hash"] == proposal["hash"]
    assert envelope["hash"] == recompute_hash(envelope)
    listed = (await client.get("/v1/policies", headers=auth("reader"))).json()
    assert [p["id"] for p in listed["policies"]] == [*SHIPPED_IDS, "2027-01-15"]
    assert listed["proposed"] == []
    assert listed["in_force"] == "2026-11-30"


@pytest.mark.parametrize(("changes", "status", "code"), [
    ({"id": "2027-01-16", "effective_from": "2026-11-29"}, 422, "policy_retroactive"),
    ({"id": "2026-11-30", "effective_from": "2027-02-01"}, 409, "policy_id_taken"),
    ({"id": "another", "effective_from": "2026-11-30"}, 409, "policy_date_taken"),
    ({"id": "2026-11-30", "effective_from": "2020-01-01"}, 422, "policy_retroactive"),
    ({"effective_from": "2027-13-01"}, 422, "validation_error"),
])
async def test_a_version_that_breaks_an_adoption_rule_is_refused_in_spec_order(
    on_nov_30: httpx.AsyncClient, changes: dict[str, Any], status: int, code: str
):
    client = on_nov_30
    before = await whole_log(client)
    r = await propose(client, version(**changes))
    assert_problem(r, status, code)
    assert await whole_log(client) == before


async def test_only_an_admin_may_adopt_a_policy(client: httpx.AsyncClient):
    body = {**version(), "authority": AUTHORITY}
    for role in ("writer", "reader", "auditor", "board"):
        r = await client.post("/v1/policies", json=body, headers=auth(role))
        assert_problem(r, 403, "forbidden")
    assert_problem(await client.post("/v1/policies", json=body), 401, "unauthorized")


async def test_an_adoption_is_replayed_for_a_retry_with_the_same_key(
    on_nov_30: httpx.AsyncClient,
):
    client = on_nov_30
    first = await propose(client, version(), **{"Idempotency-Key": "propose-1"})
    again = await propose(client, version(), **{"Idempotency-Key": "propose-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content and again.headers["idempotency-replayed"] == "true"
    approval = {**auth("admin2"), "Idempotency-Key": "approve-1"}
    first = await client.post("/v1/policies/2027-01-15/approval", json={}, headers=approval)
    again = await client.post("/v1/policies/2027-01-15/approval", json={}, headers=approval)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content and again.headers["idempotency-replayed"] == "true"
    assert [e["type"] for e in await whole_log(client)] == [
        "PolicyAdopted", "PolicyAdopted", "PolicyProposed", "PolicyAdopted"]


async def test_the_program_stream_is_not_a_deal(client: httpx.AsyncClient):
    assert_problem(await client.get(f"/v1/deals/{PROGRAM}", headers=auth("reader")), 404,
                   "not_found")
    assert_problem(await client.get(f"/v1/deals/{PROGRAM}/events", headers=auth("reader")),
                   404, "not_found")
    r = await post_event(client, PROGRAM, "BoardVoted", {"meeting_date": "2026-06-01",
                         "votes_for": 3, "votes_against": 0, "abstentions": 0,
                         "decision": "rejected"})
    assert_problem(r, 404, "not_found")
    applied = await apply_deal(client)
    deal_id = applied["deal_id"]
    r = await client.post("/v1/batches", headers=writer_headers(), json={"events": [
        {"deal_id": deal_id, **event("LicenseRequested", **LICENSE_REQUESTED)},
        {"deal_id": PROGRAM, **event("LicenseRequested", **LICENSE_REQUESTED)}]})
    assert assert_problem(r, 404, "not_found")["index"] == 1
    verified = (await client.get("/v1/audit/verify", params={"deal_id": PROGRAM},
                                 headers=auth("auditor"))).json()
    # the two shipped policies and the board's authorization (the client fixture's)
    assert verified["ok"] and verified["events_checked"] == 3
    portfolio = await fresh(client, "/v1/portfolio", applied["position"])
    assert portfolio["totals"]["deals"] == 1


async def test_an_adopted_designation_is_in_force_at_once(database_url: str):
    clock = Clock("2026-12-15T09:00:00Z")
    today = "2026-12-15"
    settings = Settings(database_url=database_url, bootstrap_keys=BOOTSTRAP)
    async with ledger_client(settings, clock=clock) as client:
        adopted = await adopt_policy(client, version(
            id="designating", effective_from=today, designated_countries=["FR", "jp"]))
        assert adopted["data"]["designated_countries"] == ["FR", "JP"]
        r = await client.post("/v1/deals", json=application(), headers=writer_headers())
        assert_problem(r, 422, "destination_not_designated")
        body = application(buyer={"name": "Paris AI", "country": "FR"})
        assert (await client.post("/v1/deals", json=body, headers=writer_headers())
                ).status_code == 201
        listed = (await client.get("/v1/policies", headers=auth("reader"))).json()
        assert listed["in_force"] == "designating"


# ---- business time ------------------------------------------------------------------------


async def test_an_event_backdated_beyond_the_window_is_refused(client: httpx.AsyncClient):
    r = await client.post("/v1/deals", json={**application(), "occurred_at": days_ago(31)},
                          headers=writer_headers())
    assert_problem(r, 422, "backdated_beyond_window")
    r = await client.post("/v1/deals", json={**application(), "occurred_at": days_ago(29)},
                          headers=writer_headers())
    assert r.status_code == 201, r.text
    deal_id = r.json()["deal_id"]
    r = await post_event(client, deal_id, "LicenseRequested", LICENSE_REQUESTED,
                         occurred_at=days_ago(30))
    assert_problem(r, 422, "occurred_before_previous_event")
    assert len(await deal_log(client)) == 1


async def test_a_deals_history_never_runs_backwards(client: httpx.AsyncClient):
    deal_id = (await apply_deal(client))["deal_id"]
    r = await post_event(client, deal_id, "LicenseRequested", LICENSE_REQUESTED,
                         occurred_at=days_ago(1))
    problem = assert_problem(r, 422, "occurred_before_previous_event")
    assert "never runs backwards" in problem["detail"]


# ---- the license lifecycle ----------------------------------------------------------------


async def test_a_revoked_license_stops_a_disbursement(client: httpx.AsyncClient):
    deal_id = await financed_deal(client)
    shown = (await client.get(f"/v1/deals/{deal_id}", headers=auth("reader"))).json()
    number = shown["licenses"][0]["license_number"]  # the deal's own (SPEC v3)
    r = await post_event(client, deal_id, "CommerceLicenseRevoked",
                         {"license_number": number,
                          "reason": "diversion to a restricted end user"})
    assert r.status_code == 201, r.text
    r = await post_event(client, deal_id, "FundsDisbursed",
                         {"amount": "1000.00", "reference": "WIRE-1"})
    assert_problem(r, 422, "commerce_license_revoked")
    state = (await client.get(f"/v1/deals/{deal_id}", headers=auth("reader"))).json()
    assert state["license_status"] == "revoked"
    assert state["licenses"][0]["revoked"]["reason"] == "diversion to a restricted end user"
    r = await post_event(client, deal_id, "CommerceLicenseRevoked",
                         {"license_number": number, "reason": "x"})
    assert_problem(r, 422, "license_already_revoked")
    r = await post_event(client, deal_id, "CommerceLicenseRevoked",
                         {"license_number": "NO-SUCH", "reason": "x"})
    assert_problem(r, 422, "license_not_found")


async def test_eccns_are_matched_without_regard_to_case(client: httpx.AsyncClient):
    deal_id = (await apply_deal(client))["deal_id"]  # items carry 3A090.a
    r = await post_event(client, deal_id, "LicenseRequested",
                         {"application_ref": "Z-9", "eccns": ["3a090.A"]})
    assert r.status_code == 201, r.text
    assert r.json()["data"]["eccns"] == ["3A090.A"]


# ---- corrections --------------------------------------------------------------------------


async def test_a_reversal_is_reflected_in_the_portfolio(client: httpx.AsyncClient):
    deal_id = await financed_deal(client)
    [wire, _] = await append_all(client, deal_id, [
        event("FundsDisbursed", amount="2000000.00", reference="WIRE-1"),
        event("FundsDisbursed", amount="500000.00", reference="WIRE-2")])
    before = await fresh(client, "/v1/portfolio", wire["position"] + 1)
    assert before["totals"]["disbursed"] == "2500000.00"
    reversal = {"version": wire["version"], "reason": "wire returned by the bank"}
    r = await post_event(client, deal_id, "EventReversed", reversal)
    assert_problem(r, 422, "reversal_evidence_required")  # a returned wire names its return
    r = await post_event(client, deal_id, "EventReversed",
                         {**reversal, "return_reference": "RET-WIRE-1"})
    assert r.status_code == 201, r.text
    position = int(r.headers["x-ledger-position"])
    after = await fresh(client, "/v1/portfolio", position)
    assert after["position"] >= position
    assert (after["totals"]["disbursed"], after["totals"]["exposure"]) == (
        "500000.00", "8500000.00")
    state = (await client.get(f"/v1/deals/{deal_id}", headers=auth("reader"))).json()
    assert state["reversed_versions"] == [wire["version"]]
    postings = await fresh(client, f"/v1/exposure/deals/{deal_id}", position)
    contra = [p for p in postings["postings"] if p["position"] == position]
    assert {(p["kind"], p["account"], p["debit"], p["credit"]) for p in contra} == {
        ("reversal", f"deal:{deal_id}:undisbursed", "2000000.00", "0.00"),
        ("reversal", f"deal:{deal_id}:outstanding", "0.00", "2000000.00")}
    assert (await fresh(client, "/v1/exposure", position))["reconciliation"]["ok"] is True
    r = await post_event(client, deal_id, "EventReversed",
                         {"version": wire["version"], "reason": "again"})
    assert_problem(r, 422, "already_reversed")


async def test_a_guarantee_paid_off_by_a_claim_and_recovered_shows_claimed(
    client: httpx.AsyncClient,
):
    deal_id = await financed_deal(client)
    steps = await append_all(client, deal_id, [
        event("FundsDisbursed", amount="8500000.00", reference="WIRE-1"),
        event("ClaimPaid", amount="8500000.00", reference="CLAIM-1"),
        event("RecoveryReceived", amount="1000000.00", reference="REC-1")])
    state = (await client.get(f"/v1/deals/{deal_id}", headers=auth("reader"))).json()
    assert (state["stage"], state["recovered"], state["exposure"]) == (
        "claimed", "1000000.00", "0.00")
    portfolio = await fresh(client, "/v1/portfolio", steps[-1]["position"])
    assert portfolio["by_stage"]["claimed"] == 1
    assert portfolio["totals"]["recovered"] == "1000000.00"
    r = await post_event(client, deal_id, "RecoveryReceived",
                         {"amount": "7500000.01", "reference": "REC-2"})
    assert_problem(r, 422, "recovery_exceeds_claims")
    exposure = await fresh(client, "/v1/exposure", steps[-1]["position"])
    accounts = {a["account"]: a for a in exposure["accounts"]}
    assert accounts["program:recoveries"]["credit"] == "1000000.00"
    audit = await fresh(client, "/v1/audit/log", steps[-1]["position"], role="auditor",
                        type="RecoveryReceived")
    assert "1,000,000.00 USD recovered" in audit["entries"][0]["summary"]


async def test_terms_are_amended_before_financing_and_judged_again(client: httpx.AsyncClient):
    deal_id = (await apply_deal(client))["deal_id"]
    r = await post_event(client, deal_id, "DealAmended",
                         {"financed_amount": "8000000.00", "reason": "larger cash payment"})
    assert r.status_code == 201, r.text
    state = (await client.get(f"/v1/deals/{deal_id}", headers=auth("reader"))).json()
    assert state["requested"] == "8000000.00"
    assert state["amendments"] == [{"changed": ["financed_amount"],
                                    "reason": "larger cash payment"}]
    r = await post_event(client, deal_id, "DealAmended",
                         {"tenor_years": 9, "reason": "longer"})
    assert_problem(r, 422, "term_mismatch")
    r = await post_event(client, deal_id, "DealAmended", {"reason": "nothing"})
    assert_problem(r, 422, "validation_error")
