"""One bench run: which scenarios on which databases, in order, into one result."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exim_ledger_bench import load, report, scenarios
from exim_ledger_bench.ledger import Target
from exim_ledger_bench.long_history import levels, long_history

GROUPS = ("ingest", "workers2", "loaded", "long-history")
QUICK_GROUPS = ("ingest", "workers2", "loaded")  # the long history takes minutes
FALLBACK_MAX_RATE = 200.0  # events/s, when the ingest scenario did not run first
Say = Callable[[str], None]


def run(*, quick: bool, postgres_url: str | None, groups: Sequence[str], deals: int | None,
        say: Say, max_events: int = 5_000) -> dict[str, Any]:
    scale = scenarios.QUICK if quick else scenarios.FULL
    if deals:
        scale = dataclasses.replace(scale, deals=deals)
    kinds = ["sqlite"] + (["postgresql"] if postgres_url and not quick else [])
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if quick else "full", "generator": load.generator(),
        "machine": report.machine(postgres_url),
        "scale": vars(scale) | {"max_events": max_events}, "scenarios": {}}
    found = results["scenarios"]
    began = time.perf_counter()

    def stamped(line: str) -> None:
        say(f"[{time.perf_counter() - began:6.0f} s] {line}")

    with tempfile.TemporaryDirectory(prefix="exim-bench-") as tmp:
        for kind in kinds:
            target = Target(kind, Path(tmp), postgres_url if kind == "postgresql" else None)
            if "ingest" in groups:
                stamped(f"{kind}: single-event posts, 32 connections, against the no-op app")
                found[f"ingest_{kind}"] = scenarios.ingest(target, scale)
            if "workers2" in groups and kind == "postgresql":
                stamped(f"{kind}: the same with --workers 2 and a separate exim-ledger project")
                found[f"ingest_{kind}_workers2"] = scenarios.ingest(target, scale, workers=2)
            if "loaded" in groups:
                rate = found.get(f"ingest_{kind}", {}).get("per_s", FALLBACK_MAX_RATE)
                stamped(f"{kind}: loading {scale.deals:,} deals x 10 events through /v1/batches")
                for name, r in scenarios.loaded(target, scale, rate, stamped).items():
                    found[f"{name}_{kind}"] = r
            if "long-history" in groups:
                stamped(f"{kind}: long history, deals holding "
                        f"{', '.join(f'{n:,}' for n in levels(max_events))} money events")
                found[f"long_history_{kind}"] = long_history(target, scale.seconds, max_events,
                                                             stamped)
    results["seconds"] = round(time.perf_counter() - began, 1)
    return results
