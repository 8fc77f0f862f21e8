"""Time travel over the portfolio from checkpoints, on SQLite and PostgreSQL: for random
histories processed in random batches (with restarts), the portfolio read at every
position from the latest checkpoint plus the events since equals the fold of the log up
to that position; a rebuild writes the same checkpoints; and the position found for a
moment is that of the last event recorded at or before it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from domain.chain import parse_timestamp
from projections import portfolio
from projections.portfolio_asof import portfolio_at
from projections.runner import Runner
from service.ledger.commands import Command
from service.settings import Settings
from tests.integration.test_projection_properties import draw_history, process
from tests.support.factories import application
from tests.support.projection_support import (
    authorize,
    clean_database,
    ledger_and_engine,
    live_rows,
    new_runner,
    write,
)


def assert_every_position_matches_the_fold(runner: Runner, ledger: Any,
                                           written: list[dict[str, Any]]) -> None:
    book = ledger.policy_book()
    with runner.engine.connect() as conn:
        t, _ = runner.active(conn, "portfolio")
        assert portfolio_at(conn, t, ledger.store, book, 0) == portfolio.from_events([], book)
        for i, ev in enumerate(written):
            expected = portfolio.from_events(written[:i + 1], book)
            assert portfolio_at(conn, t, ledger.store, book, ev["position"]) == expected


def checkpoint_positions(runner: Runner) -> list[int]:
    return sorted({row[0] for row in live_rows(runner, "portfolio")["portfolio_checkpoints"]})


@hypothesis_settings(max_examples=15, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.too_slow])
@given(data=st.data())
def test_as_of_from_checkpoints_equals_the_fold_at_every_position(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, data: st.DataObject,
) -> None:
    monkeypatch.setattr(portfolio, "CHECKPOINT_EVERY", data.draw(st.integers(2, 6)))
    clean_database(settings)
    _, submits = draw_history(data)
    with ledger_and_engine(settings) as (ledger, engine):
        def restart() -> Runner:
            return new_runner(settings, ledger, engine)

        runner = restart()
        authorize(ledger)  # the board's authorization of the program comes first (SPEC v3)
        authorized: list[dict[str, Any]] = ledger.log(0, 10)[0]
        written: list[dict[str, Any]] = []
        for commands in submits:
            written += write(ledger, commands)
            if data.draw(st.booleans()):
                runner = process(data, runner, restart, data.draw(st.integers(0, 6)))
        runner = process(data, runner, restart, None)
        every = portfolio.CHECKPOINT_EVERY
        if written[-1]["position"] - written[0]["position"] >= 2 * every:
            assert checkpoint_positions(runner), "a boundary passed after the first deal"
        assert_every_position_matches_the_fold(runner, ledger, authorized + written)

        incremental = live_rows(runner, "portfolio")
        rebuilder = restart()
        rebuilder.rebuild("portfolio")
        assert live_rows(rebuilder, "portfolio") == incremental
        assert_every_position_matches_the_fold(rebuilder, ledger, authorized + written)
        together = restart()  # every projection in one pass, each event folded once
        together.rebuild_all()
        assert live_rows(together, "portfolio") == incremental


def test_the_position_as_of_a_moment_is_the_last_event_recorded_by_then(
    settings: Settings,
) -> None:
    clean_database(settings)
    with ledger_and_engine(settings) as (ledger, _):
        store = ledger.store
        assert store.position_as_of(parse_timestamp("2999-01-01T00:00:00Z")) == 0
        written = [ev for _ in range(4)
                   for ev in write(ledger, [Command("DealApplied", application()),
                                      Command("DealApplied", application())])]
        assert store.position_as_of(parse_timestamp("2000-01-01T00:00:00Z")) == 0
        for ev in written:
            last = max(e["position"] for e in written if e["recorded_at"] <= ev["recorded_at"])
            assert store.position_as_of(parse_timestamp(ev["recorded_at"])) == last
        assert store.position_as_of(parse_timestamp("2999-01-01T00:00:00Z")) == \
            written[-1]["position"]
