"""``exim-ledger export`` then ``exim-ledger import`` into a second, empty database gives
the same stored rows, the same Merkle root and the same projections, on SQLite and
PostgreSQL; a file that fails verification is refused whole, naming its line. An
incremental export (``--after``) continues a ledger that holds exactly the earlier lines."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from domain.program import PROGRAM_ID
from projections.runner import wait_for
from service.bootstrap import build_ledger
from service.cli import app as cli
from service.db import migrate
from service.integrity.proofs import merkle_tables
from service.settings import Settings
from tests.conftest import BOOTSTRAP, _truncate_pg, auth
from tests.support.factories import (
    append_all,
    application,
    apply_deal,
    event,
    financed_deal,
    ledger_client,
    lifecycle_to_financed,
    whole_log,
    writer_headers,
)

AUDITOR = auth("auditor")
POLICY = "PolicyAdopted"
FIRST_DEAL = 3  # the log's index of the first deal event: two policies, the authorization


@pytest.fixture(scope="session")
def pg_import_url(pg_ready: str) -> str:
    import psycopg

    parts = urlsplit(pg_ready)
    # named after the suite's database: suites run at once on one server never share it
    name = f"{parts.path.lstrip('/')}_import"
    url = urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(pg_ready, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate(Settings(database_url=url))
    return url


@pytest.fixture
def target(settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """A second, empty, migrated database of the same kind as the source."""
    if settings.is_postgres:
        url = request.getfixturevalue("pg_import_url")
        _truncate_pg(url)
    else:
        path = tmp_path / "imported" / "ledger.db"
        path.parent.mkdir()
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    return Settings(database_url=url, bootstrap_keys=BOOTSTRAP, snapshot_interval=10)


def run(args: list[str], settings: Settings, **kwargs: Any) -> Any:
    return CliRunner().invoke(cli, args, env={"LEDGER_DATABASE_URL": settings.database_url},
                              **kwargs)


def raw_rows(settings: Settings) -> list[tuple[Any, ...]]:
    ledger = build_ledger(settings)
    try:
        return ledger.store.select_raw(0, 1_000_000)
    finally:
        ledger.close()


async def populate(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Deals with everything an envelope can carry: non-ASCII text, source, correlation
    and idempotency headers, a batch, a cancellation, repayments."""
    unicode_buyer = {"name": "Société Générale de Calcul — Ünïcode ✓", "country": "FR"}
    headers = writer_headers(**{"X-Source-System": "crm", "X-Correlation-ID": "corr-1",
                                "Idempotency-Key": "idem-1"})
    body = application(buyer=unicode_buyer)
    first = await apply_deal(client, body, **headers)
    await append_all(client, first["deal_id"], lifecycle_to_financed(body))
    financed = await financed_deal(client)
    await append_all(client, financed, [
        event("FundsDisbursed", amount="5000000", reference="DISB-1"),
        event("RepaymentReceived", principal="1000000", interest="12.5", reference="R-1"),
    ])
    cancelled = await apply_deal(client)
    await append_all(client, cancelled["deal_id"], [event("DealCancelled", reason="withdrawn")])
    batch = {"events": [
        {"type": "DealApplied", "data": application(application_number="EXIM-BATCH-1")},
        {"type": "LicenseRequested", "application_number": "EXIM-BATCH-1",
         "data": {"application_ref": "Z-7", "eccns": ["3A090.a"]}},
    ]}
    r = await client.post("/v1/batches", json=batch, headers=writer_headers())
    assert r.status_code == 201, r.text
    return await whole_log(client)


