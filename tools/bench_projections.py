"""Benchmark: projection catch-up speed against the raw speed of reading the same log.

Builds a ledger of DEALS x 10 events (default 10,000 deals = 100,000 events) in an SQLite
file under a temporary directory (or in an empty PostgreSQL database with --postgres URL,
whose public schema is dropped and recreated), then in one run measures

  (a) reading and decoding the whole log through the library:
      ``store.select_notifications`` in pages of 1000 + ``mapper.to_domain_event`` each;
  (b) the projection runner catching up every projection from position 0
      (``runner.catch_up(name)``, fresh read-model tables),

and prints both in events/s, side by side, with their ratio.

    .venv/bin/python tools/bench_projections.py [--deals N] [--postgres URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.api.app import build_ledger, build_runner  # noqa: E402
from service.api.framing import render_error, render_json  # noqa: E402
from service.db import create_engine, migrate  # noqa: E402
from service.ledger import Command, Context, Ledger, deal_id_for  # noqa: E402
from service.settings import Settings  # noqa: E402

EVENTS_PER_DEAL = 10
PAGE = 1000
RENDER = render_json(201, lambda envs: {"count": len(envs)})


def deal_commands(i: int) -> list[Command]:
    number = f"BENCH-{i:07d}"
    deal_id: UUID = deal_id_for(number)
    long_term = i % 3 == 0
    instrument = "direct_loan" if long_term else ("insurance", "loan_guarantee")[i % 2]
    body = {
        "application_number": number,
        "exporter": {"name": "Cerebral Silicon Inc.", "country": "US"},
        "buyer": {"name": f"Buyer {i}", "country": ("DE", "FR", "JP", "BR", "IN")[i % 5]},
        "instrument": instrument, "term": "long" if long_term else "medium",
        "contract_value": "10000000.00", "financed_amount": "8500000.00",
        "tenor_years": 10 if long_term else 5,
        "items": [
            {"description": "AI accelerators", "category": "accelerator", "eccn": "3A090.a",
             "quantity": 64, "value": "8000000.00"},
            {"description": "Rack servers", "category": ("server", "storage")[i % 2],
             "eccn": "5A992.c", "quantity": 8, "value": "2000000.00"},
        ],
    }
    financing: dict[str, Any] = {"instrument": instrument, "amount": "8000000.00",
                                 "exposure_fee_pct": "2.25", "final_maturity_date": "2036-06-30"}
    if instrument == "direct_loan":
        financing["interest_rate_pct"] = "4.125"
    steps: list[tuple[str, dict[str, Any]]] = [
        ("LicenseRequested", {"application_ref": f"Z-{i}", "eccns": ["3A090.a"]}),
        ("CommerceLicenseApproved", {"application_ref": f"Z-{i}", "license_number": f"D-{i}",
                                     "eccns": ["3A090.a"], "valid_until": "2030-12-31"}),
        ("BoardVoted", {"meeting_date": "2026-06-01", "votes_for": 4, "votes_against": 1,
                        "abstentions": 0, "decision": "approved", "approved_amount": "8500000.00"}),
        ("DealFinanced", financing),
        ("FundsDisbursed", {"amount": "3000000.00", "reference": "D1"}),
        ("FundsDisbursed", {"amount": "3000000.00", "reference": "D2"}),
        ("RepaymentReceived", {"principal": "1000000.00", "interest": "90000.00",
                               "reference": "R1"}),
        ("RepaymentReceived", {"principal": "1000000.00", "interest": "80000.00",
                               "reference": "R2"}),
        ("DealCancelled", {"reason": "undrawn balance released", "amount": "1000000.00"}),
    ]
    return [Command("DealApplied", body)] + [Command(t, d, deal_id=deal_id) for t, d in steps]


def build(ledger: Ledger, deals: int) -> float:
    started = time.perf_counter()
    ctx = Context(actor="bench", source="bench")
    per_submit = PAGE // EVENTS_PER_DEAL
    for first in range(0, deals, per_submit):
        commands = [c for i in range(first, min(first + per_submit, deals))
                    for c in deal_commands(i)]
        ledger.submit(commands, ctx, RENDER, render_error)
        done = min(first + per_submit, deals)
        if done % 1000 == 0 or done == deals:
            rate = done * EVENTS_PER_DEAL / (time.perf_counter() - started)
            print(f"\r  built {done * EVENTS_PER_DEAL:>8,} events ({rate:,.0f}/s)", end="",
                  flush=True)
    print()
    return time.perf_counter() - started


def read_raw(ledger: Ledger) -> tuple[int, float]:
    store, mapper = ledger.store, ledger.mapper
    count, start = 0, 1
    started = time.perf_counter()
    while True:
        page = store.select_notifications(start, PAGE)
        if not page:
            break
        for notification in page:
            mapper.to_domain_event(notification)
        count += len(page)
        start = page[-1].id + 1
    return count, time.perf_counter() - started


def catch_up(settings: Settings, ledger: Ledger) -> dict[str, tuple[int, float]]:
    engine = create_engine(settings)
    try:
        runner = build_runner(settings, ledger, engine)
        runner.ensure_rows()
        out = {}
        for name in runner.projections:
            started = time.perf_counter()
            n = runner.catch_up(name)
            out[name] = (n, time.perf_counter() - started)
        return out
    finally:
        engine.dispose()


def fresh_settings(postgres: str | None, directory: Path) -> Settings:
    if postgres:
        import psycopg

        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        settings = Settings(database_url=postgres)
    else:
        settings = Settings(database_url=f"sqlite:///{directory / 'bench.db'}")
    migrate(settings)
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=10_000, help="deals (x10 events)")
    parser.add_argument("--postgres", metavar="URL", help="an empty PostgreSQL database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-projections-") as tmp:
        settings = fresh_settings(args.postgres, Path(tmp))
        kind = "PostgreSQL" if settings.is_postgres else "SQLite"
        print(f"{kind}: building {args.deals * EVENTS_PER_DEAL:,} events "
              f"({args.deals:,} deals x {EVENTS_PER_DEAL}) ...")
        ledger = build_ledger(settings)
        try:
            built = build(ledger, args.deals)
            print(f"  built in {built:.1f} s")
            raw_n, raw_s = read_raw(ledger)
            projected = catch_up(settings, ledger)
        finally:
            ledger.close()
    raw_rate = raw_n / raw_s
    total_s = sum(s for _, s in projected.values())
    events = max(n for n, _ in projected.values())
    overall = events * len(projected) / total_s
    print(f"\n{kind}, {raw_n:,} events in the log")
    print(f"  {'measure':<52}{'events':>10}{'seconds':>10}{'events/s':>12}{'raw/this':>10}")
    print(f"  {'raw read+decode (select_notifications+mapper)':<52}{raw_n:>10,}{raw_s:>10.2f}"
          f"{raw_rate:>12,.0f}{1:>10.2f}")
    for name, (n, s) in projected.items():
        print(f"  {'catch-up ' + name:<52}{n:>10,}{s:>10.2f}{n / s:>12,.0f}"
              f"{raw_rate / (n / s):>10.2f}")
    every = f"catch-up, all {len(projected)} projections"
    print(f"  {every + ' (event-applications)':<52}"
          f"{events * len(projected):>10,}{total_s:>10.2f}{overall:>12,.0f}"
          f"{raw_rate / overall:>10.2f}")
    print(f"  {every + ' (log events)':<52}{events:>10,}{total_s:>10.2f}"
          f"{events / total_s:>12,.0f}{raw_rate / (events / total_s):>10.2f}")


if __name__ == "__main__":
    main()
