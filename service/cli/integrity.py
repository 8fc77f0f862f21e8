"""``exim-ledger verify``, ``export`` and ``import``: integrity from the command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, TextIO
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from service.cli.setup import err, fail, ledger_session

app = typer.Typer()


def _progress(what: str) -> Progress:
    return Progress(TextColumn(f"[bold]{what}[/bold]"), BarColumn(),
                    TextColumn("position"), MofNCompleteColumn(),
                    TextColumn("{task.fields[events]} events"), TimeElapsedColumn(),
                    console=err, transient=False)


def _reading(lines: Iterable[str], bar: Progress, task: TaskID) -> Iterator[str]:
    """``lines``, moving the bar by their bytes (every few hundred lines: cheap)."""
    done = count = 0
    for line in lines:
        done += len(line.encode("utf-8", "surrogatepass"))
        count += 1
        if count % 256 == 0:
            bar.update(task, completed=done, lines=count)
        yield line
    bar.update(task, completed=done, lines=count)


@app.command()
def verify(
    deal_id: Annotated[str | None, typer.Option("--deal-id", help="one deal only")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Check every stored event's hash, chain link, version and Merkle leaf.

    Recomputes from the rows as stored; exit status 1 on any failure."""
    from service.integrity.verification import verify as run

    deal = None
    if deal_id is not None:
        try:
            deal = UUID(deal_id)
        except ValueError:
            raise fail(f"{deal_id!r} is not a deal id") from None
    with ledger_session() as (ledger, engine, _), _progress("verifying") as bar:
        task = bar.add_task("verify", total=ledger.store.head() or None, events=0)

        def progress(checked: int, position: int) -> None:
            bar.update(task, completed=position, events=checked)

        report = run(ledger.store, engine, deal, progress=progress)
        bar.update(task, completed=bar.tasks[0].total or 0)
    if deal is not None and report.events_checked == 0:
        raise fail(f"no deal {deal} in the ledger: nothing to verify")
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    elif report.failures:
        table = Table("deal_id", "version", "position", "reason", "detail", title="failures")
        for f in report.failures:
            table.add_row(str(f.deal_id), str(f.version), str(f.position), f.reason, f.detail)
        Console().print(table)
    if not report.ok:
        more = " (first 1000 listed)" if report.failures_total > len(report.failures) else ""
        err.print(f"[red]NOT verified:[/red] {report.failures_total} failure(s){more} in "
                  f"{report.events_checked} events")
        raise typer.Exit(1)
    err.print(f"[green]verified[/green] {report.events_checked} events: hashes, chains, "
              "versions and Merkle leaves")


@app.command()
def export(
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="file to write (default: standard output)")] = None,
    after: Annotated[int, typer.Option(
        min=0, help="only the events after this position: an incremental export, the lines "
                    "that follow an earlier export's")] = 0,
) -> None:
    """Write the log (envelopes with hashes) as JSON Lines, in position order."""
    from service.integrity.transfer import export_lines

    with ledger_session() as (ledger, _, _settings), _progress("exporting") as bar:
        task = bar.add_task("export", total=ledger.store.head() or None, events=0)

        def progress(count: int, position: int) -> None:
            bar.update(task, completed=position, events=count)

        handle: TextIO = (open(output, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
                          if output else sys.stdout)
        try:
            for line in export_lines(ledger.store, after, progress=progress):
                handle.write(line)
            handle.flush()
        finally:
            if output:
                handle.close()
    if output:
        err.print(f"exported to {output}")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="a JSON Lines export; - for standard input")],
    expect_root: Annotated[str | None, typer.Option(
        "--expect-root", help="refuse unless the file's Merkle root is this (hex), e.g. the "
                              "source ledger's signed digest root")] = None,
) -> None:
    """Replay an export into an empty ledger, or continue a ledger that holds exactly the
    file's first events (a whole export, then the incremental ones after it, concatenated).

    Checks every hash and chain link, and the Merkle root of the events the ledger holds,
    first. Keeps ids, versions, times, actors and hashes; a file that fails writes nothing."""
    from service.integrity.transfer import ImportRefused, LedgerNotEmpty, import_log

    stdin = str(file) == "-"
    if not stdin and not file.is_file():
        raise fail(f"no file {file}")
    bar = Progress(TextColumn("[bold]importing[/bold]"), BarColumn(), DownloadColumn(),
                   TextColumn("{task.fields[lines]} lines"), TimeElapsedColumn(), console=err)
    with ledger_session() as (ledger, _, _settings), bar:
        handle: TextIO = (sys.stdin if stdin
                          else open(file, encoding="utf-8", newline="\n"))  # noqa: SIM115
        task = bar.add_task("import", total=None if stdin else file.stat().st_size, lines=0)
        try:
            result = import_log(ledger.store, _reading(handle, bar, task), expect_root)
            ledger.rebuild_guards()
        except ImportRefused as e:
            err.print(f"[red]refused, nothing imported:[/red] line {e.line}: {e.reason}",
                      soft_wrap=True)
            raise typer.Exit(1) from None
        except LedgerNotEmpty as e:
            err.print(f"[red]refused:[/red] {e.detail}")
            raise typer.Exit(1) from None
        except UnicodeDecodeError as e:
            err.print(f"[red]refused, nothing imported:[/red] the file is not UTF-8 ({e})")
            raise typer.Exit(1) from None
        finally:
            if handle is not sys.stdin:
                handle.close()
    if result.held:
        typer.echo(f"the ledger held the file's first {result.held} events; their Merkle "
                   f"root, recomputed from the ledger, is the file's: {result.held_root}")
    typer.echo(f"imported {result.events} events of {result.deals} deals up to position "
               f"{result.last_position}; Merkle root {result.root}")
