"""Benchmark: projection catch-up speed against the raw speed of reading the same log.

Builds a ledger of DEALS x 10 events (default 10,000 deals = 100,000 events) in an SQLite
file under a temporary directory (or in an empty PostgreSQL database with --postgres URL,
whose public schema is dropped and recreated), then in one run measures

  (a) reading and decoding the whole log through the library:
      ``store.select_notifications`` in pages of 1000 + ``mapper.to_domain_event`` each;
  (b) the projection runner catching up every projection from position 0
      (``runner.catch_up(name)``, fresh read-model tables),

and prints both in events/s, side by side, with their ratio.

    .venv/bin/python -m tools.bench_projections [--deals N] [--postgres URL]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from service.api.app import build_ledger, build_runner
from service.db import create_engine, migrate
from service.ledger import Ledger
from service.settings import Settings
from tools.benchdata import EVENTS_PER_DEAL, deal_commands, empty_postgres, write

PAGE = 1000


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
        empty_postgres(postgres)
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
            built = write(ledger, (c for i in range(args.deals) for c in deal_commands(i)))
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
