"""A method a path does not take is a 405 whose Allow names every method it does take."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import auth
from tests.support.factories import assert_problem


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("DELETE", "/v1/deals", "GET, POST"),
    ("OPTIONS", "/v1/policies", "GET, POST"),
    ("PUT", "/v1/keys", "GET, POST"),
    ("GET", "/v1/batches", "POST"),
    ("POST", "/v1/portfolio", "GET"),
])
async def test_a_method_not_allowed_names_every_allowed_one(
    client: httpx.AsyncClient, method: str, path: str, allow: str,
) -> None:
    r = await client.request(method, path, headers=auth("admin"))
    assert_problem(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == allow
