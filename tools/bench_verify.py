#!/usr/bin/env python3
"""Benchmark ``verify`` (SPEC §3 hash chains + Merkle leaves) over a large log.

Builds a fresh ledger of N events (default 100,000: deals of five events each, written
through ``Ledger.submit`` in batches of 1000 commands, as ``POST /v1/batches`` does),
brings the ``merkle`` projection up to the head, then times the verification
over the whole log. Runs on SQLite, and on PostgreSQL when reachable (in a scratch
database ``bench_verify``, dropped and re-created).

    .venv/bin/python tools/bench_verify.py [--events 100000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.api.app import build_ledger  # noqa: E402
from service.db import create_engine, migrate  # noqa: E402
from service.eventstore.types import StoredResponse  # noqa: E402
from service.integrity import proofs, verification  # noqa: E402
from service.ledger import Command, Context, Ledger  # noqa: E402
from service.settings import Settings  # noqa: E402

PG_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PER_DEAL = 5
BATCH = 1000


def deal_commands(n: int) -> list[Command]:
    number = f"BENCH-{n:07d}"
    applied = {
        "application_number": number,
        "exporter": {"name": "Cerebral Silicon Inc.", "country": "US"},
        "buyer": {"name": "Rheinland Rechenzentrum GmbH", "country": "DE"},
        "instrument": "loan_guarantee", "term": "medium",
        "contract_value": "10000000.00", "financed_amount": "8500000.00", "tenor_years": 5,
        "items": [
            {"description": "AI accelerators", "category": "accelerator", "eccn": "3A090.a",
             "quantity": 64, "value": "8000000.00"},
            {"description": "Rack servers", "category": "server", "eccn": "5A992.c",
             "quantity": 8, "value": "2000000.00"},
        ],
    }
    steps = [
        ("LicenseRequested", {"application_ref": f"Z-{n}", "eccns": ["3A090.a"]}),
        ("CommerceLicenseApproved", {"application_ref": f"Z-{n}", "license_number": f"D-{n}",
                                     "eccns": ["3A090.a"], "valid_until": "2030-12-31"}),
        ("BoardVoted", {"meeting_date": "2026-06-01", "votes_for": 4, "votes_against": 1,
                        "abstentions": 0, "decision": "approved",
                        "approved_amount": "8500000.00"}),
        ("DealFinanced", {"instrument": "loan_guarantee", "amount": "8500000.00",
                          "exposure_fee_pct": "2.25", "final_maturity_date": "2031-06-30"}),
    ]
    return [Command("DealApplied", applied)] + [
        Command(t, d, application_number=number) for t, d in steps]


def all_commands(events: int) -> Iterator[Command]:
    produced, n = 0, 0
    while produced < events:
        for command in deal_commands(n)[: events - produced]:
            yield command
            produced += 1
        n += 1


def fill(ledger: Ledger, events: int) -> float:
    started = time.perf_counter()
    ctx = Context(actor="bench", source="bench")
    batch: list[Command] = []
    written = 0
    for command in all_commands(events):
        batch.append(command)
        if len(batch) == BATCH or written + len(batch) == events:
            ledger.submit(batch, ctx, lambda envs: StoredResponse(201, ""),
                          lambda error: StoredResponse(error.status, ""))
            written += len(batch)
            batch = []
            print(f"\r  written {written:>7} events", end="", flush=True)
    print()
    return time.perf_counter() - started


def bench(settings: Settings, events: int) -> None:
    migrate(settings)
    ledger = build_ledger(settings)
    engine = create_engine(settings)
    try:
        print(f"{settings.database_url.split(':', 1)[0]}: building {events} events")
        took = fill(ledger, events)
        print(f"  write:   {took:7.1f} s  ({events / took:8.0f} events/s, via Ledger.submit)")
        started = time.perf_counter()
        proofs.catch_up(engine, ledger.store)
        took = time.perf_counter() - started
        print(f"  merkle:  {took:7.1f} s  ({events / took:8.0f} events/s, incremental tree)")
        started = time.perf_counter()
        report = verification.verify(ledger.store, engine)
        took = time.perf_counter() - started
        assert report.ok and report.events_checked == events, report.as_dict()
        print(f"  verify:  {took:7.1f} s  ({events / took:8.0f} events/s) "
              f"ok={report.ok} events_checked={report.events_checked}")
    finally:
        ledger.close()
        engine.dispose()


def scratch_postgres() -> str | None:
    import psycopg

    parts = urlsplit(PG_URL)
    url = urlunsplit(parts._replace(path="/bench_verify"))
    try:
        with psycopg.connect(PG_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute("DROP DATABASE IF EXISTS bench_verify WITH (FORCE)")
            conn.execute("CREATE DATABASE bench_verify")
    except psycopg.Error as e:
        print(f"postgresql: skipped ({e})")
        return None
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench(Settings(database_url=f"sqlite:///{tmp}/ledger.db"), args.events)
    if not args.no_postgres:
        url = scratch_postgres()
        if url:
            bench(Settings(database_url=url), args.events)
    return 0


if __name__ == "__main__":
    sys.exit(main())
