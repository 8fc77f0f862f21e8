"""The scenarios: each one a fresh database, real server processes, and its baseline
measured in the same run."""

from __future__ import annotations

import asyncio
import bisect
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exim_ledger_bench import ledger, load, offline, service
from exim_ledger_bench import server as harness
from exim_ledger_bench.data import disbursement
from exim_ledger_bench.ledger import Target

CONNECTIONS = 32
DEALS_PER_CONNECTION = 8
Result = dict[str, Any]


@dataclass(frozen=True)
class Scale:
    seconds: float  # each side of an ingest comparison
    deals: int  # the loaded ledger: deals x 10 events
    freshness_seconds: float
    reads: int  # requests per read endpoint


QUICK = Scale(seconds=6, deals=500, freshness_seconds=0, reads=0)
FULL = Scale(seconds=20, deals=100_000, freshness_seconds=60, reads=500)


def noop(target: Target, workers: int, seconds: float, deals: list[str],
         connections: int = CONNECTIONS) -> Result:
    """The baseline of single posts: the no-op app under the same load."""
    argv = [sys.executable, "-m", "uvicorn", "exim_ledger_bench.noop:create_app", "--factory",
            "--host", "127.0.0.1", "--port", harness.PORT, "--workers", str(workers)]
    with harness.Process(argv, ledger.ledger_env("", target.work), target.work, "noop.log") as s:
        return load.post_events(s.url, ledger.POSTER, deals, connections, seconds, target.work)


def ingest(target: Target, scale: Scale, *, workers: int = 1) -> Result:
    """Single-event posts over 32 connections, each deal owned by one connection, against
    the no-op app served the same way. With ``workers`` > 1, projections run in a separate
    ``exim-ledger project``."""
    url = target.fresh(f"ingest-{workers}")
    separate = workers > 1
    env = ledger.ledger_env(url, target.work,
                            **({"projections_in_process": "false"} if separate else {}))
    ledger.migrate(env, target.work)
    with ledger.server(env, target.work, "--workers", str(workers)) as s:
        made = asyncio.run(ledger.post_batches(
            s.url, f"ING{workers}", CONNECTIONS * DEALS_PER_CONNECTION, full=False))
        deals = made["deal_ids"]
        if separate:
            with harness.LedgerProcess(env, target.work, "project", log_name="project.log"):
                measured = load.post_events(s.url, ledger.POSTER, deals, CONNECTIONS,
                                            scale.seconds, target.work)
        else:
            measured = load.post_events(s.url, ledger.POSTER, deals, CONNECTIONS,
                                        scale.seconds, target.work)
    baseline = noop(target, workers, scale.seconds, deals)
    return {**measured, "workers": workers, "connections": CONNECTIONS,
            "baseline": {"name": f"no-op FastAPI, {workers} worker(s)", **baseline},
            "ratio": round(measured["per_s"] / baseline["per_s"], 4)}


def loaded(target: Target, scale: Scale, max_rate: float,
           say: Callable[[str], None]) -> dict[str, Result]:
    """Load ``scale.deals`` whole deal lives through ``POST /v1/batches`` on a server with
    the shipped defaults, then measure on it: projection catch-up, reads, freshness and RSS;
    then, with the server stopped, rebuild and verify against their baselines."""
    url = target.fresh("loaded")
    env = ledger.ledger_env(url, target.work)
    ledger.migrate(env, target.work)
    out: dict[str, Result] = {}
    with ledger.server(env, target.work) as s:
        made = asyncio.run(ledger.post_batches(s.url, "LOAD", scale.deals, full=True))
        deals = made.pop("deal_ids")
        out["batches"] = {**made, "events_per_batch": ledger.BATCH_EVENTS}
        say(f"  loaded {made['events']:,} events in {made['seconds']} s; catching up")
        out["batches"]["caught_up_after_s"] = round(offline.wait_projected(url, 3600), 2)
        if scale.reads:
            say("  reads")
            out["reads"] = asyncio.run(_reads(s.url, deals, made["events"], scale.reads))
        if scale.freshness_seconds:
            say(f"  freshness at {max_rate / 2:,.0f} events/s")
            out["freshness"] = freshness(s.url, url, max_rate / 2, scale.freshness_seconds)
        out["rss"] = {"mb": round(s.rss_mb(), 1), "events": made["events"],
                      "projector_mb": round(s.rss_projector_mb(), 1)}
    say("  raw batched save, rebuild, verify")
    raw = offline.raw_save(url, target.work, min(made["events"], 100_000))
    out["batches"]["baseline"] = raw
    out["batches"]["ratio"] = round(out["batches"]["per_s"] / raw["per_s"], 4)
    out["rebuild"] = offline.rebuild(url)
    if scale.reads:
        out["verify"] = verify(env, target, url)
    return out


