"""tools/verify_ledger.py, run as an auditor runs it (a separate process, standard library
only), against a real ``exim-ledger serve`` process on a temporary SQLite database."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import BOOTSTRAP, KEYS
from tests.factories import application, lifecycle_to_financed

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "verify_ledger.py"
CLI = Path(sys.executable).parent / "exim-ledger"


@dataclass
class Server:
    url: str
    db: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    db = tmp_path / "ledger.db"
    env = {**os.environ, "LEDGER_DATABASE_URL": f"sqlite:///{db}",
           "LEDGER_BOOTSTRAP_KEYS": BOOTSTRAP, "LEDGER_LOG_LEVEL": "warning"}
    env.pop("LEDGER_SIGNING_KEY", None)
    env.pop("LEDGER_SIGNING_KEY_FILE", None)
    subprocess.run([str(CLI), "migrate"], env=env, check=True, capture_output=True, cwd=tmp_path)
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen([str(CLI), "serve", "--port", str(port)], env=env, cwd=tmp_path,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not start: {(tmp_path / 'server.log').read_text()}")
            time.sleep(0.1)
        yield Server(url, db)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def post_deals(url: str, count: int) -> list[str]:
    """Deals taken to financing; their DealApplied event ids."""
    headers = {"Authorization": f"Bearer {KEYS['writer']}"}
    ids = []
    with httpx.Client(base_url=url, headers=headers, timeout=10) as c:
        for _ in range(count):
            r = c.post("/v1/deals", json=application())
            assert r.status_code == 201, r.text
            ids.append(r.json()["event_id"])
            for step in lifecycle_to_financed():
                assert c.post(f"/v1/deals/{r.json()['deal_id']}/events",
                              json=step).status_code == 201
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
    server: Server, tmp_path: Path
):
    event_ids = post_deals(server.url, 3)
    tree_covers_log(server.url)
    saved = tmp_path / "digest.json"
    first = verify_ledger(server.url, "--event-id", event_ids[1], "--save-digest", str(saved))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "ledger verified: tree size 15" in first.stdout
    assert "ok    Ed25519 signature" in first.stdout
    assert "ok    inclusion proof" in first.stdout

    post_deals(server.url, 1)
    tree_covers_log(server.url)
    later = verify_ledger(server.url, "--old-digest", str(saved))
    assert later.returncode == 0, later.stdout + later.stderr
    assert "tree 15 is a prefix of tree 20" in later.stdout

    with sqlite3.connect(server.db) as conn:
        (state,) = conn.execute("SELECT state FROM ledger_events WHERE rowid = 7").fetchone()
        tampered = bytes(state).replace(b'"Z-1001"', b'"Z-1002"')
        assert tampered != state
        conn.execute("UPDATE ledger_events SET state = ? WHERE rowid = 7", (tampered,))
    caught = verify_ledger(server.url, "--old-digest", str(saved))
    assert caught.returncode == 1
    assert "event at position 7" in caught.stdout and "content hashes to" in caught.stdout
    assert "ledger NOT verified" in caught.stderr
