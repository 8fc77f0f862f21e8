"""The security finding, replayed against real ``exim-ledger serve`` processes: a bootstrap
key revoked with ``exim-ledger keys revoke`` stays revoked when the service restarts with
the same ``LEDGER_BOOTSTRAP_KEYS``; on SQLite and PostgreSQL."""

from __future__ import annotations

import getpass
import time
from pathlib import Path

import httpx
from exim_ledger_bench.server import serve

from service.db import create_engine
from service.keys import KeyStore
from service.settings import Settings
from tests.conftest import KEYS
from tests.support.live_server import cli, ledger_env

READER = {"Authorization": f"Bearer {KEYS['reader']}"}
PATIENCE = 60.0  # a generous bound on a loaded machine: revocation takes about a second


def status_once_settled(url: str, want: int) -> int:
    """The status of a reader request, polled until it is ``want`` or ``PATIENCE`` passes."""
    deadline = time.monotonic() + PATIENCE
    with httpx.Client(base_url=url, timeout=10.0) as http:
        status = http.get("/v1/events", headers=READER).status_code
        while status != want and time.monotonic() < deadline:
            status = http.get("/v1/events", headers=READER).status_code
    return status


def test_a_revoked_bootstrap_key_stays_revoked_across_a_restart(
    database_url: str, tmp_path: Path
):
    env = ledger_env(database_url)
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    with serve(env, tmp_path / "first") as url:
        assert status_once_settled(url, 200) == 200
        revoked = cli(env, "keys", "revoke", "reader-key")
        assert revoked.returncode == 0, revoked.stderr
        assert status_once_settled(url, 401) == 401
    with serve(env, tmp_path / "second") as url, httpx.Client(base_url=url, timeout=10.0) as http:
        assert http.get("/v1/events", headers=READER).status_code == 401
        writer = {"Authorization": f"Bearer {KEYS['writer']}"}
        assert http.get("/v1/events", headers=writer).status_code == 200
    log = (tmp_path / "second" / "server.log").read_text()
    assert "bootstrap key 'reader-key' not loaded" in log and "revoked" in log, log
    engine = create_engine(Settings(database_url=database_url))
    try:
        trail = KeyStore(engine).trail("reader-key")
    finally:
        engine.dispose()
    user = getpass.getuser()
    assert [(e["action"], e["actor"], e["origin"]) for e in trail] == [
        ("created", user, "bootstrap"), ("revoked", user, "cli"),
        ("bootstrap_refused", user, "bootstrap")]
