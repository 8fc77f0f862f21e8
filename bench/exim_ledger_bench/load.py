"""Load generators: wrk with a Lua script when installed, else an async httpx client.

Both post single ``FundsDisbursed`` events with at most one request in flight per deal,
and report throughput with p50/p99/max latency."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import httpx

from exim_ledger_bench.data import disbursement

SCRIPT = Path(__file__).with_name("wrk.lua")
THREADS = 2
Figures = dict[str, Any]


def generator() -> str:
    return "wrk" if shutil.which("wrk") else "httpx"


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max of ``seconds``, in milliseconds."""
    if not seconds:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    ordered = sorted(seconds)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": round(ordered[-1] * 1000, 2)}


def post_events(url: str, token: str, deals: Sequence[str], connections: int,
                seconds: float, work: Path) -> Figures:
    """Post single events to ``deals`` for ``seconds`` over ``connections`` connections."""
    if generator() == "wrk":
        return _wrk(url, token, deals, connections, seconds, work)
    return asyncio.run(_httpx(url, token, deals, connections, seconds))


def _wrk(url: str, token: str, deals: Sequence[str], connections: int, seconds: float,
         work: Path) -> Figures:
    threads = min(THREADS, connections)
    per_thread = [list(deals[t::threads]) for t in range(threads)]
    script = work / "post.lua"
    script.write_text(
        f"DEALS = {_lua(per_thread)}\nTOKEN = {json.dumps(token)}\n"
        f"PREFIX = {json.dumps(f'w{time.monotonic_ns()}-')}\n" + SCRIPT.read_text())
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
         "--timeout", "30s", "-s", str(script), url],
        capture_output=True, text=True, timeout=seconds + 120, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    raw = json.loads(line.removeprefix("BENCH "))
    ok = raw["requests"] - raw["non2xx"]
    return {"per_s": round(ok / (raw["duration_us"] / 1e6), 1), "requests": raw["requests"],
            "acknowledged": ok,
            "errors": raw["non2xx"] + raw["socket_errors"], "reused_deals": raw["reused"],
            "socket_errors": raw["socket_errors"], "other_statuses": raw["statuses"],
            "p50_ms": raw["p50_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
            "max_ms": raw["max_us"] / 1000, "generator": "wrk"}


def _lua(lists: Sequence[Sequence[str]]) -> str:
    return "{" + ",".join("{" + ",".join(json.dumps(d) for d in one) + "}"
                          for one in lists) + "}"


async def _httpx(url: str, token: str, deals: Sequence[str], connections: int,
                 seconds: float) -> Figures:
    latencies: list[float] = []
    errors = 0
    numbers = itertools.count()
    until = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=connections)

    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30,
                                 limits=limits) as http:
        async def connection(owned: Sequence[str]) -> None:
            nonlocal errors
            for deal in itertools.cycle(owned):
                if time.monotonic() >= until:
                    return
                started = time.perf_counter()
                r = await http.post(f"/v1/deals/{deal}/events",
                                    json=disbursement(next(numbers)))
                latencies.append(time.perf_counter() - started)
                errors += r.status_code >= 300

        started = time.monotonic()
        await asyncio.gather(*(connection(deals[c::connections]) for c in range(connections)))
        elapsed = time.monotonic() - started
    return {"per_s": round((len(latencies) - errors) / elapsed, 1),
            "requests": len(latencies), "errors": errors,
            "acknowledged": len(latencies) - errors, **percentiles(latencies),
            "generator": "httpx"}


async def timed_gets(url: str, token: str, paths: Sequence[str],
                     concurrency: int = 4) -> dict[str, float]:
    """GET each of ``paths`` (failing on any non-200) over a few connections; latencies."""
    latencies: list[float] = []
    queue = list(reversed(paths))
    async with httpx.AsyncClient(base_url=url, timeout=60,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        async def worker() -> None:
            while queue:
                path = queue.pop()
                started = time.perf_counter()
                r = await http.get(path)
                latencies.append(time.perf_counter() - started)
                if r.status_code != 200:
                    raise RuntimeError(f"GET {path}: {r.status_code} {r.text[:300]}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"requests": len(latencies), **percentiles(latencies)}


async def paced(rate: float, seconds: float, send: Callable[[int], Coroutine[Any, Any, None]],
                senders: int = 16) -> int:
    """Call ``send(n)`` ``rate`` times a second for ``seconds``, from at most ``senders``
    requests in flight (an unbounded open loop only measures the client's own queue);
    how many were sent."""
    started = time.monotonic()
    numbers = itertools.count()
    sent = 0

    async def sender() -> None:
        nonlocal sent
        while (n := next(numbers)) < rate * seconds:
            due = started + n / rate
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            await send(n)
            sent += 1

    await asyncio.gather(*(sender() for _ in range(senders)))
    return sent
