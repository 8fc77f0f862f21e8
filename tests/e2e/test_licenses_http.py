"""Licenses as a read model (SPEC v3, ``GET /v1/licenses``) through HTTP on both databases:
a license's resource after its approval, its status judged on the server's day (valid,
revoked from its effective date, expired after ``valid_until``), the listing's filters
and pages; and the deal license statuses v3 adds (``expired``, ``partially_approved``) in
the deal, the portfolio rows, their filter and the stage counts.

The server's clock is the test's: no outcome depends on the day the suite runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import pytest

from service.settings import Settings
from tests.conftest import auth
from tests.support.factories import (
    LICENSE_REQUESTED,
    Clock,
    application,
    apply_deal,
    assert_problem,
    authorize_program,
    error_fields,
    ledger_client,
    license_approved,
    post_event,
    screening,
)
from tests.support.projection_support import live_rows

START = "2027-01-10T10:00:00Z"


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app on a clock the tests move, with the program authorized."""
    clock = Clock(START)
    async with ledger_client(settings, clock=clock) as c:
        c.clock = clock  # type: ignore[attr-defined]
        await authorize_program(c)
        yield c


def move(client: httpx.AsyncClient, when: str) -> None:
    client.clock.set(when)  # type: ignore[attr-defined]


async def posted(client: httpx.AsyncClient, deal_id: str, type_name: str,
                 data: dict[str, Any]) -> dict[str, Any]:
    r = await post_event(client, deal_id, type_name, data)
    assert r.status_code == 201, r.text
    envelope: dict[str, Any] = r.json()
    return envelope


async def licensed(client: httpx.AsyncClient, body: dict[str, Any] | None = None,
                   **changes: Any) -> tuple[str, dict[str, Any], int]:
    """A deal whose license (``license_approved(body, **changes)``) is approved: its id,
    the approval's data and position."""
    body = body or application()
    deal_id: str = (await apply_deal(client, body))["deal_id"]
    await posted(client, deal_id, "LicenseRequested", LICENSE_REQUESTED)
    data = license_approved(body, **changes)
    approval = await posted(client, deal_id, "CommerceLicenseApproved", data)
    return deal_id, data, int(approval["position"])


async def read(client: httpx.AsyncClient, path: str, position: int, **params: Any) -> Any:
    r = await client.get(path, params={"min_position": position, **params},
                         headers=auth("reader"))
    assert r.status_code == 200, r.text
    return r.json()


async def statuses(client: httpx.AsyncClient, position: int, **params: Any) -> dict[str, str]:
    page = await read(client, "/v1/licenses", position, **params)
    return {lic["license_number"]: lic["status"] for lic in page["licenses"]}


async def test_an_approved_license_reads_with_its_deal_consignee_and_lines(
        client: httpx.AsyncClient):
    deal_id, data, position = await licensed(client, license_number="d-lic-7",
                                             valid_until="2029-12-31")
    found = await read(client, "/v1/licenses/D-LIC-7", position)
    assert found == {
        "license_number": "D-LIC-7", "deal_id": deal_id, "application_ref": "Z-1001",
        "eccns": ["3A090.A"],
        "consignee": {"name": "Rheinland Rechenzentrum GmbH", "country": "DE"},
        "lines": [{"eccn": "3A090.A", "quantity": 64, "value": "8000000.00"}],
        "valid_until": "2029-12-31", "status": "valid", "revoked_from": None}
    assert await read(client, "/v1/licenses/d-Lic-7", position) == found, "any case"
    r = await client.get("/v1/licenses/D-LIC-8", headers=auth("reader"))
    assert_problem(r, 404, "not_found")
    r = await client.get("/v1/licenses/D-LIC-7")
    assert r.status_code == 401


