"""``project`` and ``rebuild``: the projection runner outside the API process."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated, Literal, get_args

import typer

from projections.registry import NAMES
from service.cli.setup import err, fail, ledger_session

# a projection, or every one in a single pass
RebuildTarget = Literal["deals", "portfolio", "exposure", "audit", "merkle", "all"]
TARGETS: tuple[str, ...] = get_args(RebuildTarget)
assert set(TARGETS) == {*NAMES, "all"}

app = typer.Typer()


@app.command()
def project() -> None:
    """Run the projection runner in the foreground (for deployments with several API
    instances: set LEDGER_PROJECTIONS_IN_PROCESS=false on them). Stop with Ctrl-C."""
    from service import logs
    from service.bootstrap import build_runner
    from service.cli.projector import say_ready, watch_parent

    with ledger_session(start=True) as (ledger, engine, settings):
        logs.configure(settings.log_level, settings.log_format)
        runner = build_runner(settings, ledger, engine)
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        watch_parent(done)
        runner.start(writers_elsewhere=True)
        started_by_serve = say_ready()
        if settings.log_format == "json":
            logging.getLogger("exim_ledger").info(
                "projecting", extra={"projections": sorted(runner.projections)})
        elif not started_by_serve:  # ``serve`` says how to stop itself
            err.print(f"projecting {', '.join(runner.projections)}; Ctrl-C to stop")
        try:
            while not done.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            runner.stop()


@app.command()
def rebuild(
    name: Annotated[RebuildTarget, typer.Argument(help=f"one of {', '.join(TARGETS)}")],
) -> None:
    """Rebuild one projection from the log into fresh tables, then swap them in; ``all``
    rebuilds every projection in one pass over the log."""
    from rich.progress import Progress

    from service.bootstrap import build_runner

    with ledger_session() as (ledger, engine, settings):
        runner = build_runner(settings, ledger, engine)
        if name not in runner.projections and name != "all":
            raise fail(f"no projection {name!r}; known: {', '.join(runner.projections)}")
        with Progress(console=err) as bar:
            task = bar.add_task(f"rebuilding {name}", total=None)

            def progress(position: int, head: int) -> None:
                bar.update(task, completed=position, total=head)

            position = (runner.rebuild_all(progress) if name == "all"
                        else runner.rebuild(name, progress))
    typer.echo(f"{name} rebuilt up to position {position}")
