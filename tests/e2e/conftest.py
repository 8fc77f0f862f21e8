"""What the browser tests share: one Chromium per module, and a live server holding the
demo portfolio with every projection caught up."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.conftest import auth
from tests.support.browser_support import chromium
from tests.support.live_server import LiveServer, cli

if TYPE_CHECKING:
    from playwright.sync_api import Browser

DEMO_DEALS = "60"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def demo_server(live_server: LiveServer) -> LiveServer:
    """``live_server`` with ``exim-ledger demo`` loaded, its read models at the log's head."""
    loaded = cli(live_server.env, "demo", "--deals", DEMO_DEALS)
    assert loaded.returncode == 0, loaded.stderr
    head = httpx.get(f"{live_server.url}/v1/projections", headers=auth("reader")).json()
    position = max(p["head"] for p in head["projections"])
    for path in ("/v1/portfolio", "/v1/portfolio/deals", "/v1/exposure", "/v1/audit/log"):
        r = httpx.get(f"{live_server.url}{path}", params={"min_position": position},
                      headers=auth("auditor"), timeout=30)
        assert r.status_code == 200, r.text
    return live_server
