"""Soak: a real ``exim-ledger serve`` under mixed reads and writes for a long while.

Finds the most writes a second the server acknowledges (a short unpaced burst), then runs
writes at half that rate, and as many reads a second beside them, for ``--seconds``. The
writes are the reliability tests' seeded valid event streams (tests/reliability/load.py).
It samples the server's resident memory every 10 s and reports, per minute, the requests
answered, p50/p99 latency and memory; it fails on a leak: memory at the end more than 20%
above its value at minute 2 (a fifth of the way in, in a run shorter than ten minutes),
or when the load met an error. The server's deal cache is bounded (``--cache-size``
deals, LEDGER_AGGREGATE_CACHE_SIZE) small enough to be full by minute 2, so that what the check
sees is unbounded growth, not a bounded cache filling up: at the default bound of 10,000
deals a ten-minute soak never fills it.

    make soak [SOAK_SECONDS=600]
    .venv/bin/python -m tests.reliability.soak [--seconds 600] [--postgres URL]
        [--output docs/soak.md] [--cache-size 500]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from exim_ledger_bench.server import CLI, LedgerProcess

from tests.conftest import BOOTSTRAP, KEYS
from tests.reliability.load import Load
from tests.reliability.soak_report import WARM_SECONDS, Sample, report

PROBE_SECONDS = 30.0
SAMPLE_SECONDS = 10.0
WORKERS = 16
LEAK_RATIO = 1.2
CACHE_SIZE = 500
FULL_SECONDS = 600.0  # a run this long is the one docs/soak.md records


class Pacer:
    """At most ``rate`` calls a second, spread evenly, across threads."""

    def __init__(self, rate: float) -> None:
        self.interval, self.next = 1.0 / rate, time.monotonic()
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            slot = self.next = max(self.next + self.interval, time.monotonic())
        time.sleep(max(0.0, slot - time.monotonic()))


@dataclass
class Reads:
    """Readers of deal states, streams, the log and the portfolio, paced like the writes."""

    url: str
    load: Load
    pace: Callable[[], None]
    stop: threading.Event = field(default_factory=threading.Event)
    answered: list[tuple[float, float, int]] = field(default_factory=list)  # at, latency, code

    def start(self, threads: int) -> list[threading.Thread]:
        started = [threading.Thread(target=self._read, args=(n,), daemon=True)
                   for n in range(threads)]
        for t in started:
            t.start()
        return started

    def _read(self, n: int) -> None:
        rng = random.Random(n)
        headers = {"Authorization": f"Bearer {KEYS['reader']}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=30.0) as http:
            while not self.stop.is_set():
                self.pace()
                path, params = self._pick(rng)
                started = time.monotonic()
                try:
                    code = http.get(path, params=params).status_code
                except httpx.TransportError:
                    code = 0
                self.answered.append((time.monotonic(), time.monotonic() - started, code))

    def _pick(self, rng: random.Random) -> tuple[str, dict[str, int]]:
        acked = self.load.recorder.acknowledged()
        choice = rng.randrange(4) if acked else 3
        if choice == 0:
            return f"/v1/deals/{rng.choice(acked).deal_id}", {}
        if choice == 1:
            return f"/v1/deals/{rng.choice(acked).deal_id}/events", {}
        if choice == 2:
            after = max(0, int(rng.choice(acked).response["position"]) - 50)  # type: ignore[index]
            return "/v1/events", {"after": after, "limit": 100}
        return "/v1/portfolio", {}


def rss_bytes(pid: int) -> int:
    """The resident memory of ``pid`` and its children (a server with workers), from /proc."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        group = int(stat.rsplit(")", 1)[1].split()[2])  # the process group id
        if group == pid:
            rss = [line for line in status.splitlines() if line.startswith("VmRSS:")]
            total += int(rss[0].split()[1]) * 1024 if rss else 0
    return total


def probe(url: str, seconds: float) -> float:
    """Acknowledged writes a second with nothing holding the clients back."""
    load = Load([url], seed=1, workers=WORKERS)
    load.start()
    time.sleep(seconds)
    load.stop.set()
    load.join(120.0)
    acked = load.recorder.acknowledged()
    half = min(r.answered_at for r in acked) + seconds / 3  # leave the warm-up out
    later = [r for r in acked if r.answered_at >= half]
    span = max(r.answered_at for r in later) - half
    return len(later) / span


def empty_postgres(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def soak(url: str, pid: int, seconds: float,
         rate: float) -> tuple[float, list[Sample], Load, Reads]:
    load = Load([url], seed=2, workers=WORKERS, pace=Pacer(rate))
    reads = Reads(url, load, Pacer(rate))
    started = time.monotonic()
    load.start()
    readers = reads.start(WORKERS)
    samples = [Sample(0.0, rss_bytes(pid))]
    end = started + seconds
    every = min(SAMPLE_SECONDS, seconds / 10)  # enough samples in a short run
    while (now := time.monotonic()) < end:
        time.sleep(min(every, end - now))
        samples.append(Sample(time.monotonic() - started, rss_bytes(pid)))
    load.stop.set()
    reads.stop.set()
    load.join(120.0)
    for t in readers:
        t.join(60.0)
    return started, samples, load, reads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--postgres", help="a PostgreSQL URL whose database will be emptied")
    ap.add_argument("--output", type=Path,
                    help="the report: docs/soak.md after a full soak, else var/soak.md")
    ap.add_argument("--probe-seconds", type=float,
                    help=f"the unpaced burst: {PROBE_SECONDS:g} s, or half a shorter soak")
    ap.add_argument("--cache-size", type=int, default=CACHE_SIZE,
                    help="deals the server keeps cached (full well before minute 2)")
    args = ap.parse_args()
    full = args.seconds >= FULL_SECONDS
    output = args.output or Path("docs/soak.md" if full else "var/soak.md")
    probe_seconds = args.probe_seconds or min(PROBE_SECONDS, max(5.0, args.seconds / 2))
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    url = args.postgres or f"sqlite:///{tmp}/ledger.db"
    if args.postgres:
        empty_postgres(args.postgres)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")} | {
        "LEDGER_DATABASE_URL": url, "LEDGER_BOOTSTRAP_KEYS": BOOTSTRAP,
        "LEDGER_LOG_LEVEL": "warning", "LEDGER_AGGREGATE_CACHE_SIZE": str(args.cache_size)}
    subprocess.run([str(CLI), "migrate"], env=env, check=True, capture_output=True)
    server = LedgerProcess(env, tmp)
    server.start()
    try:
        max_rate = probe(server.url, probe_seconds)
        print(f"max rate {max_rate:.0f} writes/s; soaking at {max_rate / 2:.0f} writes/s "
              f"and as many reads/s for {args.seconds:g} s", flush=True)
        started, samples, load, reads = soak(server.url, server.pid, args.seconds, max_rate / 2)
    finally:
        server.stop()
    backend = "PostgreSQL" if args.postgres else "SQLite"
    backend += f" (deal cache {args.cache_size})"
    text, leaked = report(backend, max_rate, started, samples, load.recorder.snapshot(),
                          reads.answered, LEAK_RATIO, min(WARM_SECONDS, args.seconds / 5))
    print(text)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    raise SystemExit(1 if leaked or load.errors else 0)


if __name__ == "__main__":
    main()
