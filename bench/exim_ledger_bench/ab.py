"""Two revisions of the ledger measured side by side: ``python -m exim_ledger_bench.ab``.

What a change costs is the difference between the code with it and the code without it,
measured in one sitting on one machine. Each revision is checked out into a temporary
worktree; the quick bench's ingest scenario runs on each in turn (A, B, A, B, ...) with
the revision first on ``PYTHONPATH``, so both are driven by this same harness; the
medians of the ingest ratio (ledger / no-op app, same run) are compared.

    python -m exim_ledger_bench.ab --before b5ce243^1 --after HEAD --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def _measure(tree: Path, out: Path, scenario: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, "-m", "service.cli", "bench", "--quick",
                    "--scenario", scenario, "--out", str(out),
                    "--baseline", str(tree / "bench" / "baseline.json")],
                   cwd=tree, env=env, check=False, stdout=subprocess.DEVNULL)
    result: dict[str, Any] = json.loads(out.read_text())["scenarios"][f"{scenario}_sqlite"]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the revision without the change")
    parser.add_argument("--after", default="HEAD", help="the revision with it")
    parser.add_argument("--runs", type=int, default=5, help="runs of each, alternating")
    parser.add_argument("--scenario", default="ingest")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)

    revisions = {"before": _git("rev-parse", args.before), "after": _git("rev-parse", args.after)}
    figures: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="exim-ab-") as work:
        trees = {name: Path(work) / name for name in revisions}
        for name, rev in revisions.items():
            _git("worktree", "add", "--detach", str(trees[name]), rev)
        try:
            for run in range(args.runs):
                for name in ("before", "after") if run % 2 == 0 else ("after", "before"):
                    got = _measure(trees[name], Path(work) / f"{name}-{run}.json",
                                   args.scenario)
                    figures[name].append(got)
                    print(f"run {run + 1} {name}: {got['per_s']}/s, ratio {got['ratio']}",
                          flush=True)
        finally:
            for tree in trees.values():
                _git("worktree", "remove", "--force", str(tree))
    medians = {name: statistics.median(r["ratio"] for r in runs)
               for name, runs in figures.items()}
    change = medians["after"] / medians["before"] - 1
    summary = {"revisions": revisions, "runs": args.runs, "scenario": args.scenario,
               "ratios": {n: [r["ratio"] for r in runs] for n, runs in figures.items()},
               "per_s": {n: [r["per_s"] for r in runs] for n, runs in figures.items()},
               "median_ratio": medians, "change": round(change, 4)}
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
