"""Each deal's state is stored once and without its money events, on SQLite and
PostgreSQL: a ledger whose stored states and money events are gone (one from before they
were stored) projects on from the log, a disbursement posted before can still be
reversed, and rebuilds asked for together or while one runs share one pass over the log."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from uuid import UUID

import sqlalchemy as sa

from projections.base import Envelope
from projections.dealstates import deal_states, money_events
from projections.rebuild import Rebuilds
from projections.runner import Runner
from service.ledger.application import Ledger
from service.ledger.commands import Command, deal_id_for
from service.settings import Settings
from tests.support.factories import application, financing_for, lifecycle_to_financed
from tests.support.projection_support import (
    NAMES,
    all_live_rows,
    ledger_and_engine,
    new_runner,
    write,
)


def financed_deal(ledger: Ledger, number: str = "ONCE-1") -> UUID:
    body = application(application_number=number)
    deal_id = deal_id_for(body["application_number"])
    write(ledger, [Command("DealApplied", body)] + [
        Command(s["type"], s["data"], deal_id=deal_id) for s in lifecycle_to_financed()[:-1]
    ] + [Command("DealFinanced", financing_for(body["instrument"]), deal_id=deal_id)])
    return deal_id


def disburse(ledger: Ledger, deal_id: UUID, reference: str) -> int:
    [envelope] = write(ledger, [Command("FundsDisbursed", {"amount": "1000.00",
                                                           "reference": reference},
                                        deal_id=deal_id)])
    return int(envelope["version"])


def catch_up(runner: Runner) -> None:
    while runner.step_together(list(runner.projections)):
        pass


def test_a_stored_state_holds_no_money_events_and_the_money_events_their_own_rows(
    settings: Settings,
) -> None:
    with ledger_and_engine(settings) as (ledger, engine):
        runner = new_runner(settings, ledger, engine)
        deal = financed_deal(ledger)
        versions = [disburse(ledger, deal, f"D{i}") for i in range(3)]
        catch_up(runner)
        with engine.connect() as conn:
            [state] = conn.execute(sa.select(deal_states.c.state)).scalars()
            money = conn.execute(sa.select(money_events.c.version, money_events.c.type,
                                           money_events.c.reversed)).all()
        assert "money_events" not in json.loads(state)
        assert sorted(money) == [(v, "FundsDisbursed", False) for v in versions]


def test_a_ledger_without_stored_states_projects_on_and_reverses_an_old_disbursement(
    settings: Settings,
) -> None:
    with ledger_and_engine(settings) as (ledger, engine):
        runner = new_runner(settings, ledger, engine)
        deal = financed_deal(ledger)
        first = disburse(ledger, deal, "D1")
        disburse(ledger, deal, "D2")
        catch_up(runner)
        with engine.begin() as conn:  # what a ledger from before the tables looks like
            conn.execute(deal_states.delete())
            conn.execute(money_events.delete())
        write(ledger, [Command("EventReversed", {"version": first, "reason": "posted in error",
                                                 "return_reference": "RET-D1"},
                               deal_id=deal)])
        restarted = new_runner(settings, ledger, engine)  # nothing in its cache
        catch_up(restarted)
        with engine.connect() as conn:
            reversed_ = conn.execute(sa.select(money_events.c.version).where(
                money_events.c.reversed)).scalars().all()
        assert reversed_ == [first]
        projected = all_live_rows(restarted)
        restarted.rebuild_all()
        assert all_live_rows(restarted) == projected
        deals = projected["deals"]["deals"]
        assert len(deals) == 1 and '"disbursed":"1000.00"' in deals[0][-1]


class CountingLog:
    """The ledger's log, counting the reads that start a pass (from position 0)."""

    def __init__(self, runner: Runner) -> None:
        self.read, self.passes = runner.read_log, 0
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, after: int, limit: int) -> Sequence[Envelope]:
        if after == 0:
            self.passes += 1
            self.entered.set()
            self.release.wait(30)
        return self.read(after, limit)


def test_rebuilds_asked_for_together_or_during_a_pass_share_one_pass(
    settings: Settings,
) -> None:
    with ledger_and_engine(settings) as (ledger, engine):
        runner = new_runner(settings, ledger, engine)
        for i in range(3):
            disburse(ledger, financed_deal(ledger, f"ONCE-{i}"), "D1")
        catch_up(runner)
        before = all_live_rows(runner)
        log = CountingLog(runner)
        runner.read_log = log
        runner.rebuilds = Rebuilds(runner)
        results: dict[str, int] = {}

        def rebuild(name: str) -> None:
            results[name] = runner.rebuild(name)

        together = [threading.Thread(target=rebuild, args=(n,)) for n in ("deals", "portfolio")]
        for t in together:
            t.start()
        assert log.entered.wait(30)  # the pass is reading the log
        during = [threading.Thread(target=rebuild, args=(n,))  # deals joins the running pass;
                  for n in ("deals", "exposure", "audit")]  # the others share the next one
        for t in during:
            t.start()
        deadline = time.monotonic() + 30
        while not (runner.rebuilds.serving() == (3, 2) or time.monotonic() > deadline):
            time.sleep(0.01)
        assert runner.rebuilds.serving() == (3, 2)
        log.release.set()
        for t in [*together, *during]:
            t.join(60)
        head = int(ledger.store.head())
        assert results == dict.fromkeys(("deals", "portfolio", "exposure", "audit"), head)
        assert log.passes == 2  # deals and portfolio; then exposure and audit
        assert {n: r for n, r in all_live_rows(runner).items() if n in NAMES} == before
