"""The runner's cache of deals' states, on SQLite and PostgreSQL: a live batch starts a
deal from its cached state, never from an entry another runner's batches left behind,
and a batch that rolls back leaves no state it folded in the cache; every way, the read
models equal a rebuild."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa

from projections.base import Envelope, Projection, Tables
from projections.dealstates import deal_states
from projections.runner import Runner
from service.ledger.application import Ledger
from service.ledger.commands import Command, deal_id_for
from service.settings import Settings
from tests.support.factories import application, financing_for, lifecycle_to_financed
from tests.support.projection_support import NAMES, ledger_and_engine, live_rows, new_runner, write


class PowerCut(Exception):
    """A batch's transaction dying after the deals' states were folded."""


class FailsWhenArmed:
    """The real projection, but its batch fails while ``armed``."""

    def __init__(self, inner: Projection) -> None:
        self.inner, self.armed = inner, False
        self.name, self.schema = inner.name, inner.schema

    def apply(self, conn: sa.Connection, t: Tables, events: Sequence[Envelope]) -> None:
        self.inner.apply(conn, t, events)
        if self.armed:
            raise PowerCut(f"{self.name} died")


def financed_deals(ledger: Ledger, count: int = 3) -> list[str]:
    ids = []
    for i in range(count):
        body = application(application_number=f"CACHE-{i + 1}")
        deal_id = deal_id_for(body["application_number"])
        write(ledger, [Command("DealApplied", body)] + [
            Command(s["type"], s["data"], deal_id=deal_id) for s in lifecycle_to_financed()[:-1]
        ] + [Command("DealFinanced", financing_for(body["instrument"]), deal_id=deal_id)])
        ids.append(str(deal_id))
    return ids


def disburse(ledger: Ledger, deal_id: str, reference: str) -> None:
    write(ledger, [Command("FundsDisbursed", {"amount": "1000.00", "reference": reference},
                           deal_id=UUID(deal_id))])


def catch_up(runner: Runner) -> None:
    while runner.step_together(list(runner.projections)):
        pass


def rows(runner: Runner) -> dict[str, Any]:
    return {name: live_rows(runner, name) for name in NAMES}


def rebuilt(settings: Settings, ledger: Ledger, engine: sa.Engine) -> dict[str, Any]:
    rebuilder = new_runner(settings, ledger, engine)
    rebuilder.rebuild_all()
    return rows(rebuilder)


def test_a_live_batch_starts_a_deal_from_its_cached_state(settings: Settings) -> None:
    with ledger_and_engine(settings) as (ledger, engine):
        runner = new_runner(settings, ledger, engine)
        deal = financed_deals(ledger)[0]
        catch_up(runner)
        assert deal in runner.cache
        # the stored state is unreadable now: only the cache can serve the next batch
        with engine.begin() as conn:
            conn.execute(deal_states.update().where(deal_states.c.deal_id == deal)
                         .values(state="{}"))
        disburse(ledger, deal, "D1")
        catch_up(runner)
        assert rows(runner) == rebuilt(settings, ledger, engine)


def test_an_entry_behind_the_stored_state_is_not_used(settings: Settings) -> None:
    with ledger_and_engine(settings) as (ledger, engine):
        runner, other = new_runner(settings, ledger, engine), new_runner(settings, ledger, engine)
        deal = financed_deals(ledger)[0]
        catch_up(runner)
        disburse(ledger, deal, "D1")
        catch_up(other)  # the deal moves on without ``runner``, whose entry stays behind
        disburse(ledger, deal, "D2")
        catch_up(runner)
        assert rows(runner) == rebuilt(settings, ledger, engine)
        with engine.connect() as conn:
            slot, _ = runner.state(conn, "deals")
            t = runner.projections["deals"].schema[slot].deals
            disbursed = conn.execute(sa.select(t.c.disbursed).where(t.c.deal_id == deal))
            assert disbursed.scalar_one() == 2 * 1000_00


def test_a_batch_that_rolls_back_leaves_no_folded_state_in_the_cache(
    settings: Settings,
) -> None:
    with ledger_and_engine(settings) as (ledger, engine):
        runner = new_runner(settings, ledger, engine)
        failing = runner.projections["audit"] = FailsWhenArmed(runner.projections["audit"])
        deal = financed_deals(ledger)[0]
        catch_up(runner)
        disburse(ledger, deal, "D1")
        failing.armed = True
        with pytest.raises(PowerCut):
            runner.step_together(list(runner.projections))
        assert deal not in runner.cache  # folded in place, then rolled back: gone
        failing.armed = False
        disburse(ledger, deal, "D2")
        catch_up(runner)
        assert deal in runner.cache
        assert rows(runner) == rebuilt(settings, ledger, engine)


def test_one_projection_stepped_alone_uses_and_refills_the_cache(settings: Settings) -> None:
    with ledger_and_engine(settings) as (ledger, engine):
        runner = new_runner(settings, ledger, engine)
        deals = financed_deals(ledger, count=2)
        for name in runner.projections:
            while runner.step(name, 3):
                pass
        for i, deal in enumerate(deals):
            disburse(ledger, deal, f"D{i}")
        catch_up(runner)
        assert all(deal in runner.cache for deal in deals)
        assert rows(runner) == rebuilt(settings, ledger, engine)
