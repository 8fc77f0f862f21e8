"""A ledger written by the v1 code (``tests/fixtures/v1_ledger``) upgrades, on SQLite and
PostgreSQL: ``exim-ledger migrate`` changes no stored byte, hash, position or Merkle root
and drops the v1 snapshots; the next start adopts the shipped policies on a new program
stream and rebuilds the read models under v2; the ledger verifies and accepts new events.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from service.db import migrate
from service.settings import Settings
from tests.support.auditor_tool import load_tool
from tests.support.factories import assert_problem, event, ledger_client, today
from tests.support.stored import stored

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "v1_ledger"
tool = load_tool()


@pytest.fixture(params=["sqlite", "postgres"])
def v1(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The v1 ledger restored into a database of its own, and its manifest."""
    manifest = json.loads((FIXTURE / f"{request.param}.manifest.json").read_text())
    if request.param == "sqlite":
        path = tmp_path / "ledger.db"
        shutil.copy(FIXTURE / "sqlite.db", path)
        yield f"sqlite:///{path}", manifest
        return
    import psycopg

    base = request.getfixturevalue("pg_ready")
    name = f"{urlsplit(base).path.lstrip('/')}_v1_upgrade"
    url = urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    subprocess.run(["psql", "--quiet", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-d", url,
                    "-f", str(FIXTURE / "postgres.sql")], check=True, capture_output=True)
    try:
        yield url, manifest
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def started(url: str, manifest: dict[str, Any]) -> Any:
    keys = ",".join(f"{role}:{role}-key:{secret}" for role, secret in
                    {**manifest["keys"], "licensing": LICENSING_SECRET}.items())
    return ledger_client(Settings(database_url=url, bootstrap_keys=keys,
                                  signing_key=manifest["signing_key"]))


LICENSING_SECRET = "licensing-secret-for-the-upgrade-0123456789"  # a desk v1 did not have