async def grow(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """The log after a new deal's lifecycle to financing is added to ``populate``'s."""
    deal = await apply_deal(client)
    await append_all(client, deal["deal_id"], lifecycle_to_financed())
    return await whole_log(client)


async def fresh_digest(client: httpx.AsyncClient, head: int) -> dict[str, Any]:
    r = await client.get("/v1/audit/digest", params={"min_position": head}, headers=AUDITOR)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["position"] == head
    return body


def projection_rows(client: httpx.AsyncClient, head: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every projection's live slot, once all have reached ``head``."""
    runner = client.app.state.runner  # type: ignore[attr-defined]
    assert wait_for(runner.engine, list(runner.projections), head, 120.0)  # ends when reached
    out: dict[str, list[tuple[Any, ...]]] = {}
    with runner.engine.connect() as conn:
        live = {name: p.schema[runner.state(conn, name)[0]]
                for name, p in runner.projections.items()}
        live["merkle"] = merkle_tables(conn)[0]
        for name, tables in live.items():
            for table in tables.all():
                key = table.name.rsplit("_", 1)[0]
                rows = [tuple(r) for r in conn.execute(sa.select(table))]
                if key == "portfolio_figures":  # a row whose counters fell back to zero
                    rows = [r for r in rows if any(r[2:])]  # is the same as no row
                out[f"{name}.{key}"] = sorted(rows)
    return out


async def test_export_then_import_gives_the_same_rows_root_and_projections(
    client: httpx.AsyncClient, settings: Settings, target: Settings, tmp_path: Path
):
    events = await populate(client)
    head = events[-1]["position"]
    source_digest = await fresh_digest(client, head)
    source_projections = projection_rows(client, head)

    exported = tmp_path / "ledger.jsonl"
    result = run(["export", "--output", str(exported)], settings)
    assert result.exit_code == 0, result.output
    lines = exported.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == events
    assert "PolicyAdopted" in lines[0] and "ProgramAuthorized" in lines[2]
    assert "Ünïcode ✓" in lines[FIRST_DEAL]
    stdout = run(["export"], settings)
    assert stdout.stdout.splitlines() == lines

    result = run(["import", str(exported), "--expect-root", source_digest["root"]], target)
    assert result.exit_code == 0, result.output
    assert source_digest["root"] in result.output
    assert raw_rows(target) == raw_rows(settings)

    async with ledger_client(target) as imported:
        assert await whole_log(imported) == events
        digest = await fresh_digest(imported, head)
        assert {k: digest[k] for k in ("tree_size", "root", "position")} == {
            k: source_digest[k] for k in ("tree_size", "root", "position")}
        assert projection_rows(imported, head) == source_projections
        report = (await imported.get("/v1/audit/verify", headers=AUDITOR)).json()
        assert report["ok"] is True and report["events_checked"] == len(events)

        last = [e for e in events if e["deal_id"] == events[FIRST_DEAL]["deal_id"]][-1]
        r = await imported.post(f"/v1/deals/{last['deal_id']}/events",
                                json=event("FundsDisbursed", amount="100.00", reference="D"),
                                headers=writer_headers())
        assert r.status_code == 201, r.text
        new = r.json()
        assert new["version"] == last["version"] + 1 and new["prev_hash"] == last["hash"]
        assert new["position"] > head
        again = await imported.post("/v1/deals", json=application(
            application_number=events[FIRST_DEAL]["data"]["application_number"]),
            headers=writer_headers())
        assert again.status_code == 409 and again.json()["code"] == "duplicate_application"


async def test_positions_with_gaps_are_kept_and_the_root_does_not_depend_on_them(
    client: httpx.AsyncClient, settings: Settings, target: Settings, tmp_path: Path
):
    events = await populate(client)
    source_root = (await fresh_digest(client, events[-1]["position"]))["root"]
    spaced = [{**e, "position": 10 + 7 * i} for i, e in enumerate(events)]
    file = tmp_path / "spaced.jsonl"
    file.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in spaced),
                    encoding="utf-8")
    assert run(["import", str(file)], target).exit_code == 0
    async with ledger_client(target) as imported:
        assert await whole_log(imported) == spaced
        digest = await fresh_digest(imported, spaced[-1]["position"])
        assert digest["root"] == source_root
        r = await imported.post(f"/v1/deals/{events[FIRST_DEAL]['deal_id']}/events",
                                json=event("FundsDisbursed", amount="1.00", reference="D"),
                                headers=writer_headers())
        assert r.status_code == 201 and r.json()["position"] > spaced[-1]["position"]


async def test_import_refuses_a_ledger_that_holds_events_beyond_the_file(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
):
    events = await populate(client)
    exported = tmp_path / "ledger.jsonl"
    assert run(["export", "-o", str(exported)], settings).exit_code == 0
    await apply_deal(client)
    result = run(["import", str(exported)], settings)
    assert result.exit_code == 1
    assert "holds events after the file's last line" in result.output
    assert len(raw_rows(settings)) == len(events) + 1


