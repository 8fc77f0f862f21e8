"""``bench``: the benchmark suite, each scenario side by side with its baseline."""

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
        "--scenario", help="ingest, workers2 or loaded (repeatable; default: all)")] = None,
    deals: Annotated[int | None, typer.Option(
        "--deals", min=100, help="deals (x10 events) in the loaded ledger; default 100,000, "
                                 "500 in quick mode")] = None,
    out: Annotated[Path, typer.Option(
        "--out", help="the JSON results; a markdown table is written next to it (.md)")
    ] = Path("bench/results/latest.json"),
    baseline: Annotated[Path, typer.Option(
        "--baseline", help="the recorded ratios the quick mode must stay near")
    ] = Path("bench/baseline.json"),
) -> None:
    """Measure the ledger against its baselines in one run (see docs/performance.md)."""
    from service.bench import report
    from service.bench.run import GROUPS, run

    groups = scenario or list(GROUPS)
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise fail(f"unknown scenario {', '.join(sorted(unknown))}; known: {', '.join(GROUPS)}")
    if database and not database.startswith(("postgresql://", "postgres://")):
        raise fail("--database takes a postgresql:// URL (SQLite runs in a temporary folder)")
    results = run(quick=quick, postgres_url=database, groups=groups, deals=deals,
                  say=lambda line: err.print(line))
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
