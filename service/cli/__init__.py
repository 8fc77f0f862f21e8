"""The ``exim-ledger`` command line, one module a topic."""

from __future__ import annotations

import typer

from service.cli import (
    backup,
    bench,
    deals,
    demo,
    errors,
    flags,
    integrity,
    keys,
    projections,
    server,
    setup,
)

app = typer.Typer(help="ExportAI Deal Ledger", no_args_is_help=True, add_completion=False,
                  rich_markup_mode="markdown",  # docstrings: ``code``, lines joined
                  cls=flags.PlainFlagsGroup)
for topic in (server, projections, integrity, backup, demo, bench):
    app.registered_commands += topic.app.registered_commands
app.add_typer(keys.app, name="keys")
app.add_typer(deals.app, name="deals")
flags.plain_flags(app, keys.app, deals.app)


def main() -> None:
    try:
        app()
    except errors.ENVIRONMENT as e:
        setup.err.print(f"[red]error:[/red] {errors.describe(e)}", soft_wrap=True,
                        markup=True, highlight=False)
        raise SystemExit(2) from None
