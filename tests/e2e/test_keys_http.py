"""Key administration over HTTP (admin only): the list shows no secret or digest, a created
key's secret is answered once and works, a revoked key is refused, and each change is in
the trail with the admin key's name and origin ``api``; a restart keeps it revoked."""

from __future__ import annotations

import httpx
import pytest

from service.keys import digest
from service.settings import Settings
from tests.conftest import KEYS, auth
from tests.support.factories import assert_problem, error_fields, ledger_client

ADMIN = auth("admin")


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def create(client: httpx.AsyncClient, role: str, name: str) -> httpx.Response:
    return await client.post("/v1/keys", json={"role": role, "name": name}, headers=ADMIN)


async def test_the_key_list_shows_names_roles_and_times_and_never_a_secret_or_digest(
    client: httpx.AsyncClient,
):
    r = await client.get("/v1/keys", headers=ADMIN)
    assert r.status_code == 200, r.text
    keys = r.json()["keys"]
    assert [k["name"] for k in keys] == sorted(f"{role}-key" for role in KEYS)
    assert all(k.keys() == {"name", "role", "created_at", "revoked_at"} for k in keys)
    assert {k["name"]: k["role"] for k in keys}["auditor-key"] == "auditor"
    for secret in KEYS.values():
        assert secret not in r.text and digest(secret) not in r.text


@pytest.mark.parametrize("role", ["writer", "reader", "auditor"])
async def test_only_an_admin_administers_keys(client: httpx.AsyncClient, role: str):
    assert_problem(await client.get("/v1/keys", headers=auth(role)), 403, "forbidden")
    assert_problem(await client.get("/v1/keys/trail", headers=auth(role)), 403, "forbidden")
    r = await client.post("/v1/keys", json={"role": "admin", "name": "mine"}, headers=auth(role))
    assert_problem(r, 403, "forbidden")
    r = await client.post("/v1/keys/admin-key/revoke", headers=auth(role))
    assert_problem(r, 403, "forbidden")
    assert_problem(await client.get("/v1/keys"), 401, "unauthorized")


async def test_a_created_key_answers_its_secret_once_and_works_for_its_role(
    client: httpx.AsyncClient,
):
    r = await create(client, "reader", "dashboard")
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    created = r.json()
    assert (created["name"], created["role"], created["revoked_at"]) == (
        "dashboard", "reader", None)
    secret = created["secret"]
    assert (await client.get("/v1/events", headers=bearer(secret))).status_code == 200
    assert_problem(await client.post("/v1/deals", json={}, headers=bearer(secret)),
                   403, "event_not_permitted")
    listed = await client.get("/v1/keys", headers=ADMIN)
    assert "dashboard" in listed.text and secret not in listed.text
    assert_problem(await create(client, "writer", "dashboard"), 409, "key_name_taken")


@pytest.mark.parametrize(("body", "field"), [
    ({"role": "root", "name": "x"}, "role"),
    ({"role": "reader", "name": "a:b"}, "name"),
    ({"role": "reader", "name": ""}, "name"),
    ({"role": "reader", "name": "x", "secret": "mine"}, "secret"),
    ({"name": "x"}, "role"),
])
async def test_a_malformed_key_request_names_its_field(
    client: httpx.AsyncClient, body: dict[str, str], field: str
):
    r = await client.post("/v1/keys", json=body, headers=ADMIN)
    assert error_fields(assert_problem(r, 422, "validation_error")) == [field]


async def test_a_revoked_key_is_refused_here_at_once_and_cannot_be_revoked_again(
    client: httpx.AsyncClient,
):
    secret = (await create(client, "writer", "origination")).json()["secret"]
    assert (await client.get("/v1/events", headers=bearer(secret))).status_code == 200
    r = await client.post("/v1/keys/origination/revoke", headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "origination" and r.json()["revoked_at"].endswith("Z")
    assert_problem(await client.get("/v1/events", headers=bearer(secret)), 401, "unauthorized")
    again = await client.post("/v1/keys/origination/revoke", headers=ADMIN)
    assert_problem(again, 409, "key_already_revoked")
    for nobody in ("nobody", "no%00body", "x" * 201):
        unknown = await client.post(f"/v1/keys/{nobody}/revoke", headers=ADMIN)
        assert_problem(unknown, 404, "not_found")


async def test_the_trail_records_api_changes_with_the_admin_keys_name(
    client: httpx.AsyncClient,
):
    await create(client, "auditor", "examiner")
    await client.post("/v1/keys/examiner/revoke", headers=ADMIN)
    r = await client.get("/v1/keys/trail", params={"name": "examiner"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    trail = r.json()
    assert [(e["action"], e["actor"], e["origin"]) for e in trail["entries"]] == [
        ("created", "admin-key", "api"), ("revoked", "admin-key", "api")]
    assert trail["next_after"] == trail["entries"][-1]["id"]
    everything = (await client.get("/v1/keys/trail", headers=ADMIN)).json()["entries"]
    assert [e["origin"] for e in everything] == ["bootstrap"] * len(KEYS) + ["api", "api"]
    page = await client.get("/v1/keys/trail", params={"after": everything[-2]["id"]},
                            headers=ADMIN)
    assert page.json()["entries"] == everything[-1:]


async def test_a_key_revoked_over_http_stays_revoked_after_a_restart(settings: Settings):
    async with ledger_client(settings) as first:
        assert (await first.get("/v1/events", headers=auth("reader"))).status_code == 200
        r = await first.post("/v1/keys/reader-key/revoke", headers=auth("admin"))
        assert r.status_code == 200, r.text
        assert (await first.get("/v1/events", headers=auth("reader"))).status_code == 401
    async with ledger_client(settings) as second:
        assert (await second.get("/v1/events", headers=auth("reader"))).status_code == 401
        listed = (await second.get("/v1/keys", headers=auth("admin"))).json()["keys"]
        assert {k["name"]: k["revoked_at"] is not None for k in listed}["reader-key"] is True


async def test_the_trail_after_a_position_no_entry_can_reach_is_empty(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/v1/keys/trail", params={"after": 2**62 - 1}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json() == {"entries": [], "next_after": 2**62 - 1}