async def test_import_refuses_a_ledger_that_holds_other_events(
    client: httpx.AsyncClient, settings: Settings, target: Settings, tmp_path: Path
):
    await populate(client)
    exported = tmp_path / "ledger.jsonl"
    assert run(["export", "-o", str(exported)], settings).exit_code == 0
    async with ledger_client(target) as other:
        await apply_deal(other)  # its own policies: adopted at other times
    before = raw_rows(target)
    result = run(["import", str(exported)], target)
    assert result.exit_code == 1, result.output
    assert "line 1:" in result.output and "another event at position 1" in result.output
    assert "nothing imported" in result.output
    assert raw_rows(target) == before


async def test_importing_a_file_the_ledger_holds_whole_imports_nothing(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
):
    events = await populate(client)
    exported = tmp_path / "ledger.jsonl"
    assert run(["export", "-o", str(exported)], settings).exit_code == 0
    before = raw_rows(settings)
    result = run(["import", str(exported)], settings)
    assert result.exit_code == 0, result.output
    assert f"held the file's first {len(events)} events" in result.output
    assert "imported 0 events" in result.output
    assert raw_rows(settings) == before


async def test_an_incremental_export_continues_a_ledger_that_holds_the_earlier_one(
    client: httpx.AsyncClient, settings: Settings, target: Settings, tmp_path: Path
):
    first = await populate(client)
    base = run(["export"], settings).stdout
    assert run(["import", "-"], target, input=base).exit_code == 0
    second = await grow(client)
    head = first[-1]["position"]
    increment = run(["export", "--after", str(head)], settings).stdout
    assert [json.loads(line) for line in increment.splitlines()] == second[len(first):]
    assert base + increment == run(["export"], settings).stdout
    source_root = (await fresh_digest(client, second[-1]["position"]))["root"]

    result = run(["import", "-"], target, input=base + increment)
    assert result.exit_code == 0, result.output
    assert f"held the file's first {len(first)} events" in result.output
    assert f"imported {len(second) - len(first)} events" in result.output
    assert source_root in result.output
    assert raw_rows(target) == raw_rows(settings)
    async with ledger_client(target) as continued:
        report = (await continued.get("/v1/audit/verify", headers=AUDITOR)).json()
        assert report["ok"] is True and report["events_checked"] == len(second)
        digest = await fresh_digest(continued, second[-1]["position"])
        assert digest["root"] == source_root


async def test_a_ledger_that_moved_on_since_the_earlier_export_is_not_continued(
    client: httpx.AsyncClient, settings: Settings, target: Settings, tmp_path: Path
):
    first = await populate(client)
    base = run(["export"], settings).stdout
    assert run(["import", "-"], target, input=base).exit_code == 0
    async with ledger_client(target) as diverged:
        await apply_deal(diverged)
    before = raw_rows(target)
    await grow(client)
    increment = run(["export", "--after", str(first[-1]["position"])], settings).stdout
    result = run(["import", "-"], target, input=base + increment)
    assert result.exit_code == 1, result.output
    assert f"line {len(first) + 1}:" in result.output and "nothing imported" in result.output
    assert raw_rows(target) == before


Corrupt = Callable[[list[dict[str, Any]]], tuple[list[str], int, str]]


def _lines(events: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(e, ensure_ascii=False) for e in events]


def _changed_data(events: list[dict[str, Any]]) -> tuple[list[str], int, str]:
    i = next(i for i, e in enumerate(events) if e["type"] == "BoardVoted")
    events[i]["data"]["votes_for"] = 5
    return _lines(events), i + 1, "does not match the content"


def _missing_event(events: list[dict[str, Any]]) -> tuple[list[str], int, str]:
    i = next(i for i, e in enumerate(events) if e["version"] == 2 and e["type"] != POLICY)
    deal = events[i]["deal_id"]
    following = next(j for j in range(i + 1, len(events)) if events[j]["deal_id"] == deal)
    lines = _lines(events)
    del lines[i]
    return lines, following, "follows version 1"


def _swapped_lines(events: list[dict[str, Any]]) -> tuple[list[str], int, str]:
    lines = _lines(events)  # two policies, the authorization, then a deal's versions 1-3
    lines[4], lines[5] = lines[5], lines[4]
    return lines, 5, "version 3 follows version 1"


