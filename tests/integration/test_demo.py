"""``exim-ledger demo`` on SQLite and PostgreSQL: a portfolio in every stage, with the
corrections and cancellations of a real one, dated inside the backdating window and never
backwards within a deal; verified; and a second run adds nothing."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from typer.testing import CliRunner

from domain.chain import parse_timestamp
from domain.desks import may_post
from service.cli import app as cli
from service.settings import Settings
from tests.conftest import auth
from tests.support.factories import PROGRAM, ledger_client, whole_log
from tests.support.projection_support import (
    NAMES,
    ledger_and_engine,
    new_runner,
    step_until_caught_up,
)

STAGES = {"applied", "license_pending", "license_approved", "license_denied",
          "license_revoked", "board_approved", "board_rejected", "financed", "disbursing",
          "repaying", "repaid", "claimed", "cancelled"}
DESKS = {"demo-origination": "origination", "demo-licensing": "licensing",
         "demo-board": "board", "demo-servicing": "servicing", "demo-servicing-2": "servicing"}
EVENT_TYPES = {"DealApplied", "DealAmended", "LicenseRequested", "CommerceLicenseApproved",
               "CommerceLicenseDenied", "CommerceLicenseRevoked", "BoardVoted", "DealFinanced",
               "FundsDisbursed", "RepaymentReceived", "ClaimPaid", "RecoveryReceived",
               "EventReversed", "DealCancelled", "CongressionalNotified"}


def demo(settings: Settings, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["demo", *args],
                                env={"LEDGER_DATABASE_URL": settings.database_url})
    assert result.exit_code == 0, result.output
    return result


def catch_up(settings: Settings) -> None:
    with ledger_and_engine(settings) as (ledger, engine):
        runner = new_runner(settings, ledger, engine)
        for name in (*NAMES, "merkle"):
            step_until_caught_up(runner, name)


def by_deal(log: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    deals: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for envelope in log:
        if envelope["deal_id"] != PROGRAM:
            deals[envelope["deal_id"]].append(envelope)
    return deals


async def test_the_demo_loads_a_portfolio_in_every_stage_once(settings: Settings):
    started = datetime.now(UTC)
    first = demo(settings)
    catch_up(settings)
    async with ledger_client(settings) as client:
        log = await whole_log(client)
        head = log[-1]["position"]
        portfolio = await client.get("/v1/portfolio", params={"min_position": head},
                                     headers=auth("reader"))
        verified = await client.get("/v1/audit/verify", headers=auth("auditor"))
        again = demo(settings)
        assert (await whole_log(client))[-1]["position"] == head
    assert "added 300 demo deals" in first.output
    assert "added nothing" in again.output
    by_stage = portfolio.json()["by_stage"]
    assert {stage for stage, count in by_stage.items() if count} == STAGES
    assert sum(by_stage.values()) == portfolio.json()["totals"]["deals"] == 300
    assert verified.json()["ok"] and verified.json()["events_checked"] == len(log)
    deals = by_deal(log)
    assert {e["type"] for events in deals.values() for e in events} == EVENT_TYPES
    for events in deals.values():
        for e in events:
            assert may_post(DESKS[e["actor"]], e["type"]), e
            if e["type"] == "EventReversed":  # four eyes: another key than its target's
                assert events[e["data"]["version"] - 1]["actor"] != e["actor"]
    times = {deal: [parse_timestamp(e["occurred_at"]) for e in events]
             for deal, events in deals.items()}
    assert all(moments == sorted(moments) for moments in times.values())
    earliest = min(moments[0] for moments in times.values())
    assert started - timedelta(days=30) < earliest < started - timedelta(days=25)
    assert max(moments[-1] for moments in times.values()) <= datetime.now(UTC)


async def test_a_larger_demo_adds_only_the_deals_not_loaded_yet(settings: Settings):
    assert "added 20 demo deals" in demo(settings, "--deals", "20").output
    assert "added 5 demo deals" in demo(settings, "--deals", "25").output
    async with ledger_client(settings) as client:
        numbers = [e["data"]["application_number"] for e in await whole_log(client)
                   if e["type"] == "DealApplied"]
    assert numbers == [f"DEMO-{i:05d}" for i in range(1, 26)]
