"""Write throughput over real HTTP: concurrent clients posting one event per request.

Starts its own `exim-ledger serve` on a fresh database (SQLite in a temporary
folder, or the PostgreSQL URL given), then N clients each apply deals and post
events to them for a fixed time, one event per request. Prints acknowledged
events per second and latency percentiles.

    .venv/bin/python tools/bench_writes.py [--clients 32] [--seconds 10] [--workers 2]
        [--postgres postgresql://postgres@127.0.0.1:5432/bench_writes]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRET = "bench-writer-secret-0001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def application(n: str) -> dict[str, object]:
    return {
        "application_number": n,
        "exporter": {"name": "Cerebral Silicon Inc.", "country": "US"},
        "buyer": {"name": "Rheinland Rechenzentrum GmbH", "country": "DE"},
        "instrument": "loan_guarantee", "term": "medium",
        "contract_value": "10000000.00", "financed_amount": "8500000.00", "tenor_years": 5,
        "items": [{"description": "AI servers", "category": "server", "eccn": "5A992.c",
                   "quantity": 8, "value": "10000000.00"}],
    }


VOTE = {"type": "BoardVoted", "data": {"meeting_date": "2026-06-01", "votes_for": 4,
                                       "votes_against": 1, "abstentions": 0,
                                       "decision": "approved", "approved_amount": "8500000.00"}}


async def client(base: str, k: int, until: float, latencies: list[float]) -> int:
    done = 0
    headers = {"Authorization": f"Bearer {SECRET}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        i = 0
        while time.monotonic() < until:
            i += 1
            t = time.perf_counter()
            r = await http.post("/v1/deals", json=application(f"W{k:03d}-{i:06d}"))
            latencies.append(time.perf_counter() - t)
            if r.status_code != 201:
                raise SystemExit(f"unexpected {r.status_code}: {r.text}")
            done += 1
            deal = r.json()["deal_id"]
            for _ in range(4):  # later votes replace earlier ones: always valid
                if time.monotonic() >= until:
                    break
                t = time.perf_counter()
                r = await http.post(f"/v1/deals/{deal}/events", json=VOTE)
                latencies.append(time.perf_counter() - t)
                if r.status_code != 201:
                    raise SystemExit(f"unexpected {r.status_code}: {r.text}")
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
    tmp = tempfile.mkdtemp(prefix="bench-writes-")
    url = args.postgres or f"sqlite:///{tmp}/ledger.db"
    env = {**os.environ, "LEDGER_DATABASE_URL": url, "LEDGER_LOG_LEVEL": "warning",
           "LEDGER_BOOTSTRAP_KEYS": f"writer:bench:{SECRET}",
           "LEDGER_SIGNING_KEY_FILE": f"{tmp}/signing-key"}
    if args.postgres:
        import psycopg

        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
    subprocess.run([BIN / "exim-ledger", "migrate"], env=env, check=True, cwd=tmp)
    port = free_port()
    server = subprocess.Popen(
        [BIN / "exim-ledger", "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env, cwd=tmp, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        n, elapsed, lat = asyncio.run(load(base, args.clients, args.seconds))
    finally:
        server.terminate()
        server.wait(10)
    q = statistics.quantiles(lat, n=100)
    db = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{db}, {args.workers} worker(s), {args.clients} clients, {elapsed:.1f} s: "
          f"{n / elapsed:,.0f} acknowledged events/s "
          f"(p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
