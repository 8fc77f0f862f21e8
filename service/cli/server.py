"""``migrate`` and ``serve``."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import typer

from service.cli.setup import err, ledger_session
from service.settings import Settings

app = typer.Typer()


@app.command()
def migrate() -> None:
    """Create or upgrade every table (alembic) to the current head."""
    from service.db import head_revision
    from service.db import migrate as run

    settings = Settings()
    run(settings)
    typer.echo(f"database at revision {head_revision(settings)}")
    with ledger_session() as (ledger, _engine, _settings):
        deals = ledger.rebuild_guards()
    typer.echo(f"guards rebuilt from {deals} deals")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to bind"),
    port: int = typer.Option(8000, help="TCP port"),
    workers: int = typer.Option(1, help="worker processes"),
) -> None:
    """Serve the HTTP API."""
    import uvicorn

    from service import logs

    with ledger_session(start=True) as (_, _engine, settings):
        pass  # refuses an unmigrated database or a policy it cannot adopt, in one line
    metrics_dir = prepare_metrics_dir(workers)
    base = f"http://{host}:{port}"
    logs.configure(settings.log_level, settings.log_format)
    if settings.log_format == "json":  # every line of stderr is then a JSON object
        logging.getLogger("exim_ledger").info(
            "serving", extra={"url": base, "database": _safe(settings.database_url),
                              "workers": workers})
    else:
        err.print(f"ExportAI Deal Ledger on {base}  (database: {_safe(settings.database_url)})",
                  soft_wrap=True)
        err.print(f"  API docs:   {base}/docs")
        err.print(f"  API key:    {_command()} keys create --role admin --name <you>",
                  soft_wrap=True)
    projector = None
    try:
        if settings.projections_in_process and settings.projector == "process":
            from service.cli.projector import Projector

            projector = Projector()
            projector.start()
            # workers read their settings from the environment: they leave projecting to it
            os.environ["LEDGER_PROJECTIONS_IN_PROCESS"] = "false"
        # our middleware writes the access log, with the request's fields
        uvicorn.run("service.api.served:create", factory=True, host=host, port=port,
                    workers=workers, log_level=settings.log_level, log_config=None,
                    access_log=False)
    finally:
        if projector is not None:
            projector.stop()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def prepare_metrics_dir(workers: int) -> Path | None:
    """Empty ``PROMETHEUS_MULTIPROC_DIR`` (an earlier run's files would add to this run's
    counts); with several workers and none set, use a new temporary one, returned so that
    it is removed at exit. Workers inherit the variable: they count into files there."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        return None
    if workers <= 1:
        return None
    created = Path(tempfile.mkdtemp(prefix="ledger-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(created)
    return created


def _command() -> str:
    """How to run this command again, as the user can type it from here."""
    path = Path(sys.argv[0])
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return path.name if path.parent == Path(".") else str(path)


def _safe(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