def _forged_hash_and_link(events: list[dict[str, Any]]) -> tuple[list[str], int, str]:
    i = next(i for i, e in enumerate(events) if e["version"] == 3 and e["type"] != POLICY)
    forged = "ab" * 32
    events[i]["hash"] = forged
    for later in events[i + 1:]:
        if later["deal_id"] == events[i]["deal_id"]:
            later["prev_hash"] = forged
            break
    return _lines(events), i + 1, "does not match the content"


def _not_json(events: list[dict[str, Any]]) -> tuple[list[str], int, str]:
    lines = _lines(events)
    lines[3] = lines[3][:-5]
    return lines, 4, ""


def _duplicated_line(events: list[dict[str, Any]]) -> tuple[list[str], int, str]:
    lines = _lines(events)
    lines.insert(5, lines[4])
    return lines, 6, "does not follow"


def _a_deal_event_on_the_program_stream(
    events: list[dict[str, Any]],
) -> tuple[list[str], int, str]:
    events[1]["type"] = "BoardVoted"
    return _lines(events), 2, "events, not BoardVoted"


def _unknown_key(events: list[dict[str, Any]]) -> tuple[list[str], int, str]:
    events[0]["extra"] = 1
    return _lines(events), 1, "unknown key"


@pytest.mark.parametrize("corrupt", [
    _changed_data, _missing_event, _swapped_lines, _forged_hash_and_link, _not_json,
    _duplicated_line, _a_deal_event_on_the_program_stream, _unknown_key,
], ids=lambda f: f.__name__.strip("_"))
async def test_a_file_that_fails_verification_is_refused_whole_naming_its_line(
    client: httpx.AsyncClient, target: Settings, tmp_path: Path, corrupt: Corrupt
):
    events = await populate(client)
    lines, line_number, reason = corrupt(events)
    file = tmp_path / "bad.jsonl"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(["import", str(file)], target)
    assert result.exit_code == 1, result.output
    assert f"line {line_number}:" in result.output and reason in result.output, result.output
    assert "nothing imported" in result.output
    assert raw_rows(target) == []


async def test_a_wrong_expected_root_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient, settings: Settings, target: Settings, tmp_path: Path
):
    await populate(client)
    file = tmp_path / "ledger.jsonl"
    assert run(["export", "-o", str(file)], settings).exit_code == 0
    result = run(["import", str(file), "--expect-root", "00" * 32], target)
    assert result.exit_code == 1 and "Merkle root" in result.output
    assert raw_rows(target) == []


async def test_import_reads_standard_input(
    client: httpx.AsyncClient, settings: Settings, target: Settings
):
    events = await populate(client)
    exported = run(["export"], settings).stdout
    result = run(["import", "-"], target, input=exported)
    assert result.exit_code == 0, result.output
    assert f"imported {len(events)} events" in result.output
    assert raw_rows(target) == raw_rows(settings)


async def test_an_imported_log_keeps_its_program_stream_and_adopts_nothing_more(
    client: httpx.AsyncClient, settings: Settings, target: Settings, tmp_path: Path
):
    events = await populate(client)
    file = tmp_path / "ledger.jsonl"
    assert run(["export", "-o", str(file)], settings).exit_code == 0
    assert run(["import", str(file)], target).exit_code == 0
    async with ledger_client(target) as imported:
        assert await whole_log(imported) == events
        listed = (await imported.get("/v1/policies", headers=auth("reader"))).json()
        assert [p["hash"] for p in listed["policies"]] == [e["hash"] for e in events[:2]]


async def test_a_log_without_a_program_stream_gets_the_shipped_policies_at_its_next_start(
    client: httpx.AsyncClient, target: Settings, tmp_path: Path
):
    """A v1 export has no program stream: import it, then start."""
    deals_only = [e for e in await populate(client) if e["deal_id"] != str(PROGRAM_ID)]
    file = tmp_path / "v1.jsonl"
    file.write_text("".join(line + "\n" for line in _lines(deals_only)), encoding="utf-8")
    assert run(["import", str(file)], target).exit_code == 0
    async with ledger_client(target) as started:
        log = await whole_log(started)
        assert log[:-2] == deals_only
        assert [(e["type"], e["data"]["id"], e["actor"]) for e in log[-2:]] == [
            (POLICY, "2025-05-13", "system"), (POLICY, "2026-11-30", "system")]
        assert log[-2]["position"] > deals_only[-1]["position"]
