"""Crash under load, on SQLite and PostgreSQL: clients post a seeded stream of valid events,
each under its own Idempotency-Key, retrying connection errors and 5xx with the same key,
while the server's whole process group is SIGKILLed at seeded random moments and restarted
on the same database. Afterwards the ledger must hold exactly what was acknowledged: one
event per acknowledged request and none for a key never sent, gapless versions, linked
chains, a clean ``verify``, and read models equal to the test's own fold and to a rebuild."""

from __future__ import annotations

import random
import time
from pathlib import Path

import httpx
import pytest
from exim_ledger_bench.server import LedgerProcess

from tests.reliability.checks import (
    check_against_record,
    check_chains,
    check_rebuild_equals_live,
    check_reference,
    check_verify,
    reference_fold,
    wait_until_projected,
    whole_log,
)
from tests.reliability.load import Load
from tests.support.live_server import ledger_env

pytestmark = pytest.mark.reliability

SEED = 20261130
KILLS = 10  # of a serving process under load
STARTUP_KILLS = 3  # more, of a process still starting, drawn among those
UPTIME = (0.2, 1.5)  # seconds a server runs under load before its kill is drawn from
PROGRESS_SECONDS = 120.0  # generous bound on the clients' first acknowledgement after a start
FINISH_SECONDS = 300.0


def wait_for_acknowledgements(load: Load, more_than: int) -> None:
    """Wait until the clients got an acknowledgement past ``more_than``: the restarted server
    is under load again before the next kill is drawn."""
    deadline = time.monotonic() + PROGRESS_SECONDS
    while len(load.recorder.acknowledged()) <= more_than:
        assert not load.errors, load.errors
        assert time.monotonic() < deadline, "no acknowledgement since the restart"
        time.sleep(0.05)


def kill_and_restart(server: LedgerProcess, load: Load, rng: random.Random) -> None:
    """``KILLS`` SIGKILLs under load at seeded random moments, each followed by a restart on
    the same database; ``STARTUP_KILLS`` of the restarts are killed again while starting."""
    during_startup = set(rng.sample(range(KILLS), STARTUP_KILLS))
    for n in range(KILLS):
        wait_for_acknowledgements(load, len(load.recorder.acknowledged()))
        time.sleep(rng.uniform(*UPTIME))  # the seeded random moment of the kill
        server.kill()
        if n in during_startup:
            server.start(wait=False)
            time.sleep(rng.uniform(0.0, 2.0))
            server.kill()
        server.start()


def test_every_acknowledged_event_survives_repeated_sigkills_exactly_once(
    database_url: str, tmp_path: Path,
) -> None:
    env = ledger_env(database_url)
    server = LedgerProcess(env, tmp_path)
    server.start()
    load = Load([server.url], SEED, workers=8)
    try:
        load.start()
        kill_and_restart(server, load, random.Random(SEED))
        wait_for_acknowledgements(load, len(load.recorder.acknowledged()))
        load.stop.set()
        assert load.join(FINISH_SECONDS), "the clients did not finish"
        assert not load.errors, load.errors
        records = load.recorder.snapshot()
        with httpx.Client(timeout=60.0) as http:
            log = whole_log(http, server.url)
            acknowledged = check_against_record(log, records)
            check_chains(log)
            wait_until_projected(http, server.url, log[-1]["position"])
            check_reference(http, server.url, reference_fold(records))
    finally:
        load.stop.set()
        server.stop()
    check_verify(env, len(log))
    check_rebuild_equals_live(database_url)
    retried = sum(r.attempts > 1 for r in records)
    print(f"\n{database_url.split(':')[0]}: {KILLS} SIGKILLs under load and {STARTUP_KILLS} "
          f"while starting survived, {acknowledged} "
          f"acknowledged events checked, {retried} requests retried, "
          f"{sum(r.replayed for r in records)} answered by replay")
