"""What a run leaves behind: the machine, JSON results, a markdown table, and the check of
the quick mode's ratios against those recorded in the repository."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

TOLERANCE = 0.5  # a ratio fails only when it falls more than half below the recorded one
GUARDED = ("ingest_sqlite", "rebuild_sqlite")


def machine(postgres_url: str | None) -> dict[str, Any]:
    import sqlite3

    info: dict[str, Any] = {
        "nproc": os.cpu_count(), "cpu": _cpu_model(), "memory_gb": _memory_gb(),
        "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
        "os": f"{platform.system()} {platform.release()}",
    }
    if postgres_url:
        import psycopg

        with psycopg.connect(postgres_url) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            info["postgresql"] = row[0] if row else "?"
    try:
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
        info["wrk"] = (out.splitlines() or ["?"])[0]
    except OSError:
        info["wrk"] = None
    return info


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def _memory_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def write(results: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(results))


def _ms(r: dict[str, Any]) -> str:
    if "p50_ms" not in r:
        return ""
    return f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f} / {r['max_ms']:.1f}"


def _rate(r: dict[str, Any]) -> str:
    return f"{r['per_s']:,.0f}" if "per_s" in r else ""


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"Run {results['started']} ({results['mode']} mode, load generator "
        f"{results['generator']}): {m['nproc']} CPUs ({m['cpu']}), {m['memory_gb']} GB, "
        f"Python {m['python']}, SQLite {m['sqlite']}"
        + (f", PostgreSQL {m['postgresql']}" if "postgresql" in m else "") + ".",
        "",
        "| scenario | ledger /s | p50 / p99 / max ms | baseline | baseline /s "
        "| baseline p50 / p99 / max ms | ratio |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for name, r in results["scenarios"].items():
        if "baseline" not in r:
            continue
        b = r["baseline"]
        lines.append(f"| {name} | {_rate(r)} | {_ms(r)} | {b['name']} | {_rate(b)} "
                     f"| {_ms(b)} | {r['ratio']:.3f} |")
    lines += ["", "| measure | figure |", "|---|---|"]
    for name, r in results["scenarios"].items():
        lines += _extras(name, r)
    for name, r in results["scenarios"].items():
        if name.startswith("long_history"):
            from exim_ledger_bench.long_history import table

            lines += ["", *table(name, r)]
    return "\n".join(lines) + "\n"


def _extras(name: str, r: dict[str, Any]) -> list[str]:
    out = []
    if name.startswith("reads"):
        for endpoint, figures in r.items():
            out.append(f"| {name} {endpoint}, p50 / p99 / max ms | {_ms(figures)} |")
    elif name.startswith("freshness"):
        out.append(f"| {name}: lag at {r['rate']:,.0f} events/s, p50 / p99 / max ms "
                   f"| {_ms(r)} |")
    elif name.startswith("rss"):
        projector = r.get("projector_mb")
        out.append(f"| {name}: serving processes after {r['events']:,} events | {r['mb']} MB"
                   + (f" (API {r['mb'] - projector:.1f} MB, projector {projector} MB)"
                      if projector else "") + " |")
    elif name.startswith("batches"):
        out.append(f"| {name}: {r['events']:,} events loaded in | {r['seconds']} s; "
                   f"projections caught up {r['caught_up_after_s']} s later |")
    return out


def check(results: dict[str, Any], recorded_path: Path) -> list[str]:
    """The guarded ratios that fell more than ``TOLERANCE`` below the recorded ones."""
    recorded = json.loads(recorded_path.read_text())["ratios"]
    failures = []
    for name in GUARDED:
        if name not in recorded or name not in results["scenarios"]:
            continue
        got, want = results["scenarios"][name]["ratio"], recorded[name]
        if got < want * (1 - TOLERANCE):
            failures.append(f"{name}: ratio {got:.3f} is more than {TOLERANCE:.0%} below "
                            f"the recorded {want:.3f}")
    return failures
