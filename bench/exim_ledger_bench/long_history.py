"""The long-history scenario: what one more event costs on a deal that already holds 10,
100, 1,000 or 5,000 money events.

For each level, two sets of ``DEALS`` new financed deals are grown to that many money
events through ``POST /v1/batches`` (drawings and repayments in turn), the projections
catch up, and then, on deals loaded cold (the server just restarted: the first set) and
warm (the second set, after a restart and one post to each deal):

- single posts over one connection per deal (wrk when installed), against the no-op app
  under the same load: the HTTP ingest ratio;
- the CPU the projector child spends per event while it keeps up with those posts, read
  from /proc apart from the API process;
- ``GET /v1/deals/{id}`` and ``GET /v1/deals/{id}?as_of=`` (the moment the deal reached the
  level) p99, on the first set: its first read after a restart (cold), then more (warm);
- the API process's resident memory (the server's, without its projector child);

and, once per level, the mean stored size of the deals' latest snapshots. ``growth`` is each
measure's cost at the highest level over its cost at the lowest (the ingest ratio's cost
is its inverse).
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from exim_ledger_bench import data, ledger, load, offline, scenarios
from exim_ledger_bench import server as harness
from exim_ledger_bench.ledger import Target
from exim_ledger_bench.service import latest_snapshot_bytes, opened

LEVELS = (10, 100, 1_000, 5_000)
DEALS = 16  # deals per level; one connection each when posting
WARM_READS = 1024  # requests per read endpoint on warm deals (cold: one per deal); a p99
# of a few hundred requests on a shared 2-core machine moved by 2x from run to run
SNAPSHOT_WAIT_SECONDS = 60.0
Result = dict[str, Any]
# measure -> (how to read it from a phase or level, whether a higher figure costs more)
MEASURES: dict[str, tuple[str, bool]] = {
    "ingest_ratio": ("phase", False), "projector_us_per_event": ("phase", True),
    "deal_p99_ms": ("phase", True), "as_of_p99_ms": ("phase", True),
    "api_rss_mb": ("phase", True), "snapshot_bytes": ("level", True)}


def levels(max_events: int) -> list[int]:
    return [n for n in LEVELS if n <= max_events] or [LEVELS[0]]


def long_history(target: Target, seconds: float, max_events: int,
                 say: Callable[[str], None]) -> Result:
    url = target.fresh("long-history")
    env = ledger.ledger_env(url, target.work)
    ledger.migrate(env, target.work)
    server = harness.LedgerProcess(env, target.work, "serve", log_name="long-history.log")
    found: dict[str, Result] = {}
    server.start()
    try:
        for level in levels(max_events):
            say(f"  {2 * DEALS} deals grown to {level:,} money events each")
            found[str(level)] = _level(target, server, url, level, seconds)
    finally:
        server.stop()
    return {"deals": DEALS, "connections": DEALS, "seconds": seconds,
            "generator": load.generator(), "levels": found, "growth": growth(found)}


def _level(target: Target, server: harness.LedgerProcess, url: str, level: int,
           seconds: float) -> Result:
    """Two sets of ``DEALS`` deals grown to ``level``: the first measured cold, the second
    warm, so that each set's posts begin at ``level`` money events."""
    made = asyncio.run(ledger.post_batches(server.url, f"LONG{level}", 2 * DEALS, full=False))
    cold, warm = made["deal_ids"][:DEALS], made["deal_ids"][DEALS:]
    moment = asyncio.run(_grow(server.url, cold + warm, level))
    offline.wait_projected(url, 3600)
    sizes = [size for size in _snapshot_sizes(url, cold + warm) if size]
    out: Result = {"snapshot_bytes": round(sum(sizes) / len(sizes)) if sizes else 0,
                   "snapshots": len(sizes), "as_of": moment}

    server.stop()
    server.start()  # cold: the first read of each deal loads it from the store
    out["cold"] = asyncio.run(_reads(server.url, cold, moment, passes=1))
    out["warm"] = asyncio.run(_reads(server.url, cold, moment,
                                     passes=max(1, WARM_READS // DEALS)))
    server.stop()
    server.start()  # cold again: the first post to each deal loads it
    out["cold"] |= _ingest(target, server, url, cold, seconds, level)
    server.stop()
    server.start()  # warm: each deal of the other set loaded by one post, then measured
    asyncio.run(_post_once(server.url, warm))
    offline.wait_projected(url, 3600)
    out["warm"] |= _ingest(target, server, url, warm, seconds, level + 1)
    server.stop()
    try:  # the baseline runs alone, as the ledger did
        noop = scenarios.noop(target, 1, seconds, warm, connections=DEALS)
    finally:
        server.start()
    out["noop"] = {"name": "no-op FastAPI, 1 worker", **noop}
    for phase in ("cold", "warm"):
        out[phase]["ingest_ratio"] = round(out[phase]["per_s"] / noop["per_s"], 4)
    return out


def _snapshot_sizes(url: str, deals: Sequence[str]) -> list[int]:
    """Each deal's latest snapshot size once the server's snapshot thread has taken those
    due (the figures stay the same for a second; a deal short of the interval has none)."""
    with opened(url) as (_, engine):
        seen: list[list[int]] = []
        deadline = time.monotonic() + SNAPSHOT_WAIT_SECONDS
        while time.monotonic() < deadline:
            seen = [*seen[-4:], [latest_snapshot_bytes(engine, deal) for deal in deals]]
            if len(seen) == 5 and all(sizes == seen[0] for sizes in seen):
                break
            time.sleep(0.25)
        return seen[-1]


async def _post_once(url: str, deals: Sequence[str]) -> None:
    async with ledger.client(url, ledger.POSTER) as http:
        for n, deal in enumerate(deals):
            r = await http.post(f"/v1/deals/{deal}/events", json=data.disbursement(n))
            if r.status_code != 201:
                raise RuntimeError(f"POST to {deal}: {r.status_code} {r.text[:500]}")


async def _grow(url: str, deals: Sequence[str], level: int) -> str:
    """Post ``level`` money events to each deal, interleaved, in batches; the moment the
    last was recorded."""
    items = [data.money_event(deal, n) for n in range(level) for deal in deals]
    last = ""
    async with ledger.client(url, ledger.POSTER) as http:
        for i in range(0, len(items), ledger.BATCH_EVENTS):
            r = await http.post("/v1/batches",
                                json={"events": items[i:i + ledger.BATCH_EVENTS]})
            if r.status_code != 201:
                raise RuntimeError(f"POST /v1/batches: {r.status_code} {r.text[:500]}")
            last = r.json()["events"][-1]["recorded_at"]
    return str(last)


def _ingest(target: Target, server: harness.LedgerProcess, url: str, deals: list[str],
            seconds: float, held: float) -> Result:
    """Single posts for ``seconds``, then until the projections hold them: the rate, the
    projector child's CPU per event, and the API process's memory."""
    projectors = server.projectors()
    spent = sum(harness.cpu_seconds(pid) for pid in projectors)
    measured = load.post_events(server.url, ledger.POSTER, deals, len(deals), seconds,
                                target.work)
    offline.wait_projected(url, 3600)
    spent = sum(harness.cpu_seconds(pid) for pid in projectors) - spent
    if projectors != server.projectors():
        raise RuntimeError("the projector child was restarted while it was measured")
    posted = measured["acknowledged"]
    return {**measured, "money_events_before": round(held, 1),
            "money_events_after": round(held + posted / len(deals), 1),
            "projector_us_per_event": round(spent / posted * 1e6, 1) if posted else None,
            "api_rss_mb": round(server.rss_mb() - server.rss_projector_mb(), 1),
            "projector_rss_mb": round(server.rss_projector_mb(), 1)}


async def _reads(url: str, deals: Sequence[str], moment: str, passes: int) -> Result:
    at = urllib.parse.quote(moment, safe="")
    deal = await load.timed_gets(url, ledger.TOKEN, [f"/v1/deals/{d}" for d in deals] * passes)
    as_of = await load.timed_gets(url, ledger.TOKEN,
                                  [f"/v1/deals/{d}?as_of={at}" for d in deals] * passes)
    return {"deal_p99_ms": deal["p99_ms"], "as_of_p99_ms": as_of["p99_ms"],
            "reads": {"deal": deal, "as_of": as_of}}


def figure(level: Result, measure: str, phase: str) -> float | None:
    where, _ = MEASURES[measure]
    value = level[measure] if where == "level" else level[phase].get(measure)
    return None if value is None else float(value)


def growth(found: dict[str, Result]) -> dict[str, dict[str, Result]]:
    """Each measure's cost at the highest level over its cost at the lowest level that has
    a figure (a deal short of the snapshot interval has no snapshot)."""
    out: dict[str, dict[str, Result]] = {}
    top = max(found, key=int)
    for measure, (_, costs_more) in MEASURES.items():
        out[measure] = {}
        for phase in ("cold", "warm"):
            high = figure(found[top], measure, phase)
            low = next((level for level in sorted(found, key=int)
                        if level != top and figure(found[level], measure, phase)), None)
            a = figure(found[low], measure, phase) if low else None
            if not a or not high:
                continue
            out[measure][phase] = {"from": int(low), "to": int(top),  # type: ignore[arg-type]
                                   "ratio": round(high / a if costs_more else a / high, 2)}
    return out


def table(name: str, r: Result) -> list[str]:
    """The scenario as markdown: each measure at each level, and its growth."""
    found: dict[str, Result] = r["levels"]
    names = [f"{int(level):,}" for level in found]
    high, low = names[-1], names[0]
    lines = [f"| {name}: money events already on each of {r['deals']} deals | phase | "
             + " | ".join(names) + f" | cost at {high} / at {low} |",
             "|---|---|" + "---:|" * (len(names) + 1)]
    for measure, (where, _) in MEASURES.items():
        for phase in ("cold", "warm") if where == "phase" else ("cold",):
            cells = [figure(level, measure, phase) for level in found.values()]
            g = r["growth"].get(measure, {}).get(phase)
            ratio = "–" if g is None else f"{g['ratio']:.2f}" + (
                f" (from {g['from']:,})" if g["from"] != int(next(iter(found))) else "")
            lines.append(f"| {measure} | {phase if where == 'phase' else 'any'} | "
                         + " | ".join("–" if not c else f"{c:g}" for c in cells)
                         + f" | {ratio} |")
    for phase in ("cold", "warm"):
        held = [f"{level[phase]['money_events_after']:g}" for level in found.values()]
        lines.append(f"| money events held when the posts ended | {phase} | "
                     + " | ".join(held) + " | |")
    return lines

