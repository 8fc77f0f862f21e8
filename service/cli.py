"""The ``exim-ledger`` command line."""

from __future__ import annotations

import os

import typer
from rich.console import Console
from rich.table import Table

from service.cli_integrity import register as register_integrity
from service.settings import Settings

app = typer.Typer(help="ExportAI Deal Ledger", no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="API keys", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
err = Console(stderr=True)


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

    from service.db import MigrationsNotAtHead, check_at_head, create_engine

    settings = Settings()
    engine = create_engine(settings)
    try:
        check_at_head(settings, engine)
    except MigrationsNotAtHead as e:
        err.print(f"[red]refusing to start:[/red] {e}")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    base = f"http://{host}:{port}"
    err.print(f"ExportAI Deal Ledger on {base}  (database: {_safe(settings.database_url)})")
    err.print(f"  API docs:   {base}/docs")
    err.print(f"  API key:    {_command()} keys create --role admin --name <you>")
    uvicorn.run("service.app:create_app", factory=True, host=host, port=port,
                workers=workers, log_level=os.environ.get("LEDGER_LOG_LEVEL", "info"))


def _command() -> str:
    """How to run this command again, as the user can type it from here."""
    import sys
    from pathlib import Path

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


def _keys():  # type: ignore[no-untyped-def]
    from service.auth import KeyStore
    from service.db import check_at_head, create_engine

    settings = Settings()
    engine = create_engine(settings)
    check_at_head(settings, engine)
    return KeyStore(engine)


@keys_app.command("create")
def keys_create(
    role: str = typer.Option(..., help="writer | reader | auditor | admin"),
    name: str = typer.Option(..., help="the key's name; recorded as the actor of its events"),
) -> None:
    """Create a key; its secret is printed once, alone on the last line."""
    from service.auth import KeyError_

    try:
        secret = _keys().create(role, name)
    except KeyError_ as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    typer.echo(f"created {role} key {name!r}; keep the secret, it is not shown again:")
    typer.echo(secret)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""
    table = Table("name", "role", "created_at", "revoked_at")
    for k in _keys().list():
        table.add_row(str(k["name"]), str(k["role"]), str(k["created_at"]),
                      str(k["revoked_at"] or ""))
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(name: str) -> None:
    """Revoke a key; every instance refuses it within a second."""
    if not _keys().revoke(name):
        err.print(f"[red]error:[/red] no active key named {name!r}")
        raise typer.Exit(1)
    typer.echo(f"revoked {name!r}")


def main() -> None:
    app()


def _runner():  # type: ignore[no-untyped-def]
    from service.app import build_ledger, build_runner
    from service.db import check_at_head, create_engine

    settings = Settings()
    engine = create_engine(settings)
    check_at_head(settings, engine)
    ledger = build_ledger(settings)
    return build_runner(settings, ledger, engine), ledger


@app.command()
def project() -> None:
    """Run the projection runner in the foreground (for deployments with several API
    instances: set LEDGER_PROJECTIONS_IN_PROCESS=false on them). Stop with Ctrl-C."""
    import signal
    import threading

    runner, ledger = _runner()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    runner.start()
    err.print(f"projecting {', '.join(runner.projections)}; Ctrl-C to stop")
    try:
        while not done.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()
        ledger.close()


@app.command()
def rebuild(name: str) -> None:
    """Rebuild one projection from the log into fresh tables, then swap them in."""
    from rich.progress import Progress

    runner, ledger = _runner()
    if name not in runner.projections:
        known = ", ".join(runner.projections)
        err.print(f"[red]error:[/red] no projection {name!r}; known: {known}")
        raise typer.Exit(2)
    with Progress(console=err) as bar:
        task = bar.add_task(f"rebuilding {name}", total=None)

        def progress(position: int, head: int) -> None:
            bar.update(task, completed=position, total=head)

        position = runner.rebuild(name, progress)
    ledger.close()
    typer.echo(f"{name} rebuilt up to position {position}")


register_integrity(app)
