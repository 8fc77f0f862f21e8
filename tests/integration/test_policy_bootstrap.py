"""Policy reaches the ledger at start, on SQLite and PostgreSQL: the shipped versions once
(even with starts racing), then ``LEDGER_POLICY_FILE``'s new ones; a file that would
change an adopted version, or break the adoption rules, stops the start; an adoption on
one instance is in force on another within a second."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from domain.errors import LedgerError
from domain.policy import SHIPPED
from domain.program import POLICY_ADOPTED
from service.bootstrap import PolicyFileError, build_ledger, load_policy_file, start_ledger
from service.cli import app as cli
from service.ledger.commands import Command
from service.ledger.program import POLICY_REFRESH_SECONDS
from service.settings import Settings
from tests.support.factories import Clock, application
from tests.support.projection_support import write

FIRST = SHIPPED[0].normal_form()


def policy_file(tmp_path: Path, *versions: dict[str, Any]) -> str:
    path = tmp_path / "policies.json"
    path.write_text(json.dumps(list(versions)))
    return str(path)


def later(**changes: Any) -> dict[str, Any]:
    return {**FIRST, "id": "2027-03-01", "effective_from": "2027-03-01",
            "designated_countries": ["DE", "FR"], **changes}


def adopted(settings: Settings) -> list[tuple[str, str]]:
    ledger = build_ledger(settings)
    try:
        return [(a.version.id, a.adopted_by) for a in ledger.program(fresh=True).adoptions]
    finally:
        ledger.close()


def test_a_start_adopts_the_shipped_versions_then_the_files_new_ones(
    settings: Settings, tmp_path: Path
) -> None:
    configured = settings.model_copy(update={"policy_file": policy_file(tmp_path, later())})
    start_ledger(configured).close()
    start_ledger(configured).close()  # a second start adopts nothing again
    assert adopted(settings) == [("2025-05-13", "system"), ("2026-11-30", "system"),
                                 ("2027-03-01", "system")]


def test_concurrent_starts_adopt_the_shipped_and_file_versions_once(
    settings: Settings, tmp_path: Path
) -> None:
    configured = settings.model_copy(update={"policy_file": policy_file(tmp_path, later())})
    errors: list[BaseException] = []
    gate = threading.Barrier(4)

    def start() -> None:
        try:
            gate.wait()
            start_ledger(configured).close()
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert adopted(settings) == [("2025-05-13", "system"), ("2026-11-30", "system"),
                                 ("2027-03-01", "system")]


def test_a_file_that_would_change_an_adopted_version_stops_the_start(
    settings: Settings, tmp_path: Path
) -> None:
    start_ledger(settings).close()
    changed = {**SHIPPED[1].normal_form(), "embargoed": ["CU"]}
    configured = settings.model_copy(update={"policy_file": policy_file(tmp_path, changed)})
    with pytest.raises(LedgerError, match="'2026-11-30' is on the ledger with other content"):
        start_ledger(configured)
    same = settings.model_copy(update={"policy_file": policy_file(
        tmp_path, SHIPPED[1].normal_form())})
    start_ledger(same).close()  # the very same content: nothing to do


def test_a_past_version_is_bootstrapped_only_onto_a_ledger_without_deals(
    settings: Settings, tmp_path: Path
) -> None:
    past = later(id="2026-06-01", effective_from="2026-06-01")
    configured = settings.model_copy(update={"policy_file": policy_file(tmp_path, past)})
    start_ledger(configured).close()
    assert ("2026-06-01", "system") in adopted(settings)

    ledger = start_ledger(settings)
    try:
        write(ledger, [Command("DealApplied", application(
            buyer={"name": "Paris AI", "country": "FR"}))])
    finally:
        ledger.close()
    another = later(id="2026-07-01", effective_from="2026-07-01")
    configured = settings.model_copy(update={"policy_file": policy_file(tmp_path, another)})
    with pytest.raises(LedgerError, match="'2026-07-01' cannot be adopted.*before today"):
        start_ledger(configured)


def test_a_file_version_new_to_a_ledger_with_deals_is_proposed_for_an_admin(
    settings: Settings, tmp_path: Path
) -> None:
    """SPEC v3: after the first deal event, a file cannot adopt alone: its new version
    becomes a proposal by ``system`` (once, however often the ledger starts), which an
    admin approves like any other."""
    ledger = start_ledger(settings)
    try:
        write(ledger, [Command("DealApplied", application())])
    finally:
        ledger.close()
    version = later(id="2099-01-01", effective_from="2099-01-01")
    configured = settings.model_copy(update={"policy_file": policy_file(tmp_path, version)})
    start_ledger(configured).close()
    ledger = start_ledger(configured)  # a second start proposes nothing again
    try:
        program = ledger.program(fresh=True)
        assert [(p.data["id"], p.actor, p.data["authority"])
                for p in program.proposals.values()] == [
            ("2099-01-01", "system", "LEDGER_POLICY_FILE")]
        assert program.book.by_id("2099-01-01") is None
        write(ledger, [Command(POLICY_ADOPTED, {"id": "2099-01-01"}, approval=True)],
              actor="admin-key")
    finally:
        ledger.close()
    assert adopted(settings)[-1] == ("2099-01-01", "admin-key")
    changed = later(id="2099-01-01", effective_from="2099-01-01", embargoed=["CU"])
    configured = settings.model_copy(update={"policy_file": policy_file(tmp_path, changed)})
    with pytest.raises(LedgerError, match="'2099-01-01' is on the ledger with other content"):
        start_ledger(configured)


def test_serve_and_project_refuse_a_bad_policy_file_in_one_line(
    settings: Settings, tmp_path: Path
) -> None:
    env = {"LEDGER_DATABASE_URL": settings.database_url,
           "LEDGER_POLICY_FILE": policy_file(tmp_path, later(embargoed=["XX"]))}
    for command in (["serve", "--port", "1"], ["project"]):
        result = CliRunner().invoke(cli, command, env=env)
        assert result.exit_code == 2, result.output
        assert "embargoed[0]" in result.output and "Traceback" not in result.output


def test_a_policy_file_is_checked_like_a_posted_version(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match=r"\[0\]\.embargoed\[0\]: is not an assigned"):
        load_policy_file(policy_file(tmp_path, later(embargoed=["XX"])))
    with pytest.raises(PolicyFileError, match="share an id or an effective date"):
        load_policy_file(policy_file(tmp_path, later(), later(id="other")))
    with pytest.raises(PolicyFileError, match="not valid JSON"):
        (tmp_path / "broken.json").write_text("[{")
        load_policy_file(str(tmp_path / "broken.json"))
    assert load_policy_file(policy_file(tmp_path, later()))[0].designated_countries == {
        "DE", "FR"}


def test_an_adoption_is_in_force_on_another_instance_within_a_second(
    settings: Settings,
) -> None:
    assert POLICY_REFRESH_SECONDS < 1
    clock = Clock("2027-02-01T09:00:00Z")
    one, two = start_ledger(settings, clock), start_ledger(settings, clock)
    try:
        assert two.policy_book().at(clock()).id == "2026-11-30"  # read once, now cached
        version = later(id="2027-02-01", effective_from="2027-02-01")
        write(one, [Command(POLICY_ADOPTED, version)], actor="admin-key")
        assert one.policy_book().at(clock()).id == "2027-02-01"  # at once where adopted
        time.sleep(POLICY_REFRESH_SECONDS)  # the longest any instance goes without looking
        assert two.policy_book().at(clock()).id == "2027-02-01"
    finally:
        one.close()
        two.close()
