"""Revision 0011 on the ledger written by the v2 code (``tests/fixtures/v2_ledger``), on
SQLite and PostgreSQL: a ledger projected at 0010 has its deals and portfolio read models
and the stored deal states emptied (the other read models stay where they stood), and
after the projections rebuild it lists the licenses the v2 deals hold, without lines or
consignee, each deal's row filterable by its license status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from service.db import create_engine, migrate
from service.settings import Settings
from tests.integration.test_upgrade_v2 import EXPORTED, MANIFEST, bearer, restoring
from tests.support.factories import Clock, ledger_client

HEAD = EXPORTED[-1]["position"]
DEALS = MANIFEST["deals"]
REBUILT = ("deals", "portfolio")


@pytest.fixture(params=["sqlite", "postgres"])
def at_0010(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The v2 ledger migrated to 0010 and projected through its last event (as the 0010
    code leaves it running)."""
    with restoring(request.param, request, tmp_path) as url:
        migrate(Settings(database_url=url), "0010")
        engine = create_engine(Settings(database_url=url))
        try:
            with engine.begin() as conn:
                for name in REBUILT:
                    conn.execute(sa.text(
                        "INSERT INTO projection_positions (name, slot, position, status) "
                        "VALUES (:name, 'b', :head, 'running')"), {"name": name, "head": HEAD})
                conn.execute(sa.text(
                    "INSERT INTO projection_deal_states (deal_id, version, applied_position, "
                    "state) VALUES (:deal, 1, 1, '{}')"), {"deal": DEALS["long"]})
                conn.execute(sa.text(
                    "INSERT INTO deal_categories_b (deal_id, category, item_value) "
                    "VALUES (:deal, 'accelerator', 1)"), {"deal": DEALS["long"]})
        finally:
            engine.dispose()
        yield url


def positions(url: str) -> dict[str, tuple[str, int]]:
    engine = create_engine(Settings(database_url=url))
    try:
        with engine.connect() as conn:
            return {name: (slot, int(position)) for name, slot, position in conn.execute(
                sa.text("SELECT name, slot, position FROM projection_positions"))}
    finally:
        engine.dispose()


def count(url: str, table: str) -> int:
    engine = create_engine(Settings(database_url=url))
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


async def test_0011_empties_the_deal_read_models_and_the_rebuild_lists_the_v2_licenses(
        at_0010: str) -> None:
    assert positions(at_0010)["deals"] == ("b", HEAD)
    migrate(Settings(database_url=at_0010))
    after = positions(at_0010)
    assert not set(REBUILT) & after.keys(), "rebuilt from position 0"
    assert {name: position for name, (_, position) in after.items()} == {
        "exposure": HEAD, "audit": HEAD, "merkle": HEAD}
    assert count(at_0010, "projection_deal_states") == 0
    assert count(at_0010, "deal_categories_b") == count(at_0010, "licenses_a") == 0

    keys = ",".join(f"{role}:{role}-key:{secret}" for role, secret in MANIFEST["keys"].items())
    settings = Settings(database_url=at_0010, bootstrap_keys=keys,
                        signing_key=MANIFEST["signing_key"])
    async with ledger_client(settings, clock=Clock("2027-04-01T10:00:00Z")) as client:
        async def get(path: str, **params: Any) -> Any:
            r = await client.get(path, params={"min_position": HEAD, **params},
                                 headers=bearer("reader"))
            assert r.status_code == 200, r.text
            return r.json()

        listed = (await get("/v1/licenses"))["licenses"]
        assert [(lic["license_number"], lic["deal_id"], lic["status"], lic["revoked_from"])
                for lic in listed] == [
            ("L-1001", DEALS["long"], "valid", None),
            ("L-3001", DEALS["revoked_financed"], "revoked", "2026-11-18"),
            ("L-5001", DEALS["license_revoked"], "revoked", "2026-11-13"),
            ("L-4002", DEALS["license_approved"], "revoked", "2027-03-31")]
        assert {(lic["lines"], lic["consignee"]) for lic in listed} == {(None, None)}
        assert await get("/v1/licenses/l-1001") == {
            "license_number": "L-1001", "deal_id": DEALS["long"], "application_ref": "Z-1001",
            "eccns": ["3A090.A"], "consignee": None, "lines": None,
            "valid_until": "2029-12-31", "status": "valid", "revoked_from": None}
        for deal_id in DEALS.values():
            status = (await get(f"/v1/deals/{deal_id}"))["license_status"]
            rows = (await get("/v1/portfolio/deals", license_status=status))["deals"]
            assert deal_id in {row["deal_id"] for row in rows}, (deal_id, status)
            assert {row["license_status"] for row in rows} == {status}
