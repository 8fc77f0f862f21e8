"""The installed ``exim-ledger`` command: migrate, serve over real HTTP, manage keys."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest
from exim_ledger_bench.server import CLI, free_port

from service.settings import Settings
from tests.conftest import KEYS
from tests.support.factories import application, assert_problem
from tests.support.live_server import LiveServer, cli, ledger_env, migrated_sqlite

KEY_CACHE_SECONDS = float(Settings.model_fields["key_cache_seconds"].default)  # the server's
PATIENCE = 60.0  # a generous bound on waits that end as soon as their condition holds


@pytest.fixture
def live_database_url(tmp_path: Path) -> str:
    return migrated_sqlite(tmp_path)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_a_deal_posted_to_a_real_server_is_read_back(live_server: LiveServer):
    with httpx.Client(base_url=live_server.url, timeout=10.0) as http:
        assert http.get("/readyz").json() == {"status": "ready"}
        body = application()
        r = http.post("/v1/deals", json=body, headers={**bearer(KEYS["writer"]),
                                                       "X-Source-System": "origination"})
        assert r.status_code == 201, r.text
        envelope = r.json()
        assert envelope["source"] == "origination"
        state = http.get(r.headers["location"], headers=bearer(KEYS["reader"]))
        assert state.status_code == 200, state.text
        assert state.json()["application_number"] == body["application_number"]
        assert state.json()["stage"] == "applied"
        assert state.headers["etag"] == '"1"'
        log = http.get("/v1/events", headers=bearer(KEYS["auditor"])).json()
        assert log["events"][2:] == [envelope]  # after the two shipped policies


def test_a_created_key_prints_its_secret_alone_on_the_last_line_and_works(live_server: LiveServer):
    created = cli(live_server.env, "keys", "create", "--role", "reader", "--name", "x")
    assert created.returncode == 0, created.stderr
    lines = created.stdout.rstrip("\n").split("\n")
    secret = lines[-1]
    assert secret == secret.strip() and " " not in secret and len(secret) >= 32
    assert KEYS["reader"] not in created.stdout
    with httpx.Client(base_url=live_server.url, timeout=10.0) as http:
        assert http.get("/v1/events", headers=bearer(secret)).status_code == 200
        r = http.post("/v1/deals", json=application(), headers=bearer(secret))
        assert_problem(r, 403, "event_not_permitted")
    listed = cli(live_server.env, "keys", "list")
    assert listed.returncode == 0 and "x" in listed.stdout and secret not in listed.stdout


def test_a_revoked_key_is_refused_within_about_a_second(live_server: LiveServer):
    secret = cli(live_server.env, "keys", "create", "--role", "reader", "--name", "x")
    secret = secret.stdout.rstrip("\n").split("\n")[-1]
    with httpx.Client(base_url=live_server.url, timeout=10.0) as http:
        assert http.get("/v1/events", headers=bearer(secret)).status_code == 200
        revoked = cli(live_server.env, "keys", "revoke", "x")
        assert revoked.returncode == 0, revoked.stderr
        revoked_at = time.monotonic()
        # A server caches a key for KEY_CACHE_SECONDS, so a request begun later than that
        # after the revocation is refused, however slow the machine; wait on that, not on
        # a wall-clock race.
        seen: list[tuple[float, int]] = []
        while not any(began > KEY_CACHE_SECONDS and status == 401 for began, status in seen):
            began = time.monotonic() - revoked_at
            assert began < PATIENCE, f"a revoked key still works after {PATIENCE} s: {seen}"
            seen.append((began, http.get("/v1/events", headers=bearer(secret)).status_code))
        late = [(began, status) for began, status in seen if began > KEY_CACHE_SECONDS]
        assert all(status == 401 for _, status in late), seen
        assert_problem(http.get("/v1/events", headers=bearer(secret)), 401, "unauthorized")
    again = cli(live_server.env, "keys", "revoke", "x")
    assert again.returncode != 0


def test_serve_refuses_to_start_on_an_unmigrated_database(tmp_path: Path):
    env = ledger_env(f"sqlite:///{tmp_path / 'empty.db'}")
    port = free_port()
    try:
        result = subprocess.run([CLI, "serve", "--port", str(port)], env=env,
                                capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("serve started on an unmigrated database instead of refusing")
    assert result.returncode != 0
    message = result.stderr + result.stdout
    assert "migrate" in message, message
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0)
