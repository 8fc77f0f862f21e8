"""tools/verify_ledger.py, run as an auditor runs it (a separate process, standard library
only), against a real ``exim-ledger serve`` process on a temporary SQLite database."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import KEYS
from tests.support.factories import (
    AUTHORIZATION,
    application,
    headers_for,
    lifecycle_to_financed,
)
from tests.support.live_server import LiveServer, migrated_sqlite

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "verify_ledger.py"


@pytest.fixture
def live_database_url(tmp_path: Path) -> str:
    return migrated_sqlite(tmp_path)


def authorize_program(url: str) -> None:
    """The board authorizes the program (SPEC v3: no financing without): position 3."""
    r = httpx.post(f"{url}/v1/program/authorizations", json=AUTHORIZATION, timeout=10,
                   headers={"Authorization": f"Bearer {KEYS['board']}"})
    assert r.status_code == 201 and r.json()["position"] == 3, r.text


def post_deals(url: str, count: int) -> list[str]:
    """Deals taken to financing, each event by its desk; their DealApplied event ids."""
    ids = []
    with httpx.Client(base_url=url, timeout=10) as c:
        for _ in range(count):
            r = c.post("/v1/deals", json=application(), headers=headers_for("DealApplied"))
            assert r.status_code == 201, r.text
            ids.append(r.json()["event_id"])
            for step in lifecycle_to_financed():
                assert c.post(f"/v1/deals/{r.json()['deal_id']}/events", json=step,
                              headers=headers_for(step["type"])).status_code == 201
    return ids


def tree_covers_log(url: str) -> None:
    headers = {"Authorization": f"Bearer {KEYS['auditor']}"}
    with httpx.Client(base_url=url, headers=headers, timeout=10) as c:
        events = c.get("/v1/events", params={"limit": 1000}).json()["events"]
        head = events[-1]["position"]
        r = c.get("/v1/audit/digest", params={"min_position": head})
        assert r.status_code == 200 and r.json()["position"] == head, r.text


def verify_ledger(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--url", url, "--api-key", KEYS["auditor"], *args],
        capture_output=True, text=True, timeout=60,
    )


def test_the_auditors_script_verifies_a_live_ledger_and_catches_tampering(
    live_server: LiveServer, tmp_path: Path
):
    authorize_program(live_server.url)
    event_ids = post_deals(live_server.url, 3)
    tree_covers_log(live_server.url)
    saved = tmp_path / "digest.json"
    first = verify_ledger(live_server.url, "--event-id", event_ids[1], "--save-digest", str(saved))
    assert first.returncode == 0, first.stdout + first.stderr
    # two policies, the board's authorization, three deals of six events (one a screening)
    assert "ledger verified: tree size 21" in first.stdout
    assert "ok    Ed25519 signature" in first.stdout
    assert "ok    inclusion proof" in first.stdout
    trusted = "checked against the public key the server itself served"
    summary = first.stdout.split("ledger verified")[1]
    assert trusted in summary and "--public-key" in summary
    assert trusted in first.stderr and "obtained by another channel" in first.stderr

    post_deals(live_server.url, 1)
    tree_covers_log(live_server.url)
    later = verify_ledger(live_server.url, "--old-digest", str(saved))
    assert later.returncode == 0, later.stdout + later.stderr
    assert "tree 21 is a prefix of tree 27" in later.stdout

    with sqlite3.connect(tmp_path / "ledger.db") as conn:  # the second deal's license request
        (state,) = conn.execute("SELECT state FROM ledger_events WHERE rowid = 11").fetchone()
        tampered = bytes(state).replace(b'"Z-1001"', b'"Z-1002"')
        assert tampered != state
        conn.execute("UPDATE ledger_events SET state = ? WHERE rowid = 11", (tampered,))
    caught = verify_ledger(live_server.url, "--old-digest", str(saved))
    assert caught.returncode == 1
    assert "event at position 11" in caught.stdout and "content hashes to" in caught.stdout
    assert "ledger NOT verified" in caught.stderr


def test_the_auditor_checks_signatures_with_a_key_of_their_own(
    live_server: LiveServer, tmp_path: Path
):
    import base64
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    authorize_program(live_server.url)
    post_deals(live_server.url, 1)
    tree_covers_log(live_server.url)
    seed = base64.b64decode((tmp_path / "signing-key").read_text())  # the operator's key
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pem = tmp_path / "operator.pem"
    pem.write_bytes(public.public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo))
    as_json = tmp_path / "operator.json"
    as_json.write_text(json.dumps({"public_key": base64.b64encode(raw).decode()}))
    for given in (str(pem), str(as_json), base64.b64encode(raw).decode()):
        ok = verify_ledger(live_server.url, "--public-key", given)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "using the public key given" in ok.stdout
        assert "server itself served" not in ok.stdout + ok.stderr
        assert "ok    Ed25519 signature" in ok.stdout

    other = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    refused = verify_ledger(live_server.url, "--public-key", base64.b64encode(other).decode())
    assert refused.returncode == 1 and "is not the published key" in refused.stdout
    garbage = verify_ledger(live_server.url, "--public-key", "not-a-key")
    assert garbage.returncode == 2 and "Ed25519 public key" in garbage.stderr
