"""``exim-ledger demo`` on SQLite and PostgreSQL: a portfolio in every stage, with the
corrections and cancellations of a real one, dated inside the backdating window and never
backwards within a deal; verified; and a second run adds nothing. What SPEC v3 asks is
there: U.S. content on every application, classification rulings, licenses for the end
user with lines that cover the items under numbers of their own, and the parties screened
before money leaves (the deals not screened yet are what ``deals unscreened`` lists)."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
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
               "EventReversed", "DealCancelled", "CongressionalNotified", "PartyScreened"}
UNSCREENED_STAGES = {"applied", "license_pending", "license_denied", "license_approved",
                     "license_revoked"}  # the demo screens a deal once its license is approved
CONTROLLED = re.compile(r"(3A090|4A090).*|.*\.Z", re.IGNORECASE)  # the shipped policy's


def cli_run(settings: Settings, *args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), env={"LEDGER_DATABASE_URL": settings.database_url})
    assert result.exit_code == 0, result.output
    return result


def demo(settings: Settings, *args: str) -> Any:
    return cli_run(settings, "demo", *args)


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
    assert_applications_state_what_v3_asks(deals)
    assert_licenses_cover_their_deals_under_numbers_of_their_own(deals)
    assert_money_leaves_only_once_the_parties_are_screened(deals)
    listed = json.loads(cli_run(settings, "deals", "unscreened", "--json").stdout)["deals"]
    assert {deal["stage"] for deal in listed} <= UNSCREENED_STAGES
    assert len(listed) == sum(by_stage[stage] for stage in UNSCREENED_STAGES)


def assert_applications_state_what_v3_asks(deals: dict[str, list[dict[str, Any]]]) -> None:
    applications = [events[0]["data"] for events in deals.values()]
    assert all("us_content_pct" in data for data in applications)
    uncontrolled = [item for data in applications for item in data["items"]
                    if item["category"] == "accelerator" and not CONTROLLED.match(item["eccn"])]
    assert uncontrolled and all(item["classification_ref"] for item in uncontrolled)
    abroad = Counter((data["buyer"]["country"], data["end_user"]["country"])
                     for data in applications if "end_user" in data)
    assert abroad[("DE", "FR")] > 0


def assert_licenses_cover_their_deals_under_numbers_of_their_own(
        deals: dict[str, list[dict[str, Any]]]) -> None:
    numbers = []
    for events in deals.values():
        applied = events[0]["data"]
        totals: dict[str, tuple[int, Decimal]] = {}
        for item in applied["items"]:
            quantity, value = totals.get(item["eccn"].upper(), (0, Decimal(0)))
            totals[item["eccn"].upper()] = (quantity + item["quantity"],
                                            value + Decimal(item["value"]))
        for e in events:
            if e["type"] == "CommerceLicenseApproved":
                data = e["data"]
                numbers.append(data["license_number"])
                assert data["consignee"] == applied.get("end_user", applied["buyer"])
                assert sorted(line["eccn"] for line in data["lines"]) == sorted(data["eccns"])
                for line in data["lines"]:
                    assert (line["quantity"], Decimal(line["value"])) == totals[line["eccn"]]
    assert numbers and len(set(numbers)) == len(numbers)


def assert_money_leaves_only_once_the_parties_are_screened(
        deals: dict[str, list[dict[str, Any]]]) -> None:
    financed_abroad = 0
    for events in deals.values():
        applied = events[0]["data"]
        parties = {"buyer", "end_user"} if "end_user" in applied else {"buyer"}
        screened: set[str] = set()
        for e in events:
            if e["type"] == "PartyScreened":
                assert e["data"]["result"] == "clear" and e["actor"] == "demo-licensing"
                screened.add(e["data"]["party"])
            elif e["type"] in ("DealFinanced", "FundsDisbursed"):
                assert screened == parties, (applied["application_number"], e["type"])
                if e["type"] == "DealFinanced" and len(parties) == 2:
                    financed_abroad += 1
    assert financed_abroad > 0


async def test_a_larger_demo_adds_only_the_deals_not_loaded_yet(settings: Settings):
    assert "added 20 demo deals" in demo(settings, "--deals", "20").output
    assert "added 5 demo deals" in demo(settings, "--deals", "25").output
    async with ledger_client(settings) as client:
        numbers = [e["data"]["application_number"] for e in await whole_log(client)
                   if e["type"] == "DealApplied"]
    assert numbers == [f"DEMO-{i:05d}" for i in range(1, 26)]
