"""``keys create | list | revoke | trail``; the trail names the operating-system user."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, cast

import typer
from rich.console import Console
from rich.table import Column, Table

from service.cli.flags import PlainFlagsGroup
from service.cli.setup import engine_at_head, fail
from service.keys import ROLES, Actor, KeyStore, KeyStoreError, Role

app = typer.Typer(help="API keys", no_args_is_help=True, cls=PlainFlagsGroup)
T = TypeVar("T")
WHOLE = frozenset({"id", "at", "role", "action", "origin"})


def _with_keys(action: Callable[[KeyStore], T], code: int = 2) -> T:
    """``action`` on the key store of a migrated database; a refusal exits with ``code``."""
    with engine_at_head() as (_, engine):
        try:
            return action(KeyStore(engine))
        except KeyStoreError as e:
            raise fail(e.detail, code) from None


def _print(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    """A table whose ids, times and words of a few letters are never cut; names and
    details fold when the terminal is narrow."""
    def column(name: str) -> Column:
        if name in WHOLE or name.endswith("_at"):
            widest = max((len(str(row[name] or "")) for row in rows), default=0)
            return Column(name, no_wrap=True, min_width=max(widest, len(name)))
        return Column(name, overflow="fold")

    table = Table(*map(column, columns))
    for row in rows:
        table.add_row(*(str(row[c] or "") for c in columns))
    Console().print(table)


def _echo_json(answer: dict[str, Any]) -> None:
    typer.echo(json.dumps(answer, indent=2, ensure_ascii=False))


AS_JSON = typer.Option("--json", help="print JSON, as the HTTP API answers")


def _role(value: str) -> Role:
    if value not in ROLES:
        raise typer.BadParameter(f"{value!r} is not a role; the roles are {', '.join(ROLES)}")
    return cast(Role, value)


@app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(parser=_role, metavar=f"<{'|'.join(ROLES)}>",
                                       help="what the key may do")],
    name: Annotated[str, typer.Option(
        help="the key's name; recorded as the actor of its events")],
) -> None:
    """Create a key; its secret is printed once, alone on the last line."""
    created = _with_keys(lambda keys: keys.create(role, name, Actor.os_user("cli")))
    typer.echo(f"created {role} key {name!r}; keep the secret, it is not shown again:")
    typer.echo(created["secret"])


@app.command("list")
def keys_list(as_json: Annotated[bool, AS_JSON] = False) -> None:
    """List keys (never their secrets)."""
    keys = _with_keys(KeyStore.list)
    if as_json:
        _echo_json({"keys": keys})
    else:
        _print(("name", "role", "created_at", "revoked_at"), keys)


@app.command("revoke")
def keys_revoke(name: str) -> None:
    """Revoke a key; every instance refuses it within a second, for good."""
    _with_keys(lambda keys: keys.revoke(name, Actor.os_user("cli")), code=1)
    typer.echo(f"revoked {name!r}")


@app.command("trail")
def keys_trail(
    name: Annotated[str | None, typer.Option(help="one key's entries only")] = None,
    after: Annotated[int, typer.Option(min=0, help="entries after this id")] = 0,
    limit: Annotated[int, typer.Option(min=1, help="at most this many entries")] = 1000,
    as_json: Annotated[bool, AS_JSON] = False,
) -> None:
    """Who created, revoked or tried to bootstrap which key, when and from where."""
    entries = _with_keys(lambda keys: keys.trail(name, after, limit))
    if as_json:
        _echo_json({"entries": entries, "next_after": entries[-1]["id"] if entries else after})
    else:
        _print(("id", "at", "name", "action", "actor", "origin", "detail"), entries)
