"""``exim-ledger demo``: a realistic portfolio, written through the ledger's own use cases.

The deals are scripted in ``demo_deals`` (the first take every stage of SPEC's table once).
Their events pass the API's own request schemas and ``Ledger.submit``, in batches, like
``POST /v1/batches``, each posted by the desk whose business it is (SPEC v3, Desks):
origination applies, licensing records Commerce's decisions and screens the parties, the
board votes, servicing moves the money, and a second servicing key reverses (never the
key that posted the event it undoes). A deal's events are written in its order, one
desk's run of them at a time. Deals already on the ledger are left alone, so a second run
adds nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from itertools import groupby
from operator import itemgetter
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table

from service.cli.demo_deals import (
    DESKS,
    PREFIX,
    STAGE_WEIGHTS,
    WINDOW_DAYS,
    DemoDeal,
    Desk,
    scripts,
)
from service.cli.setup import ledger_session

if TYPE_CHECKING:
    from service.ledger.application import Ledger

app = typer.Typer()

BATCH_LIMIT = 1000
SOURCE = "exim-ledger demo"


def runs(deal: DemoDeal) -> Iterator[tuple[Desk, list[dict[str, Any]]]]:
    """The deal's events in runs of consecutive events one desk posts."""
    for desk, run in groupby(zip(deal.desks, deal.items, strict=True), key=itemgetter(0)):
        yield desk, [item for _, item in run]


def batches(deals: Sequence[DemoDeal]) -> Iterator[tuple[Desk, list[dict[str, Any]]]]:
    """The deals' events as batches of one desk's, each of at most ``BATCH_LIMIT``: the
    first run of every deal, then the second, and so on, so that each deal's events are
    written in its order; a run is never split."""
    waves = [list(runs(deal)) for deal in deals]
    for wave in range(max(map(len, waves), default=0)):
        now = sorted((r[wave] for r in waves if wave < len(r)), key=itemgetter(0))  # stable
        for desk, desk_runs in groupby(now, key=itemgetter(0)):
            batch: list[dict[str, Any]] = []
            for _, items in desk_runs:
                if len(batch) + len(items) > BATCH_LIMIT:
                    yield desk, batch
                    batch = []
                batch += items
            yield desk, batch


def write(ledger: Ledger, desk: Desk, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Post ``items`` as one batch by ``desk``: checked by the API's schemas and desks,
    decided by the ledger."""
    from domain.desks import check_may_post
    from service.ledger.commands import Context, Rendering
    from service.ledger.fields import parse
    from service.ledger.payloads import BATCH

    for index, item in enumerate(items):
        check_may_post(desk.role, item["type"], index=index)
    batch = parse(BATCH, {"events": items}, items="events")
    commands = [item.command(f"events[{i}].") for i, item in enumerate(batch.events)]
    render = Rendering(201, body="events")
    context = Context(actor=desk.name, source=SOURCE)
    return ledger.submit(commands, context, render).envelopes


def load(ledger: Ledger, count: int) -> list[dict[str, Any]]:
    """Write the first ``count`` demo deals that are not on the ledger yet; the envelopes
    written."""
    from service.ledger.commands import deal_id_for

    missing = [i for i in range(1, count + 1)
               if not ledger.store.stream_version(deal_id_for(f"{PREFIX}{i:05d}"))]
    now = ledger.clock()
    deals = scripts(missing, now, ledger.policy_book().at(now))
    authorized = authorize(ledger, now) if deals else []
    return authorized + [envelope for desk, items in batches(deals)
                         for envelope in write(ledger, desk, items)]


def authorize(ledger: Ledger, now: datetime) -> list[dict[str, Any]]:
    """The board's authorization of the program (SPEC v3: none, no financing), from
    before the demo's first event, unless one is in force over its whole span."""
    from domain.program import PROGRAM_AUTHORIZED, PROGRAM_ID
    from service.ledger.commands import Command, Context, Rendering

    start = (now - timedelta(days=WINDOW_DAYS + 1)).date()
    program = ledger.program(fresh=True)
    if program.authorization_on(start) and program.authorization_on(now.date()):
        return []
    data = {"meeting_date": start.isoformat(), "votes_for": 4, "votes_against": 0,
            "abstentions": 1, "effective_from": start.isoformat(),
            "total_limit": "1000000000000.00"}
    board = DESKS["board"]
    return ledger.submit([Command(PROGRAM_AUTHORIZED, data, deal_id=PROGRAM_ID)],
                         Context(actor=board.name, source=SOURCE),
                         Rendering(201)).envelopes


PROGRAM_ID = UUID(int=0)  # the program stream: its authorization is no demo deal


@app.command()
def demo(
    deals: Annotated[int, typer.Option("--deals", min=1, max=10_000,
                                       help="how many demo deals")] = 300,
) -> None:
    """Load a realistic demo portfolio: every stage, with licenses, board votes, money
    movements, corrections and cancellations, dated over the last 30 days. A second run
    adds nothing."""
    started = time.monotonic()
    with ledger_session(start=True) as (ledger, _, _settings):
        written = load(ledger, deals)
        deal_ids = {UUID(envelope["deal_id"]) for envelope in written} - {PROGRAM_ID}
        stages = Counter(ledger.deal_state(deal_id)["stage"] for deal_id in deal_ids)
    if not written:
        typer.echo(f"the {deals} demo deals are on the ledger already: added nothing")
        return
    typer.echo(f"added {len(deal_ids)} demo deals ({len(written)} events, up to position "
               f"{written[-1]['position']}) in {time.monotonic() - started:.1f} s")
    table = Table("stage", "deals", title="the new deals by stage")
    for stage in STAGE_WEIGHTS:
        table.add_row(stage, str(stages[stage]))
    Console().print(table)
