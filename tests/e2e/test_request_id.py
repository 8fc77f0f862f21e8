"""Every response carries ``X-Request-ID``: the client's, else a new one."""

from __future__ import annotations

import httpx


async def test_a_request_id_sent_is_echoed(client: httpx.AsyncClient):
    r = await client.get("/healthz", headers={"X-Request-ID": "trace-0001"})
    assert r.headers["x-request-id"] == "trace-0001"


async def test_without_one_each_response_gets_a_new_one(client: httpx.AsyncClient):
    ids = {(await client.get("/healthz")).headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3 and all(len(i) == 32 for i in ids)


async def test_problems_carry_it_too(client: httpx.AsyncClient):
    r = await client.get("/v1/events", headers={"X-Request-ID": "trace-0002"})
    assert r.status_code == 401 and r.headers["x-request-id"] == "trace-0002"
    missing = await client.get("/nowhere")
    assert missing.status_code == 404 and missing.headers["x-request-id"]


async def test_an_unusable_id_is_replaced(client: httpx.AsyncClient):
    for sent in ("has space", "x" * 201, "naïve"):
        r = await client.get("/healthz", headers={"X-Request-ID": sent.encode("utf-8")})
        assert r.headers["x-request-id"] != sent and len(r.headers["x-request-id"]) == 32


async def test_an_unexpected_error_carries_it_too(client: httpx.AsyncClient):
    app = client.app  # type: ignore[attr-defined]

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://ledger") as c:
        r = await c.get("/boom", headers={"X-Request-ID": "trace-0500"})
    assert r.status_code == 500 and r.json()["code"] == "internal_error"
    assert r.headers["x-request-id"] == "trace-0500"
