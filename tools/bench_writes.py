"""Write throughput over real HTTP: concurrent clients posting one event per request.

Starts its own `exim-ledger serve` on a fresh database (SQLite in a temporary
folder, or the PostgreSQL URL given), then N clients each apply deals and post
events to them for a fixed time, one event per request. Prints acknowledged
events per second and latency percentiles.

    .venv/bin/python -m tools.bench_writes [--clients 32] [--seconds 10] [--workers 2]
        [--postgres postgresql://postgres@127.0.0.1:5432/bench_writes]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tools.benchdata import BOARD_APPROVAL, application, empty_postgres
from tools.server import CLI, serve

SECRET = "bench-writer-secret-0001"
VOTE = {"type": "BoardVoted", "data": BOARD_APPROVAL}


async def post(http: httpx.AsyncClient, path: str, body: object,
               latencies: list[float]) -> dict[str, Any]:
    """POST one event, noting its latency; the envelope."""
    started = time.perf_counter()
    r = await http.post(path, json=body)
    latencies.append(time.perf_counter() - started)
    if r.status_code != 201:
        raise SystemExit(f"unexpected {r.status_code}: {r.text}")
    envelope: dict[str, Any] = r.json()
    return envelope


async def client(base: str, k: int, until: float, latencies: list[float]) -> int:
    done = 0
    headers = {"Authorization": f"Bearer {SECRET}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        i = 0
        while time.monotonic() < until:
            i += 1
            body = application(f"W{k:03d}-{i:06d}", i)
            deal = (await post(http, "/v1/deals", body, latencies))["deal_id"]
            done += 1
            for _ in range(4):  # later votes replace earlier ones: always valid
                if time.monotonic() >= until:
                    break
                await post(http, f"/v1/deals/{deal}/events", VOTE, latencies)
                done += 1
    return done


async def load(base: str, clients: int, seconds: float) -> tuple[int, float, list[float]]:
    latencies: list[float] = []
    start = time.monotonic()
    counts = await asyncio.gather(
        *(client(base, k, start + seconds, latencies) for k in range(clients)))
    return sum(counts), time.monotonic() - start, latencies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--postgres", help="a PostgreSQL URL whose database will be emptied")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-writes-"))
    url = args.postgres or f"sqlite:///{tmp}/ledger.db"
    env = {**os.environ, "LEDGER_DATABASE_URL": url, "LEDGER_LOG_LEVEL": "warning",
           "LEDGER_BOOTSTRAP_KEYS": f"writer:bench:{SECRET}",
           "LEDGER_SIGNING_KEY_FILE": f"{tmp}/signing-key"}
    if args.postgres:
        empty_postgres(args.postgres)
    subprocess.run([CLI, "migrate"], env=env, check=True, cwd=tmp)
    with serve(env, tmp, "--workers", str(args.workers)) as base:
        n, elapsed, lat = asyncio.run(load(base, args.clients, args.seconds))
    q = statistics.quantiles(lat, n=100)
    db = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{db}, {args.workers} worker(s), {args.clients} clients, {elapsed:.1f} s: "
          f"{n / elapsed:,.0f} acknowledged events/s "
          f"(p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
