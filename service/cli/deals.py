"""``deals unscreened``: what the desks still owe the deals, read from the deals read model."""

from __future__ import annotations

import json
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from rich import box
from rich.console import Console
from rich.table import Column, Table

from service.cli.flags import PlainFlagsGroup
from service.cli.setup import err, ledger_session

app = typer.Typer(help="Deals, as the deals read model shows them", no_args_is_help=True,
                  cls=PlainFlagsGroup)


@app.command("unscreened")
def unscreened(
    as_json: Annotated[bool, typer.Option("--json", help="print the list as JSON")] = False,
) -> None:
    """List the open deals (not closed, not cancelled, repaid or claimed) whose buyer, or
    end user when it is another, has no screening (PartyScreened) at all: before their
    next financing or disbursement the licensing desk screens them (SPEC v3).

    Reads the deals read model (the projection the API lists deals from), not the log:
    the answer is as of the projection's position, which it reports with the log's head
    (a server, or `exim-ledger project`, keeps it current). Exit status 0."""
    from projections.deals import DealsProjection, query_unscreened

    with ledger_session() as (ledger, engine, _settings):
        with engine.connect() as conn:
            slot, position = _deals_state(conn)
            found = query_unscreened(conn, DealsProjection.schema[slot])
        head = ledger.store.head()
    if as_json:
        typer.echo(json.dumps({"position": position, "head": head, "deals": found},
                              indent=2, ensure_ascii=False))
    elif found:
        _print(found)
    where = f"the deals read model at position {position}, the log's head at {head}"
    err.print(f"{len(found)} open deal(s) lack a screening ({where})", soft_wrap=True)
    if position < head:
        err.print(f"[yellow]the read model is {head - position} event(s) behind the log[/yellow]"
                  ": start the server or `exim-ledger project` to bring it up to date",
                  soft_wrap=True)


def _deals_state(conn: sa.Connection) -> tuple[str, int]:
    """The slot and position of the deals read model; slot ``a`` at 0 when it never ran."""
    from projections.reading import state

    try:
        return state(conn, "deals")
    except sa.exc.NoResultFound:
        return "a", 0


def _print(found: list[dict[str, Any]]) -> None:
    table = Table(*(Column(name, overflow="fold") for name in (
        "application_number", "deal_id", "stage", "buyer\ncountry", "end user\ncountry")),
        "unscreened", box=box.SIMPLE_HEAD)
    for deal in found:
        table.add_row(deal["application_number"], deal["deal_id"], deal["stage"],
                      deal["buyer_country"], deal["end_user_country"] or "",
                      ", ".join(deal["unscreened"]))
    Console().print(table)
