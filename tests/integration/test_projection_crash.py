"""Exactly once across crashes and competing runners, on SQLite and PostgreSQL: a batch that
dies half-written leaves no trace, a killed runner process resumes where its last commit
left off, two runners racing on one projection end as one would, and on PostgreSQL one
runner leads while a second waits as a standby and takes over."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from projections.base import Envelope, Projection, Tables
from projections.runner import Runner, Superseded
from service.db import create_engine
from service.ledger.application import Ledger
from service.ledger.commands import Command, deal_id_for
from service.settings import Settings
from tests.conftest import _truncate_pg
from tests.support.factories import (
    application,
    direct_loan_application,
    financing_for,
    lifecycle_to_financed,
)
from tests.support.projection_support import (
    NAMES,
    all_live_rows,
    ledger_and_engine,
    live_rows,
    new_runner,
    position,
    step_until_caught_up,
    write,
)

ROOT = Path(__file__).resolve().parents[2]


class PowerCut(Exception):
    """What a crash inside the batch's transaction looks like to the runner."""


class DiesMidBatch:
    """The real projection, but its batch dies after writing the rows of some events."""

    def __init__(self, inner: Projection, survivors: int) -> None:
        self.inner, self.survivors = inner, survivors
        self.name, self.schema = inner.name, inner.schema

    def apply(self, conn: sa.Connection, t: Tables, events: Sequence[Envelope]) -> None:
        self.inner.apply(conn, t, events[: self.survivors])
        raise PowerCut(f"{self.name} died after {self.survivors} of {len(events)} events")


def write_portfolio(ledger: Ledger, deals: int = 6, prefix: str = "CRASH") -> int:
    """Deals through financing, disbursement and repayment; the head position."""
    for i in range(deals):
        body = (direct_loan_application if i % 3 == 0 else application)(
            application_number=f"{prefix}-{i + 1}")
        deal_id = deal_id_for(body["application_number"])
        steps = lifecycle_to_financed()[:-1]
        commands = [Command("DealApplied", body)] + [
            Command(s["type"], s["data"], deal_id=deal_id) for s in steps]
        commands += [
            Command("DealFinanced", financing_for(body["instrument"]), deal_id=deal_id),
            Command("FundsDisbursed", {"amount": "5000000.00", "reference": "D1"}, deal_id=deal_id),
            Command("RepaymentReceived", {"principal": "1000000.00", "interest": "50000.00",
                                          "reference": "R1"}, deal_id=deal_id),
        ]
        for command in commands:  # one event per write, as services post them
            write(ledger, [command])
    return int(ledger.store.head())


def rebuilt_rows(runner: Runner) -> dict[str, Any]:
    for name in NAMES:
        runner.rebuild(name)
    return all_live_rows(runner)


@pytest.fixture
def ledger_engine(settings: Settings) -> Iterator[tuple[Ledger, sa.Engine]]:
    with ledger_and_engine(settings) as pair:
        yield pair


# ---- a batch dies inside its transaction ------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_a_batch_that_dies_half_written_leaves_nothing_and_a_new_runner_finishes_it(
    settings: Settings, ledger_engine: tuple[Ledger, sa.Engine], name: str,
) -> None:
    ledger, engine = ledger_engine
    head = write_portfolio(ledger)
    runner = new_runner(settings, ledger, engine)
    runner.step(name, limit=7)
    runner.step(name, limit=7)
    before, at = live_rows(runner, name), position(runner, name)
    assert 0 < at < head

    dying = Runner(engine, runner.read_log, runner.head,
                   [DiesMidBatch(runner.projections[name], survivors=4)])
    with pytest.raises(PowerCut):
        dying.step(name, limit=10)
    assert position(runner, name) == at
    assert live_rows(runner, name) == before

    dying.run_once()  # the loop's way: the failure is recorded, the batch not skipped
    status = {s["name"]: s for s in dying.statuses()}[name]
    assert status["status"] == "failed"
    assert "PowerCut" in status["last_error"]
    assert position(runner, name) == at
    assert live_rows(runner, name) == before
    dying.stop()  # on PostgreSQL its lease (an advisory lock) would outlive the test

    restarted = new_runner(settings, ledger, engine)
    step_until_caught_up(restarted, name, limit=5)
    status = {s["name"]: s for s in restarted.statuses()}[name]
    assert (status["position"], status["status"], status["last_error"]) == (head, "running", None)
    finished = live_rows(restarted, name)
    restarted.rebuild(name)
    assert live_rows(restarted, name) == finished


# ---- a runner process is SIGKILLed in the middle of a batch ---------------------------------

CHILD = """
import sys
from service.bootstrap import build_runner
from service.bootstrap import build_ledger
from service.db import create_engine
from service.settings import Settings

settings = Settings()
ledger = build_ledger(settings)
runner = build_runner(settings, ledger, create_engine(settings))
runner.ensure_rows()

def holding(projection):
    inner = projection.apply
    def apply(conn, t, events):
        inner(conn, t, events)
        print("inside", projection.name, events[-1]["position"], flush=True)
        sys.stdin.readline()  # the rows are written, the transaction still open
    return apply

for projection in runner.projections.values():
    projection.apply = holding(projection)
for name in runner.projections:
    while runner.step(name, limit=4):
        with runner.engine.connect() as conn:
            print("committed", name, runner.state(conn, name)[1], flush=True)
print("finished", flush=True)
"""


