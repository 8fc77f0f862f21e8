"""A ledger written by the v2 code (``tests/fixtures/v2_ledger``) upgrades unchanged, on
SQLite and PostgreSQL, whether restored from its database or imported from its export:
``exim-ledger migrate`` changes no stored event; the log, its hashes, positions and
Merkle roots are the recorded ones; every deal (now, at each version and as of two past
moments), the portfolio, the exposure ledger, the audit log and the policies read as
they did when the fixture was written; the bound idempotency keys replay; and the
ledger accepts new events on top of the old ones.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from typer.testing import CliRunner

from service.cli import app as cli
from service.settings import Settings
from tests.support.auditor_tool import load_tool
from tests.support.factories import application, event, ledger_client, license_approved, today
from tests.support.stored import stored

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "v2_ledger"
MANIFEST: dict[str, Any] = json.loads((FIXTURE / "manifest.json").read_text(encoding="utf-8"))
EXPORT = (FIXTURE / "export.jsonl").read_text(encoding="utf-8")
EXPORTED = [json.loads(line) for line in EXPORT.splitlines()]
PROGRAM = "00000000-0000-0000-0000-000000000000"
tool = load_tool()


def cli_run(url: str, *args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), env={"LEDGER_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    return result


def pg_database(request: pytest.FixtureRequest, suffix: str) -> tuple[str, str, str]:
    """A fresh PostgreSQL database named after the suite's: its admin URL, name and URL."""
    import psycopg

    base = request.getfixturevalue("pg_ready")
    name = f"{urlsplit(base).path.lstrip('/')}_{suffix}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return base, name, urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


