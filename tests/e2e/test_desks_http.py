"""Desks (SPEC v3) over HTTP: each event type is posted only by the roles domain.desks names,
judged as soon as the body's type is known (before its data, its deal or its idempotency
key), in a batch item by item before any item's data; licensing, board and admin keys are
made only by the operator."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from domain.desks import DESK_ROLES, posters
from service.ledger.payloads import EVENT_DATA
from service.settings import Settings
from tests.conftest import KEYS, ROLE_OF, auth
from tests.support.factories import (
    BOARD_APPROVED,
    LICENSE_REQUESTED,
    application,
    apply_deal,
    assert_problem,
    event,
    headers_for,
)
from tests.support.live_server import cli, ledger_env

ROLES = ("admin", "writer", "reader", "auditor", *DESK_ROLES)
TYPES = sorted(EVENT_DATA)  # every type the API takes
NOWHERE = str(uuid.uuid4())  # no such deal: the desk is judged before the deal is looked up


def key_of(role: str) -> dict[str, str]:
    return auth(next(name for name in KEYS if ROLE_OF[name] == role))


async def post_one(client: httpx.AsyncClient, type_name: str, role: str,
                   **headers: str) -> httpx.Response:
    """``type_name`` with empty data, where the API takes it, by a key of ``role``."""
    if type_name == "DealApplied":
        return await client.post("/v1/deals", json={}, headers={**key_of(role), **headers})
    return await client.post(f"/v1/deals/{NOWHERE}/events", json=event(type_name),
                             headers={**key_of(role), **headers})


async def post_batch(client: httpx.AsyncClient, items: list[dict[str, Any]],
                     role: str) -> httpx.Response:
    return await client.post("/v1/batches", json={"events": items}, headers=key_of(role))


def refused(response: httpx.Response, type_name: str, role: str,
            index: int | None = None) -> dict[str, Any]:
    problem = assert_problem(response, 403, "event_not_permitted")
    assert (problem["event_type"], problem["role"]) == (type_name, role)
    assert type_name in problem["detail"] and role in problem["detail"]
    assert problem.get("index") == index
    return problem


@pytest.mark.parametrize("type_name", TYPES)
async def test_a_role_that_may_not_post_a_type_is_refused_before_its_data_is_read(
    client: httpx.AsyncClient, type_name: str,
):
    for role in sorted(set(ROLES) - posters(type_name)):
        refused(await post_one(client, type_name, role), type_name, role)
        item = event(type_name) | ({} if type_name == "DealApplied" else {"deal_id": NOWHERE})
        refused(await post_batch(client, [item], role), type_name, role, index=0)


@pytest.mark.parametrize("type_name", TYPES)
async def test_a_role_that_may_post_a_type_gets_on_to_its_data(
    client: httpx.AsyncClient, type_name: str,
):
    for role in sorted(posters(type_name) & set(ROLES)):
        assert_problem(await post_one(client, type_name, role), 422, "validation_error")


async def test_licensing_and_board_decisions_are_their_desks_alone(client: httpx.AsyncClient):
    deal_id = (await apply_deal(client))["deal_id"]
    r = await client.post(f"/v1/deals/{deal_id}/events", headers=auth("writer"),
                          json=event("BoardVoted", **BOARD_APPROVED))
    refused(r, "BoardVoted", "writer")
    r = await client.post(f"/v1/deals/{deal_id}/events", headers=auth("licensing"),
                          json=event("BoardVoted", **BOARD_APPROVED))
    refused(r, "BoardVoted", "licensing")
    r = await client.post(f"/v1/deals/{deal_id}/events", headers=auth("board"),
                          json=event("BoardVoted", **BOARD_APPROVED))
    assert r.status_code == 201, r.text
    assert r.json()["actor"] == "board-key"


async def test_a_writer_keeps_posting_what_it_still_may(client: httpx.AsyncClient):
    r = await client.post("/v1/deals", json=application(), headers=auth("writer"))
    assert r.status_code == 201, r.text
    r = await client.post(f"/v1/deals/{r.json()['deal_id']}/events", headers=auth("writer"),
                          json=event("LicenseRequested", **LICENSE_REQUESTED))
    assert r.status_code == 201, r.text


async def test_a_batch_names_the_first_item_its_key_may_not_post_even_after_bad_data(
    client: httpx.AsyncClient,
):
    items = [
        {**event("DealAmended"), "deal_id": NOWHERE},  # bad data, but origination's
        {**event("LicenseRequested", **LICENSE_REQUESTED), "deal_id": NOWHERE},
        {**event("BoardVoted"), "deal_id": NOWHERE},
        {**event("CommerceLicenseDenied"), "deal_id": NOWHERE},
    ]
    refused(await post_batch(client, items, "origination"), "BoardVoted", "origination",
            index=2)
    problem = assert_problem(await post_batch(client, items[:2], "origination"), 422,
                             "validation_error")
    assert problem["index"] == 0


async def test_a_refusal_binds_no_idempotency_key(client: httpx.AsyncClient):
    deal_id = (await apply_deal(client))["deal_id"]
    once = {"Idempotency-Key": "desk-1"}
    r = await client.post(f"/v1/deals/{deal_id}/events", json=event("BoardVoted",
                                                                     **BOARD_APPROVED),
                          headers=auth("origination") | once)
    refused(r, "BoardVoted", "origination")
    r = await client.post(f"/v1/deals/{deal_id}/events",
                          json=event("LicenseRequested", **LICENSE_REQUESTED),
                          headers=auth("origination") | once)
    assert r.status_code == 201, r.text


async def test_an_unknown_type_keeps_its_answer(client: httpx.AsyncClient):
    for role in ("writer", "board"):
        r = await client.post(f"/v1/deals/{NOWHERE}/events", json=event("Nonsense"),
                              headers=key_of(role))
        assert_problem(r, 422, "validation_error")
    r = await client.post(f"/v1/deals/{NOWHERE}/events", json=event("DealApplied"),
                          headers=auth("board"))
    assert_problem(r, 422, "validation_error")  # posted to /v1/deals, not here
    for role in ("reader", "auditor"):
        r = await client.post(f"/v1/deals/{NOWHERE}/events", json=event("Nonsense"),
                              headers=key_of(role))
        assert_problem(r, 403, "forbidden")
        r = await client.post("/v1/batches", content=b"{", headers=key_of(role))
        assert_problem(r, 403, "forbidden")


@pytest.mark.parametrize("role", DESK_ROLES)
async def test_desk_keys_read_like_readers(client: httpx.AsyncClient, role: str):
    deal_id = (await apply_deal(client))["deal_id"]
    for path in (f"/v1/deals/{deal_id}", "/v1/events", "/v1/portfolio"):
        assert (await client.get(path, headers=auth(role))).status_code == 200, path
    assert_problem(await client.get("/v1/audit/verify", headers=auth(role)), 403, "forbidden")
    assert_problem(await client.get("/v1/keys", headers=auth(role)), 403, "forbidden")


@pytest.mark.parametrize("role", ["admin", "licensing", "board"])
async def test_operator_only_roles_are_not_granted_over_the_api(
    client: httpx.AsyncClient, role: str,
):
    r = await client.post("/v1/keys", json={"role": role, "name": f"my-{role}"},
                          headers=auth("admin"))
    assert_problem(r, 403, "role_not_grantable")
    listed = await client.get("/v1/keys", headers=auth("admin"))
    assert f"my-{role}" not in listed.text


@pytest.mark.parametrize("role", ["origination", "servicing"])
async def test_an_admin_grants_origination_and_servicing_keys(
    client: httpx.AsyncClient, role: str,
):
    r = await client.post("/v1/keys", json={"role": role, "name": f"{role}-desk"},
                          headers=auth("admin"))
    assert r.status_code == 201, r.text
    assert r.json()["role"] == role
    own = {"Authorization": f"Bearer {r.json()['secret']}"}
    deal_id = (await apply_deal(client))["deal_id"]
    posted = await client.post(f"/v1/deals/{deal_id}/events", headers=own,
                               json=event("DealCancelled", reason="the buyer withdrew"))
    assert posted.status_code == 201, posted.text
    assert posted.json()["actor"] == f"{role}-desk"


async def test_the_operator_creates_a_licensing_desk_on_the_command_line(
    client: httpx.AsyncClient, settings: Settings,
):
    created = cli(ledger_env(settings.database_url), "keys", "create", "--role", "licensing",
                  "--name", "bis-desk")
    assert created.returncode == 0, created.stderr
    desk = {"Authorization": f"Bearer {created.stdout.strip().splitlines()[-1]}"}
    deal_id = (await apply_deal(client))["deal_id"]
    r = await client.post(f"/v1/deals/{deal_id}/events", headers=headers_for("LicenseRequested"),
                          json=event("LicenseRequested", **LICENSE_REQUESTED))
    assert r.status_code == 201, r.text
    r = await client.post(f"/v1/deals/{deal_id}/events", headers=desk, json=event(
        "CommerceLicenseDenied", application_ref="Z-1001", reason="end user unverified"))
    assert r.status_code == 201, r.text
    assert r.json()["actor"] == "bis-desk"
    refused(await client.post(f"/v1/deals/{deal_id}/events", headers=desk,
                              json=event("BoardVoted", **BOARD_APPROVED)),
            "BoardVoted", "licensing")