class Lines:
    """The child's stdout, line by line, read with a deadline (a thread does the reading)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc, self.queue = proc, queue.Queue[str]()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.queue.put(line)
        self.queue.put("")

    def next(self, deadline: float) -> list[str]:
        try:
            line = self.queue.get(timeout=max(deadline - time.monotonic(), 0))
        except queue.Empty:
            raise AssertionError("the runner process said nothing before the deadline") from None
        assert line, f"the runner process ended early with {self.proc.wait(5)}"
        return line.split()


@pytest.mark.parametrize("kill_at_batch", [2, 11, 21])
def test_a_runner_process_killed_inside_a_batch_resumes_exactly_once(
    settings: Settings, ledger_engine: tuple[Ledger, sa.Engine], kill_at_batch: int,
) -> None:
    ledger, engine = ledger_engine
    head = write_portfolio(ledger)
    env = {**os.environ, "LEDGER_DATABASE_URL": settings.database_url}
    proc = subprocess.Popen([sys.executable, "-c", CHILD], cwd=ROOT, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    committed: dict[str, int] = {}
    deadline = time.monotonic() + 60
    try:
        lines, batches = Lines(proc), 0
        while True:
            words = lines.next(deadline)
            if words[0] == "committed":
                committed[words[1]] = int(words[2])
                continue
            assert words[0] == "inside", words
            batches += 1
            if batches == kill_at_batch:
                killed_in, half_written = words[1], int(words[2])
                proc.send_signal(signal.SIGKILL)
                break
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
    finally:
        proc.kill()
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL

    restarted = new_runner(settings, ledger, engine)
    assert position(restarted, killed_in) == committed.get(killed_in, 0) < half_written
    for name in NAMES:
        assert position(restarted, name) == committed.get(name, 0)
        step_until_caught_up(restarted, name, limit=3)
        assert position(restarted, name) == head
    finished = all_live_rows(restarted)
    assert len(finished["audit"]["audit_entries"]) == len(ledger.store.select_log(0, 10_000))
    assert rebuilt_rows(restarted) == finished


# ---- two runners race on one projection -----------------------------------------------------

ROLLED_BACK = (Superseded, sa.exc.IntegrityError, sa.exc.OperationalError)


@pytest.mark.parametrize("name", NAMES)
def test_two_runners_stepping_one_projection_at_once_end_as_one_runner_would(
    settings: Settings, ledger_engine: tuple[Ledger, sa.Engine], name: str,
) -> None:
    ledger, engine = ledger_engine
    head = write_portfolio(ledger, deals=8)
    runners = [new_runner(settings, ledger, engine) for _ in range(2)]
    start = threading.Barrier(2)
    refused: list[BaseException] = []
    applied = [0, 0]

    def race(i: int) -> None:
        start.wait()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                n = runners[i].step(name, limit=3 + i)
            except ROLLED_BACK as e:  # the losing batch rolled back whole
                refused.append(e)
                continue
            if n == 0 and position(runners[i], name) == head:
                return
            applied[i] += n

    threads = [threading.Thread(target=race, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not any(t.is_alive() for t in threads)
    assert position(runners[0], name) == head
    assert sum(applied) == len(ledger.store.select_log(0, 10_000))  # each event applied once
    raced = live_rows(runners[0], name)
    runners[0].rebuild(name)
    assert live_rows(runners[0], name) == raced


# ---- PostgreSQL: one leads, one waits ---------------------------------------------------------

@pytest.fixture
def pg_settings(pg_ready: str) -> Settings:
    _truncate_pg(pg_ready)
    return Settings(database_url=pg_ready, snapshot_interval=10)


# a bound on waits that end as soon as their condition holds: generous, since a loaded
# machine (the whole suite on two cores) may take many times longer than an idle one
PATIENCE = 120.0


def eventually(what: str, check: Any, timeout: float = PATIENCE) -> None:
    """Poll ``check`` until it holds, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def test_on_postgres_one_runner_leads_another_stands_by_and_takes_over(
    pg_settings: Settings,
) -> None:
    with ledger_and_engine(pg_settings) as (ledger, engine):
        head = write_portfolio(ledger, deals=3, prefix="LEAD")
        engines = [create_engine(pg_settings) for _ in range(2)]
        first, second = (new_runner(pg_settings, ledger, e) for e in engines)
        try:
            first.start()

            def caught_up() -> bool:
                now = ledger.store.head()
                return all(position(first, n) == now for n in NAMES)

            eventually("the first runner leads every projection and caught up",
                       lambda: all(first.leads(n) for n in NAMES) and caught_up())
            second.start()
            assert second.run_once() == 0
            assert not any(second.leads(n) for n in NAMES)

            head = write_portfolio(ledger, deals=2, prefix="MORE")
            eventually("the leader projected the new events", caught_up)
            assert not any(second.leads(n) for n in NAMES)

            first.stop(timeout=PATIENCE)
            assert not any(first.leads(n) for n in NAMES)
            eventually("the standby took over every projection once the leader stopped",
                       lambda: all(second.leads(n) for n in NAMES))
            head = write_portfolio(ledger, deals=2, prefix="LAST")
            eventually("the new leader projected the new events", caught_up)
            assert all(position(second, n) == head for n in NAMES)
            second.stop(timeout=PATIENCE)
            finished = all_live_rows(second)
            assert rebuilt_rows(new_runner(pg_settings, ledger, engine)) == finished
        finally:
            first.stop()
            second.stop()
            for e in engines:
                e.dispose()