def bearer(manifest: dict[str, Any], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {manifest['keys'].get(role, LICENSING_SECRET)}"}


async def screened(client: httpx.AsyncClient, manifest: dict[str, Any], deal_id: str) -> Any:
    """SPEC "Upgrading to v3": a deal financed before v3 needs its buyer screened before
    its next disbursement."""
    r = await client.post(f"/v1/deals/{deal_id}/events", headers=bearer(manifest, "licensing"),
                          json=event("PartyScreened", party="buyer", list="CSL",
                                     list_date=today(), result="clear", reference="CSL-1"))
    assert r.status_code == 201, r.text
    return r.json()


async def get(client: httpx.AsyncClient, manifest: dict[str, Any], path: str,
              role: str = "auditor", **params: Any) -> Any:
    r = await client.get(path, params=params, headers=bearer(manifest, role))
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_v1_ledger_upgrades_without_changing_a_stored_byte(
    v1: tuple[str, dict[str, Any]],
) -> None:
    url, manifest = v1
    before, snapshots = stored(url)
    assert snapshots > 0, "the fixture holds v1 snapshots"
    assert [(p, v) for p, _, v, _ in before] == [
        (e["position"], e["version"]) for e in manifest["events"]]

    migrate(Settings(database_url=url))
    after, snapshots = stored(url)
    assert after == before, "migrate changed no stored event"
    assert snapshots == 0, "v1 snapshots are dropped (they are caches)"


async def test_an_upgraded_ledger_verifies_gains_the_policy_stream_and_derives_under_v2(
    v1: tuple[str, dict[str, Any]],
) -> None:
    url, manifest = v1
    migrate(Settings(database_url=url))
    old = manifest["events"]
    async with started(url, manifest) as client:
        log = (await get(client, manifest, "/v1/events", "reader", limit=1000))["events"]
        assert [(e["position"], e["event_id"], e["hash"]) for e in log[:len(old)]] == [
            (e["position"], e["event_id"], e["hash"]) for e in old]
        program = log[len(old):]
        assert [(e["type"], e["data"]["id"], e["actor"], e["version"]) for e in program] == [
            ("PolicyAdopted", "2025-05-13", "system", 1),
            ("PolicyAdopted", "2026-11-30", "system", 2)]
        assert all(e["position"] > old[-1]["position"] for e in program)

        head = log[-1]["position"]
        report = await get(client, manifest, "/v1/audit/verify")
        assert report["ok"] is True and report["events_checked"] == len(old) + 2, report
        digest = await get(client, manifest, "/v1/audit/digest", min_position=head)
        assert digest["tree_size"] == len(old) + 2
        proof = await get(client, manifest, "/v1/audit/consistency", first=len(old),
                          second=digest["tree_size"])
        assert proof["first_root"] == manifest["root"], "the v1 root is unchanged"
        assert tool.verify_consistency(len(old), digest["tree_size"],
                                       bytes.fromhex(manifest["root"]),
                                       bytes.fromhex(digest["root"]),
                                       [bytes.fromhex(h) for h in proof["proof"]])

        deals = manifest["deals"]
        claimed = await get(client, manifest, f"/v1/deals/{deals['claimed']}", "reader")
        assert manifest["v1_states"]["claimed"]["stage"] == "repaid"
        assert claimed["stage"] == "claimed", "derived state follows v2"
        assert claimed["eccns"] == ["3A090.A", "5A992.C"], "v1's lower-case ECCNs compare alike"
        rows = await get(client, manifest, "/v1/portfolio/deals", "reader", min_position=head)
        stages = {row["deal_id"]: row["stage"] for row in rows["deals"]}
        assert stages[deals["claimed"]] == "claimed"
        assert {k: v for k, v in stages.items() if k != deals["claimed"]} == {
            manifest["deals"][name]: state["stage"]
            for name, state in manifest["v1_states"].items() if name != "claimed"}
        portfolio = await get(client, manifest, "/v1/portfolio", "reader", min_position=head)
        assert portfolio["by_stage"]["claimed"] == 1 and portfolio["by_stage"]["repaid"] == 1
        assert portfolio["totals"]["deals"] == len(deals)
        recon = await get(client, manifest, "/v1/exposure", "reader", min_position=head)
        assert recon["reconciliation"]["ok"] is True


async def test_an_upgraded_ledger_accepts_new_events_judged_under_v2(
    v1: tuple[str, dict[str, Any]],
) -> None:
    url, manifest = v1
    migrate(Settings(database_url=url))
    deals = manifest["deals"]
    last = [e for e in manifest["events"] if e["deal_id"] == deals["long_stream"]][-1]
    writer = {**bearer(manifest, "writer"), "Content-Type": "application/json"}
    async with started(url, manifest) as client:
        r = await client.post(f"/v1/deals/{deals['long_stream']}/events", headers=writer,
                              json=event("FundsDisbursed", amount="100.00", reference="V2-1"))
        assert_problem(r, 422, "party_not_screened")
        screening = await screened(client, manifest, deals["long_stream"])
        assert (screening["version"], screening["prev_hash"]) == (last["version"] + 1,
                                                                  last["hash"])
        r = await client.post(f"/v1/deals/{deals['long_stream']}/events", headers=writer,
                              json=event("FundsDisbursed", amount="100.00", reference="V2-1"))
        assert r.status_code == 201, r.text
        new = r.json()
        assert (new["version"], new["prev_hash"]) == (last["version"] + 2, screening["hash"])
        assert new["policy_version"] == "2026-11-30"
        await screened(client, manifest, deals["hong_kong"])
        r = await client.post(f"/v1/deals/{deals['hong_kong']}/events", headers=writer,
                              json=event("FundsDisbursed", amount="100.00", reference="V2-2"))
        problem = assert_problem(r, 422, "controlled_items_to_restricted_destination")
        assert "HK" in problem["detail"], "a disbursement into a destination restricted later"
        body = {
            "application_number": "V1-CLAIMED",
            "exporter": {"name": "Cerebral Silicon Inc.", "country": "US"},
            "buyer": {"name": "Buyer of V1-CLAIMED", "country": "DE"},
            "instrument": "loan_guarantee", "term": "medium",
            "contract_value": "10000000.00", "financed_amount": "8500000.00",
            "tenor_years": 5, "occurred_at": "2026-01-05T10:00:00Z",
            "items": [{"description": "AI accelerators", "category": "accelerator",
                       "eccn": "3a090.a", "quantity": 64, "value": "8000000.00"},
                      {"description": "Rack servers", "category": "server", "eccn": "5A992.c",
                       "quantity": 8, "value": "2000000.00"}]}
        r = await client.post("/v1/deals", json=body, headers={
            **writer, "Idempotency-Key": "v1-apply-claimed"})
        assert r.status_code == 201 and r.headers["idempotency-replayed"] == "true", r.text
        assert r.json()["hash"] == manifest["events"][0]["hash"], "a v1 key still replays"