async def test_a_license_is_revoked_from_its_effective_date_and_expires_after_valid_until(
        client: httpx.AsyncClient):
    await licensed(client, license_number="KEPT-1", valid_until="2027-06-30")
    deal_id, _, _ = await licensed(client, license_number="REVOKED-1", valid_until="2027-06-30")
    revoked = await posted(client, deal_id, "CommerceLicenseRevoked", {
        "license_number": "revoked-1", "reason": "end user of concern",
        "effective_date": "2027-02-01"})
    position = int(revoked["position"])
    found = await read(client, "/v1/licenses/REVOKED-1", position)
    assert (found["status"], found["revoked_from"]) == ("valid", "2027-02-01"), "not yet"
    assert await statuses(client, position) == {"KEPT-1": "valid", "REVOKED-1": "valid"}

    move(client, "2027-02-01T00:00:00Z")
    found = await read(client, "/v1/licenses/REVOKED-1", position)
    assert (found["status"], found["revoked_from"]) == ("revoked", "2027-02-01")
    assert await statuses(client, position) == {"KEPT-1": "valid", "REVOKED-1": "revoked"}
    assert await statuses(client, position, status="revoked") == {"REVOKED-1": "revoked"}
    assert await statuses(client, position, status="expired") == {}

    move(client, "2027-06-30T23:59:59Z")
    assert (await read(client, "/v1/licenses/KEPT-1", position))["status"] == "valid"
    move(client, "2027-07-01T00:00:00Z")
    assert (await read(client, "/v1/licenses/KEPT-1", position))["status"] == "expired"
    assert await statuses(client, position) == {"KEPT-1": "expired", "REVOKED-1": "revoked"}
    assert await statuses(client, position, status="expired") == {"KEPT-1": "expired"}
    assert await statuses(client, position, status="valid") == {}


async def test_a_rebuild_gives_the_same_license_rows(client: httpx.AsyncClient):
    await licensed(client, license_number="R-1")
    deal_id, _, _ = await licensed(client, license_number="R-2")
    revoked = await posted(client, deal_id, "CommerceLicenseRevoked", {
        "license_number": "R-2", "reason": "diversion", "effective_date": "2027-03-01"})
    earlier = await posted(client, deal_id, "CommerceLicenseRevoked", {
        "license_number": "R-2", "reason": "diversion, sooner", "effective_date": "2027-02-01"})
    assert int(earlier["position"]) > int(revoked["position"])
    await licensed(client, license_number="R-3")
    runner = client.app.state.runner  # type: ignore[attr-defined]
    head = int((await posted(client, deal_id, "PartyScreened", screening(
        list_date="2027-01-10")))["position"])
    listed = await read(client, "/v1/licenses", head)
    assert [(lic["license_number"], lic["revoked_from"]) for lic in listed["licenses"]] == [
        ("R-1", None), ("R-2", "2027-02-01"), ("R-3", None)]
    live = live_rows(runner, "deals")["licenses"]
    r = await client.post("/v1/projections/deals/rebuild", headers=auth("admin"))
    assert r.status_code == 200, r.text
    assert live_rows(runner, "deals")["licenses"] == live
    assert await read(client, "/v1/licenses", head) == listed


async def test_licenses_list_in_the_order_approved_by_deal_and_by_page(
        client: httpx.AsyncClient):
    approved = [await licensed(client, license_number=f"PAGE-{n}") for n in range(3)]
    position = approved[-1][2]
    first = await read(client, "/v1/licenses", position, limit=2)
    assert [lic["license_number"] for lic in first["licenses"]] == ["PAGE-0", "PAGE-1"]
    assert first["next_cursor"] is not None and first["position"] >= position
    rest = await read(client, "/v1/licenses", position, limit=2, cursor=first["next_cursor"])
    assert [lic["license_number"] for lic in rest["licenses"]] == ["PAGE-2"]
    assert rest["next_cursor"] is None
    one = await read(client, "/v1/licenses", position, deal_id=approved[1][0])
    assert [(lic["license_number"], lic["deal_id"]) for lic in one["licenses"]] == [
        ("PAGE-1", approved[1][0])]
    for params in ({"status": "lapsed"}, {"cursor": "x"}, {"limit": 0}):
        r = await client.get("/v1/licenses", params=params, headers=auth("reader"))
        assert error_fields(assert_problem(r, 422, "validation_error")) == list(params)


def two_controlled() -> dict[str, Any]:
    """An application with items of two controlled ECCNs."""
    return application(items=[
        {"description": "AI accelerators", "category": "accelerator", "eccn": "3A090.a",
         "quantity": 64, "value": "8000000.00"},
        {"description": "AI training servers", "category": "server", "eccn": "4A090.b",
         "quantity": 4, "value": "2000000.00"}])


async def deal_rows(client: httpx.AsyncClient, position: int, **params: Any
                    ) -> dict[str, tuple[str, str]]:
    page = await read(client, "/v1/portfolio/deals", position, **params)
    return {row["deal_id"]: (row["license_status"], row["stage"]) for row in page["deals"]}


