"""``exim-ledger deals unscreened`` on SQLite and PostgreSQL: the open deals whose buyer, or
end user when it is another, has no screening, read from the deals read model, whose
position it reports."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from service.cli import app as cli
from service.ledger.commands import Command
from service.settings import Settings
from tests.support.factories import application, event, lifecycle_to_financed, screening
from tests.support.projection_support import (
    ledger_and_engine,
    new_runner,
    step_until_caught_up,
    write,
)

FRANCE = {"name": "Calcul Atlantique SAS", "country": "FR"}


def unscreened(settings: Settings, *args: str) -> Any:
    env = {"LEDGER_DATABASE_URL": settings.database_url, "COLUMNS": "160"}  # a row a line
    result = CliRunner().invoke(cli, ["deals", "unscreened", *args], env=env)
    assert result.exit_code == 0, result.output
    return result


def post(settings: Settings, body: dict[str, Any], *later: dict[str, Any]) -> str:
    """Apply for ``body`` and post ``later`` (``{"type", "data"}``) on it; its number."""
    number = body["application_number"]
    commands = [Command("DealApplied", body), *(
        Command(e["type"], e["data"], application_number=number) for e in later)]
    with ledger_and_engine(settings) as (ledger, _):
        write(ledger, commands)
    return str(number)


def to_financed(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The factories' steps to financing, the license valid for two years."""
    steps = lifecycle_to_financed(body)
    for step in steps:
        if step["type"] == "CommerceLicenseApproved":
            step["data"]["valid_until"] = f"{date.today().year + 2}-06-30"
    return steps


def project(settings: Settings) -> None:
    with ledger_and_engine(settings) as (ledger, engine):
        step_until_caught_up(new_runner(settings, ledger, engine), "deals")


def test_the_open_deals_without_a_screening_are_listed_with_the_parties_they_lack(
        settings: Settings):
    applied = post(settings, application())
    end_user_unscreened = application(end_user=FRANCE)
    half = post(settings, end_user_unscreened, event("PartyScreened", **screening()))
    neither = post(settings, application(end_user=FRANCE))
    buyer_alike = application()
    alike = post(settings, application(end_user=dict(buyer_alike["buyer"])),
                 event("PartyScreened", **screening()))
    financed = post(settings, application(end_user=FRANCE),
                    *to_financed(application(end_user=FRANCE)))
    closed = post(settings, application(), event("DealCancelled", reason="withdrawn"))
    project(settings)
    late = post(settings, application())  # after the read model's position
    result = unscreened(settings, "--json")
    report = json.loads(result.stdout)
    listed = {deal["application_number"]: deal for deal in report["deals"]}
    assert list(listed) == [applied, half, neither]
    assert {alike, financed, closed, late}.isdisjoint(listed)
    assert listed[applied] | {"deal_id": ""} == {
        "application_number": applied, "deal_id": "", "stage": "applied",
        "buyer_country": "DE", "end_user_country": None, "unscreened": ["buyer"]}
    assert (listed[half]["end_user_country"], listed[half]["unscreened"]) == ("FR", ["end_user"])
    assert listed[neither]["unscreened"] == ["buyer", "end_user"]
    assert report["head"] == report["position"] + 1
    assert "behind the log" in result.stderr


def test_the_table_names_each_deal_and_the_read_models_position(settings: Settings):
    number = post(settings, application(end_user=FRANCE))
    screened = post(settings, application(), event("PartyScreened", **screening()))
    project(settings)
    result = unscreened(settings)
    assert number in result.stdout and "buyer, end_user" in result.stdout
    assert screened not in result.stdout
    assert "1 open deal(s) lack a screening" in result.stderr
    assert "behind" not in result.stderr


def test_a_ledger_whose_read_model_never_ran_lists_nothing_and_says_so(settings: Settings):
    post(settings, application())
    report = json.loads(unscreened(settings, "--json").stdout)
    assert report["deals"] == [] and report["position"] == 0 and report["head"] > 0


V2_LEDGER = Path(__file__).resolve().parents[1] / "fixtures" / "v2_ledger"


def test_after_an_upgrade_every_open_deal_of_a_v2_ledger_lacks_its_buyers_screening(
        settings: Settings):
    imported = CliRunner().invoke(cli, ["import", str(V2_LEDGER / "export.jsonl")],
                                  env={"LEDGER_DATABASE_URL": settings.database_url})
    assert imported.exit_code == 0, imported.output
    project(settings)
    views = json.loads((V2_LEDGER / "manifest.json").read_text("utf-8"))["deal_views"]
    open_deals = [view["application_number"] for view in views.values()
                  if view["stage"] not in ("cancelled", "repaid", "claimed")]
    report = json.loads(unscreened(settings, "--json").stdout)
    assert sorted(deal["application_number"] for deal in report["deals"]) == sorted(open_deals)
    assert all(deal["unscreened"] == ["buyer"] for deal in report["deals"])
    assert report["position"] == report["head"]
