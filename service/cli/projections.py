"""``project`` and ``rebuild``: the projection runner outside the API process."""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING, Annotated, Literal, get_args

import typer

from projections.registry import NAMES
from service.cli.setup import err, fail, ledger_session

if TYPE_CHECKING:
    from projections.runner import Runner
    from service.ledger import Ledger

# a projection, or every one in a single pass
RebuildTarget = Literal["deals", "portfolio", "exposure", "audit", "merkle", "all"]
TARGETS: tuple[str, ...] = get_args(RebuildTarget)
assert set(TARGETS) == {*NAMES, "all"}

app = typer.Typer()


HEAD_POLL_SECONDS = 0.02  # SQLite has no NOTIFY: how often a projector looks for new events


@app.command()
def project() -> None:
    """Run the projection runner in the foreground (for deployments with several API
    instances: set LEDGER_PROJECTIONS_IN_PROCESS=false on them). Stop with Ctrl-C."""
    from service import logs
    from service.api.app import build_runner
    from service.cli.projector import say_ready, watch_parent

    with ledger_session(start=True) as (ledger, engine, settings):
        logs.configure(settings.log_level, settings.log_format)
        runner = build_runner(settings, ledger, engine)
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        watch_parent(done)
        runner.start()
        if not runner.is_postgres:  # PostgreSQL wakes the runner with NOTIFY
            threading.Thread(target=_wake_on_new_events, args=(ledger, runner, done),
                             name="head-poll", daemon=True).start()
        if settings.log_format == "json":
            logging.getLogger("exim_ledger").info(
                "projecting", extra={"projections": sorted(runner.projections)})
            say_ready()
        elif not say_ready():  # started by ``serve``, which says how to stop
            err.print(f"projecting {', '.join(runner.projections)}; Ctrl-C to stop")
        try:
            while not done.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            runner.stop()


def _wake_on_new_events(ledger: Ledger, runner: Runner, done: threading.Event) -> None:
    """Wake the runner as soon as the log grows (the API's appends happen in other
    processes): one cheap query for the log's head every ``HEAD_POLL_SECONDS``."""
    seen = -1
    while not done.wait(HEAD_POLL_SECONDS):
        try:
            head = ledger.store.head()
        except Exception:  # the runner reports the database; poll again
            continue
        if head != seen:
            seen = head
            runner.wake.set()


@app.command()
def rebuild(
    name: Annotated[RebuildTarget, typer.Argument(help=f"one of {', '.join(TARGETS)}")],
) -> None:
    """Rebuild one projection from the log into fresh tables, then swap them in; ``all``
    rebuilds every projection in one pass over the log."""
    from rich.progress import Progress

    from service.api.app import build_runner

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
