"""``exim-ledger serve`` keeps projections current from one child process: started before
the API answers, started again when it dies, gone with the server however it ends."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from exim_ledger_bench.server import LedgerProcess

from tests.conftest import KEYS
from tests.support.factories import application
from tests.support.live_server import ledger_env, migrated_sqlite

WRITER = {"Authorization": f"Bearer {KEYS['writer']}"}
WAIT_SECONDS = 60.0  # generous bounds on a loaded machine; each wait ends on its condition


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat[1]) == pid and b"project" in cmdline and stat[0] != "Z":
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def until(condition, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if (value := condition()):
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {WAIT_SECONDS:.0f} s: {what}")


def post_and_read(url: str) -> None:
    """A write, then the portfolio as of its position: served once the child projected it."""
    with httpx.Client(base_url=url, timeout=30.0) as http:
        r = http.post("/v1/deals", json=application(), headers=WRITER)
        assert r.status_code == 201, r.text
        position = r.headers["x-ledger-position"]
        read = http.get("/v1/portfolio", params={"min_position": position}, headers=WRITER)
        assert read.status_code == 200, read.text
        assert read.json()["position"] >= int(position)


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    server = LedgerProcess(ledger_env(migrated_sqlite(tmp_path)), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_serve_projects_from_one_child_that_is_restarted_when_it_dies(server: LedgerProcess):
    child = until(lambda: children(server.pid), "the projector child")[0]
    post_and_read(server.url)
    os.kill(child, signal.SIGKILL)
    until(lambda: not alive(child), "the killed projector reaped")
    again = until(lambda: children(server.pid), "a new projector child")[0]
    assert again != child
    post_and_read(server.url)


def test_the_child_leaves_when_the_server_is_killed_outright(tmp_path: Path):
    server = LedgerProcess(ledger_env(migrated_sqlite(tmp_path)), tmp_path)
    server.start()
    try:
        child = until(lambda: children(server.pid), "the projector child")[0]
        os.kill(server.pid, signal.SIGKILL)  # the server alone, not its process group
        until(lambda: not alive(child), "the orphaned projector gone")
    finally:
        server.stop()


def test_a_thread_projects_when_asked(tmp_path: Path):
    env = ledger_env(migrated_sqlite(tmp_path)) | {"LEDGER_PROJECTOR": "thread"}
    server = LedgerProcess(env, tmp_path)
    server.start()
    try:
        assert not children(server.pid)
        post_and_read(server.url)
    finally:
        server.stop()


def test_stopping_the_server_stops_the_child(tmp_path: Path):
    server = LedgerProcess(ledger_env(migrated_sqlite(tmp_path)), tmp_path)
    server.start()
    child = until(lambda: children(server.pid), "the projector child")[0]
    os.kill(server.pid, signal.SIGTERM)  # the server alone: it stops the child itself
    assert server.process is not None
    server.process.wait(timeout=WAIT_SECONDS)
    until(lambda: not alive(child), "the projector stopped with the server")
    assert "starting it again" not in server.log()
