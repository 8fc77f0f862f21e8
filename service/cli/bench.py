"""``bench``: the benchmark suite, each scenario side by side with its baseline. The suite
is a package of its own (``bench/`` in the repository, ``exim-ledger-bench``), imported only
when the command runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from service.cli.setup import err, fail

app = typer.Typer()


@app.command()
def bench(
    quick: Annotated[bool, typer.Option(
        "--quick", help="SQLite only, small scale, under 90 s: the ingest and rebuild ratios, "
                        "checked against --baseline")] = False,
    database: Annotated[str | None, typer.Option(
        "--database", help="also run on this PostgreSQL database, which the bench EMPTIES "
                           "(drops its public schema) before each scenario")] = None,
    scenario: Annotated[list[str] | None, typer.Option(
        "--scenario", help="ingest, workers2, loaded or long-history (repeatable; default: "
                           "all, and all but long-history with --quick)")] = None,
    deals: Annotated[int | None, typer.Option(
        "--deals", min=100, help="deals (x10 events) in the loaded ledger; default 100,000, "
                                 "500 in quick mode")] = None,
    max_events: Annotated[int, typer.Option(
        "--max-events", min=10, help="long-history: the longest deals measured, of 10, 100, "
                                     "1,000 and 5,000 money events (1000: a few minutes)")
    ] = 5_000,
    out: Annotated[Path, typer.Option(
        "--out", help="the JSON results; a markdown table is written next to it (.md)")
    ] = Path("bench/results/latest.json"),
    baseline: Annotated[Path, typer.Option(
        "--baseline", help="the recorded ratios the quick mode must stay near")
    ] = Path("bench/baseline.json"),
) -> None:
    """Measure the ledger against its baselines in one run (see docs/performance.md)."""
    try:
        from exim_ledger_bench import report
        from exim_ledger_bench.run import GROUPS, QUICK_GROUPS, run
    except ModuleNotFoundError as e:
        if e.name != "exim_ledger_bench":
            raise
        raise fail("the benchmark is not installed: from the repository, run "
                   "`pip install -e bench` (make's set-up installs it)") from None

    groups = scenario or list(QUICK_GROUPS if quick else GROUPS)
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise fail(f"unknown scenario {', '.join(sorted(unknown))}; known: {', '.join(GROUPS)}")
    if database and not database.startswith(("postgresql://", "postgres://")):
        raise fail("--database takes a postgresql:// URL (SQLite runs in a temporary folder)")
    results = run(quick=quick, postgres_url=database, groups=groups, deals=deals,
                  max_events=max_events, say=lambda line: err.print(line))
    report.write(results, out)
    typer.echo(report.markdown(results))
    failures = report.check(results, baseline) if quick and baseline.exists() else []
    for failure in failures:
        err.print(f"[red]regression:[/red] {failure}")
    if failures:
        raise typer.Exit(1)
    err.print(f"results in {out} ({results['seconds']} s); "
              f"ratios: {json.dumps(_ratios(results))}")


def _ratios(results: dict[str, object]) -> dict[str, float]:
    found = results["scenarios"]
    assert isinstance(found, dict)
    return {name: r["ratio"] for name, r in found.items() if "ratio" in r}