def drop(base: str, name: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def restoring(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The v2 ledger restored from its database file or dump, not migrated yet."""
    if kind == "sqlite":
        path = tmp_path / "ledger.db"
        shutil.copy(FIXTURE / "sqlite.db", path)
        yield f"sqlite:///{path}"
        return
    base, name, url = pg_database(request, "v2_upgrade")
    subprocess.run(["psql", "--quiet", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-d", url,
                    "-f", str(FIXTURE / "postgres.sql")], check=True, capture_output=True)
    try:
        yield url
    finally:
        drop(base, name)


@contextmanager
def importing(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The v2 ledger's export imported into an empty ledger of today's schema."""
    if kind == "sqlite":
        url, base, name = f"sqlite:///{tmp_path / 'imported.db'}", "", ""
    else:
        base, name, url = pg_database(request, "v2_import")
    try:
        cli_run(url, "migrate")
        result = cli_run(url, "import", str(FIXTURE / "export.jsonl"),
                         "--expect-root", MANIFEST["root"])
        assert MANIFEST["root"] in result.output
        yield url
    finally:
        if base:
            drop(base, name)


@pytest.fixture(params=["sqlite", "postgres"])
def restored(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with restoring(request.param, request, tmp_path) as url:
        yield url


@pytest.fixture(params=["sqlite-restored", "sqlite-imported", "postgres-restored",
                        "postgres-imported"])
def upgraded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The v2 ledger brought to today's schema: restored then migrated, or imported."""
    kind, how = request.param.split("-")
    if how == "imported":
        with importing(kind, request, tmp_path) as url:
            yield url
        return
    with restoring(kind, request, tmp_path) as url:
        cli_run(url, "migrate")
        yield url


# v3 desks: a second servicing key, to reverse what the fixture's writer posted
DESK_KEYS = {"servicing2": ("servicing", "fixture-servicing2-0003"),
             "licensing": ("licensing", "fixture-licensing-0004"),
             "origination": ("origination", "fixture-origination-0005")}


def started(url: str) -> Any:
    keys = ",".join([*(f"{role}:{role}-key:{secret}"
                       for role, secret in MANIFEST["keys"].items()),
                     *(f"{role}:{name}-key:{secret}"
                       for name, (role, secret) in DESK_KEYS.items())])
    return ledger_client(Settings(database_url=url, bootstrap_keys=keys,
                                  signing_key=MANIFEST["signing_key"],
                                  snapshot_interval=MANIFEST["snapshot_interval"]))


def bearer(role: str) -> dict[str, str]:
    secret = MANIFEST["keys"][role] if role in MANIFEST["keys"] else DESK_KEYS[role][1]
    return {"Authorization": f"Bearer {secret}"}


async def get(client: httpx.AsyncClient, path: str, role: str = "reader", **params: Any) -> Any:
    r = await client.get(path, params=params, headers=bearer(role))
    assert r.status_code == 200, (path, params, r.text)
    return r.json()


def test_the_fixture_holds_every_v2_event_type_and_checks_out_offline() -> None:
    types = {e["type"] for e in EXPORTED}
    assert types == {
        "DealApplied", "DealAmended", "LicenseRequested", "CommerceLicenseApproved",
        "CommerceLicenseDenied", "CommerceLicenseRevoked", "BoardVoted", "DealFinanced",
        "FundsDisbursed", "RepaymentReceived", "ClaimPaid", "RecoveryReceived",
        "EventReversed", "DealCancelled", "PolicyAdopted"}
    revocations = [e["data"] for e in EXPORTED if e["type"] == "CommerceLicenseRevoked"]
    assert {"effective_date" in data for data in revocations} == {True, False}
    assert sum(e["type"] == "EventReversed" for e in EXPORTED) >= 2
    adopters = [e["actor"] for e in EXPORTED if e["deal_id"] == PROGRAM]
    assert "system" in adopters and "admin-key" in adopters, "shipped, file and API versions"
    assert max(v["version"] for v in MANIFEST["deal_views"].values()) >= 25, "snapshots"
    assert [(e["position"], e["event_id"], e["deal_id"], e["version"], e["type"],
             e["policy_version"], e["hash"]) for e in EXPORTED] == [
        (e["position"], e["event_id"], e["deal_id"], e["version"], e["type"],
         e["policy_version"], e["hash"]) for e in MANIFEST["events"]]
    assert tool.check_events(EXPORTED) == [], "hashes and chains recompute from the export"
    hashes = [bytes.fromhex(e["hash"]) for e in EXPORTED]
    assert [tool.merkle_root(hashes[:n]).hex() for n in range(1, len(hashes) + 1)] == (
        MANIFEST["roots"])
    assert MANIFEST["root"] == MANIFEST["roots"][-1] and MANIFEST["tree_size"] == len(hashes)


def test_migrate_changes_no_stored_event(restored: str) -> None:
    before, snapshots = stored(restored)
    assert snapshots > 0, "the fixture holds snapshots"
    assert [(p, v) for p, _, v, _ in before] == [
        (e["position"], e["version"]) for e in MANIFEST["events"]]
    assert [d for _, d, _, _ in before] == [
        e["deal_id"].replace("-", "") for e in MANIFEST["events"]]
    cli_run(restored, "migrate")
    after, _ = stored(restored)
    assert after == before, "migrate changed no stored event"


async def test_the_log_hashes_positions_and_roots_are_the_recorded_ones(upgraded: str) -> None:
    async with started(upgraded) as client:
        log = (await get(client, "/v1/events", after=0, limit=1000))["events"]
        assert log == EXPORTED, "no event was added, changed or moved, policies included"
        report = await get(client, "/v1/audit/verify", "auditor")
        assert report["ok"] is True and report["events_checked"] == len(EXPORTED), report
        program = await get(client, "/v1/audit/verify", "auditor", deal_id=PROGRAM)
        assert program["ok"] is True and program["events_checked"] == 4, program
        head = EXPORTED[-1]["position"]
        digest = await get(client, "/v1/audit/digest", "auditor", min_position=head)
        assert (digest["tree_size"], digest["root"], digest["position"]) == (
            MANIFEST["tree_size"], MANIFEST["root"], head)
        public = await get(client, "/v1/audit/public-key", "auditor")
        assert tool.check_signature(digest, public) is True, "signed with the fixture's key"
        size = digest["tree_size"]
        for first, root in enumerate(MANIFEST["roots"], start=1):
            proof = await get(client, "/v1/audit/consistency", "auditor", first=first,
                              second=size)
            assert proof["first_root"] == root, first
            assert tool.verify_consistency(first, size, bytes.fromhex(root),
                                           bytes.fromhex(MANIFEST["root"]),
                                           [bytes.fromhex(h) for h in proof["proof"]])
        for ev in EXPORTED[::7]:
            proof = await get(client, "/v1/audit/proof", "auditor", event_id=ev["event_id"],
                              tree_size=size)
            assert proof["leaf_index"] == EXPORTED.index(ev) and proof["root"] == digest["root"]
    assert cli_run(upgraded, "export").stdout == EXPORT, "it exports as it was exported"


# what a deal's view gained in v3: what the latest approval covered, the meetings of its
# votes, its latest notice to Congress; every key the v2 view had reads as recorded
V3_VIEW_KEYS = {"board_terms", "meeting_dates", "congressional_notice", "end_user",
                "screenings", "applied_occurred_at"}


def as_recorded(view: dict[str, Any] | None) -> dict[str, Any] | None:
    """A deal view without the keys added since v2 (which a v2 view cannot have recorded):
    v3's, and the business date the explorer filters on."""
    if view is None:
        return None
    assert view.keys() >= V3_VIEW_KEYS, view
    return {k: v for k, v in view.items() if k not in V3_VIEW_KEYS}


def program_accounts(exposure: dict[str, Any]) -> dict[str, Any]:
    """The exposure listing as v2 recorded it: since, it also lists each kind of deal
    account summed over the deals (``deal:*:...``), so that the listed balances add up to
    its totals."""
    summed = [a for a in exposure["accounts"] if a["account"].startswith("deal:*:")]
    assert {a["account"] for a in summed} == {
        "deal:*:authorised", "deal:*:outstanding", "deal:*:undisbursed"}, exposure
    return {**exposure, "accounts": [a for a in exposure["accounts"] if a not in summed]}


def without_claims(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_claims(v) for k, v in value.items() if k != "claims_paid"}
    if isinstance(value, list):
        return [without_claims(v) for v in value]
    return value


def stages_as_recorded(portfolio: dict[str, Any]) -> dict[str, Any]:
    """A portfolio without the stages v3 added (no deal of the fixture is in them), nor
    the claims paid issue 19 added to its figures."""
    portfolio = without_claims(portfolio)
    by_stage = dict(portfolio["by_stage"])
    for stage in ("board_stale", "license_expired", "license_partial"):
        assert by_stage.pop(stage) == 0, portfolio
    return {**portfolio, "by_stage": by_stage}


async def test_deals_and_read_models_read_as_recorded(upgraded: str) -> None:
    head = EXPORTED[-1]["position"]
    async with started(upgraded) as client:
        for path in ("/v1/portfolio", "/v1/exposure", "/v1/audit/log"):
            await get(client, path, "auditor", min_position=head)
        for name, deal in MANIFEST["deals"].items():
            assert as_recorded(await get(client, f"/v1/deals/{deal}")) == MANIFEST[
                "deal_views"][name]
            for version, view in enumerate(MANIFEST["deal_versions"][name], start=1):
                assert as_recorded(await get(client, f"/v1/deals/{deal}", version=version)) == (
                    view), (name, version)
            for moment, view in MANIFEST["deal_as_of"][name].items():
                r = await client.get(f"/v1/deals/{deal}", params={"as_of": moment},
                                     headers=bearer("reader"))
                assert as_recorded(r.json() if r.status_code == 200 else None) == view, (
                    name, moment)
            assert await get(client, f"/v1/exposure/deals/{deal}") == (
                MANIFEST["deal_exposure"][name])
        assert stages_as_recorded(await get(client, "/v1/portfolio")) == MANIFEST["portfolio"]
        for moment, portfolio in MANIFEST["portfolio_as_of"].items():
            assert stages_as_recorded(await get(client, "/v1/portfolio", as_of=moment)) == (
                portfolio), moment
        rows = await get(client, "/v1/portfolio/deals", limit=1000)
        assert [as_recorded(row) for row in rows["deals"]] == MANIFEST["portfolio_deals"]
        assert program_accounts(await get(client, "/v1/exposure")) == MANIFEST["exposure"]
        audit = await get(client, "/v1/audit/log", "auditor", limit=1000)
        assert audit["entries"] == MANIFEST["audit_log"]
        policies = await get(client, "/v1/policies")
        assert policies["policies"] == MANIFEST["policies"]
        assert policies["in_force"] == "2026-12-01", "the version adopted through the API"


async def test_bound_idempotency_keys_replay_their_answers(restored: str) -> None:
    cli_run(restored, "migrate")
    async with started(restored) as client:
        for bound in MANIFEST["replays"]:
            r = await client.post(bound["path"], json=bound["body"], headers={
                **bearer(bound["role"]), **bound["headers"], "Idempotency-Key": bound["key"]})
            assert (r.status_code, r.json()) == (bound["status"], bound["response"]), bound
            assert r.headers["idempotency-replayed"] == "true", bound["key"]
        assert len((await get(client, "/v1/events", limit=1000))["events"]) == len(EXPORTED)


async def test_an_upgraded_ledger_accepts_new_events(upgraded: str) -> None:
    deals = MANIFEST["deals"]
    last = [e for e in EXPORTED if e["deal_id"] == deals["long"]][-1]
    writer = {**bearer("writer"), "Content-Type": "application/json"}
    async with started(upgraded) as client:
        r = await client.post(f"/v1/deals/{deals['long']}/events", headers=writer, json=event(
            "RepaymentReceived", principal="100.00", interest="1.00", reference="V2-UP-1"))
        assert r.status_code == 201, r.text
        new = r.json()
        assert (new["version"], new["prev_hash"]) == (last["version"] + 1, last["hash"])
        assert new["position"] > EXPORTED[-1]["position"]
        r = await client.post(f"/v1/deals/{deals['revoked_financed']}/events", headers=writer,
                              json=event("FundsDisbursed", amount="100.00", reference="UP-2"))
        assert r.status_code == 422 and r.json()["code"] == "commerce_license_revoked", r.text
        r = await client.post(f"/v1/deals/{deals['batch_cancelled']}/events", headers=writer,
                              json=event("DealCancelled", reason="again"))
        assert r.status_code == 422 and r.json()["code"] == "deal_closed", r.text

        report = await get(client, "/v1/audit/verify", "auditor")
        assert report["ok"] is True and report["events_checked"] == len(EXPORTED) + 1
        digest = await get(client, "/v1/audit/digest", "auditor", min_position=new["position"])
        proof = await get(client, "/v1/audit/consistency", "auditor",
                          first=MANIFEST["tree_size"], second=digest["tree_size"])
        assert proof["first_root"] == MANIFEST["root"], "the recorded root is unchanged"
        view = await get(client, f"/v1/deals/{deals['long']}")  # read from the log: current
        recorded = MANIFEST["deal_views"]["long"]
        assert view["version"] == recorded["version"] + 1
        assert view["principal_repaid"] != recorded["principal_repaid"]


async def test_v2_licenses_keep_their_numbers_and_cover_without_a_limit(upgraded: str) -> None:
    """SPEC "Upgrading to v3": a license approved before v3 has no lines, so it covers its
    ECCNs without a quantity or value limit; its number counts as taken (``migrate``
    rebuilt the guards); a deal financed before v3 is screened before its next
    disbursement."""
    deals = MANIFEST["deals"]
    servicing = {**bearer("writer"), "Content-Type": "application/json"}
    disbursement = event("FundsDisbursed", amount="100.00", reference="UP-V3-1")
    async with started(upgraded) as client:
        r = await client.post(f"/v1/deals/{deals['long']}/events", headers=servicing,
                              json=disbursement)
        assert r.status_code == 422 and r.json()["code"] == "party_not_screened", r.text
        r = await client.post(f"/v1/deals/{deals['long']}/events", headers=bearer("licensing"),
                              json=event("PartyScreened", party="buyer", list="CSL",
                                         list_date=today(), result="clear",
                                         reference="CSL-UP-1"))
        assert r.status_code == 201, r.text
        r = await client.post(f"/v1/deals/{deals['long']}/events", headers=servicing,
                              json=disbursement)
        assert r.status_code == 201, r.text  # L-1001 has no lines: 64 units pass

        body = application()
        r = await client.post("/v1/deals", json=body, headers=bearer("origination"))
        assert r.status_code == 201, r.text
        deal_id = r.json()["deal_id"]
        r = await client.post(f"/v1/deals/{deal_id}/events", headers=bearer("origination"),
                              json=event("LicenseRequested", application_ref="Z-1001",
                                         eccns=["3A090.a"]))
        assert r.status_code == 201, r.text
        for number in ("L-1001", "l-1001", "L-5001"):  # held by v2 deals, revoked or not
            r = await client.post(f"/v1/deals/{deal_id}/events", headers=bearer("licensing"),
                                  json=event("CommerceLicenseApproved", **license_approved(
                                      body, license_number=number)))
            assert r.status_code == 409, r.text
            assert r.json()["code"] == "license_number_taken", r.text
        r = await client.post(f"/v1/deals/{deal_id}/events", headers=bearer("licensing"),
                              json=event("CommerceLicenseApproved", **license_approved(body)))
        assert r.status_code == 201, r.text


async def test_a_disbursement_posted_before_the_upgrade_can_still_be_reversed(
        upgraded: str) -> None:
    """Version 7 of the long deal lies behind two snapshots taken by the v2 code: its
    reversal reads it from the log, and the deal and the read models take it back."""
    deals = MANIFEST["deals"]
    writer = {**bearer("writer"), "Content-Type": "application/json"}
    other = {**bearer("servicing2"), "Content-Type": "application/json"}
    recorded = MANIFEST["deal_views"]["long"]
    async with started(upgraded) as client:
        # a new event on an old deal is judged by v3: four eyes, and the returned funds
        r = await client.post(f"/v1/deals/{deals['long']}/events", headers=writer, json=event(
            "EventReversed", version=7, reason="DISB-L1 was returned by the bank",
            return_reference="RET-L1"))
        assert r.status_code == 422 and r.json()["code"] == "reversal_by_same_actor", r.text
        r = await client.post(f"/v1/deals/{deals['long']}/events", headers=other, json=event(
            "EventReversed", version=7, reason="DISB-L1 was returned by the bank"))
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "reversal_evidence_required", r.text
        r = await client.post(f"/v1/deals/{deals['long']}/events", headers=other, json=event(
            "EventReversed", version=7, reason="DISB-L1 was returned by the bank",
            return_reference="RET-L1"))
        assert r.status_code == 201, r.text
        position = r.json()["position"]
        view = await get(client, f"/v1/deals/{deals['long']}")  # read from the log: current
        assert view["reversed_versions"] == [*recorded["reversed_versions"], 7]
        assert view["disbursed"] == "5250000.00" == f"{float(recorded['disbursed']) - 500000:.2f}"
        r = await client.post(f"/v1/deals/{deals['long']}/events", headers=other, json=event(
            "EventReversed", version=7, reason="again", return_reference="RET-L1"))
        assert r.status_code == 422 and r.json()["code"] == "already_reversed", r.text
        rows = await get(client, "/v1/portfolio/deals", min_position=position, limit=100)
        row = next(d for d in rows["deals"] if d["deal_id"] == deals["long"])
        assert row["disbursed"] == "5250000.00", row
