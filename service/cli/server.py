"""``migrate`` and ``serve``."""

from __future__ import annotations

import os
import sys
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


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to bind"),
    port: int = typer.Option(8000, help="TCP port"),
    workers: int = typer.Option(1, help="worker processes"),
) -> None:
    """Serve the HTTP API."""
    import uvicorn

    with ledger_session(start=True) as (_, _engine, settings):
        pass  # refuses an unmigrated database or a policy it cannot adopt, in one line
    base = f"http://{host}:{port}"
    err.print(f"ExportAI Deal Ledger on {base}  (database: {_safe(settings.database_url)})")
    err.print(f"  API docs:   {base}/docs")
    err.print(f"  API key:    {_command()} keys create --role admin --name <you>")
    uvicorn.run("service.api.app:create_app", factory=True, host=host, port=port,
                workers=workers, log_level=os.environ.get("LEDGER_LOG_LEVEL", "info"))


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
