"""Several instances on one PostgreSQL ledger: two ``exim-ledger serve`` processes without
in-process projections take writes spread over both, two ``exim-ledger project`` processes
run the read models (one leads, one stands by), and a reader pages ``/v1/events`` with
``next_after`` all along. The leading projector is SIGKILLed: the standby takes over. The
reader must have missed nothing, the ledger must hold exactly what was acknowledged, and
the read models must equal the test's own fold and a rebuild."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from exim_ledger_bench.server import LedgerProcess

from projections.runner import lock_key
from tests.conftest import _truncate_pg, auth
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

pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

SEED = 7
TAKEOVER_SECONDS = 120.0  # the bound of the wait, far above the few seconds it should take
PROGRESS_SECONDS = 120.0
FINISH_SECONDS = 300.0
NAMES = ("audit", "deals", "exposure", "merkle", "portfolio")


@dataclass
class Pager:
    """Pages ``/v1/events`` with ``next_after`` over the instances while others write,
    noting every position it is given, until told to stop and then caught up."""

    urls: list[str]
    stop: threading.Event = field(default_factory=threading.Event)
    seen: list[int] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def run(self) -> None:
        after, turn = 0, 0
        try:
            with httpx.Client(headers=auth("reader"), timeout=30.0) as http:
                while True:
                    stopping = self.stop.is_set()
                    r = http.get(f"{self.urls[turn % len(self.urls)]}/v1/events",
                                 params={"after": after, "limit": 100})
                    turn += 1
                    assert r.status_code == 200, r.text
                    body = r.json()
                    self.seen += [e["position"] for e in body["events"]]
                    after = body["next_after"]
                    if stopping and not body["events"]:
                        return
        except BaseException as e:
            self.errors.append(e)


def leases(url: str) -> dict[str, int]:
    """The projections whose advisory lock is held, with the backend that holds it."""
    keys = {lock_key(name): name for name in NAMES}
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT objid, pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND objsubid = 1 AND database = (SELECT oid FROM pg_database "
            "WHERE datname = current_database())").fetchall()
    return {keys[int(objid)]: pid for objid, pid in rows if int(objid) in keys}


def eventually(what: str, check: object, bound: float) -> float:
    """Poll ``check`` until it holds, within the generous ``bound``; the seconds it took."""
    started = time.monotonic()
    while not check():  # type: ignore[operator]
        assert time.monotonic() - started < bound, f"not within {bound:.0f} s: {what}"
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def pg_url(pg_ready: str) -> str:
    _truncate_pg(pg_ready)
    return pg_ready


@pytest.fixture
def processes(pg_url: str, tmp_path: Path) -> Iterator[dict[str, LedgerProcess]]:
    env = ledger_env(pg_url) | {"LEDGER_PROJECTIONS_IN_PROCESS": "false"}
    started = {
        "a": LedgerProcess(env, tmp_path, "serve", log_name="serve-a.log"),
        "b": LedgerProcess(env, tmp_path, "serve", log_name="serve-b.log"),
        "leader": LedgerProcess(env, tmp_path, "project", log_name="project-1.log"),
        "standby": LedgerProcess(env, tmp_path, "project", log_name="project-2.log"),
    }
    try:
        yield started
    finally:
        for process in started.values():
            process.stop()


def test_writes_over_two_instances_a_paging_reader_and_a_projector_takeover(
    pg_url: str, processes: dict[str, LedgerProcess],
) -> None:
    a, b = processes["a"], processes["b"]
    a.start()
    b.start()
    processes["leader"].start()
    first = eventually("the first projector leads every projection",
                       lambda: set(leases(pg_url)) == set(NAMES), PROGRESS_SECONDS)
    held = leases(pg_url)
    processes["standby"].start()
    load = Load([a.url, b.url], SEED, workers=8)
    pager = Pager([a.url, b.url])
    reader = threading.Thread(target=pager.run, daemon=True)
    try:
        load.start()
        reader.start()
        with httpx.Client(timeout=60.0) as http:
            acked = eventually("writes acknowledged on both instances",
                               lambda: len(load.recorder.acknowledged()) >= 300,
                               PROGRESS_SECONDS)
            eventually("the standby runs (its runner started)",
                       lambda: "projecting" in processes["standby"].log(), PROGRESS_SECONDS)
            assert leases(pg_url) == held, "the standby took a lease from a live leader"
            processes["leader"].kill()
            released = eventually(
                "the dead leader's leases are released",
                lambda: not set(leases(pg_url).values()) & set(held.values()), TAKEOVER_SECONDS)
            takeover = released + eventually(
                "the standby holds every projection's lease",
                lambda: set(leases(pg_url)) == set(NAMES)
                and not set(leases(pg_url).values()) & set(held.values()),
                TAKEOVER_SECONDS)
            head = max(r.response["position"]  # type: ignore[index]
                       for r in load.recorder.acknowledged())
            caught_up = takeover + eventually("the standby projected past the leader's death",
                                   lambda: _projected(http, a.url, head),
                                   TAKEOVER_SECONDS)
            load.stop.set()
            assert load.join(FINISH_SECONDS), "the clients did not finish"
            assert not load.errors, load.errors
            pager.stop.set()
            reader.join(FINISH_SECONDS)
            assert not pager.errors, pager.errors
            records = load.recorder.snapshot()
            log = whole_log(http, b.url)
            assert pager.seen == [e["position"] for e in log], "the paging reader missed events"
            acknowledged = check_against_record(log, records)
            check_chains(log)
            wait_until_projected(http, b.url, log[-1]["position"])
            check_reference(http, a.url, reference_fold(records))
    finally:
        load.stop.set()
        pager.stop.set()
    for process in processes.values():
        process.stop()
    check_verify(a.env, len(log))
    check_rebuild_equals_live(pg_url)
    spread = [sum(r.url == url for r in records) for url in (a.url, b.url)]
    assert min(spread) > 0, f"the writes went to one instance: {spread}"
    print(f"\nseveral instances: first lead in {first:.1f} s, {acked:.1f} s of writes before "
          f"the SIGKILL of the leader; after it, its leases were released in {released:.2f} s, "
          f"the standby held every lease in {takeover:.2f} s and had projected past the "
          f"head at the kill in {caught_up:.2f} s; "
          f"{acknowledged} acknowledged events checked, {spread} by instance; "
          f"the reader paged {len(pager.seen)} events")


def _projected(http: httpx.Client, url: str, head: int) -> bool:
    r = http.get(f"{url}/v1/projections", headers=auth("reader"))
    return r.status_code == 200 and all(p["position"] >= head for p in r.json()["projections"])
