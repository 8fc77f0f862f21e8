"""An SQLite ledger locked by another process (an open ``BEGIN IMMEDIATE``): writes are
503 with ``Retry-After`` once the lock timeout has passed, every one of them (however
many wait at once) within the lock timeout plus a second; nothing is half-written, reads
keep working, and once the lock is gone the same requests succeed."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from exim_ledger_bench.server import serve

from tests.reliability.outage_load import auth
from tests.support.factories import application
from tests.support.live_server import cli, ledger_env, migrated_sqlite

pytestmark = pytest.mark.reliability

LOCK_TIMEOUT = 2
WRITERS = 6
PATIENCE = 60.0


def post_at_once(url: str, bodies: list[dict[str, Any]], keys: list[str]
                 ) -> list[tuple[httpx.Response, float]]:
    """POST every body at the same moment, each under its key; the answers and how long
    each took."""
    start = threading.Barrier(len(bodies))
    answers: list[tuple[httpx.Response, float] | None] = [None] * len(bodies)

    def post(i: int) -> None:
        with httpx.Client(base_url=url, timeout=PATIENCE) as http:
            start.wait(PATIENCE)
            began = time.monotonic()
            r = http.post("/v1/deals", json=bodies[i],
                          headers={**auth("writer"), "Idempotency-Key": keys[i]})
            answers[i] = (r, time.monotonic() - began)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(PATIENCE * 2)
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]


def test_a_ledger_locked_by_another_process_refuses_writes_in_time_and_keeps_reading(
    tmp_path: Path,
) -> None:
    url = migrated_sqlite(tmp_path)
    env = ledger_env(url) | {"LEDGER_LOCK_TIMEOUT_SECONDS": str(LOCK_TIMEOUT)}
    with serve(env, tmp_path) as base, httpx.Client(base_url=base, timeout=PATIENCE) as http:
        first = http.post("/v1/deals", json=application(), headers=auth("writer"))
        assert first.status_code == 201, first.text
        deal = first.json()["deal_id"]
        before = http.get("/v1/events", headers=auth("reader")).json()["events"]

        locker = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
        try:
            locker.execute("BEGIN IMMEDIATE")
            bodies = [application() for _ in range(WRITERS)]
            keys = [str(uuid.uuid4()) for _ in bodies]
            refused = post_at_once(base, bodies, keys)
            for r, took in refused:
                assert r.status_code == 503, r.text
                assert r.headers["content-type"].startswith("application/problem+json")
                assert r.json()["code"] == "database_unavailable"
                assert r.headers["Retry-After"]
                assert took <= LOCK_TIMEOUT + 1.0, took
            assert max(took for _, took in refused) >= LOCK_TIMEOUT * 0.9  # it did wait

            for path in (f"/v1/deals/{deal}", f"/v1/deals/{deal}/events", "/v1/portfolio",
                         "/v1/events"):
                began = time.monotonic()
                read = http.get(path, headers=auth("reader"))
                assert read.status_code == 200, (path, read.text)
                assert time.monotonic() - began < LOCK_TIMEOUT, path
            assert http.get("/readyz").status_code == 200
            assert http.get("/v1/events", headers=auth("reader")).json()["events"] == before
        finally:
            locker.rollback()
            locker.close()

        again = post_at_once(base, bodies, keys)
        assert [r.status_code for r, _ in again] == [201] * WRITERS
        assert all("Idempotency-Replayed" not in r.headers for r, _ in again)
        after = http.get("/v1/events", headers=auth("reader"), params={"limit": 500})
        assert len(after.json()["events"]) == len(before) + WRITERS
    verified = cli(env, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
