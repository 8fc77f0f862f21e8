"""The soak's report: per minute, the requests answered, their p50/p99 latency and the
server's memory, and the verdict on a leak (memory at the end against minute 2)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

MB = 1024 * 1024
WARM_SECONDS = 120.0  # minute 2: the baseline memory is read once caches have warmed up


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the soak started
    rss: int  # bytes


class Answered(Protocol):
    status: int | None
    deal_id: str
    latency: float
    answered_at: float


def _percentiles(latencies: Sequence[float]) -> str:
    if len(latencies) < 2:
        return "– | –"
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return f"{cuts[49] * 1000:.1f} | {cuts[98] * 1000:.1f}"


def _baseline(samples: Sequence[Sample], warm: float) -> Sample:
    return min(samples, key=lambda s: abs(s.at - warm))


def report(backend: str, max_rate: float, started: float, samples: Sequence[Sample],
           writes: Sequence[Answered], reads: Sequence[tuple[float, float, int]],
           leak_ratio: float, warm: float = WARM_SECONDS) -> tuple[str, bool]:
    """The markdown report, and whether memory grew past ``leak_ratio`` of its value
    ``warm`` seconds in (minute 2)."""
    base, last = _baseline(samples, warm), samples[-1]
    growth = last.rss / base.rss
    leaked = growth > leak_ratio
    failed_writes = sum(w.status != 201 for w in writes)
    failed_reads = sum(code != 200 for _, _, code in reads)
    lines = [
        f"# Soak on {backend}",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `make soak` (tests/reliability/soak.py): "
        f"the most "
        f"acknowledged writes a second an unpaced burst reached was {max_rate:.0f}; the soak "
        f"ran writes at half that, {max_rate / 2:.0f}/s, and as many reads a second, for "
        f"{last.at / 60:.1f} minutes.",
        "",
        f"- writes: {len(writes)} sent, to {len({w.deal_id for w in writes})} deals; "
        f"{failed_writes} not acknowledged with 201",
        f"- reads: {len(reads)} answered, {failed_reads} not 200",
        f"- memory (RSS): {base.rss / MB:.1f} MB at minute {base.at / 60:.1f}, "
        f"{last.rss / MB:.1f} MB at the end ({(growth - 1) * 100:+.1f}%), "
        f"peak {max(s.rss for s in samples) / MB:.1f} MB; limit +{(leak_ratio - 1) * 100:.0f}%"
        f": **{'LEAK' if leaked else 'no leak'}**",
        "",
        "| minute | writes | write p50 ms | write p99 ms | reads | read p50 ms | read p99 ms "
        "| RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for minute in range(max(1, round(last.at / 60))):  # the drain after the end left out
        lo, hi = started + minute * 60, started + (minute + 1) * 60
        w = [x.latency for x in writes if x.status == 201 and lo <= x.answered_at < hi]
        r = [lat for at, lat, code in reads if code == 200 and lo <= at < hi]
        rss = [s.rss for s in samples if s.at <= (minute + 1) * 60][-1]
        lines.append(f"| {minute + 1} | {len(w)} | {_percentiles(w)} | {len(r)} | "
                     f"{_percentiles(r)} | {rss / MB:.1f} |")
    return "\n".join(lines) + "\n", leaked