async def _reads(url: str, deals: list[str], events: int, n: int) -> Result:
    """p50/p99/max of each read endpoint at the loaded scale; ``as_of`` is a moment in the
    middle of the log (deals are asked about as of then from the first half)."""
    async with ledger.client(url) as http:
        r = await http.get("/v1/events", params={"after": events // 2, "limit": 1})
        r.raise_for_status()
    moment = r.json()["events"][0]["recorded_at"]
    sample = deals[::max(1, len(deals) // n)][:n]
    early = deals[:len(deals) // 2:max(1, len(deals) // 2 // n)][:n]
    paths = {
        "portfolio": ["/v1/portfolio"] * n,
        "deal": [f"/v1/deals/{d}" for d in sample],
        "deal_as_of": [f"/v1/deals/{d}?as_of={moment}" for d in early],
        "deals_by_country": ["/v1/portfolio/deals?country=DE&limit=100"] * n,
        "portfolio_as_of": [f"/v1/portfolio?as_of={moment}"] * max(20, n // 25),
    }
    return {name: await load.timed_gets(url, ledger.TOKEN, p) for name, p in paths.items()}


def freshness(url: str, database_url: str, rate: float, seconds: float) -> Result:
    """Post at ``rate`` for ``seconds`` (to deals financed for it, taken in turn) and time
    each event from acknowledgement to every projection holding it (sampled every 20 ms)."""
    made = asyncio.run(ledger.post_batches(url, "FRESH", 2000, full=False))
    deals = made["deal_ids"]
    wait_projected_from = time.perf_counter()
    offline.wait_projected(database_url, 600)
    acked: list[tuple[int, float]] = []
    errors: list[int] = []
    seen: list[tuple[float, int]] = []

    async def run() -> int:
        async with ledger.client(url, ledger.POSTER) as http:
            async def send(n: int) -> None:
                r = await http.post(f"/v1/deals/{deals[n % len(deals)]}/events",
                                    json=disbursement(n))
                if r.status_code == 201:
                    acked.append((r.json()["position"], time.monotonic()))
                else:
                    errors.append(r.status_code)

            watching = asyncio.create_task(_watch(database_url, seen))
            try:
                sent = await load.paced(rate, seconds, send)
                last = max((p for p, _ in acked), default=0)
                deadline = time.monotonic() + 60  # the last events' lag is measured too
                while (not seen or seen[-1][1] < last) and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                return sent
            finally:
                watching.cancel()

    sent = asyncio.run(run())
    lags = [max(0.0, _first_seen(seen, pos) - at) for pos, at in acked]
    return {"rate": round(rate, 1), "sent": sent, "acknowledged": len(acked),
            "errors": len(errors), "setup_caught_up_s": round(time.perf_counter()
                                                              - wait_projected_from, 1),
            "never_seen": sum(lag == float("inf") for lag in lags),
            **load.percentiles([lag for lag in lags if lag != float("inf")])}


async def _watch(database_url: str, seen: list[tuple[float, int]]) -> None:
    with service.opened(database_url) as (_, engine):
        while True:
            position = await asyncio.to_thread(service.projected, engine)
            seen.append((time.monotonic(), position))
            await asyncio.sleep(0.02)


def _first_seen(seen: list[tuple[float, int]], position: int) -> float:
    """When the projections first held ``position`` (their minimum only grows)."""
    i = bisect.bisect_left(seen, position, key=lambda sample: sample[1])
    return seen[i][0] if i < len(seen) else float("inf")


def verify(env: dict[str, str], target: Target, url: str) -> Result:
    started = time.perf_counter()
    harness.run([str(harness.CLI), "verify", "--json"], env, target.work)
    took = time.perf_counter() - started
    raw = offline.raw_sha256(url)
    return {"events": raw["events"], "per_s": round(raw["events"] / took, 1),
            "seconds": round(took, 2), "baseline": raw,
            "ratio": round(raw["seconds"] / took, 4)}