async def test_expired_and_partially_approved_deals_show_and_filter(client: httpx.AsyncClient):
    expiring, _, _ = await licensed(client, valid_until="2027-03-31")
    partial, _, _ = await licensed(client, two_controlled())
    approved, _, _ = await licensed(client)
    move(client, "2027-04-01T09:00:00Z")  # a day after the first license's valid_until
    today = "2027-04-01"
    screened = await posted(client, expiring, "PartyScreened", screening(list_date=today))
    position = int(screened["position"])

    expected = {expiring: ("expired", "license_expired"),
                partial: ("partially_approved", "license_partial"),
                approved: ("approved", "license_approved")}
    for deal_id, (status, stage) in expected.items():
        view = await read(client, f"/v1/deals/{deal_id}", position)
        assert (view["license_status"], view["stage"]) == (status, stage), deal_id
    assert await deal_rows(client, position) == expected
    assert await deal_rows(client, position, license_status="expired") == {
        expiring: expected[expiring]}
    assert await deal_rows(client, position, license_status="partially_approved") == {
        partial: expected[partial]}
    assert await deal_rows(client, position, license_status="denied") == {}
    by_stage = (await read(client, "/v1/portfolio", position))["by_stage"]
    assert (by_stage["license_expired"], by_stage["license_partial"],
            by_stage["license_approved"]) == (1, 1, 1)
    r = await client.get("/v1/portfolio/deals", params={"license_status": "lapsed"},
                         headers=auth("reader"))
    assert error_fields(assert_problem(r, 422, "validation_error")) == ["license_status"]


async def test_a_partially_approved_deal_is_approved_once_every_eccn_is_licensed(
        client: httpx.AsyncClient):
    body = two_controlled()
    deal_id, _, _ = await licensed(client, body)
    await posted(client, deal_id, "LicenseRequested",
                 {"application_ref": "Z-2002", "eccns": ["4A090.B"]})
    second = await posted(client, deal_id, "CommerceLicenseApproved", license_approved(
        body, application_ref="Z-2002", eccns=["4A090.b"],
        lines=[{"eccn": "4A090.b", "quantity": 4, "value": "2000000.00"}]))
    position = int(second["position"])
    assert await deal_rows(client, position, license_status="approved") == {
        deal_id: ("approved", "license_approved")}
    page = await read(client, "/v1/licenses", position, deal_id=deal_id)
    assert [(lic["eccns"], lic["lines"][0]["eccn"]) for lic in page["licenses"]] == [
        (["3A090.A"], "3A090.A"), (["4A090.B"], "4A090.B")]


async def test_the_client_reads_licenses_and_filters_deals_by_license_status(
        client: httpx.AsyncClient):
    from exim_ledger_client import AsyncLedgerClient, LedgerProblem, LicenseLine

    from tests.conftest import KEYS

    deal_id, data, _ = await licensed(client, license_number="cl-1", valid_until="2027-03-31")
    partial, _, _ = await licensed(client, two_controlled())
    move(client, "2027-04-01T09:00:00Z")
    head = int((await posted(client, deal_id, "PartyScreened", screening(
        list_date="2027-04-01")))["position"])
    transport = httpx.ASGITransport(app=client.app)  # type: ignore[attr-defined]
    async with AsyncLedgerClient("http://ledger", KEYS["reader"], transport=transport) as ledger:
        found = await ledger.license("Cl-1", min_position=head)
        assert (found.license_number, str(found.deal_id), found.status) == (
            "CL-1", deal_id, "expired")
        assert found.lines == [LicenseLine("3A090.A", 64, Decimal("8000000.00"))]
        assert (found.valid_until, found.revoked_from) == (date(2027, 3, 31), None)
        assert found.consignee == data["consignee"]
        page = await ledger.licenses(status="expired", min_position=head)
        assert [lic.license_number for lic in page.licenses] == ["CL-1"]
        assert page.next_cursor is None
        assert [lic.deal_id for lic in (await ledger.licenses(deal_id=partial)).licenses] == [
            UUID(partial)]
        deals = await ledger.portfolio_deals(license_status="expired", min_position=head)
        assert [(str(d.deal_id), d.license_status, d.stage) for d in deals.deals] == [
            (deal_id, "expired", "license_expired")]
        deals = await ledger.portfolio_deals(license_status="partially_approved", limit=1)
        assert [str(d.deal_id) for d in deals.deals] == [partial]
        with pytest.raises(LedgerProblem) as unknown:
            await ledger.license("CL-2")
        assert (unknown.value.status, unknown.value.code) == (404, "not_found")
