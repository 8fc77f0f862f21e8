"""``keys create | list | revoke``."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from service.cli.setup import engine_at_head, fail
from service.keys import KeyStore, KeyStoreError

app = typer.Typer(help="API keys", no_args_is_help=True)


@app.command("create")
def keys_create(
    role: str = typer.Option(..., help="writer | reader | auditor | admin"),
    name: str = typer.Option(..., help="the key's name; recorded as the actor of its events"),
) -> None:
    """Create a key; its secret is printed once, alone on the last line."""
    with engine_at_head() as (_, engine):
        try:
            secret = KeyStore(engine).create(role, name)
        except KeyStoreError as e:
            raise fail(str(e)) from None
    typer.echo(f"created {role} key {name!r}; keep the secret, it is not shown again:")
    typer.echo(secret)


@app.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""
    with engine_at_head() as (_, engine):
        keys = KeyStore(engine).list()
    table = Table("name", "role", "created_at", "revoked_at")
    for k in keys:
        table.add_row(str(k["name"]), str(k["role"]), str(k["created_at"]),
                      str(k["revoked_at"] or ""))
    Console().print(table)


@app.command("revoke")
def keys_revoke(name: str) -> None:
    """Revoke a key; every instance refuses it within a second."""
    with engine_at_head() as (_, engine):
        revoked = KeyStore(engine).revoke(name)
    if not revoked:
        raise fail(f"no active key named {name!r}", 1)
    typer.echo(f"revoked {name!r}")
